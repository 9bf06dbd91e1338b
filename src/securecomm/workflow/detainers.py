"""Detainer plumbing: rows <-> domain records, the JSON documents, and the durable timers.

The services (``services.detainers``) decide who may do what; this module keeps
the rows, builds the documents of ``docs/formats.md`` and fires timers.

Timers are rows (``detainer_timers``): a warning to the field office
``warning_before`` ahead of the hold's expiry, the expiry notice ("release
now") to the jail at expiry, and for a notification request the release
notice to the field office at the scheduled release. :func:`fire_due` claims
one due timer at a time in a write transaction (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite, as the job queue claims jobs) and,
in that same transaction, writes the notice to the ``detainer_notices`` outbox,
marks the timer fired and audits it. A process killed before the commit leaves
the timer pending for the next worker; after the commit it is fired. The
unique ``(detainer_id, kind)`` of the outbox makes a second send impossible
even if that reasoning had a hole. Workers (``securecomm work``) call
:func:`fire_due` between jobs; ``securecomm detainers timers --fire`` runs it
once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from securecomm.domain import detainers as D
from securecomm.domain.clock import SYSTEM_CLOCK, Clock
from securecomm.domain.hold_clock import local_text
from securecomm.domain.timezones import zone
from securecomm.store import audit as audit_store
from securecomm.store.detainer_models import DetainerNotice, DetainerRow, DetainerTimer
from securecomm.workflow.queue import _is_sqlite, write_session

log = logging.getLogger(__name__)

#: Schema tag of every detainer document (docs/formats.md).
DOCUMENT_VERSION = "securecomm.detainer/1"
#: Columns that mirror the domain record one to one.
_MIRRORED = ("kind", "state", "level", "booked_at", "release_at", "expires_at", "law_name", "law_rule", "answer",
             "answer_reason", "outcome", "outcome_at", "outcome_reason", "over_held", "override")


def record_of(row: DetainerRow) -> D.Detainer:
    """The domain record a row holds."""
    return D.Detainer(lodged_at=row.decided_at, **{k: getattr(row, k) for k in _MIRRORED})


def apply(row: DetainerRow, record: D.Detainer, at: dt.datetime) -> None:
    """Copy a domain record's fields onto its row."""
    for k in _MIRRORED:
        setattr(row, k, getattr(record, k))
    row.updated_at = at


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _local(row: DetainerRow, value: dt.datetime | None) -> str | None:
    return local_text(value, zone(row.time_zone)) if value is not None else None


def document(row: DetainerRow) -> dict[str, Any]:
    """The detainer document (docs/formats.md, "Detainer")."""
    return {
        "document": DOCUMENT_VERSION, "type": "detainer", "id": row.id, "booking_tcn": row.tcn,
        "kind": row.kind, "state": row.state,
        "form": {"form": row.form, "revision": row.form_revision} if row.form else None,
        "decided": {"by": row.officer, "at": _iso(row.decided_at), "basis": dict(row.basis or {}),
                    "reviewed_by": row.reviewed_by or None, "recommended": row.recommended or None},
        "jail": {"ori": row.ori, "state": row.state_code, "county": row.county or None, "time_zone": row.time_zone},
        "field_office": row.field_office,
        "criminal_level": row.level or None,
        "hold": {"release_at": _iso(row.release_at), "release_local": _local(row, row.release_at),
                 "expires_at": _iso(row.expires_at), "expires_local": _local(row, row.expires_at),
                 "limit": "48 hours excluding Saturdays, Sundays and holidays (8 CFR 287.7(d))"},
        "answer": {"answer": row.answer or None, "law": row.law_name or None, "rule": row.law_rule or None,
                   "reason": row.answer_reason or None, "by": row.acknowledged_by or None,
                   "at": _iso(row.acknowledged_at)},
        "outcome": {"outcome": row.outcome, "at": _iso(row.outcome_at), "reason": row.outcome_reason or None,
                    "by": row.outcome_by or None, "over_held": bool(row.over_held),
                    "override": row.override or None},
    }


def notice(row: DetainerRow, kind: str, at: dt.datetime) -> tuple[str, str, dict[str, Any]]:
    """(recipient, recipient_role, document) of a notice about ``row``."""
    base = {"document": DOCUMENT_VERSION, "type": kind, "detainer_id": row.id, "booking_tcn": row.tcn,
            "issued_at": _iso(at), "jail_ori": row.ori, "field_office": row.field_office}
    if kind == "detainer":
        return row.ori, "ori", {**base, "detainer": document(row)}
    if kind == "acknowledgment":
        return row.field_office, "field_office", {
            **base, "answer": row.answer, "law": row.law_name, "rule": row.law_rule, "reason": row.answer_reason,
            "release_at": _iso(row.release_at), "release_local": _local(row, row.release_at),
            "expires_at": _iso(row.expires_at), "expires_local": _local(row, row.expires_at),
            "acknowledged_by": row.acknowledged_by}
    if kind == "expiry_warning":
        return row.field_office, "field_office", {
            **base, "expires_at": _iso(row.expires_at), "expires_local": _local(row, row.expires_at),
            "message": f"the hold at {row.ori} expires {_local(row, row.expires_at)}: take custody or the person "
                       "is released"}
    if kind == "expiry_notice":
        return row.ori, "ori", {
            **base, "expires_at": _iso(row.expires_at), "expires_local": _local(row, row.expires_at),
            "message": "release now: the detainer's hold has expired (8 CFR 287.7(d)); holding longer is unlawful"}
    if kind == "release_notice":
        return row.field_office, "field_office", {
            **base, "release_at": _iso(row.release_at), "release_local": _local(row, row.release_at),
            "message": f"notification request: the person is released from {row.ori} at "
                       f"{_local(row, row.release_at)}"}
    if kind == "cancellation":
        return row.ori, "ori", {**base, "reason": row.outcome_reason,
                                "message": "the detainer is cancelled: do not hold on it"}
    raise ValueError(f"unknown notice kind {kind!r}")


def send(session: Session, row: DetainerRow, kind: str, at: dt.datetime) -> DetainerNotice:
    """Put a notice in the outbox (one of each kind per detainer: a second is a constraint error)."""
    recipient, role, doc = notice(row, kind, at)
    n = DetainerNotice(detainer_id=row.id, kind=kind, recipient=recipient or "UNASSIGNED", recipient_role=role,
                       document=doc, created_at=at)
    session.add(n)
    return n


def schedule(session: Session, row: DetainerRow, warning_before: dt.timedelta) -> list[DetainerTimer]:
    """The timers an acknowledged detainer needs (none for a closed one)."""
    timers: list[DetainerTimer] = []
    if row.state == "honoured" and row.expires_at is not None:
        timers = [DetainerTimer(detainer_id=row.id, kind="warning", due_at=row.expires_at - warning_before),
                  DetainerTimer(detainer_id=row.id, kind="expiry", due_at=row.expires_at)]
    elif row.state == "notify" and row.release_at is not None:
        timers = [DetainerTimer(detainer_id=row.id, kind="release_notice", due_at=row.release_at)]
    for t in timers:
        t.state, t.fired_by = "pending", ""
        session.add(t)
    return timers


def cancel_timers(session: Session, detainer_id: int) -> int:
    """Cancel a closed detainer's pending timers; returns how many."""
    n = 0
    for t in session.scalars(select(DetainerTimer).where(DetainerTimer.detainer_id == detainer_id,
                                                         DetainerTimer.state == "pending")):
        t.state = "cancelled"
        n += 1
    return n


_NOTICE_OF_TIMER = {"warning": "expiry_warning", "expiry": "expiry_notice", "release_notice": "release_notice"}


@dataclasses.dataclass(frozen=True)
class Fired:
    timer_id: int
    detainer_id: int
    kind: str
    due_at: dt.datetime
    fired_at: dt.datetime


def fire_one(engine: Engine, *, clock: Clock = SYSTEM_CLOCK, owner: str = "timers") -> Fired | None:
    """Claim the earliest due pending timer and send its notice, in one transaction; None when none is due."""
    now = clock.now()
    with write_session(engine) as session:
        pick = (select(DetainerTimer).where(DetainerTimer.state == "pending", DetainerTimer.due_at <= now)
                .order_by(DetainerTimer.due_at, DetainerTimer.id).limit(1))
        if not _is_sqlite(session):
            pick = pick.with_for_update(skip_locked=True)
        timer = session.scalars(pick).one_or_none()
        if timer is None:
            return None
        row = session.get(DetainerRow, timer.detainer_id)
        assert row is not None
        send(session, row, _NOTICE_OF_TIMER[timer.kind], now)
        timer.state, timer.fired_at, timer.fired_by = "fired", now, owner[:96]
        audit_store.record(session, actor="pipeline", role="system", action="notify", object_type="detainer",
                           object_id=str(row.id), detail=f"{_NOTICE_OF_TIMER[timer.kind]} (due {_iso(timer.due_at)})",
                           purpose="detainer timer", at=now)
        return Fired(timer.id, row.id, timer.kind, timer.due_at, now)


def fire_due(engine: Engine, *, clock: Clock = SYSTEM_CLOCK, owner: str = "timers", limit: int = 100) -> list[Fired]:
    """Fire every due timer (at most ``limit`` in this call).

    Pipeline workers call this about once a second: whether any timer is due is asked first in a plain read
    (an index lookup), so that an idle check takes no write lock -- on SQLite a ``BEGIN IMMEDIATE`` that the
    other workers' commits would queue behind. ``fire_one`` claims under the lock as before.
    """
    fired: list[Fired] = []
    with Session(engine) as session:
        if session.scalars(select(DetainerTimer.id).where(DetainerTimer.state == "pending",
                                                         DetainerTimer.due_at <= clock.now()).limit(1)).first() is None:
            return fired
    while len(fired) < limit:
        f = fire_one(engine, clock=clock, owner=owner)
        if f is None:
            break
        fired.append(f)
    return fired
