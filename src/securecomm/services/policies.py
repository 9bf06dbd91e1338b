"""The packaged policy versions as a listing (issue 11: the console's admin page).

Policy versions are data shipped with the package (``securecomm/policy/data/policy-*.json``), chosen by a
booking's date; nothing here changes them. Reading the list is a configuration read, guarded like the
agency list (``agencies.list``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from securecomm.policy.model import load_policy, policy_versions
from securecomm.services.unit_of_work import UnitOfWork

__all__ = ["PolicyView", "list_policies"]


@dataclasses.dataclass(frozen=True)
class PolicyView:
    version: str
    title: str
    effective_from: dt.date
    source: str
    in_force: bool  # the one a booking dated today is decided under


def list_policies(uow: UnitOfWork) -> list[PolicyView]:
    """Every packaged policy version, oldest first, marking the one in force today (UTC date)."""
    uow.require("agencies.list")
    today = uow.now().date()
    rows = [load_policy(v) for v in policy_versions()]
    current = max((p.effective_from for p in rows if p.effective_from <= today), default=None)
    return [PolicyView(p.version, p.title, p.effective_from, p.source, p.effective_from == current) for p in rows]
