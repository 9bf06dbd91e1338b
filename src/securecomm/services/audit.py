"""Reading the audit trail: oversight and admins only, and the reading is itself audited."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from securecomm.services.unit_of_work import UnitOfWork
from securecomm.store import audit as audit_store

__all__ = ["trail", "verify", "seal", "SealResult"]


def trail(uow: UnitOfWork, *, object_type: str | None = None, object_id: str | None = None,
          actor: str | None = None, since: dt.datetime | None = None) -> list[audit_store.AuditRecord]:
    """Audit rows, oldest first, filtered as asked; the query itself leaves a row."""
    uow.require("audit.read")
    rows = audit_store.trail(uow.session, object_type, object_id, actor=actor, since=since)
    what = ", ".join(f"{k}={v}" for k, v in (("object_type", object_type), ("object_id", object_id),
                                               ("actor", actor), ("since", since)) if v) or "all"
    uow.audit("read", "audit_trail", what[:64], detail=f"{len(rows)} rows")
    return rows


def verify(uow: UnitOfWork, *, expect_head: tuple[int, str] | None = None,
           seal_first: bool = True) -> audit_store.ChainReport:
    """Seal what is pending (unless ``seal_first`` is false), then walk the audit hash chain; rows still not
    sealed (written since, or a seal that could not run) are counted, not checked. The check leaves a row."""
    uow.require("audit.verify")
    sealed = uow.seal_pending() if seal_first else 0
    report = audit_store.verify(uow.session, expect_head=expect_head)
    report.sealed_now = sealed
    uow.audit("verify", "audit_trail", "chain", detail=f"{report.rows} rows, "
              + ("intact" if report.ok else f"{len(report.problems)} problems: {report.problems[0][:120]}"))
    return report



@dataclass(frozen=True)
class SealResult:
    sealed: int       # rows this call put on the chain
    head_seq: int     # the chain's head after it
    head_hash: str
    pending: int      # rows still off the chain (committed since, or a seal that could not run)


def seal(uow: UnitOfWork) -> SealResult:
    """Put every pending audit row on the chain now (``securecomm audit seal``; oversight, admin: the same
    operation as ``verify``).

    Sealing changes no row's contents and reveals nothing; it is what every unit of work (or the API's batch
    sealer) does after it commits, run on demand -- after a crash, before a backup or a hand-over. It leaves
    no audit row of its own (that would only be one more row to seal).
    """
    uow.require("audit.verify")
    n = uow.seal_pending()
    seq, digest = audit_store.head(uow.session)
    return SealResult(n, seq, digest, audit_store.pending(uow.session))
