"""Agencies by ORI and the interoperability activation schedule.

Secure Communities was switched on jurisdiction by jurisdiction: a state, a
county or a single agency (ORI) from an effective date, sometimes to an end
date. Whether a booking's fingerprints go to the immigration repository is
decided by the *booking's date*, not by when it is processed, so a backlog
replayed later is searched exactly as it would have been on the day.

Agency files (CSV with a header row, or JSON: a list of objects, or an object
with an ``"agencies"`` list) have these columns:

=============  ========  =====================================================
column         required  meaning
=============  ========  =====================================================
ori            yes       9-character ORI; its first two letters are the state
name           yes       agency name
state          yes       two-letter state code
county         no        county name (activation by county uses it)
kind           no        police | sheriff | jail | SIB | federal | other
sib_ori        no        ORI of the state identification bureau that gets copies
field_office   no        ICE ERO area of responsibility that gets IARs (<= 100 chars)
time_zone      no        IANA time zone (``America/Denver``) when the agency's
                         differs from its state's default
                         (``securecomm/domain/data/state_time_zones.json``)
=============  ========  =====================================================

Activation files have ``scope`` (state | county | ori), ``value`` (the state
code, ``ST:County``, or the ORI), ``effective_from`` and optional
``effective_to`` (ISO dates, both inclusive) and ``note``.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from securecomm.domain import identifiers, timezones
from securecomm.domain.clock import aware_utc
from securecomm.store.models import ACTIVATION_SCOPES, AGENCY_KINDS, Activation, Agency
from securecomm.store.workflow_models import Response

__all__ = [
    "JurisdictionError", "load_agencies", "load_activations", "upsert_agency", "activate", "is_activated",
    "activation_for", "agency", "agencies", "county_key", "validate_ori", "agency_zone", "local_date", "local_date_for",
]

#: A field office receives IARs by name: the agencies column bounds it, and the outbox's recipient
#: column is at least as wide (a name the outbox could not hold would lose every IAR).
FIELD_OFFICE_MAX = Agency.__table__.c.field_office.type.length
assert Response.__table__.c.recipient.type.length >= FIELD_OFFICE_MAX


class JurisdictionError(ValueError):
    """An agency or activation record is malformed (the message names the field and the record)."""


def validate_ori(ori: object, what: str = "ORI") -> str:
    """The ORI upper-cased; 9 characters, the first two the state letters."""
    try:
        return identifiers.validate_ori(ori, what)
    except identifiers.InvalidIdentifier as exc:
        raise JurisdictionError(str(exc)) from None


def _state(value: object, where: str) -> str:
    try:
        return identifiers.validate_state(value)
    except identifiers.InvalidIdentifier as exc:
        raise JurisdictionError(f"{where}: {exc}") from None


def county_key(state: str, county: str) -> str:
    """The activation value of a county: ``"ST:COUNTY NAME"`` (county names repeat across states)."""
    county = " ".join(county.split()).upper()
    if not county:
        raise JurisdictionError("county activation needs a county name")
    return f"{_state(state, 'county activation')}:{county}"


def upsert_agency(session: Session, *, ori: str, name: str, state: str, county: str = "", kind: str = "police",
                  sib_ori: str | None = None, field_office: str = "", time_zone: str | None = None) -> Agency:
    """Add an agency, or update the one with this ORI."""
    ori = validate_ori(ori)
    where = f"agency {ori}"
    state = _state(state, where)
    kind = (kind or "police").strip()
    if ori[:2] != state and kind != "federal":
        raise JurisdictionError(f"{where}: ORI begins with {ori[:2]!r} but state is {state!r}")
    if not isinstance(name, str) or not name.strip():
        raise JurisdictionError(f"{where}: name is required")
    if kind not in AGENCY_KINDS:
        raise JurisdictionError(f"{where}: kind {kind!r} is not one of {', '.join(AGENCY_KINDS)}")
    sib = validate_ori(sib_ori, f"{where}: sib_ori") if sib_ori else None
    field_office = (field_office or "").strip()
    if len(field_office) > FIELD_OFFICE_MAX:
        raise JurisdictionError(f"{where}: field_office {field_office!r} is longer than {FIELD_OFFICE_MAX} "
                                "characters (it is the recipient of the IAR)")
    zone_name = (time_zone or "").strip() or None
    try:
        timezones.agency_zone(state, zone_name)  # an explicit zone must exist; without one, the state needs a default
    except timezones.UnknownTimeZone as exc:
        raise JurisdictionError(f"{where}: time_zone: {exc}") from None
    row = session.get(Agency, ori)
    if row is None:
        row = Agency(ori=ori)
        session.add(row)
    row.name, row.state, row.county, row.kind = name.strip(), state, " ".join((county or "").split()), kind
    row.sib_ori, row.field_office, row.time_zone = sib, field_office, zone_name
    return row


def agency_zone(row: Agency) -> ZoneInfo:
    """The agency's time zone: its explicit ``time_zone``, else its state's default."""
    return timezones.agency_zone(row.state, row.time_zone)


def local_date(row: Agency, at: dt.datetime) -> dt.date:
    """The agency's calendar date at the instant ``at`` (a booking at 23:30 in Los Angeles is not the UTC date)."""
    return aware_utc(at, what="instant").astimezone(agency_zone(row)).date()


def local_date_for(session: Session, ori: str, at: dt.datetime) -> dt.date:
    """The calendar date at ``at`` where the agency ``ori`` is; UTC's for an unknown agency."""
    row = agency(session, ori) if ori else None
    if row is None:
        return aware_utc(at, what="instant").date()
    return local_date(row, at)


def _read_records(path: Path, key: str) -> list[Mapping[str, object]]:
    path = Path(path)
    if not path.is_file():
        raise JurisdictionError(f"{path}: no such file")
    suffix = path.suffix.lower()
    text = path.read_text("utf-8-sig")
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise JurisdictionError(f"{path}: not valid JSON ({exc})") from exc
        if isinstance(data, dict):
            data = data.get(key)
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise JurisdictionError(f"{path}: expected a list of objects (or {{{key!r}: [...]}})")
        return data
    if suffix == ".csv":
        return list(csv.DictReader(text.splitlines()))
    raise JurisdictionError(f"{path}: unsupported file type {suffix!r} (use .csv or .json)")


def _blank(v: object) -> str:
    return "" if v is None else str(v).strip()


def load_agencies(session: Session, path: Path | str) -> list[str]:
    """Load (upsert) agencies from a CSV or JSON file; returns their ORIs, in file order."""
    rows = _read_records(Path(path), "agencies")
    oris: list[str] = []
    for i, rec in enumerate(rows, start=1):
        try:
            row = upsert_agency(session, ori=_blank(rec.get("ori")), name=_blank(rec.get("name")),
                          state=_blank(rec.get("state")), county=_blank(rec.get("county")),
                          kind=_blank(rec.get("kind")) or "police", sib_ori=_blank(rec.get("sib_ori")) or None,
                          field_office=_blank(rec.get("field_office")), time_zone=_blank(rec.get("time_zone")) or None)
        except JurisdictionError as exc:
            raise JurisdictionError(f"{path} record {i}: {exc}") from exc
        oris.append(row.ori)
    session.flush()
    return oris


def _date(value: object, what: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise JurisdictionError(f"{what} {value!r} is not an ISO date (YYYY-MM-DD)") from None


def activate(session: Session, *, state: str | None = None, county: str | None = None, ori: str | None = None,
             effective_from: dt.date | str, effective_to: dt.date | str | None = None,
             note: str = "") -> Activation:
    """Schedule interoperability for a state, a county (``state`` + ``county``, or ``county="ST:County"``) or one ORI.

    Both dates are inclusive; ``effective_to=None`` means until further notice.
    Scheduling an entry already on the schedule (same scope, value and dates)
    returns that entry: re-loading a schedule file adds nothing.
    """
    start = _date(effective_from, "effective_from")
    end = _date(effective_to, "effective_to") if effective_to not in (None, "") else None
    if end is not None and end < start:
        raise JurisdictionError(f"activation ends {end} before it starts {start}")
    if ori:
        if state or county:
            raise JurisdictionError("activate one ORI, one county or one state, not several")
        scope, value = "ori", validate_ori(ori)
    elif county:
        if not state and ":" in county:  # the stored form "ST:County" is accepted as well
            state, _, county = county.partition(":")
        if not state:
            raise JurisdictionError(f"county {county!r} needs its state")
        scope, value = "county", county_key(state, county)
    elif state:
        scope, value = "state", _state(state, "state activation")
    else:
        raise JurisdictionError("activate needs state=, county= (with state=) or ori=")
    same = session.scalars(select(Activation).where(
        Activation.scope == scope, Activation.value == value, Activation.effective_from == start,
        Activation.effective_to.is_(None) if end is None else Activation.effective_to == end)).first()
    if same is not None:
        return same
    row = Activation(scope=scope, value=value, effective_from=start, effective_to=end, note=note or "")
    session.add(row)
    session.flush()
    session.info.pop(_HELD_ACTIVATIONS, None)  # the schedule changed: activation_for reads it again
    return row


def load_activations(session: Session, path: Path | str) -> list[Activation]:
    """Load an activation schedule file (see the module docstring); returns the entries it added.

    Idempotent: an entry already scheduled (same scope, value and dates) is not added again.
    """
    rows = _read_records(Path(path), "activations")
    known = {a.id for a in session.scalars(select(Activation))}
    added: list[Activation] = []
    for i, rec in enumerate(rows, start=1):
        scope, value = _blank(rec.get("scope")).lower(), _blank(rec.get("value"))
        try:
            if scope not in ACTIVATION_SCOPES:
                raise JurisdictionError(f"scope {scope!r} is not one of {', '.join(ACTIVATION_SCOPES)}")
            kwargs: dict[str, str] = {}
            if scope == "county":
                st, sep, name = value.partition(":")
                if not sep:
                    raise JurisdictionError(f"county value {value!r} must be 'ST:County'")
                kwargs = {"state": st, "county": name}
            else:
                kwargs = {scope: value}
            row = activate(session, effective_from=_blank(rec.get("effective_from")),
                           effective_to=_blank(rec.get("effective_to")) or None, note=_blank(rec.get("note")),
                           **kwargs)
        except JurisdictionError as exc:
            raise JurisdictionError(f"{path} record {i}: {exc}") from exc
        if row.id not in known:
            known.add(row.id)
            added.append(row)
    return added


def agency(session: Session, ori: str) -> Agency | None:
    """The agency with this ORI, or None when unknown (the workflow rejects unknown ORIs)."""
    if not isinstance(ori, str):
        return None
    return session.get(Agency, ori.strip().upper())


def agencies(session: Session, state: str | None = None) -> list[Agency]:
    """All agencies (of one state), by ORI."""
    q = select(Agency).order_by(Agency.ori)
    if state:
        q = q.where(Agency.state == state.strip().upper())
    return list(session.scalars(q))


def activation_for(session: Session, ori: str, on: dt.date) -> Activation | None:
    """The activation that covers ``ori`` on date ``on`` (most specific first), or None.

    An unknown ORI is never activated: it has no known county or state.
    """
    row = agency(session, ori)
    if row is None:
        return None
    on = _date(on, "date")
    keys = [("ori", row.ori), ("state", row.state)]
    if row.county:
        keys.append(("county", county_key(row.state, row.county)))
    held = session.info.get(_HELD_ACTIVATIONS)
    if held is not None:  # the whole schedule, read once (hold_activations): the same filter in memory
        wanted = set(keys)
        candidates = [a for a in held if (a.scope, a.value) in wanted and a.effective_from <= on
                      and (a.effective_to is None or a.effective_to >= on)]
    else:
        candidates = session.scalars(
            select(Activation).where(
                or_(*(and_(Activation.scope == s, Activation.value == v) for s, v in keys)),
                Activation.effective_from <= on,
                or_(Activation.effective_to.is_(None), Activation.effective_to >= on),
            )
        ).all()
    if not candidates:
        return None
    rank = {"ori": 0, "county": 1, "state": 2}
    return min(candidates, key=lambda a: (rank[a.scope], -a.effective_from.toordinal(), a.id))


#: ``session.info`` key of the activation schedule :func:`hold_activations` read.
_HELD_ACTIVATIONS = "securecomm.jurisdictions.activations"


def hold_activations(session: Session) -> None:
    """Read the whole activation schedule once and let :func:`activation_for` answer from it for the rest of
    ``session`` -- a bulk writer's transaction (``Worker.run_batched``: the store's only writer), which asks
    for every booking. :func:`activate` in the session drops it; the schedule is a few rows per state."""
    session.info[_HELD_ACTIVATIONS] = list(session.scalars(select(Activation)))


def is_activated(session: Session, ori: str, on: dt.date) -> bool:
    """Is a booking by ``ori`` dated ``on`` searched against the immigration repository?"""
    return activation_for(session, ori, on) is not None


def activations(session: Session) -> Iterable[Activation]:
    """The whole schedule, by start date."""
    return session.scalars(select(Activation).order_by(Activation.effective_from, Activation.id)).all()
