"""Status determination (the LESC's job): from an immigration match to status, level, priority, action.

Input: the matched immigration record, the criminal history, the booking,
the biometric decision band and score, and the policy in force on the
booking's date. The clear cases are settled by an ordered, versioned rule
list (``policy/data/status_rules.json``) over facts derived here from the
encounters; everything else goes to an analyst. Two safeguards are code,
not data, because no policy version may switch them off:

* every match in the examiner-review band goes to manual review, and
* every person with a protected flag (victim/witness, U or T visa, VAWA)
  goes to manual review,

and neither can ever leave here with a detainer: the policy's caps (which
the loader refuses to set to ``detainer``) apply, and a final check enforces
it again. A biographic mismatch between booking and record also goes to a
person, since a wrong match is how citizens end up under detainers.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from securecomm.domain.records import Booking, Encounter
from securecomm.policy import rules
from securecomm.policy.model import (ACTIONS, Policy, PolicyError, StateLimit, action_min, policy_for,
                                     state_limit_for)
from securecomm.repositories.criminal import RapSheet
from securecomm.repositories.immigration import ImmigrationRecord

__all__ = ["Determination", "determine", "derive_immigration_facts", "load_status_rules", "BANDS",
           "STATUS_RULE_FACTS", "DEFAULT_STATUS_RULES"]

#: Biometric decision bands that reach status determination (no-match never does).
BANDS = ("hit", "review")
DEFAULT_STATUS_RULES = "lesc-v1"

#: Facts the status rules may test.
STATUS_RULE_FACTS = (
    "encounter_types", "naturalized", "lpr", "removal_order_outstanding", "removal_order_date",
    "reentered_after_removal", "in_status", "overstay", "ewi", "asylum_pending", "asylee", "tps", "daca",
    "last_unlawful_entry", "years_since_unlawful_entry", "convictions",
)

_REMOVALS = ("removal", "expedited_removal")
_DEPARTURES = _REMOVALS + ("voluntary_return",)
_RELIEF = ("lpr_grant", "asylum_grant", "naturalization")


@dataclass(frozen=True)
class Determination:
    """The IAR's substance: status, removability, level, priority, protections and the recommended action."""

    status: str
    removable: bool | None
    offense_level: str
    priority: str
    priority_label: str
    protected_flags: frozenset[str]
    action: str  # none | notification_request | detainer, after every safeguard
    action_before_safeguards: str  # what the policy alone would call for, for the analyst and the statistics
    manual_review: bool
    reasons: tuple[str, ...]
    policy_version: str
    status_rules_version: str
    band: str
    score: float
    state_limit: str = ""
    facts: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def summary(self) -> str:
        """A few lines for the IAR text and the analyst queue."""
        lines = [
            f"STATUS: {self.status}  REMOVABLE: {'UNDETERMINED' if self.removable is None else self.removable}",
            f"LEVEL: {self.offense_level}  PRIORITY: {self.priority} ({self.priority_label})",
            f"ACTION: {self.action}" + (f" (policy alone: {self.action_before_safeguards})"
                                        if self.action != self.action_before_safeguards else ""),
            f"POLICY: {self.policy_version}  RULES: {self.status_rules_version}  "
            f"MATCH: {self.band} score {self.score:.3f}",
        ]
        if self.protected_flags:
            lines.append("PROTECTED: " + ", ".join(sorted(self.protected_flags)))
        if self.state_limit:
            lines.append(f"STATE LIMIT: {self.state_limit}")
        if self.manual_review:
            lines.append("MANUAL REVIEW: " + "; ".join(self.reasons))
        return "\n".join(lines)


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
        if "action" in r and r["action"] != "none":
            raise PolicyError(f"{where}: a status rule may only force action 'none', not {r['action']!r}")
        if r.get("removable") is None and not r.get("manual"):
            raise PolicyError(f"{where}: undetermined removability needs a 'manual' reason")
    if not out or out[-1].get("when"):
        raise PolicyError(f"status_rules {version}: the last rule must be an unconditional fallback")
    return out


def _last(encounters: list[Encounter], types: tuple[str, ...]) -> Encounter | None:
    found = [e for e in encounters if e.type in types]
    return found[-1] if found else None


def derive_immigration_facts(record: ImmigrationRecord, on: dt.date, convictions: int = 0) -> dict[str, Any]:
    """Facts about the person as of the booking date ``on``; later encounters are ignored."""
    enc = sorted((e for e in record.encounters if e.date <= on), key=lambda e: e.date)
    types = frozenset(e.type for e in enc)

    def after(d: dt.date, kinds: tuple[str, ...], strictly: bool = True) -> bool:
        return any(e.type in kinds and (e.date > d if strictly else e.date >= d) for e in enc)

    order = _last(enc, ("removal_order",))
    outstanding = order is not None and not after(order.date, _DEPARTURES, strictly=False) \
        and not after(order.date, _RELIEF)
    removed = _last(enc, _REMOVALS)
    reentered = removed is not None and removed.date < on and not after(
        removed.date, ("admission", "lpr_grant", "naturalization"))
    naturalized = "naturalization" in types
    admission = _last(enc, ("admission",))
    apprehension = _last(enc, ("border_apprehension",))
    in_status = overstay = False
    if admission is not None:
        expired = admission.expires is not None and admission.expires < on
        flagged = any(e.type == "visa_overstay" and e.date >= admission.date for e in enc)
        overstay = expired or flagged
        in_status = not overstay
    ewi = apprehension is not None and (admission is None or apprehension.date > admission.date)
    if ewi:
        in_status = overstay = False

    def current(kind: str) -> bool:
        e = _last(enc, (kind,))
        return e is not None and (e.expires is None or e.expires >= on)

    asylum_app = _last(enc, ("asylum_application",))
    return {
        "encounter_types": types,
        "naturalized": naturalized,
        "lpr": "lpr_grant" in types and not naturalized,
        "removal_order_outstanding": outstanding,
        "removal_order_date": order.date if order is not None else None,
        "reentered_after_removal": reentered,
        "in_status": in_status,
        "overstay": overstay,
        "ewi": ewi,
        "asylee": "asylum_grant" in types,
        "asylum_pending": asylum_app is not None and not after(asylum_app.date, ("asylum_grant", "removal_order")),
        "tps": current("tps_grant"),
        "daca": current("daca_grant"),
        "last_unlawful_entry": apprehension.date if apprehension is not None else None,
        "years_since_unlawful_entry": ((on - apprehension.date).days / 365.25) if apprehension is not None else None,
        "convictions": int(convictions),
    }


def _biographic_mismatch(booking: Booking, record: ImmigrationRecord) -> str:
    b, r = booking.person, record.person
    problems = []
    if b.dob != r.dob:
        problems.append(f"date of birth {b.dob} on the booking, {r.dob} on the record")
    names = {f"{r.last_name} {r.first_name}".upper(), f"{r.first_name} {r.last_name}".upper()}
    names |= {a.upper() for a in record.aliases}
    booked = {f"{b.last_name} {b.first_name}".upper(), f"{b.first_name} {b.last_name}".upper()}
    if b.last_name.upper() != r.last_name.upper() and not (booked & names) \
            and not any(b.last_name.upper() in n.split() for n in names):
        problems.append(f"name {b.last_name}, {b.first_name} not on the record or its aliases")
    return "; ".join(problems)


def determine(*, record: ImmigrationRecord, rap_sheet: RapSheet | None, booking: Booking, band: str,
              score: float, policy: Policy | None = None, state: str | None = None,
              status_rules: str = DEFAULT_STATUS_RULES,
              state_limits: Sequence[StateLimit] | None = None) -> Determination:
    """Determine status, level, priority and the recommended action for one immigration match.

    ``policy`` defaults to the one in force on the booking's date; ``state``
    (the booking agency's) brings in state limits such as the TRUST Act;
    ``state_limits`` replaces the packaged set of state laws (what-if replays).
    """
    if band not in BANDS:
        raise ValueError(f"biometric band {band!r} is not one of {BANDS}: only matches reach status determination")
    if not isinstance(record, ImmigrationRecord):
        raise TypeError(f"record must be an ImmigrationRecord, got {type(record).__name__}")
    on = booking.date
    policy = policy or policy_for(on)
    arrests = tuple(a for a in (rap_sheet.arrests if rap_sheet is not None else ()) if a.tcn != booking.tcn)
    offense = policy.offense_facts(booking.charges, arrests)
    imm = derive_immigration_facts(record, on, offense["convictions"])

    reasons: list[str] = []
    rule_list = load_status_rules(status_rules)
    rule = rules.first_match(rule_list, imm)
    assert rule is not None  # the loader guarantees an unconditional fallback
    status, removable = str(rule["status"]), rule.get("removable")
    if rule.get("manual"):
        reasons.append(str(rule["manual"]))

    flags = frozenset(record.protected_flags)
    facts = {**offense, **imm, "status": status, "removable": removable, "protected": bool(flags),
             "protected_flags": flags, "booking_date": on, "state": (state or "").upper()}
    priority = policy.priority(facts)
    if rule.get("action") == "none" or removable is not True:
        before = "none"
    else:
        before = policy.action(facts, priority)
    action = before

    if band == "review":
        reasons.append("biometric match in the examiner-review band: no action until an examiner confirms")
        action = action_min(action, policy.review_band_action_cap)
    if flags:
        reasons.append("protected: " + ", ".join(sorted(flags)) + " (no detainer without human review)")
        action = action_min(action, policy.protected_action_cap)
    mismatch = _biographic_mismatch(booking, record)
    if mismatch:
        reasons.append(f"biographic mismatch: {mismatch}")
        action = action_min(action, "notification_request")
    limit = state_limit_for(state, on, limits=state_limits)
    limit_note = ""
    if limit is not None:
        capped = action_min(action, limit.cap(facts))
        limit_note = limit.name + (f": request capped at {capped}" if capped != action else ": no cap needed")
        action = capped
    # the safeguards of the programme, whatever the data says
    if (band == "review" or flags) and action == "detainer":  # pragma: no cover - caps forbid it
        raise AssertionError("a detainer was about to be recommended for a protected person or an unconfirmed match")
    assert action in ACTIONS
    return Determination(
        status=status, removable=removable, offense_level=offense["level"], priority=priority.priority,
        priority_label=priority.label, protected_flags=flags, action=action, action_before_safeguards=before,
        manual_review=bool(reasons), reasons=tuple(reasons), policy_version=policy.version,
        status_rules_version=status_rules, band=band, score=float(score),
        state_limit=limit_note, facts=facts)
