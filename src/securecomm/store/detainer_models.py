"""Tables of detainers: the field office's decisions, their durable timers, and the notices sent.

* ``detainers``: one row per decision on a booking (a cancelled decision may be followed by a new one);
  the domain's record (``domain.detainers.Detainer``) with who decided and acknowledged, the form
  version, the law that answered and the outcome.
* ``detainer_timers``: a warning to the field office before expiry, the expiry notice to the jail at
  expiry, or the release notice of a notification request; each fires at most once (``state``
  pending -> fired | cancelled, claimed under a row lock) and ``(detainer_id, kind)`` is unique.
* ``detainer_notices``: the outbox of detainer documents (the detainer to the jail, the
  acknowledgment to the field office, the notices of the timers), at most one of each kind per
  detainer: the constraint that makes "sent exactly once" hold even against a bug.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from securecomm.store import workflow_models  # noqa: F401  (the transactions table the detainers refer to)
from securecomm.store.base import Base, UTCDateTime, clock_now

DETAINER_KINDS = ("no_action", "notification_request", "detainer")
DETAINER_STATES = ("lodged", "honoured", "notify", "closed")
DETAINER_OUTCOMES = ("no_action", "transferred", "released_at_expiry", "released_before", "declined_by_law",
                     "released_notified", "cancelled", "lodged_after_release")
TIMER_KINDS = ("warning", "expiry", "release_notice")
TIMER_STATES = ("pending", "fired", "cancelled")
NOTICE_KINDS = ("detainer", "acknowledgment", "expiry_warning", "expiry_notice", "release_notice", "cancellation")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class DetainerRow(Base):
    __tablename__ = "detainers"
    __table_args__ = (
        CheckConstraint(_in("kind", DETAINER_KINDS), name="kind"),
        CheckConstraint(_in("state", DETAINER_STATES), name="state"),
        CheckConstraint("outcome IS NULL OR " + _in("outcome", DETAINER_OUTCOMES), name="outcome"),
        CheckConstraint("(state = 'closed') = (outcome IS NOT NULL)", name="closed_has_outcome"),
        Index("ix_detainers_ori_state", "ori", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tcn: Mapped[str] = mapped_column(ForeignKey("transactions.tcn"), nullable=False, index=True)
    ori: Mapped[str] = mapped_column(String(16), nullable=False)
    state_code: Mapped[str] = mapped_column(String(2), nullable=False)
    county: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    field_office: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    time_zone: Mapped[str] = mapped_column(String(64), nullable=False)
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="lodged")
    form: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    form_revision: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    level: Mapped[str] = mapped_column(String(4), nullable=False, default="")
    recommended: Mapped[str] = mapped_column(String(24), nullable=False, default="")
    basis: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    officer: Mapped[str] = mapped_column(String(64), nullable=False)
    reviewed_by: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    decided_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    booked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    acknowledged_by: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    release_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    law_name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    law_rule: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    answer: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    answer_reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    outcome: Mapped[str | None] = mapped_column(String(24), nullable=True)
    outcome_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    outcome_reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    outcome_by: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    over_held: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    override: Mapped[str] = mapped_column(Text, nullable=False, default="")
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False, default=clock_now)


class DetainerTimer(Base):
    __tablename__ = "detainer_timers"
    __table_args__ = (
        UniqueConstraint("detainer_id", "kind", name="uq_detainer_timers_detainer_id_kind"),
        CheckConstraint(_in("kind", TIMER_KINDS), name="kind"),
        CheckConstraint(_in("state", TIMER_STATES), name="state"),
        Index("ix_detainer_timers_state_due_at", "state", "due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    detainer_id: Mapped[int] = mapped_column(ForeignKey("detainers.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    fired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    fired_by: Mapped[str] = mapped_column(String(96), nullable=False, default="")


class DetainerNotice(Base):
    __tablename__ = "detainer_notices"
    __table_args__ = (
        UniqueConstraint("detainer_id", "kind", name="uq_detainer_notices_detainer_id_kind"),
        CheckConstraint(_in("kind", NOTICE_KINDS), name="kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    detainer_id: Mapped[int] = mapped_column(ForeignKey("detainers.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    recipient: Mapped[str] = mapped_column(String(128), nullable=False)
    recipient_role: Mapped[str] = mapped_column(String(16), nullable=False)
    document: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False, default=clock_now)
