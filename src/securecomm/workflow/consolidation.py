"""The consolidation queue: pairs of criminal subjects that may be one person, and their merge.

Search-then-enrol is serialised (``stages.criminal_search``), so concurrent bookings of one
person no longer split it; duplicates still arise from *missed* matches (a booking whose
prints score in the examiner-review band, or not at all, against the earlier subject).
Every booking enrolled as a new subject while a candidate sat in the review band opens a
``criminal_biometric`` review item: that item is a consolidation candidate naming both
UCNs. An examiner's ``confirm`` merges the booking's subject into the candidate
(``CriminalRepository.merge``: rap sheets joined, the booking's UCN aliased), ``reject``
closes it. Examiners can also merge any two subjects they found to be one person.

These functions work inside the caller's transaction; permissions and the audit are the
service layer's (``securecomm.services.identity``) or the review command's.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from securecomm.store.workflow_models import ReviewItem, StageRun, utcnow

KIND = "criminal_biometric"


@dataclass(frozen=True)
class Candidate:
    """One open consolidation candidate: the booking's subject and the subject it weakly matched."""

    item_id: int
    tcn: str
    booking_ucn: str
    candidate_ucn: str
    score: float | None
    reason: str


def booking_ucn(session: Session, tcn: str) -> str | None:
    """The UCN the booking's criminal search enrolled or identified (as recorded), if any."""
    output = session.scalar(select(StageRun.output).where(StageRun.tcn == tcn, StageRun.stage == "criminal_search"))
    return (output or {}).get("ucn")


def open_candidates(session: Session) -> list[Candidate]:
    """The queue, oldest first; UCNs as they are known now (merged ones resolved)."""
    from securecomm.repositories import CriminalRepository

    repo = CriminalRepository(session)
    out = []
    for item in session.scalars(select(ReviewItem).where(ReviewItem.kind == KIND, ReviewItem.state == "open")
                                .order_by(ReviewItem.id)):
        mine = (item.details or {}).get("ucn") or booking_ucn(session, item.tcn) or ""
        out.append(Candidate(item.id, item.tcn, repo.resolve(mine) if mine else "",
                             repo.resolve(item.candidate) if item.candidate else "", item.score, item.reason))
    return out


def decide(session: Session, item: ReviewItem, decision: str, *, reviewer: str, note: str = "",
           at: dt.datetime | None = None):
    """Record an examiner's decision on a candidate; ``confirm`` merges the booking's subject into
    the candidate's. Returns the ``Merge`` (None on reject, or when the two are already one)."""
    from securecomm.repositories import CriminalRepository, RepositoryError

    if item.kind != KIND:
        raise ValueError(f"review item {item.id} is a {item.kind} item, not a consolidation candidate")
    if item.state != "open":
        raise ValueError(f"review item {item.id} is already {item.state}")
    if decision not in ("confirm", "reject"):
        raise ValueError(f"a consolidation candidate takes confirm or reject, not {decision!r}")
    if not reviewer.strip():
        raise ValueError("a consolidation decision needs the examiner's name")
    merged = None
    if decision == "confirm":
        repo = CriminalRepository(session)
        mine = (item.details or {}).get("ucn") or booking_ucn(session, item.tcn)
        if not mine or not item.candidate:
            raise ValueError(f"review item {item.id}: the booking has no subject yet to consolidate")
        if repo.resolve(mine) != repo.resolve(item.candidate):
            try:
                merged = repo.merge(item.candidate, mine, merged_by=reviewer.strip(),
                                    reason=note or f"consolidation candidate {item.id} confirmed")
            except RepositoryError as exc:
                raise ValueError(str(exc)) from exc
    item.decision = decision
    item.state = "confirmed" if decision == "confirm" else "rejected"
    item.resolved_by = reviewer.strip()[:64]
    item.resolved_at = at or utcnow()
    if note:
        item.details = {**(item.details or {}), "note": note}
    if merged is not None:
        item.details = {**(item.details or {}), "merged": {"survivor": merged.survivor, "merged": merged.merged,
                                                          "arrests_moved": merged.arrests_moved}}
    return merged
