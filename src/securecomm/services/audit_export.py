"""The audit trail exported for oversight (issue 11): filtered, as CSV or JSON, with its chain hashes.

Each exported row carries its place in the hash chain (``chain_seq``, ``prev_hash``, ``row_hash``), so a
reader holding an export can check it against the chain (``securecomm audit verify`` on the store, or
recomputing :func:`securecomm.store.audit.row_digest`) and see gaps where a filter left rows out. The
export is a read of the trail: guarded by ``audit.read`` and audited like one, with its filters.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json

from sqlalchemy import select

from securecomm.services.unit_of_work import UnitOfWork
from securecomm.store.models import AuditEntry

__all__ = ["AuditFilter", "export", "FORMATS", "EXPORT_MAX", "COLUMNS"]

FORMATS = ("csv", "json")
#: The most rows one export holds (narrow the filters, or page with ``after_id``, for more).
EXPORT_MAX = 100_000
COLUMNS = ("id", "at", "actor", "role", "action", "object_type", "object_id", "detail", "purpose",
           "chain_seq", "prev_hash", "row_hash")


@dataclasses.dataclass(frozen=True)
class AuditFilter:
    since: dt.datetime | None = None   # at >= since
    until: dt.datetime | None = None   # at < until
    actor: str | None = None
    role: str | None = None
    action: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    after_id: int = 0                  # rows with a larger id only (paging through a long trail)
    limit: int = EXPORT_MAX

    def describe(self) -> str:
        parts = [f"{f.name}={getattr(self, f.name)}" for f in dataclasses.fields(self)
                 if getattr(self, f.name) not in (None, 0, EXPORT_MAX)]
        return ", ".join(parts) or "all"


def _rows(uow: UnitOfWork, f: AuditFilter) -> list[AuditEntry]:
    if not 1 <= f.limit <= EXPORT_MAX:
        raise ValueError(f"an export holds 1..{EXPORT_MAX} rows, not {f.limit}")
    if f.since and f.until and f.until <= f.since:
        raise ValueError("the export's 'until' must be after its 'since'")
    q = select(AuditEntry).where(AuditEntry.id > f.after_id)
    for col, value in ((AuditEntry.actor, f.actor), (AuditEntry.role, f.role), (AuditEntry.action, f.action),
                       (AuditEntry.object_type, f.object_type), (AuditEntry.object_id, f.object_id)):
        if value:
            q = q.where(col == value)
    if f.since:
        q = q.where(AuditEntry.at >= f.since)
    if f.until:
        q = q.where(AuditEntry.at < f.until)
    return list(uow.session.scalars(q.order_by(AuditEntry.id).limit(f.limit)))


def _record(e: AuditEntry) -> dict[str, object]:
    at = e.at if e.at.tzinfo else e.at.replace(tzinfo=dt.UTC)
    return {"id": e.id, "at": at.astimezone(dt.UTC).isoformat(), "actor": e.actor, "role": e.role,
            "action": e.action, "object_type": e.object_type, "object_id": e.object_id, "detail": e.detail or "",
            "purpose": e.purpose or "", "chain_seq": e.chain_seq, "prev_hash": e.prev_hash, "row_hash": e.row_hash}


def _cell(value: object) -> object:
    """A CSV cell that a spreadsheet will not run as a formula (OWASP CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def export(uow: UnitOfWork, f: AuditFilter, fmt: str = "csv") -> tuple[str, str, bytes]:
    """(media type, file name, bytes) of the filtered trail, oldest first; the export leaves an audit row."""
    uow.require("audit.read")
    if fmt not in FORMATS:
        raise ValueError(f"export format {fmt!r} is not one of {', '.join(FORMATS)}")
    uow.seal_pending()  # rows committed until now carry their chain hashes in the export
    rows = [_record(e) for e in _rows(uow, f)]
    stamp = uow.now().strftime("%Y%m%dT%H%M%SZ")
    uow.audit("export", "audit_trail", f.describe()[:64], detail=f"{len(rows)} rows as {fmt}; {f.describe()}"[:1000])
    if fmt == "json":
        doc = {"exported_at": uow.now().isoformat(), "exported_by": uow.principal.actor, "filters": f.describe(),
               "complete": len(rows) < f.limit, "rows": rows}
        return "application/json", f"audit-{stamp}.json", json.dumps(doc, ensure_ascii=False, indent=1).encode()
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(COLUMNS)
    for r in rows:
        w.writerow([_cell(r[c]) for c in COLUMNS])
    return "text/csv; charset=utf-8", f"audit-{stamp}.csv", buf.getvalue().encode("utf-8")
