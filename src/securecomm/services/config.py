"""Configuration: agencies and the activation schedule (admin changes, audited; reads for many roles).

Every change writes its audit row in the transaction that makes it: a
loaded agency file leaves one row per agency, an activation one row per
schedule entry, so the trail says who switched on which jurisdiction, when.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from securecomm import jurisdictions
from securecomm.services.unit_of_work import UnitOfWork
from securecomm.store.models import Activation

__all__ = ["AgencyView", "load_agencies", "list_agencies", "activate", "load_activations"]


@dataclass(frozen=True)
class AgencyView:
    """An agency as a listing shows it."""

    ori: str
    name: str
    county: str
    state: str
    kind: str
    sib_ori: str
    field_office: str
    activated: bool


def load_agencies(uow: UnitOfWork, path: Path | str) -> int:
    """Upsert agencies from a CSV/JSON file; one audit row per agency."""
    uow.require("agencies.load")
    rows = jurisdictions.load_agencies(uow.session, path)
    for ori in rows:
        uow.audit("agency_upsert", "agency", ori, detail=f"from {Path(path).name}")
    return len(rows)


def list_agencies(uow: UnitOfWork, state: str | None = None, *, on: dt.date | None = None) -> list[AgencyView]:
    """Agencies (of one state), with whether each is activated on ``on`` (default: today, UTC)."""
    uow.require("agencies.list")
    day = on or uow.now().date()
    return [AgencyView(a.ori, a.name, a.county, a.state, a.kind, a.sib_ori or "", a.field_office,
                       jurisdictions.is_activated(uow.session, a.ori, day))
            for a in jurisdictions.agencies(uow.session, state)]


def _audit_activation(uow: UnitOfWork, row: Activation, source: str) -> None:
    until = f" to {row.effective_to}" if row.effective_to else ""
    uow.audit("activate", "activation", f"{row.scope}:{row.value}"[:64],
              detail=f"from {row.effective_from}{until} ({source})" + (f"; {row.note}" if row.note else ""))


def activate(uow: UnitOfWork, *, state: str | None = None, county: str | None = None, ori: str | None = None,
             effective_from: dt.date | str, effective_to: dt.date | str | None = None,
             note: str = "") -> Activation:
    """Switch interoperability on for one state, county or ORI; audited."""
    uow.require("activations.load")
    row = jurisdictions.activate(uow.session, state=state, county=county, ori=ori, effective_from=effective_from,
                                 effective_to=effective_to, note=note)
    _audit_activation(uow, row, "single entry")
    return row


def load_activations(uow: UnitOfWork, path: Path | str) -> int:
    """Load an activation schedule; a re-load of the same entries adds nothing. One audit row per new entry."""
    uow.require("activations.load")
    rows = jurisdictions.load_activations(uow.session, path)
    for row in rows:
        _audit_activation(uow, row, Path(path).name)
    return len(rows)
