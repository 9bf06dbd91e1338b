"""The audit trail: every read of personal data and every decision leaves a row.

Rows are added to the caller's session, so an access and its audit entry
commit (or roll back) together: there is no read that succeeded without a
record of it. Callers own the transaction and must commit.

The trail is tamper-evident: :func:`seal` puts committed rows on a hash
chain (each row's SHA-256 covers its own fields, its place in the chain and
the previous row's hash), and :func:`verify` walks the chain and names the
first row that was edited, inserted or deleted. Sealing runs in its own short
transaction, serialised (SQLite: the write lock; PostgreSQL: an advisory
lock), after the work that wrote the rows has committed -- never inside a
worker's transaction, so it adds no lock to the pipeline's work. Who calls it
when (at once after each commit, or a batch sealer for many requests at a
time) is ``securecomm.services.sealing``'s business.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.orm import Session

from securecomm.store.base import clock_now
from securecomm.store.models import AuditEntry

_LIMITS = {"actor": 100, "role": 40, "action": 40, "object_type": 40, "object_id": 64}
PURPOSE_MAX = 200


class AuditError(ValueError):
    """An audit record is missing who, in what role, did what to what."""


@dataclass(frozen=True)
class AuditRecord:
    """One audit row as callers see it (timestamps always UTC-aware)."""

    id: int
    at: dt.datetime
    actor: str
    role: str
    action: str
    object_type: str
    object_id: str
    detail: str
    purpose: str = ""


def record(session: Session, *, actor: str, role: str, action: str, object_type: str, object_id: str,
           detail: str = "", purpose: str = "", at: dt.datetime | None = None) -> AuditEntry:
    """Add an audit row to ``session`` (flushed, not committed); an anonymous access is refused.

    ``purpose`` says why (the IAQ, the review item, the operator's stated reason); ``at`` is the
    unit of work's clock reading (default: now).
    """
    values = {"actor": actor, "role": role, "action": action, "object_type": object_type,
              "object_id": str(object_id)}
    for name, value in values.items():
        if not isinstance(value, str) or not value.strip():
            raise AuditError(f"audit {name} is required (got {value!r})")
        if len(value) > _LIMITS[name]:
            raise AuditError(f"audit {name} longer than {_LIMITS[name]} characters: {value[:20]!r}...")
    purpose = " ".join(str(purpose or "").split())
    if len(purpose) > PURPOSE_MAX:
        raise AuditError(f"audit purpose longer than {PURPOSE_MAX} characters: {purpose[:20]!r}...")
    entry = AuditEntry(at=at or clock_now(), detail=detail or "", purpose=purpose, **values)
    deferred = session.info.get(_DEFERRED)
    if deferred is not None:  # a bulk writer's transaction: inserted by write_deferred, in this order
        deferred.append(entry)
        return entry
    session.add(entry)
    session.flush()
    return entry


#: ``session.info`` key of the audit rows :func:`defer` holds back until :func:`write_deferred`.
_DEFERRED = "securecomm.audit.deferred"


def defer(session: Session) -> None:
    """From now on :func:`record` in ``session`` keeps its rows (unflushed, without ids) and
    :func:`write_deferred` inserts them, in the order they were recorded, with one statement.

    For a bulk writer's transaction (``Worker.run_batched``: the store's only writer), where a flush per
    audited read cost more than the read. The rows commit or roll back with the transaction as before;
    the caller must call :func:`write_deferred` before it commits (rows still held are not written).
    Nothing may read the audit trail in that session meanwhile."""
    session.info.setdefault(_DEFERRED, [])


def write_deferred(session: Session) -> int:
    """Insert the rows :func:`defer` held back, oldest first (so their ids are those that flushing each at
    once would have given); returns how many."""
    rows = session.info.get(_DEFERRED)
    if not rows:
        return 0
    cols = ("at", "actor", "role", "action", "object_type", "object_id", "detail", "purpose")
    session.execute(insert(AuditEntry), [{c: getattr(e, c) for c in cols} for e in rows])
    n = len(rows)
    rows.clear()
    return n


def trail(session: Session, object_type: str | None = None, object_id: str | None = None, *,
          actor: str | None = None, since: dt.datetime | None = None) -> list[AuditRecord]:
    """Audit rows, oldest first, optionally for one object type / object / actor / from a time."""
    q = select(AuditEntry).order_by(AuditEntry.id)
    if object_type is not None:
        q = q.where(AuditEntry.object_type == object_type)
    if object_id is not None:
        q = q.where(AuditEntry.object_id == str(object_id))
    if actor is not None:
        q = q.where(AuditEntry.actor == actor)
    if since is not None:
        q = q.where(AuditEntry.at >= since)
    return [AuditRecord(e.id, e.at, e.actor, e.role, e.action, e.object_type, e.object_id, e.detail,
                        e.purpose or "")
            for e in session.scalars(q)]


# --------------------------------------------------------------------------- the hash chain

#: The previous hash of the first row of the chain.
GENESIS = "0" * 64
#: PostgreSQL advisory lock key that serialises sealing (any fixed 64-bit number; "SCAUDIT" in ASCII).
_SEAL_LOCK = 0x5343415544495400


def row_digest(entry: AuditEntry, seq: int, prev_hash: str) -> str:
    """SHA-256 over a row's place in the chain, the previous hash and every field of the row."""
    at = entry.at
    at_text = (at.astimezone(dt.UTC) if at.tzinfo else at.replace(tzinfo=dt.UTC)).isoformat(timespec="microseconds")
    doc = [seq, prev_hash, entry.id, at_text, entry.actor, entry.role, entry.action, entry.object_type,
           entry.object_id, entry.detail or "", entry.purpose or ""]
    return hashlib.sha256(json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")).hexdigest()


def _lock_chain(session: Session) -> None:
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SEAL_LOCK})
    elif conn.dialect.name == "sqlite":
        dbapi = conn.connection.dbapi_connection
        if dbapi is not None and not dbapi.in_transaction:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def head(session: Session) -> tuple[int, str]:
    """The chain's last position and hash ((0, GENESIS) for an empty chain)."""
    last = session.execute(select(AuditEntry.chain_seq, AuditEntry.row_hash)
                           .where(AuditEntry.chain_seq.is_not(None))
                           .order_by(AuditEntry.chain_seq.desc()).limit(1)).one_or_none()
    return (0, GENESIS) if last is None else (int(last[0]), str(last[1]))


def seal(session: Session, *, batch: int = 5000) -> int:
    """Chain every committed row not yet on the chain, in id order; the caller commits. Returns how many.

    Call it in a session of its own (it takes the chain's lock until that session commits). The rows are
    read and updated in batches of ``batch`` (plain column reads and one executemany update per batch),
    so a seal of many rows costs little more than a seal of one.
    """
    _lock_chain(session)
    seq, prev = head(session)
    done = 0
    cols = (AuditEntry.id, AuditEntry.at, AuditEntry.actor, AuditEntry.role, AuditEntry.action,
            AuditEntry.object_type, AuditEntry.object_id, AuditEntry.detail, AuditEntry.purpose)
    while True:
        rows = session.execute(select(*cols).where(AuditEntry.chain_seq.is_(None))
                               .order_by(AuditEntry.id).limit(batch)).all()
        if not rows:
            return done
        values = []
        for entry in rows:
            seq += 1
            digest = row_digest(entry, seq, prev)
            values.append({"id": entry.id, "chain_seq": seq, "prev_hash": prev, "row_hash": digest})
            prev = digest
        session.execute(update(AuditEntry), values)
        done += len(rows)


def pending(session: Session) -> int:
    """How many committed rows are not on the chain yet."""
    return int(session.scalar(select(func.count(AuditEntry.id)).where(AuditEntry.chain_seq.is_(None))) or 0)


@dataclass
class ChainReport:
    """What :func:`verify` found: ``ok`` when every sealed row is intact and in place."""

    rows: int = 0                 # rows on the chain
    unsealed: int = 0             # rows written but not yet chained (not checked: not protected yet)
    sealed_now: int = 0           # rows the verification sealed itself before walking the chain
    head_seq: int = 0
    head_hash: str = GENESIS
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(session: Session, *, expect_head: tuple[int, str] | None = None, max_problems: int = 20) -> ChainReport:
    """Walk the chain from its start: recompute each row's hash and check the links and the numbering.

    An edited row fails its own hash; a deleted row leaves a gap in the numbering and a broken link; an
    inserted row (chained by hand) breaks the link after it. Deleting rows at the very end leaves no trace
    inside the chain: compare the head with one recorded earlier (``expect_head``: ``(seq, hash)``).
    """
    report = ChainReport()
    prev_seq, prev_hash = 0, GENESIS
    q = (select(AuditEntry).where(AuditEntry.chain_seq.is_not(None)).order_by(AuditEntry.chain_seq)
         .execution_options(yield_per=2000))
    for entry in session.scalars(q):
        report.rows += 1
        seq = int(entry.chain_seq)
        where = f"audit row {entry.id} (chain position {seq})"
        if seq != prev_seq + 1:
            report.problems.append(f"{where}: positions {prev_seq + 1}..{seq - 1} are missing (rows deleted)")
        if entry.prev_hash != prev_hash:
            report.problems.append(f"{where}: does not link to the row before it (a row before it was deleted, "
                                   f"inserted or edited)")
        if entry.row_hash != row_digest(entry, seq, entry.prev_hash or ""):
            report.problems.append(f"{where}: its contents do not match its hash (the row was edited)")
        prev_seq, prev_hash = seq, entry.row_hash or ""
        if len(report.problems) >= max_problems:
            report.problems.append("... stopped after this many problems")
            break
    report.head_seq, report.head_hash = prev_seq, prev_hash
    report.unsealed = pending(session)
    if expect_head is not None and len(report.problems) < max_problems:
        seq, digest = expect_head
        got = session.scalar(select(AuditEntry.row_hash).where(AuditEntry.chain_seq == seq))
        if got is None:
            report.problems.append(f"chain position {seq} (the recorded head) is gone: rows were deleted at the end")
        elif got != digest:
            report.problems.append(f"chain position {seq} does not have the recorded hash: the chain was rewritten")
    return report
