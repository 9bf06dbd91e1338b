"""The manual review queue: who may see it and who may decide which kind of item.

An examiner decides biometric items (``biometric``, ``criminal_biometric``);
a LESC analyst or a field supervisor decides status items. The decision is
recorded under the acting principal's name (never a name typed in), and its
audit row commits with it.
"""

from __future__ import annotations

from sqlalchemy import select

from securecomm.services.unit_of_work import NotFound, UnitOfWork
from securecomm.store.models import Agency
from securecomm.store.workflow_models import ReviewItem, Transaction
from securecomm.workflow import pipeline

__all__ = ["list_items", "decide", "DECIDE_OPERATION"]

#: The operation that guards a decision on each kind of item.
DECIDE_OPERATION = {
    "biometric": "review.decide_biometric",
    "criminal_biometric": "review.decide_biometric",
    "status": "review.decide_status",
}


def _scoped(uow: UnitOfWork) -> bool:
    p = uow.principal
    return p.ori is not None or p.state is not None or p.area is not None


def _owner(uow: UnitOfWork, tcn: str) -> dict[str, str | None]:
    """The ORI, state and field-office area of the booking an item belongs to."""
    row = uow.session.execute(select(Transaction.ori, Agency.state, Agency.field_office)
                              .join(Agency, Agency.ori == Transaction.ori, isouter=True)
                              .where(Transaction.tcn == tcn)).one_or_none()
    if row is None:
        return {"ori": None, "state": None, "area": None}
    return {"ori": row[0] or None, "state": row[1], "area": row[2] or None}


def list_items(uow: UnitOfWork, *, state: str | None = "open") -> list[ReviewItem]:
    """The queue (open items by default), oldest first; the listing is audited.

    A principal holding scopes (a field supervisor: its area) sees only the items of bookings in them.
    """
    uow.require("review.list")
    items = pipeline.review_items_of(uow.session, state=state)
    if _scoped(uow):
        items = [i for i in items if uow.principal.sees(**_owner(uow, i.tcn))]
    uow.audit("read", "review_queue", state or "all", detail=f"{len(items)} items listed")
    return items


def decide(uow: UnitOfWork, item_id: int, decision: str, *, note: str = "") -> ReviewItem:
    """Record the principal's decision on one item; the waiting transaction continues at the next `work`."""
    item = uow.session.get(ReviewItem, item_id)
    if item is None:
        uow.require("review.list")  # an unknown id tells nothing to someone who may not see the queue
        raise NotFound(f"no review item {item_id}")
    uow.require(DECIDE_OPERATION.get(item.kind, f"review.decide_{item.kind}"))
    if _scoped(uow):
        uow.require_scope("review.list", **_owner(uow, item.tcn), what="review item")
    row = pipeline.record_review(uow.session, item_id, decision, reviewer=uow.principal.actor, note=note,
                                 at=uow.now())
    uow.audit(f"review:{decision}", "transaction", row.tcn, detail=f"{row.kind} item {row.id}"
              + (f"; note: {note}" if note else ""))
    merged = (row.details or {}).get("merged")  # a confirmed consolidation candidate merged two subjects
    if merged:
        uow.audit("merge", "criminal_subject", merged["survivor"],
                  detail=f"UCN {merged['merged']} merged into {merged['survivor']} "
                         f"({merged['arrests_moved']} arrests moved); review item {row.id}")
    return row
