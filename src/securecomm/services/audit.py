"""Reading the audit trail: oversight and admins only, and the reading is itself audited."""

from __future__ import annotations

import datetime as dt

from securecomm.services.unit_of_work import UnitOfWork
from securecomm.store import audit as audit_store

__all__ = ["trail", "verify"]


def trail(uow: UnitOfWork, *, object_type: str | None = None, object_id: str | None = None,
          actor: str | None = None, since: dt.datetime | None = None) -> list[audit_store.AuditRecord]:
    """Audit rows, oldest first, filtered as asked; the query itself leaves a row."""
    uow.require("audit.read")
    rows = audit_store.trail(uow.session, object_type, object_id, actor=actor, since=since)
    what = ", ".join(f"{k}={v}" for k, v in (("object_type", object_type), ("object_id", object_id),
                                               ("actor", actor), ("since", since)) if v) or "all"
    uow.audit("read", "audit_trail", what[:64], detail=f"{len(rows)} rows")
    return rows


def verify(uow: UnitOfWork, *, expect_head: tuple[int, str] | None = None) -> audit_store.ChainReport:
    """Walk the audit hash chain (rows not yet sealed are counted, not checked); the check leaves a row."""
    uow.require("audit.verify")
    report = audit_store.verify(uow.session, expect_head=expect_head)
    uow.audit("verify", "audit_trail", "chain", detail=f"{report.rows} rows, "
              + ("intact" if report.ok else f"{len(report.problems)} problems: {report.problems[0][:120]}"))
    return report
