"""Bookings: submit one, see where it stands, read what was sent back.

An agency submits and reads only under its own ORI; a state bureau reads
the bookings of its state; anything outside a principal's scopes is
:class:`~securecomm.services.unit_of_work.NotFound`, exactly like a TCN that
was never received. Every read of a booking's status or responses is
personal data and is audited in the transaction that reads it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from securecomm.services.permissions import PermissionDenied
from securecomm.services.unit_of_work import NotFound, UnitOfWork
from securecomm.store.models import Agency
from securecomm.store.workflow_models import Response, Transaction
from securecomm.workflow import pipeline
from securecomm.workflow.header import peek_header

__all__ = ["submit", "status", "responses"]


def submit(uow: UnitOfWork, raw: bytes) -> pipeline.SubmitResult:
    """Queue a booking; an agency may submit only under its own ORI.

    The submission commits in its own write transaction (a concurrent submitter of the same TCN is
    recognised there), so call this in a unit of work opened without ``write=True``.
    """
    uow.require("booking.submit")
    if uow.write:
        raise RuntimeError("bookings.submit writes in its own transaction: open the unit of work without write=True")
    if not isinstance(raw, (bytes, bytearray)) or not raw:
        raise ValueError("a submission must be the non-empty bytes of an ANSI/NIST-ITL transaction")
    head = peek_header(bytes(raw))
    if not uow.principal.sees(ori=head.ori):
        raise PermissionDenied(uow.principal, "booking.submit", f"ORI {head.ori or '(none)'} is not this agency's")
    return pipeline.submit(uow.session.get_bind(), bytes(raw))


def _visible(uow: UnitOfWork, operation: str, tcn: str) -> Transaction:
    """The transaction called ``tcn`` if the principal may see it; NotFound otherwise (no existence leak)."""
    tx = uow.session.scalars(select(Transaction).where(Transaction.tcn == tcn)).one_or_none()
    if tx is None:
        raise NotFound(f"no transaction with TCN {tcn!r}")
    agency = uow.session.get(Agency, tx.ori) if tx.ori else None
    uow.require_scope(operation, ori=tx.ori or None, state=agency.state if agency else None,
                      area=agency.field_office if agency and agency.field_office else None, what="transaction")
    return tx


def status(uow: UnitOfWork, tcn: str) -> dict[str, Any]:
    """Where one transaction stands (state, job, stages, responses, reviews); audited."""
    uow.require("booking.status")
    _visible(uow, "booking.status", tcn)
    info = pipeline.status_of(uow.session, tcn)
    uow.audit("read", "transaction", tcn)
    return info


def responses(uow: UnitOfWork, tcn: str) -> list[Response]:
    """The messages sent for one transaction, oldest first; audited."""
    uow.require("booking.responses")
    _visible(uow, "booking.responses", tcn)
    rows = pipeline.responses_of(uow.session, tcn)
    uow.audit("read", "responses", tcn, detail=f"{len(rows)} responses")
    return rows
