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

from collections.abc import Mapping

from sqlalchemy import Engine, select
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

    ``session``: write inside the caller's write transaction (a bulk load submitting many bookings per
    commit) instead of one transaction of its own; a refused booking then writes nothing either."""
    import hashlib

    from securecomm.engine.template import Template
    from securecomm.domain import offenses
    from securecomm.interchange import write_booking

    if booking.fingers:
        raise ValueError("a template-level booking carries templates, not finger images")
    parsed = {}
    for pos, data in templates.items():
        if not 1 <= int(pos) <= 10:
            raise ValueError(f"finger position {pos} is not 1..10")
        try:
            parsed[int(pos)] = Template.from_bytes(bytes(data))
        except Exception as exc:  # bad bytes: name the finger
            raise ValueError(f"finger {pos}: unreadable template ({exc})") from exc
    if len(parsed) < max(1, min_fingers):
        raise ValueError(f"{len(parsed)} finger templates; at least {max(1, min_fingers)} required")
    bad = [c.ncic for c in booking.charges if not offenses.is_valid(c.ncic)]
    if bad:
        raise ValueError(f"not NCIC offense codes: {', '.join(bad)}")
    raw = write_booking(booking)
    sha = hashlib.sha256(raw).hexdigest()
    if session is not None:
        return _record(session, booking, templates, parsed, raw, sha, min_fingers, worker)
    with write_session(engine) as s:
        return _record(s, booking, templates, parsed, raw, sha, min_fingers, worker)


def _record(s: Session, booking: Booking, templates: Mapping[int, bytes], parsed: dict, raw: bytes, sha: str,
            min_fingers: int, worker: str) -> SubmitResult:
    """The rows of one template-level booking, in ``s``'s write transaction."""
    from securecomm.jurisdictions import agency

    row = agency(s, booking.ori)
    if row is None:
        raise ValueError(f"ORI {booking.ori!r} is not a known agency")
    existing = s.scalars(select(Transaction).where(Transaction.tcn == booking.tcn)).one_or_none()
    if existing is not None:
        outcome = "duplicate" if existing.sha256 == sha else "conflict"
        return SubmitResult(existing.tcn, outcome, existing.state)
    now = SYSTEM_CLOCK.now()
    s.add(Transaction(tcn=booking.tcn, ori=booking.ori, tot="CAR", state="accepted", raw=raw, sha256=sha,
                      booking_date=booking.date, received_at=now))
    s.flush()
    fingers = sorted(parsed)
    s.add(StageRun(tcn=booking.tcn, stage="validate", status="done", worker=worker, finished_at=now,
                   output={"ori": booking.ori, "date": booking.date.isoformat(), "fingers": fingers,
                           "charges": [c.ncic for c in booking.charges],
                           "sib": booking.sib_ori or (row.sib_ori or ""), "min_fingers": min_fingers,
                           "entry": ENTRY}))
    minutiae = {p: int(t.x.size) for p, t in parsed.items()}
    s.add(StageRun(tcn=booking.tcn, stage="extract", status="done", worker=worker, finished_at=now,
                   output={"fingers": fingers, "minutiae": {str(p): n for p, n in minutiae.items()},
                           "failed": [], "entry": ENTRY}))
    for pos in fingers:
        s.add(BookingTemplate(tcn=booking.tcn, position=pos, template=bytes(templates[pos]),
                              minutiae=minutiae[pos]))
    JobQueue.enqueue(s, booking.tcn, "criminal_search")
    return SubmitResult(booking.tcn, "queued", "accepted")
