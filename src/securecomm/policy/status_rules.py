"""The ordered status rules of the LESC (``data/status_rules.json``), by version.

Each rule is a condition over the immigration facts of
:data:`securecomm.domain.status.STATUS_RULE_FACTS` and the status it gives;
checked at load so a typo fails loudly instead of changing who is removable.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

from securecomm.domain import rules
from securecomm.domain.actions import NO_ACTION
from securecomm.domain.status import STATUS_RULE_FACTS
from securecomm.policy.model import PolicyError

__all__ = ["DEFAULT_STATUS_RULES", "load_status_rules"]

DEFAULT_STATUS_RULES = "lesc-v1"


@lru_cache(maxsize=None)
def load_status_rules(version: str = DEFAULT_STATUS_RULES) -> tuple[Mapping[str, Any], ...]:
    """The ordered status rules of ``version``, checked against the facts they may use."""
    text = resources.files("securecomm.policy").joinpath("data", "status_rules.json").read_text("utf-8")
    versions = json.loads(text).get("versions", {})
    if version not in versions:
        raise PolicyError(f"no status rules version {version!r}; have {', '.join(sorted(versions))}")
    out = tuple(versions[version])
    for i, r in enumerate(out):
        where = f"status_rules {version}[{i}]"
        rules.check(r.get("when", {}), STATUS_RULE_FACTS, where)
        if not isinstance(r.get("status"), str) or not r["status"]:
            raise PolicyError(f"{where}: needs a status")
        if r.get("removable", None) not in (True, False, None):
            raise PolicyError(f"{where}: removable must be true, false or null")
        if "action" in r and r["action"] != NO_ACTION:
            raise PolicyError(f"{where}: a status rule may only force action {NO_ACTION!r}, not {r['action']!r}")
        if r.get("removable") is None and not r.get("manual"):
            raise PolicyError(f"{where}: undetermined removability needs a 'manual' reason")
    if not out or out[-1].get("when"):
        raise PolicyError(f"status_rules {version}: the last rule must be an unconditional fallback")
    return out

