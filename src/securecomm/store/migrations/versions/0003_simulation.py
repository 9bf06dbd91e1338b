"""Simulation tables: sim_runs (what a state-year run was asked) and sim_truth (who each booking really was).

Revision ID: 0003_simulation
Revises: 0002_workflow
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_simulation"
down_revision = "0002_workflow"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sim_runs",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(2), nullable=False),
        sa.Column("date_from", sa.Date(), nullable=False),
        sa.Column("date_to", sa.Date(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("parameters", sa.String(200), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("base_run", sa.String(64), nullable=True),
        sa.Column("bookings", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sim_runs"),
    )
    op.create_table(
        "sim_truth",
        sa.Column("tcn", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("person", sa.String(32), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("citizen", sa.Boolean(), nullable=False),
        sa.Column("true_fin", sa.String(16), nullable=True),
        sa.Column("protected", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("tcn", name="pk_sim_truth"),
    )
    op.create_index("ix_sim_truth_run_id", "sim_truth", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_sim_truth_run_id", table_name="sim_truth")
    op.drop_table("sim_truth")
    op.drop_table("sim_runs")
