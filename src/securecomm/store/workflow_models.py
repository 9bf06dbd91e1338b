"""Tables of the booking workflow: what came in, what each stage did, what went out.

These rows are the pipeline's whole memory. A stage's outputs (its
``stage_runs`` row, the ``responses`` it sends, ``review_items`` it opens,
the templates it extracts) and the advance of its ``jobs`` row commit in one
database transaction, and the unique constraints below make a second attempt
at the same effect fail loudly instead of duplicating it. See docs/pipeline.md.

Timestamps are aware UTC instants (``UTCDateTime``) from the writer's clock,
on SQLite and PostgreSQL alike, so lease comparisons mean the same thing on
both back ends.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from securecomm.store.base import Base, UTCDateTime, clock_now

#: Lifecycle of a submitted transaction.
TRANSACTION_STATES = ("received", "accepted", "rejected", "done")
#: Lifecycle of a queue row: ready to run (maybe leased), waiting on a human, finished, given up
#: (``failed``: its workers died on it; ``parked``: infrastructure trouble or a bug outlasted the
#: retries, or an operator stopped it). ``securecomm jobs retry`` resumes the last two.
JOB_STATES = ("ready", "waiting", "done", "failed", "parked")
#: Response kinds the programme defines.
RESPONSE_KINDS = ("SRE", "ERRT", "IDR", "IAQ", "IAR")
#: Longest recipient name: an ORI, the LESC, or a field office's name (which can be long).
RECIPIENT_MAX = 128
#: Who receives a response.
RECIPIENT_ROLES = ("ori", "sib", "field_office", "lesc")
REVIEW_STATES = ("open", "confirmed", "rejected", "resolved")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Transaction(Base):
    """One submitted ANSI/NIST-ITL transaction, kept byte for byte.

    ``tcn`` is the transaction's key in this store (every workflow table
    refers to it). A TCN is unique per sender: ``(ori, sender_tcn)`` is
    unique, so a resubmission by the same agency is recognised at submit
    time and never processed twice, while another agency's use of the same
    TCN is a different transaction (keyed ``TCN@ORI``). A transaction whose
    header cannot be read (no TCN, ORI or TOT) reserves nothing: it is keyed
    by a server-made id, ``UNREAD-<sha256 prefix>``, with ``sender_tcn``
    empty, and answered with an ERRT. See ``workflow.pipeline.submit``.
    """

    __tablename__ = "transactions"
    __table_args__ = (CheckConstraint(_in("state", TRANSACTION_STATES), name="state"),
                      UniqueConstraint("ori", "sender_tcn", name="uq_transactions_ori_sender_tcn"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tcn: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    sender_tcn: Mapped[str | None] = mapped_column(String(40), nullable=True)  # 1.009 as sent, when readable
    ori: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    tot: Mapped[str] = mapped_column(String(8), nullable=False, default="")
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="received")
    raw: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    booking_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    #: From the booking itself (CAR): date of arrest (2.045 DOA) and capture time (1.014 GMT), when given.
    arrest_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    captured_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False, default=clock_now)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class StageRun(Base):
    """The recorded result of one stage for one transaction; at most one per (tcn, stage)."""

    __tablename__ = "stage_runs"
    __table_args__ = (
        UniqueConstraint("tcn", "stage", name="uq_stage_runs_tcn_stage"),
        CheckConstraint(_in("status", ("done", "skipped", "rejected", "review")), name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tcn: Mapped[str] = mapped_column(ForeignKey("transactions.tcn"), nullable=False)
    stage: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    output: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    attempt: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    worker: Mapped[str] = mapped_column(String(96), nullable=False, default="")
    finished_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False, default=clock_now)


class Job(Base):
    """The durable queue row of one transaction: which stage runs next, and who holds it.

    A worker *leases* a ready row (``lease_token``, ``lease_expires_at``); a
    killed worker's lease simply runs out and another worker takes the row.
    Every advance is fenced on the token, so a worker that lost its lease
    cannot commit.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(_in("state", JOB_STATES), name="state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tcn: Mapped[str] = mapped_column(ForeignKey("transactions.tcn"), unique=True, nullable=False)
    stage: Mapped[str] = mapped_column(String(32), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="ready")
    priority: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    available_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False, default=clock_now)
    lease_owner: Mapped[str | None] = mapped_column(String(96), nullable=True)
    lease_token: Mapped[str | None] = mapped_column(String(36), nullable=True)
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False, default=clock_now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False, default=clock_now)


#: The ready rows in the order a claim takes them (``workflow.queue``: priority descending, then id), so a
#: claim reads the front of the index instead of sorting every ready row (migration 0009).
Index("ix_jobs_claim_order", Job.state, Job.priority.desc(), Job.id)


class Response(Base):
    """One message out (the outbox): at most one of each kind per transaction and recipient."""

    __tablename__ = "responses"
    __table_args__ = (
        UniqueConstraint("tcn", "kind", "recipient", name="uq_responses_tcn_kind_recipient"),
        CheckConstraint(_in("kind", RESPONSE_KINDS), name="kind"),
        CheckConstraint(_in("recipient_role", RECIPIENT_ROLES), name="recipient_role"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tcn: Mapped[str] = mapped_column(ForeignKey("transactions.tcn"), nullable=False)
    kind: Mapped[str] = mapped_column(String(8), nullable=False)
    recipient: Mapped[str] = mapped_column(String(RECIPIENT_MAX), nullable=False)
    recipient_role: Mapped[str] = mapped_column(String(16), nullable=False)
    format: Mapped[str] = mapped_column(String(8), nullable=False)  # "nist" or "json"
    payload: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False, default=clock_now)


class ReviewItem(Base):
    """The manual queue: a match in the examiner-review band, or a case rules may not decide."""

    __tablename__ = "review_items"
    __table_args__ = (
        UniqueConstraint("tcn", "kind", name="uq_review_items_tcn_kind"),
        CheckConstraint(_in("state", REVIEW_STATES), name="state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tcn: Mapped[str] = mapped_column(ForeignKey("transactions.tcn"), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)  # biometric, criminal_biometric, status
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    band: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    candidate: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="open")
    decision: Mapped[str | None] = mapped_column(String(32), nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False, default=clock_now)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class BookingTemplate(Base):
    """A booking's extracted finger templates, stored once so a restart never re-extracts."""

    __tablename__ = "booking_templates"
    __table_args__ = (UniqueConstraint("tcn", "position", name="uq_booking_templates_tcn_position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tcn: Mapped[str] = mapped_column(ForeignKey("transactions.tcn"), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    template: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    minutiae: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
