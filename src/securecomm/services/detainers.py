"""Detainers as operations: the field office decides, the jail answers under its law, the hold ends once.

Every function takes an open :class:`UnitOfWork` (principal, clock, audit);
the CLI, the demo and the HTTP API call these and nothing below them. Errors:

* :class:`DetainerError` (from the domain): the event is not allowed (closed record, a release time before
  the booking, a hold past expiry without an override, a missing basis for the form, ...); nothing changed.
* :class:`NotFound`: no such detainer or booking *in the principal's scope* (the two look the same).
* ``PermissionDenied``: the role may not perform the operation (audited).

Scopes: a field officer or supervisor sees the detainers of its area (the IAR's field office), a jail
those of its ORI, a state bureau those of its state; oversight and admin see all.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from securecomm.domain import detainers as D
from securecomm.domain.clock import aware_utc
from securecomm.domain.detainers import DetainerError
from securecomm.domain.hold_clock import hold_expiry, local_text
from securecomm.domain.principal import Role
from securecomm.domain.timezones import UnknownTimeZone
from securecomm.jurisdictions import agency as agency_row
from securecomm.jurisdictions import agency_zone, validate_ori
from securecomm.policy.detainers import calendar_for, load_forms, load_laws
from securecomm.services.unit_of_work import NotFound, UnitOfWork
from securecomm.statistics import detainers as figures_query
from securecomm.store.detainer_models import DetainerNotice, DetainerRow, DetainerTimer
from securecomm.store.workflow_models import Response, ReviewItem, StageRun, Transaction
from securecomm.workflow import detainers as plumbing

__all__ = ["DetainerError", "field_office_iars", "decide", "acknowledge", "release", "transfer", "cancel", "list_detainers", "show",
           "expiry", "timers", "fire_timers", "figures", "notices"]

#: Basis fields a decision may record (docs/formats.md).
BASIS_FIELDS = D.BASIS_FIELDS
#: Shortest acceptable override or review reason.
REASON_MIN = 10


def _sees(uow: UnitOfWork, row: DetainerRow) -> bool:
    return uow.principal.sees(ori=row.ori, state=row.state_code, area=row.field_office)


def _get(uow: UnitOfWork, operation: str, detainer_id: int, *, write: bool = True) -> DetainerRow:
    uow.require(operation)
    row = uow.session.get(DetainerRow, int(detainer_id))
    if row is None:
        raise NotFound(f"no such detainer {detainer_id}")
    uow.require_scope(operation, ori=row.ori, state=row.state_code, area=row.field_office, what="detainer")
    return row


def _at(value: dt.datetime | None, uow: UnitOfWork, what: str, zone_name: str | None = None) -> dt.datetime:
    """``value`` as UTC: None is now; a naive time is the jail's local time (``zone_name``)."""
    if value is None:
        return uow.now()
    if value.tzinfo is None and zone_name:
        value = value.replace(tzinfo=agency_zone_of_name(zone_name))
    return aware_utc(value, what=what)


def agency_zone_of_name(name: str):
    from securecomm.domain.timezones import zone

    return zone(name)


def _basis(basis: Mapping[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in dict(basis or {}).items():
        if key not in BASIS_FIELDS:
            raise DetainerError(f"basis field {key!r} is not one of {', '.join(BASIS_FIELDS)}")
        if key == "warrant":
            if value not in D.WARRANTS:
                raise DetainerError(f"warrant {value!r} is not one of I-200, I-205, judicial")
            if value == "judicial":
                out["judicial_warrant"] = True
        out[key] = value
    return out


def field_office_iars(session: Any, *, order: str = "tcn") -> list[Any]:
    """Every IAR the pipeline sent to a field office, with its booking: rows of ``tcn``, ``ori``,
    ``booking_date``, ``captured_at``, ``field_office`` (the IAR's recipient) and ``summary`` (the IAR's,
    with its recommended ``action``), by booking date, then by TCN (``order="tcn"``) or by arrival
    (``"received"``). The work list of a simulated field office: the state-year simulation's
    (``services.simulated_field_office``) and the demo's (``demo.detainers``). A plain read in the
    caller's session (each decision taken on it is a unit of work of its own, audited there)."""
    if order not in ("tcn", "received"):
        raise ValueError(f"order {order!r}: tcn or received")
    return list(session.execute(
        select(Transaction.tcn, Transaction.ori, Transaction.booking_date, Transaction.captured_at,
               Response.recipient.label("field_office"), Response.summary)
        .join(Response, Response.tcn == Transaction.tcn)
        .where(Response.kind == "IAR", Response.recipient_role == "field_office")
        .order_by(Transaction.booking_date, Transaction.tcn if order == "tcn" else Transaction.id)).all())


def _iar(uow: UnitOfWork, tcn: str) -> tuple[Transaction, Response]:
    tx = uow.session.scalars(select(Transaction).where(Transaction.tcn == tcn)).one_or_none()
    if tx is None:
        tx = uow.session.scalars(select(Transaction).where(Transaction.sender_tcn == tcn)).first()
    iar = None if tx is None else uow.session.scalars(
        select(Response).where(Response.tcn == tx.tcn, Response.kind == "IAR",
                               Response.recipient_role == "field_office")).one_or_none()
    if tx is None or iar is None:
        raise NotFound(f"no IAR for booking {tcn}")
    uow.require_scope("detainer.decide", area=iar.recipient, what="IAR")
    return tx, iar


def decide(uow: UnitOfWork, tcn: str, kind: str, *, basis: Mapping[str, Any] | None = None,
           review_note: str = "", at: dt.datetime | None = None) -> DetainerRow:
    """Record the field office's decision on a booking's IAR: no_action, notification_request or detainer.

    The form is the one in force for the kind on the agency's local date; its required basis fields
    must be present. A detainer on a protected person or a review-band match needs a recorded human
    review: the analyst's resolved status review that decided ``detainer``, or a field supervisor's
    decision with a ``review_note``.
    """
    uow.require("detainer.decide")
    if kind not in D.ACTIONS:
        raise DetainerError(f"decision {kind!r} is not one of {', '.join(D.ACTIONS)}")
    tx, iar = _iar(uow, tcn)
    basis = _basis(basis)
    open_row = uow.session.scalars(select(DetainerRow).where(DetainerRow.tcn == tx.tcn,
                                                             DetainerRow.state != "closed")).first()
    if open_row is not None:
        raise DetainerError(f"booking {tcn} already has an open {open_row.kind} (#{open_row.id}); "
                            "cancel it before lodging another")
    agency = agency_row(uow.session, tx.ori)
    if agency is None:
        raise DetainerError(f"booking {tcn}: the jail {tx.ori} is not a known agency")
    det = uow.session.scalars(select(StageRun).where(StageRun.tcn == tx.tcn,
                                                     StageRun.stage == "status_determination")).one_or_none()
    facts = dict(det.output) if det is not None else {}
    summary = dict(iar.summary or {})
    reviewed_by = ""
    if kind == D.DETAINER and (facts.get("protected_flags") or facts.get("band") == "review"):
        item = uow.session.scalars(select(ReviewItem).where(ReviewItem.tcn == tx.tcn,
                                                            ReviewItem.kind == "status")).one_or_none()
        if item is not None and item.state == "resolved" and item.decision == D.DETAINER:
            reviewed_by = item.resolved_by or ""
        elif uow.principal.role == Role.FIELD_SUPERVISOR and len(review_note.strip()) >= REASON_MIN:
            reviewed_by = uow.principal.actor
            basis["note"] = (basis.get("note", "") + " " if basis.get("note") else "") + \
                f"supervisor review: {review_note.strip()}"
        else:
            why = "a protected person" if facts.get("protected_flags") else "a review-band match"
            raise DetainerError(f"booking {tcn}: a detainer on {why} needs a recorded human review "
                                "(a resolved status review, or a field supervisor's decision with a review note)")
    zone = agency_zone(agency)
    at = _at(at, uow, "decision time", zone.key)
    local_day = at.astimezone(zone).date()
    form = None
    if kind != D.NO_ACTION:
        form = load_forms().form_for(kind, local_day)
        missing = [f for f in form.requires if not basis.get(f)]
        if missing:
            raise DetainerError(f"form {form.label} (in force {local_day}) requires {', '.join(missing)} in the "
                                "basis")
    booked = tx.captured_at or (dt.datetime.combine(tx.booking_date, dt.time(0), tzinfo=zone)
                                if tx.booking_date else tx.received_at)
    record = D.lodge(kind, at, booked_at=booked, level=str(facts.get("level") or summary.get("level") or ""))
    row = DetainerRow(tcn=tx.tcn, ori=agency.ori, state_code=agency.state, county=agency.county or "",
                      field_office=iar.recipient, time_zone=zone.key, form=form.form if form else "",
                      form_revision=form.revision if form else "", recommended=str(summary.get("action") or ""),
                      basis=basis, officer=uow.principal.actor, reviewed_by=reviewed_by, decided_at=at)
    plumbing.apply(row, record, at)
    if record.closed:
        row.outcome_by = uow.principal.actor
    uow.session.add(row)
    uow.session.flush()
    if kind != D.NO_ACTION:
        plumbing.send(uow.session, row, "detainer", at)
    uow.audit(f"detainer:{kind}", "detainer", row.id,
              detail=f"booking {tx.tcn}; {form.label if form else 'no form'}"
                     + (f"; reviewed by {reviewed_by}" if reviewed_by else ""))
    return row


def acknowledge(uow: UnitOfWork, detainer_id: int, *, release_at: dt.datetime,
                at: dt.datetime | None = None, laws: D.LawSchedule | None = None) -> DetainerRow:
    """The jail's acknowledgment: the scheduled release time; its law (in force on the release's local
    date) decides whether a hold may start. Schedules the timers.

    ``laws``: the deployment's compliance laws (default: the shipped ``detainer_laws.json``)."""
    row = _get(uow, "detainer.acknowledge", detainer_id)
    at = _at(at, uow, "acknowledgment time", row.time_zone)
    release_at = _at(release_at, uow, "release time", row.time_zone)
    record = plumbing.record_of(row)
    if record.closed:
        raise DetainerError(f"detainer {row.id} is closed ({row.outcome}): nothing to acknowledge")
    laws = laws or load_laws()
    zone = agency_zone_of(row)
    law = laws.law_for(ori=row.ori, state=row.state_code, county=row.county,
                       day=release_at.astimezone(zone).date())
    answer = D.answer_under_law(law, kind=row.kind, level=row.level, basis=row.basis or {})
    calendar = calendar_for(zone=zone, state=row.state_code, county=row.county)
    record = D.acknowledge(record, release_at=release_at, answer=answer, calendar=calendar, limit=laws.limit)
    plumbing.apply(row, record, at)
    row.acknowledged_by, row.acknowledged_at = uow.principal.actor, at
    if record.closed:
        row.outcome_by = uow.principal.actor
    uow.session.flush()
    plumbing.schedule(uow.session, row, laws.warning_before)
    plumbing.send(uow.session, row, "acknowledgment", at)
    uow.audit("detainer:acknowledge", "detainer", row.id,
              detail=f"{row.answer} under {row.law_name}; release {local_text(release_at, zone)}"
                     + (f"; expires {local_text(row.expires_at, zone)}" if row.expires_at else ""))
    return row


def agency_zone_of(row: DetainerRow):
    from securecomm.domain.timezones import zone

    try:
        return zone(row.time_zone)
    except UnknownTimeZone as exc:  # pragma: no cover - the zone was checked when the row was made
        raise DetainerError(str(exc)) from None


def _end(uow: UnitOfWork, row: DetainerRow, record: D.Detainer, at: dt.datetime, what: str) -> DetainerRow:
    plumbing.apply(row, record, uow.now())
    row.outcome_by = uow.principal.actor
    plumbing.cancel_timers(uow.session, row.id)
    uow.audit(f"detainer:{what}", "detainer", row.id, detail=f"{row.outcome} at {at.isoformat()}"
              + (f"; {row.outcome_reason}" if row.outcome_reason else ""))
    if row.over_held:
        uow.audit("detainer:override", "detainer", row.id,
                  detail=f"held past expiry {row.expires_at.isoformat() if row.expires_at else ''} until "
                         f"{at.isoformat()}: {row.override}")
    return row


def _override(uow: UnitOfWork, override: str) -> str:
    if override:
        uow.require("detainer.override_expiry")
        if len(override.strip()) < REASON_MIN:
            raise DetainerError(f"an override needs a reason of at least {REASON_MIN} characters")
    return override


def release(uow: UnitOfWork, detainer_id: int, *, at: dt.datetime | None = None, reason: str = "other",
            override: str = "") -> DetainerRow:
    """The jail released the person (``reason``: expiry, bail, charges_dropped, ...)."""
    override = _override(uow, override)
    row = _get(uow, "detainer.release", detainer_id)
    at = _at(at, uow, "release time", row.time_zone)
    record = D.release(plumbing.record_of(row), at, reason=reason, override=override)
    return _end(uow, row, record, at, "release")


def transfer(uow: UnitOfWork, detainer_id: int, *, at: dt.datetime | None = None,
             override: str = "") -> DetainerRow:
    """Custody transferred to the immigration agency."""
    override = _override(uow, override)
    row = _get(uow, "detainer.transfer", detainer_id)
    at = _at(at, uow, "transfer time", row.time_zone)
    record = D.transfer(plumbing.record_of(row), at, override=override)
    return _end(uow, row, record, at, "transfer")


def cancel(uow: UnitOfWork, detainer_id: int, *, reason: str, at: dt.datetime | None = None) -> DetainerRow:
    """The field office withdraws its decision; the jail is told."""
    row = _get(uow, "detainer.cancel", detainer_id)
    at = _at(at, uow, "cancellation time", row.time_zone)
    record = D.cancel(plumbing.record_of(row), at, reason=reason)
    _end(uow, row, record, at, "cancel")
    uow.session.flush()
    plumbing.send(uow.session, row, "cancellation", at)
    return row


def list_detainers(uow: UnitOfWork, *, ori: str | None = None, field_office: str | None = None,
                   state: str | None = None, open_only: bool = False, limit: int = 500) -> list[DetainerRow]:
    """Detainers inside the principal's scopes (narrowed by the filters), newest first; audited."""
    uow.require("detainer.list")
    q = select(DetainerRow)
    p = uow.principal
    for mine, col in ((p.ori, DetainerRow.ori), (p.state, DetainerRow.state_code),
                      (p.area, DetainerRow.field_office)):
        if mine is not None:
            q = q.where(col == mine)
    if ori:
        q = q.where(DetainerRow.ori == validate_ori(ori))
    if field_office:
        q = q.where(DetainerRow.field_office == field_office.strip())
    if state:
        q = q.where(DetainerRow.state_code == state.strip().upper())
    if open_only:
        q = q.where(DetainerRow.state != "closed")
    rows = list(uow.session.scalars(q.order_by(DetainerRow.id.desc()).limit(limit)))
    uow.audit("read", "detainers", ori or field_office or state or "all", detail=f"{len(rows)} listed")
    return rows


def show(uow: UnitOfWork, detainer_id: int) -> dict[str, Any]:
    """The detainer document (docs/formats.md); audited."""
    row = _get(uow, "detainer.list", detainer_id)
    uow.audit("read", "detainer", row.id)
    return plumbing.document(row)


def notices(uow: UnitOfWork, detainer_id: int) -> list[DetainerNotice]:
    """The notices sent about one detainer, oldest first."""
    row = _get(uow, "detainer.list", detainer_id)
    uow.audit("read", "detainer_notices", row.id)
    return list(uow.session.scalars(select(DetainerNotice).where(DetainerNotice.detainer_id == row.id)
                                    .order_by(DetainerNotice.id)))


def expiry(uow: UnitOfWork, *, ori: str, release_at: dt.datetime) -> dict[str, Any]:
    """When a hold on a release at ``release_at`` at the jail ``ori`` would expire (no record is touched).

    ``release_at`` may be naive: it is then read as the jail's local time.
    """
    uow.require("detainer.expiry")
    agency = agency_row(uow.session, validate_ori(ori))
    if agency is None:
        raise NotFound(f"no agency {ori}")
    zone = agency_zone(agency)
    start = release_at if release_at.tzinfo is not None else release_at.replace(tzinfo=zone)
    calendar = calendar_for(zone=zone, state=agency.state, county=agency.county or "")
    laws = load_laws()
    end = hold_expiry(start, calendar, laws.limit)
    law = laws.law_for(ori=agency.ori, state=agency.state, county=agency.county or "",
                       day=start.astimezone(zone).date())
    return {"ori": agency.ori, "time_zone": zone.key, "release_local": local_text(start, zone),
            "expires_local": local_text(end, zone), "expires_at": end.isoformat(),
            "skipped_days": [d.isoformat() for d in calendar.skipped_days(start, end)],
            "law": law.name, "rule": law.rule}


def timers(uow: UnitOfWork, *, state: str | None = "pending") -> list[DetainerTimer]:
    """Timers (pending by default), earliest due first."""
    uow.require("detainer.timers")
    q = select(DetainerTimer).order_by(DetainerTimer.due_at, DetainerTimer.id)
    if state:
        q = q.where(DetainerTimer.state == state)
    return list(uow.session.scalars(q))


def fire_timers(sessions, principal, engine, *, clock=None, owner: str = "timers") -> list[plumbing.Fired]:
    """Fire every due timer now, each claimed in its own transaction and audited there.

    Not inside a caller's unit of work: each timer takes the write lock for its own transaction.
    """
    with UnitOfWork(sessions, principal, **({"clock": clock} if clock else {}), purpose="fire timers") as uow:
        uow.require("detainer.timers")
        clock = uow.clock
    return plumbing.fire_due(engine, clock=clock, owner=owner)


def figures(uow: UnitOfWork, *, by: str = "state", start: dt.date | None = None,
            end: dt.date | None = None) -> list[dict[str, Any]]:
    """Figures by jurisdiction (``statistics.detainers.figures``); aggregates only, audited."""
    uow.require("statistics.read")
    rows = figures_query.figures(uow.session, by=by, start=start, end=end)
    uow.audit("read", "detainer_figures", by, detail=f"{len(rows)} rows")
    return rows


def document_json(row: DetainerRow) -> str:
    return json.dumps(plumbing.document(row), indent=2, sort_keys=False)
