"""Identity services: the consolidation queue and merging two criminal subjects that are one person.

A merge joins the rap sheets and aliases the losing UCN to the surviving one (lookups by
either work); it is a change to the criminal record, so it needs an examiner (or an
administrator), a reason, and leaves an audit row in the same transaction.
"""

from __future__ import annotations

from sqlalchemy import select

from securecomm.repositories import CriminalRepository, RepositoryError
from securecomm.repositories.criminal import Merge
from securecomm.services.unit_of_work import NotFound, UnitOfWork
from securecomm.store.workflow_models import ReviewItem
from securecomm.workflow import consolidation
from securecomm.workflow.consolidation import Candidate


def consolidation_queue(uow: UnitOfWork) -> list[Candidate]:
    """Open consolidation candidates (booking subject, weakly matched subject), oldest first; audited."""
    uow.require("identity.consolidation_queue")
    items = consolidation.open_candidates(uow.session)
    uow.audit("read", "consolidation_queue", "open", detail=f"{len(items)} candidates")
    return items


def merge_subjects(uow: UnitOfWork, survivor: str, merged: str, reason: str) -> Merge:
    """Merge ``merged`` into ``survivor``: rap sheets joined, ``merged`` becomes an alias."""
    uow.require("identity.merge")
    if not reason or not reason.strip():
        raise ValueError("a merge needs a reason (what showed the two are one person)")
    repo = CriminalRepository(uow.session)
    for ucn in (survivor, merged):
        if not repo.exists(ucn):
            raise NotFound(f"no criminal subject with UCN {ucn!r}")
    try:
        result = repo.merge(survivor, merged, merged_by=uow.principal.actor, reason=reason.strip())
    except RepositoryError as exc:
        raise ValueError(str(exc)) from exc
    uow.audit("merge", "criminal_subject", result.survivor,
              detail=f"UCN {result.merged} merged into {result.survivor} ({result.arrests_moved} arrests moved): "
                     f"{reason.strip()}")
    return result


def decide_consolidation(uow: UnitOfWork, item_id: int, decision: str, reason: str = "") -> Merge | None:
    """An examiner's decision on a candidate: ``confirm`` merges, ``reject`` closes it; audited."""
    uow.require("identity.merge")
    item = uow.session.scalar(select(ReviewItem).where(ReviewItem.id == item_id,
                                                       ReviewItem.kind == consolidation.KIND))
    if item is None:
        raise NotFound(f"no consolidation candidate {item_id}")
    result = consolidation.decide(uow.session, item, decision, reviewer=uow.principal.actor, note=reason)
    uow.audit(f"review:{decision}", "transaction", item.tcn, detail=f"consolidation candidate {item_id}")
    if result is not None:
        uow.audit("merge", "criminal_subject", result.survivor,
                  detail=f"UCN {result.merged} merged into {result.survivor} ({result.arrests_moved} arrests "
                         f"moved); consolidation candidate {item_id}" + (f": {reason}" if reason else ""))
    return result
