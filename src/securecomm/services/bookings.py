"""Bookings: submit one, see where it stands, read what was sent back.

An agency submits and reads only under its own ORI; a state bureau reads
the bookings of its state; anything outside a principal's scopes is
:class:`~securecomm.services.unit_of_work.NotFound`, exactly like a TCN that
was never received. Every read of a booking's status or responses is
personal data and is audited in the transaction that reads it.
"""

from __future__ import annotations

from typing import Any

import datetime as dt

from sqlalchemy import select

from securecomm.services.permissions import PermissionDenied
from securecomm.services.unit_of_work import NotFound, UnitOfWork
from securecomm.store.models import Agency
from securecomm.store.workflow_models import Response, Transaction
from securecomm.workflow import pipeline
from securecomm.workflow.header import peek_header

__all__ = ["submit", "status", "responses", "list_bookings", "list_iars", "LIST_MAX"]

#: Most rows one listing returns (pagination: ``limit`` / ``offset``).
LIST_MAX = 500


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
    return pipeline.submit(uow.session.get_bind(), bytes(raw), clock=uow.clock)


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


def _page(limit: int, offset: int) -> tuple[int, int]:
    if not isinstance(limit, int) or not 1 <= limit <= LIST_MAX:
        raise ValueError(f"limit must be 1..{LIST_MAX}, not {limit!r}")
    if not isinstance(offset, int) or offset < 0:
        raise ValueError(f"offset must be 0 or more, not {offset!r}")
    return limit, offset


def list_bookings(uow: UnitOfWork, *, since: dt.datetime | None = None, until: dt.datetime | None = None,
                  limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    """The principal's transactions, newest first (an agency: its ORI; a state bureau: its state); audited.

    Keys, states and times only -- no names: the personal data is behind ``status`` and ``responses``.
    """
    uow.require("booking.list")
    limit, offset = _page(limit, offset)
    p = uow.principal
    q = select(Transaction).order_by(Transaction.received_at.desc(), Transaction.id.desc())
    if p.ori is not None:
        q = q.where(Transaction.ori == p.ori)
    if p.state is not None:
        q = q.where(Transaction.ori.in_(select(Agency.ori).where(Agency.state == p.state)))
    if p.area is not None:
        q = q.where(Transaction.ori.in_(select(Agency.ori).where(Agency.field_office == p.area)))
    if since is not None:
        q = q.where(Transaction.received_at >= since)
    if until is not None:
        q = q.where(Transaction.received_at < until)
    rows = uow.session.scalars(q.limit(limit).offset(offset)).all()
    uow.audit("read", "transactions", p.ori or p.state or p.area or "all", detail=f"{len(rows)} listed")
    return [{"tcn": t.tcn, "sender_tcn": t.sender_tcn, "ori": t.ori, "tot": t.tot, "state": t.state,
             "received_at": t.received_at, "finished_at": t.finished_at} for t in rows]


def list_iars(uow: UnitOfWork, *, since: dt.datetime | None = None, until: dt.datetime | None = None,
              limit: int = 100, offset: int = 0) -> list[Response]:
    """IARs addressed to the principal's field-office area, newest first; audited (they are personal data)."""
    uow.require("iar.list")
    limit, offset = _page(limit, offset)
    q = (select(Response).where(Response.kind == "IAR", Response.recipient_role == "field_office")
         .order_by(Response.created_at.desc(), Response.id.desc()))
    if uow.principal.area is not None:
        q = q.where(Response.recipient == uow.principal.area)
    if since is not None:
        q = q.where(Response.created_at >= since)
    if until is not None:
        q = q.where(Response.created_at < until)
    rows = list(uow.session.scalars(q.limit(limit).offset(offset)).all())
    uow.audit("read", "iars", uow.principal.area or "all", detail=f"{len(rows)} IARs: "
              + ",".join(r.tcn for r in rows)[:200])
    return rows
