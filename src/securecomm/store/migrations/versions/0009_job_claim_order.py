"""The job claim's index: ready rows in the order a claim takes them.

A claim asks for the first ``ready`` job by (priority descending, id) whose back-off and lease have
ended. ``ix_jobs_state_available_at`` let the database find the ready rows, but it then sorted all
of them for every claim: a queue of 10^5 submitted bookings cost milliseconds a claim, growing with
the queue (docs/simulation.md, "Throughput", seventh pass). ``ix_jobs_claim_order`` (state, priority
descending, id) hands the rows over already in the claim's order, so a claim reads from the front of
the index and stops at the first available row. It replaces the old index: SQLite, without
statistics, would go on preferring the old one, and nothing else searches jobs by ``available_at``.

Revision ID: 0009_job_claim_order
Revises: 0007_detainers
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_job_claim_order"
down_revision = "0007_detainers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_jobs_state_available_at", table_name="jobs")
    op.create_index("ix_jobs_claim_order", "jobs", ["state", sa.text("priority DESC"), "id"])


def downgrade() -> None:
    op.drop_index("ix_jobs_claim_order", table_name="jobs")
    op.create_index("ix_jobs_state_available_at", "jobs", ["state", "available_at"])
