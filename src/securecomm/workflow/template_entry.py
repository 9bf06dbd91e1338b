"""Template-level entry to the pipeline: a booking whose finger templates are already extracted.

The state-year simulation (and its what-if replays) books people at template
level: no images are rendered, so ``validate``'s image checks and
``extract`` have nothing to do. ``submit_templates`` records what those two
stages would have recorded -- the transaction (a CAR with the booking's
Type-1 and Type-2 and no finger images), a ``validate`` and an ``extract``
stage run marked ``entry: templates``, the ``booking_templates`` rows -- and
queues the job at ``criminal_search``. Every later stage is the real one,
unchanged: the same searches, SRE, IDR, IAQ, status determination and IAR,
the same commits and fences.

The checks of ``validate`` that do not need images are made here (a known
ORI, valid NCIC codes, at least one template); a booking that fails them is
refused with a ValueError naming the problem, before anything is written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session

from securecomm.domain.records import Booking
from securecomm.domain.clock import SYSTEM_CLOCK
from securecomm.store.workflow_models import BookingTemplate, StageRun, Transaction
from securecomm.workflow.pipeline import SubmitResult
from securecomm.workflow.queue import JobQueue, write_session

#: Marks the stage runs written by this entry (they ran nothing).
ENTRY = "templates"


def submit_templates(engine: Engine, booking: Booking, templates: Mapping[int, bytes], *,
                     min_fingers: int = 1, worker: str = "template-entry",
                     session: Session | None = None) -> SubmitResult:
    """Queue a template-level booking at ``criminal_search``; ``templates`` maps finger position to
    ``Template.to_bytes()``. A TCN already received is reported ``duplicate`` and not queued again.

    ``session``: write inside the caller's write transaction instead of one transaction of its own; a
    refused booking then writes nothing either."""
    if session is not None:
        return submit_templates_many(session, [(booking, templates)], min_fingers=min_fingers, worker=worker)[0]
    with write_session(engine) as s:
        return submit_templates_many(s, [(booking, templates)], min_fingers=min_fingers, worker=worker)[0]


def submit_templates_many(session: Session, items: Sequence[tuple[Booking, Mapping[int, bytes]]], *,
                          min_fingers: int = 1, worker: str = "template-entry") -> list[SubmitResult]:
    """:func:`submit_templates` of each (booking, templates) in order, in the caller's write transaction, with
    one multi-row insert per table (a bulk load: the simulation submits 200 bookings at a time).

    Every booking is checked before anything is written: one that fails a check refuses the whole batch, with
    a ValueError naming its TCN and the problem. A TCN received before, or earlier in the batch, is reported
    ``duplicate`` (same bytes) or ``conflict`` and not queued again."""
    checked = [_checked(session, booking, templates, min_fingers) for booking, templates in items]
    tcns = sorted({c.booking.tcn for c in checked})
    seen: dict[str, tuple[str, str]] = {}
    for at in range(0, len(tcns), 500):
        seen.update((t, (sha, state)) for t, sha, state in session.execute(
            select(Transaction.tcn, Transaction.sha256, Transaction.state)
            .where(Transaction.tcn.in_(tcns[at:at + 500]))))
    now = SYSTEM_CLOCK.now()
    results: list[SubmitResult] = []
    new: list[_Checked] = []
    for c in checked:
        tcn = c.booking.tcn
        if tcn in seen:
            sha, state = seen[tcn]
            results.append(SubmitResult(tcn, "duplicate" if sha == c.sha else "conflict", state))
            continue
        seen[tcn] = (c.sha, "accepted")
        new.append(c)
        results.append(SubmitResult(tcn, "queued", "accepted"))
    if not new:
        return results
    session.execute(insert(Transaction), [
        {"tcn": c.booking.tcn, "ori": c.booking.ori, "tot": "CAR", "state": "accepted", "raw": c.raw,
         "sha256": c.sha, "booking_date": c.booking.date, "received_at": now} for c in new])
    stage_rows, template_rows = [], []
    for c in new:
        b, fingers = c.booking, sorted(c.minutiae)
        stage_rows.append({"tcn": b.tcn, "stage": "validate", "status": "done", "worker": worker, "finished_at": now,
                           "output": {"ori": b.ori, "date": b.date.isoformat(), "fingers": fingers,
                                      "charges": [ch.ncic for ch in b.charges], "sib": c.sib,
                                      "min_fingers": min_fingers, "entry": ENTRY}})
        stage_rows.append({"tcn": b.tcn, "stage": "extract", "status": "done", "worker": worker, "finished_at": now,
                           "output": {"fingers": fingers, "minutiae": {str(p): n for p, n in c.minutiae.items()},
                                      "failed": [], "entry": ENTRY}})
        template_rows += [{"tcn": b.tcn, "position": pos, "template": c.templates[pos], "minutiae": c.minutiae[pos]}
                          for pos in fingers]
    session.execute(insert(StageRun), stage_rows)
    session.execute(insert(BookingTemplate), template_rows)
    JobQueue.enqueue_many(session, [c.booking.tcn for c in new], "criminal_search", at=now)
    return results


@dataclass(frozen=True)
class _Checked:
    """A booking that passed the checks, with what its rows need."""

    booking: Booking
    templates: dict[int, bytes]
    minutiae: dict[int, int]
    raw: bytes
    sha: str
    sib: str


def _checked(session: Session, booking: Booking, templates: Mapping[int, bytes], min_fingers: int) -> _Checked:
    """The checks ``validate`` makes without images (ValueError naming the booking's TCN and the problem)."""
    try:
        return _check(session, booking, templates, min_fingers)
    except ValueError as exc:
        raise ValueError(f"booking {booking.tcn}: {exc}") from exc


def _check(session: Session, booking: Booking, templates: Mapping[int, bytes], min_fingers: int) -> _Checked:
    from securecomm.domain import offenses
    from securecomm.engine.template import Template
    from securecomm.interchange import write_booking
    from securecomm.jurisdictions import agency

    if booking.fingers:
        raise ValueError("a template-level booking carries templates, not finger images")
    minutiae: dict[int, int] = {}
    for pos, data in templates.items():
        if not 1 <= int(pos) <= 10:
            raise ValueError(f"finger position {pos} is not 1..10")
        try:
            minutiae[int(pos)] = int(Template.from_bytes(bytes(data)).x.size)
        except Exception as exc:  # bad bytes: name the finger
            raise ValueError(f"finger {pos}: unreadable template ({exc})") from exc
    if len(minutiae) < max(1, min_fingers):
        raise ValueError(f"{len(minutiae)} finger templates; at least {max(1, min_fingers)} required")
    bad = [c.ncic for c in booking.charges if not offenses.is_valid(c.ncic)]
    if bad:
        raise ValueError(f"not NCIC offense codes: {', '.join(bad)}")
    raw = write_booking(booking)
    row = agency(session, booking.ori)
    if row is None:
        raise ValueError(f"ORI {booking.ori!r} is not a known agency")
    return _Checked(booking, {int(p): bytes(d) for p, d in templates.items()}, minutiae, raw,
                    hashlib.sha256(raw).hexdigest(), booking.sib_ori or (row.sib_ori or ""))
