"""Detainers after the IAR: the field office's decision, the jail's answer under its law, the hold, the outcome.

Pure rules, no storage. The store keeps one row per decision
(``store.detainer_models``); the services apply the transitions below and save
the result, so the same rules hold for the CLI, the API, the demo and the
property tests.

Life of a detainer (``kind`` ``detainer``) or a notification request
(``notification_request``)::

    lodged --acknowledge--> honoured --release/transfer--> closed
       |          \\--------> closed (declined by law | lodged after release)
       +--cancel--> closed (cancelled)              (any open state may be cancelled)

A ``no_action`` decision is recorded closed at once with outcome ``no_action``.
Every record ends in exactly one :data:`OUTCOMES` value, and a closed record
refuses every further event. Recording a release or a transfer after the hold's
expiry is refused unless an *override* reason is given; the record then carries
``over_held`` (the services audit and count it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from securecomm.domain.actions import ACTIONS, DETAINER, NO_ACTION, NOTIFICATION_REQUEST
from securecomm.domain.clock import aware_utc
from securecomm.domain.hold_clock import HOLD_LIMIT, HoldCalendar, hold_expiry

__all__ = [
    "DetainerError", "LawDataError", "FormDataError", "Form", "FormSchedule", "Law", "LawSchedule", "LAW_RULES",
    "OUTCOMES", "STATES", "RELEASE_REASONS", "Detainer", "Answer", "lodge", "acknowledge", "release", "transfer",
    "cancel", "answer_under_law",
]

#: Record states.
STATES = ("lodged", "honoured", "notify", "closed")
#: Every way a record ends (exactly one each).
OUTCOMES = (
    "no_action",             # the field office decided not to act
    "transferred",           # custody transferred to the immigration agency
    "released_at_expiry",    # held to the end of the hold and released ("release now")
    "released_before",       # released before expiry (bail, charges dropped, served, ...)
    "declined_by_law",       # the jail's law forbade the hold; released when it would have been
    "released_notified",     # a notification request: the jail released and told the field office
    "cancelled",             # the field office withdrew the detainer
    "lodged_after_release",  # the decision arrived after the person was released (too late)
)
RELEASE_REASONS = ("expiry", "bail", "charges_dropped", "sentence_served", "court_order", "other")
#: Kinds of compliance rule a jurisdiction's law may set.
LAW_RULES = (
    "honour_all",                # hold on any detainer
    "listed_convictions",        # hold only when the criminal level is listed (CA TRUST Act 2014, CT 2013)
    "decline_unless_reimbursed", # no hold unless the agency agrees to reimburse (Cook County 2011)
    "judicial_warrant_only",     # hold only with a judicial warrant (after Miranda-Olivares 2014)
    "no_civil_hold",             # no authority to hold on a civil detainer alone (Lunn v. Commonwealth 2017)
    "notification_only",         # answer notification requests only; never hold
)
BASIS_FIELDS = ("warrant", "probable_cause", "judicial_warrant", "reimbursement", "note")
WARRANTS = ("", "I-200", "I-205", "judicial")
#: What a form may carry: the two decisions, and PEP's request for transfer (I-247X, recorded as data only).
FORM_KINDS = (DETAINER, NOTIFICATION_REQUEST, "transfer_request")


class DetainerError(ValueError):
    """An event the rules do not allow (the message names the record and why); nothing changed."""


class LawDataError(ValueError):
    """A compliance-law or form file that is malformed, or has gaps or overlaps in its dates."""


FormDataError = LawDataError


def _date(value: object, where: str) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise LawDataError(f"{where}: {value!r} is not an ISO date (YYYY-MM-DD)") from None


# --- forms --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Form:
    """One version of a detainer form for one kind of decision."""

    form: str                       # "I-247", "I-247D", "I-247N", "I-247A"
    revision: str                   # "12/11", "12/12", "6/15", "3/17"
    kinds: tuple[str, ...]          # decisions it carries: detainer / notification_request
    effective_from: dt.date
    effective_to: dt.date | None
    requires: tuple[str, ...] = ()  # basis fields the decision must record (e.g. warrant, probable_cause)
    note: str = ""

    @property
    def label(self) -> str:
        return f"{self.form} ({self.revision})"

    def in_force(self, day: dt.date) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day <= self.effective_to)


@dataclass(frozen=True)
class FormSchedule:
    forms: tuple[Form, ...]

    @classmethod
    def from_data(cls, data: Mapping[str, Any], source: str = "forms") -> FormSchedule:
        items = data.get("forms") if isinstance(data, Mapping) else None
        if not isinstance(items, list) or not items:
            raise LawDataError(f"{source}: expected {{'forms': [...]}} with at least one form")
        forms = []
        for i, rec in enumerate(items, 1):
            where = f"{source} form {i}"
            if not isinstance(rec, Mapping):
                raise LawDataError(f"{where}: not an object")
            kinds = tuple(rec.get("kinds") or ())
            bad = [k for k in kinds if k not in FORM_KINDS]
            if not kinds or bad:
                raise LawDataError(f"{where}: kinds {list(kinds)!r}: each one of {', '.join(FORM_KINDS)}")
            requires = tuple(rec.get("requires") or ())
            if any(r not in BASIS_FIELDS for r in requires):
                raise LawDataError(f"{where}: requires {list(requires)!r}: each one of {', '.join(BASIS_FIELDS)}")
            end = rec.get("effective_to")
            forms.append(Form(form=str(rec.get("form", "")).strip() or _missing(where, "form"),
                              revision=str(rec.get("revision", "")).strip() or _missing(where, "revision"),
                              kinds=kinds, effective_from=_date(rec.get("effective_from"), f"{where} effective_from"),
                              effective_to=_date(end, f"{where} effective_to") if end else None,
                              requires=requires, note=str(rec.get("note", ""))))
        for kind in FORM_KINDS:
            _check_timeline([f for f in forms if kind in f.kinds], f"{source}: forms for {kind}",
                            lambda f: f.label)
        return cls(tuple(forms))

    def form_for(self, kind: str, day: dt.date) -> Form:
        for f in self.forms:
            if kind in f.kinds and f.in_force(day):
                return f
        raise DetainerError(f"no {kind} form was in force on {day.isoformat()}")


def _missing(where: str, what: str) -> str:
    raise LawDataError(f"{where}: {what} is required")


def _check_timeline(entries: Sequence[Any], where: str, name) -> None:
    """Entries of one scope must neither overlap nor leave a gap between the first start and the last end."""
    ordered = sorted(entries, key=lambda e: e.effective_from)
    for prev, nxt in zip(ordered, ordered[1:]):
        if prev.effective_to is None or nxt.effective_from <= prev.effective_to:
            raise LawDataError(f"{where}: {name(prev)} (from {prev.effective_from}"
                               f"{' to ' + str(prev.effective_to) if prev.effective_to else ', open-ended'})"
                               f" overlaps {name(nxt)} (from {nxt.effective_from})")
        if nxt.effective_from != prev.effective_to + dt.timedelta(days=1):
            raise LawDataError(f"{where}: gap between {name(prev)} (to {prev.effective_to}) and {name(nxt)} "
                               f"(from {nxt.effective_from}): no rule from {prev.effective_to + dt.timedelta(days=1)}"
                               f" to {nxt.effective_from - dt.timedelta(days=1)}")
    for e in ordered:
        if e.effective_to is not None and e.effective_to < e.effective_from:
            raise LawDataError(f"{where}: {name(e)} ends ({e.effective_to}) before it starts ({e.effective_from})")


# --- compliance laws ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Law:
    """One compliance rule of one jurisdiction over a span of dates."""

    scope: str                      # state | county | ori
    value: str                      # "CA", "IL:COOK", "OR0030000"
    name: str
    rule: str
    effective_from: dt.date
    effective_to: dt.date | None
    levels: tuple[str, ...] = ()    # listed_convictions: criminal levels that may be held
    citation: str = ""

    def in_force(self, day: dt.date) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day <= self.effective_to)


#: The rule where no law of the jurisdiction is in force (federal regulation only).
DEFAULT_LAW = Law(scope="federal", value="US", name="8 CFR 287.7 (no local limit)", rule="honour_all",
                  effective_from=dt.date(1900, 1, 1), effective_to=None)
_SCOPES = ("ori", "county", "state")  # most specific first


@dataclass(frozen=True)
class LawSchedule:
    laws: tuple[Law, ...]
    warning_before: dt.timedelta = dt.timedelta(hours=4)
    limit: dt.timedelta = HOLD_LIMIT

    @classmethod
    def from_data(cls, data: Mapping[str, Any], source: str = "laws") -> LawSchedule:
        """Parse and check a law file: every record well-formed; per jurisdiction, no overlap and no gap."""
        items = data.get("laws") if isinstance(data, Mapping) else None
        if not isinstance(items, list):
            raise LawDataError(f"{source}: expected {{'laws': [...]}}")
        laws: list[Law] = []
        for i, rec in enumerate(items, 1):
            where = f"{source} law {i}"
            if not isinstance(rec, Mapping):
                raise LawDataError(f"{where}: not an object")
            scope = str(rec.get("scope", "")).strip().lower()
            if scope not in _SCOPES:
                raise LawDataError(f"{where}: scope {rec.get('scope')!r} is not one of state, county, ori")
            value = " ".join(str(rec.get("value", "")).split()).upper()
            if not value or (scope == "county" and ":" not in value) or (scope == "state" and len(value) != 2) \
                    or (scope == "ori" and len(value) != 9):
                raise LawDataError(f"{where}: value {rec.get('value')!r} is not a {scope} "
                                   "(state: 'CA'; county: 'IL:COOK'; ori: 9 characters)")
            rule = str(rec.get("rule", "")).strip()
            if rule not in LAW_RULES:
                raise LawDataError(f"{where}: rule {rule!r} is not one of {', '.join(LAW_RULES)}")
            levels = tuple(str(x) for x in rec.get("levels") or ())
            if rule == "listed_convictions" and not levels:
                raise LawDataError(f"{where}: rule listed_convictions needs levels (e.g. ['L1'])")
            if any(x not in ("L1", "L2", "L3", "NC") for x in levels):
                raise LawDataError(f"{where}: levels {list(levels)!r}: each one of L1, L2, L3, NC")
            name = str(rec.get("name", "")).strip() or _missing(where, "name")
            end = rec.get("effective_to")
            laws.append(Law(scope=scope, value=value, name=name, rule=rule,
                            effective_from=_date(rec.get("effective_from"), f"{where} ({name}) effective_from"),
                            effective_to=_date(end, f"{where} ({name}) effective_to") if end else None,
                            levels=levels, citation=str(rec.get("citation", ""))))
        keys = {(law.scope, law.value) for law in laws}
        for scope, value in sorted(keys):
            _check_timeline([x for x in laws if (x.scope, x.value) == (scope, value)],
                            f"{source}: {scope} {value}", lambda x: repr(x.name))
        hold = data.get("hold", {}) if isinstance(data.get("hold", {}), Mapping) else {}
        try:
            warning = dt.timedelta(hours=float(hold.get("warning_before_hours", 4)))
            limit = dt.timedelta(hours=float(hold.get("limit_hours", 48)))
        except (TypeError, ValueError):
            raise LawDataError(f"{source}: hold.warning_before_hours / limit_hours must be numbers") from None
        if not dt.timedelta(0) < warning < limit:
            raise LawDataError(f"{source}: hold.warning_before_hours must be positive and below the limit")
        return cls(tuple(laws), warning, limit)

    def law_for(self, *, ori: str, state: str, county: str, day: dt.date) -> Law:
        """The most specific law in force on ``day``: the ORI's, else the county's, else the state's."""
        county_key = f"{state.upper()}:{' '.join(county.split()).upper()}" if county else ""
        for scope, value in (("ori", ori.upper()), ("county", county_key), ("state", state.upper())):
            if not value:
                continue
            for law in self.laws:
                if law.scope == scope and law.value == value and law.in_force(day):
                    return law
        return DEFAULT_LAW


@dataclass(frozen=True)
class Answer:
    """The jail's answer to a detainer under its law."""

    hold: bool
    law: Law
    reason: str


def answer_under_law(law: Law, *, kind: str, level: str, basis: Mapping[str, Any]) -> Answer:
    """Whether the jail may hold on this decision under ``law`` (a notification request never holds)."""
    if kind == NOTIFICATION_REQUEST:
        return Answer(False, law, "notification request: no hold; the jail notifies the field office of release")
    rule = law.rule
    judicial = bool(basis.get("judicial_warrant"))
    if rule == "honour_all":
        return Answer(True, law, f"{law.name}: detainers honoured")
    if rule == "listed_convictions":
        ok = level in law.levels
        return Answer(ok, law, f"{law.name}: level {level or 'unknown'} "
                               f"{'is' if ok else 'is not'} among the listed ({', '.join(law.levels)})")
    if rule == "decline_unless_reimbursed":
        ok = bool(basis.get("reimbursement"))
        return Answer(ok, law, f"{law.name}: {'reimbursement agreed' if ok else 'no reimbursement agreed'}")
    if rule in ("judicial_warrant_only", "no_civil_hold"):
        return Answer(judicial, law, f"{law.name}: {'judicial warrant' if judicial else 'civil detainer alone'}")
    return Answer(False, law, f"{law.name}: notification only, no holds")


# --- the record and its transitions ----------------------------------------------------------------------

@dataclass(frozen=True)
class Detainer:
    """A decision and what followed it (times are aware UTC)."""

    kind: str                                   # no_action | notification_request | detainer
    lodged_at: dt.datetime
    booked_at: dt.datetime | None = None
    level: str = ""
    state: str = "lodged"
    release_at: dt.datetime | None = None       # when the person would otherwise be released
    expires_at: dt.datetime | None = None       # end of the lawful hold (honoured detainers)
    law_name: str = ""
    law_rule: str = ""
    answer: str = ""                            # honoured | declined | notify
    answer_reason: str = ""
    outcome: str | None = None
    outcome_at: dt.datetime | None = None
    outcome_reason: str = ""
    over_held: bool = False
    override: str = ""
    events: tuple[str, ...] = field(default_factory=tuple)

    @property
    def closed(self) -> bool:
        return self.state == "closed"

    def hold_length(self) -> dt.timedelta:
        """Wall-clock time held beyond the release time (0 when never held)."""
        if self.answer != "honoured" or self.release_at is None or self.outcome_at is None:
            return dt.timedelta(0)
        return max(self.outcome_at - self.release_at, dt.timedelta(0))


def _open(d: Detainer, what: str) -> None:
    if d.closed:
        raise DetainerError(f"cannot {what}: the {d.kind.replace('_', ' ')} is closed ({d.outcome})")


def _close(d: Detainer, outcome: str, at: dt.datetime, reason: str = "", **more: Any) -> Detainer:
    assert outcome in OUTCOMES
    return replace(d, state="closed", outcome=outcome, outcome_at=at, outcome_reason=reason,
                   events=d.events + (outcome,), **more)


def lodge(kind: str, at: dt.datetime, *, booked_at: dt.datetime | None = None, level: str = "") -> Detainer:
    """A field-office decision: ``no_action`` closes at once; the others wait for the jail."""
    if kind not in ACTIONS:
        raise DetainerError(f"decision {kind!r} is not one of {', '.join(ACTIONS)}")
    at = aware_utc(at, what="decision time")
    d = Detainer(kind=kind, lodged_at=at, booked_at=aware_utc(booked_at, what="booking time") if booked_at else None,
                 level=level, events=("lodged",))
    return _close(d, "no_action", at) if kind == NO_ACTION else d


def acknowledge(d: Detainer, *, release_at: dt.datetime, answer: Answer, calendar: HoldCalendar,
                limit: dt.timedelta = HOLD_LIMIT) -> Detainer:
    """The jail's acknowledgment: the scheduled release time and what its law lets it do."""
    _open(d, "acknowledge")
    if d.state != "lodged":
        raise DetainerError(f"already acknowledged ({d.answer})")
    release_at = aware_utc(release_at, what="release time")
    if d.booked_at is not None and release_at < d.booked_at:
        raise DetainerError(f"release time {release_at.isoformat()} is before the booking "
                            f"({d.booked_at.isoformat()})")
    common = dict(release_at=release_at, law_name=answer.law.name, law_rule=answer.law.rule,
                  answer_reason=answer.reason)
    if release_at < d.lodged_at:
        return _close(replace(d, answer="too_late", **common), "lodged_after_release", release_at,
                      f"released {release_at.isoformat()}, before the decision of {d.lodged_at.isoformat()}")
    if d.kind == NOTIFICATION_REQUEST:
        return replace(d, state="notify", answer="notify", events=d.events + ("acknowledged",), **common)
    if not answer.hold:
        return _close(replace(d, answer="declined", **common), "declined_by_law", release_at, answer.reason)
    return replace(d, state="honoured", answer="honoured", expires_at=hold_expiry(release_at, calendar, limit),
                   events=d.events + ("acknowledged",), **common)


def _end_of_custody(d: Detainer, at: dt.datetime, what: str, override: str) -> dict[str, Any]:
    if d.booked_at is not None and at < d.booked_at:
        raise DetainerError(f"{what} time {at.isoformat()} is before the booking ({d.booked_at.isoformat()})")
    if d.state == "honoured" and d.expires_at is not None and at > d.expires_at:
        if not override.strip():
            raise DetainerError(f"{what} at {at.isoformat()} is past the hold's expiry ({d.expires_at.isoformat()}):"
                                " holding longer is unlawful; recording it needs an override with a reason")
        return {"over_held": True, "override": override.strip()}
    return {}


def release(d: Detainer, at: dt.datetime, *, reason: str = "other", override: str = "") -> Detainer:
    """The jail released the person at ``at``."""
    _open(d, "record a release")
    at = aware_utc(at, what="release time")
    if reason not in RELEASE_REASONS:
        raise DetainerError(f"release reason {reason!r} is not one of {', '.join(RELEASE_REASONS)}")
    if d.state == "lodged":
        raise DetainerError("the jail has not acknowledged the detainer yet (acknowledge with the release time)")
    more = _end_of_custody(d, at, "release", override)
    if d.state == "notify":
        return _close(d, "released_notified", at, reason, **more)
    assert d.expires_at is not None
    if at >= d.expires_at:
        return _close(d, "released_at_expiry", at, reason, **more)
    return _close(d, "released_before", at, reason, **more)


def transfer(d: Detainer, at: dt.datetime, *, override: str = "") -> Detainer:
    """The immigration agency took custody at ``at``."""
    _open(d, "record a transfer")
    at = aware_utc(at, what="transfer time")
    if d.state == "lodged":
        raise DetainerError("the jail has not acknowledged the detainer yet (acknowledge with the release time)")
    more = _end_of_custody(d, at, "transfer", override)
    return _close(d, "transferred", at, **more)


def cancel(d: Detainer, at: dt.datetime, *, reason: str) -> Detainer:
    """The field office withdrew the decision."""
    _open(d, "cancel")
    if not reason.strip():
        raise DetainerError("a cancellation needs a reason")
    at = aware_utc(at, what="cancellation time")
    if d.state == "honoured" and d.expires_at is not None and at > d.expires_at:
        # the hold ended at expiry whatever the field office does: what happened then is the jail's to record
        raise DetainerError(f"cannot cancel at {at.isoformat()}: the hold expired at {d.expires_at.isoformat()}; "
                            "the jail records the release (or, past expiry, an override)")
    return _close(d, "cancelled", at, reason.strip())


def outcome_counts(records: Iterable[Detainer]) -> dict[str, int]:
    out = dict.fromkeys(OUTCOMES, 0)
    for r in records:
        if r.outcome:
            out[r.outcome] += 1
    return out
