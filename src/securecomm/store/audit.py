"""The audit trail: every read of personal data and every decision leaves a row.

Rows are added to the caller's session, so an access and its audit entry
commit (or roll back) together: there is no read that succeeded without a
record of it. Callers own the transaction and must commit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from securecomm.store.models import AuditEntry, utcnow

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
    entry = AuditEntry(at=at or utcnow(), detail=detail or "", purpose=purpose, **values)
    session.add(entry)
    session.flush()
    return entry


def _aware(at: dt.datetime) -> dt.datetime:
    # SQLite returns naive datetimes; everything stored is UTC.
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.timezone.utc)


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
    return [AuditRecord(e.id, _aware(e.at), e.actor, e.role, e.action, e.object_type, e.object_id, e.detail,
                        e.purpose or "")
            for e in session.scalars(q)]
