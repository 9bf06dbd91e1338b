"""The manual review queue: who may see it and who may decide which kind of item.

An examiner decides biometric items (``biometric``, ``criminal_biometric``);
a LESC analyst or a field supervisor decides status items. The decision is
recorded under the acting principal's name (never a name typed in), and its
audit row commits with it.
"""

from __future__ import annotations

from securecomm.services.unit_of_work import NotFound, UnitOfWork
from securecomm.store.workflow_models import ReviewItem
from securecomm.workflow import pipeline

__all__ = ["list_items", "decide", "DECIDE_OPERATION"]

#: The operation that guards a decision on each kind of item.
DECIDE_OPERATION = {
    "biometric": "review.decide_biometric",
    "criminal_biometric": "review.decide_biometric",
    "status": "review.decide_status",
}


def list_items(uow: UnitOfWork, *, state: str | None = "open") -> list[ReviewItem]:
    """The queue (open items by default), oldest first; the listing is audited."""
    uow.require("review.list")
    items = pipeline.review_items_of(uow.session, state=state)
    uow.audit("read", "review_queue", state or "all", detail=f"{len(items)} items listed")
    return items


def decide(uow: UnitOfWork, item_id: int, decision: str, *, note: str = "") -> ReviewItem:
    """Record the principal's decision on one item; the waiting transaction continues at the next `work`."""
    item = uow.session.get(ReviewItem, item_id)
    if item is None:
        uow.require("review.list")  # an unknown id tells nothing to someone who may not see the queue
        raise NotFound(f"no review item {item_id}")
    uow.require(DECIDE_OPERATION.get(item.kind, f"review.decide_{item.kind}"))
    row = pipeline.record_review(uow.session, item_id, decision, reviewer=uow.principal.actor, note=note,
                                 at=uow.now().replace(tzinfo=None))
    uow.audit(f"review:{decision}", "transaction", row.tcn, detail=f"{row.kind} item {row.id}"
              + (f"; note: {note}" if note else ""))
    merged = (row.details or {}).get("merged")  # a confirmed consolidation candidate merged two subjects
    if merged:
        uow.audit("merge", "criminal_subject", merged["survivor"],
                  detail=f"UCN {merged['merged']} merged into {merged['survivor']} "
                         f"({merged['arrests_moved']} arrests moved); review item {row.id}")
    return row
