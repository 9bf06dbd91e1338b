"""Workflow tables: transactions, stage_runs, jobs, responses, review_items, booking_templates.

Hand-written so that constraint names match ``securecomm.store.base``'s
naming convention on SQLite and PostgreSQL alike.

Revision ID: 0002_workflow
Revises: 0001_domain
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_workflow"
down_revision = "0001_domain"
branch_labels = None
depends_on = None


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        "transactions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tcn", sa.String(64), nullable=False),
        sa.Column("ori", sa.String(16), nullable=False),
        sa.Column("tot", sa.String(8), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("booking_date", sa.Date(), nullable=True),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_transactions"),
        sa.UniqueConstraint("tcn", name="uq_transactions_tcn"),
        sa.CheckConstraint(_in("state", ("received", "accepted", "rejected", "done")),
                           name="ck_transactions_state"),
    )
    op.create_table(
        "stage_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tcn", sa.String(64), nullable=False),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("output", sa.JSON(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(96), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_stage_runs"),
        sa.ForeignKeyConstraint(["tcn"], ["transactions.tcn"], name="fk_stage_runs_tcn_transactions"),
        sa.UniqueConstraint("tcn", "stage", name="uq_stage_runs_tcn_stage"),
        sa.CheckConstraint(_in("status", ("done", "skipped", "rejected", "review")),
                           name="ck_stage_runs_status"),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tcn", sa.String(64), nullable=False),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("available_at", sa.DateTime(), nullable=False),
        sa.Column("lease_owner", sa.String(96), nullable=True),
        sa.Column("lease_token", sa.String(36), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
        sa.ForeignKeyConstraint(["tcn"], ["transactions.tcn"], name="fk_jobs_tcn_transactions"),
        sa.UniqueConstraint("tcn", name="uq_jobs_tcn"),
        sa.CheckConstraint(_in("state", ("ready", "waiting", "done", "failed")), name="ck_jobs_state"),
    )
    op.create_index("ix_jobs_state_available_at", "jobs", ["state", "available_at"])
    op.create_table(
        "responses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tcn", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("recipient", sa.String(32), nullable=False),
        sa.Column("recipient_role", sa.String(16), nullable=False),
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_responses"),
        sa.ForeignKeyConstraint(["tcn"], ["transactions.tcn"], name="fk_responses_tcn_transactions"),
        sa.UniqueConstraint("tcn", "kind", "recipient", name="uq_responses_tcn_kind_recipient"),
        sa.CheckConstraint(_in("kind", ("SRE", "ERRT", "IDR", "IAQ", "IAR")), name="ck_responses_kind"),
        sa.CheckConstraint(_in("recipient_role", ("ori", "sib", "field_office", "lesc")),
                           name="ck_responses_recipient_role"),
    )
    op.create_table(
        "review_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tcn", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("band", sa.String(16), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("candidate", sa.String(64), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("decision", sa.String(32), nullable=True),
        sa.Column("resolved_by", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_review_items"),
        sa.ForeignKeyConstraint(["tcn"], ["transactions.tcn"], name="fk_review_items_tcn_transactions"),
        sa.UniqueConstraint("tcn", "kind", name="uq_review_items_tcn_kind"),
        sa.CheckConstraint(_in("state", ("open", "confirmed", "rejected", "resolved")),
                           name="ck_review_items_state"),
    )
    op.create_table(
        "booking_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tcn", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("template", sa.LargeBinary(), nullable=False),
        sa.Column("minutiae", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_booking_templates"),
        sa.ForeignKeyConstraint(["tcn"], ["transactions.tcn"], name="fk_booking_templates_tcn_transactions"),
        sa.UniqueConstraint("tcn", "position", name="uq_booking_templates_tcn_position"),
    )


def downgrade() -> None:
    op.drop_table("booking_templates")
    op.drop_table("review_items")
    op.drop_table("responses")
    op.drop_index("ix_jobs_state_available_at", table_name="jobs")
    op.drop_table("jobs")
    op.drop_table("stage_runs")
    op.drop_table("transactions")
