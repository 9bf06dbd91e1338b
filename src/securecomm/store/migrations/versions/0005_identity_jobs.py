"""Identity resolution and job operations: UCN aliases, parked jobs, TCNs scoped to their sender,
wider response recipients.

* ``ucn_aliases``: a UCN merged into another (consolidation) and the survivor.
* ``jobs.state`` may be ``parked`` (infrastructure trouble outlasted the retries, or an operator).
* ``transactions.sender_tcn`` (1.009 as sent) unique per ``ori``; existing readable rows get
  their key as sender TCN, ``UNREAD-`` rows none.
* ``arrests``: a TCN is unique per ORI (``uq_arrests_ori_tcn``), no longer across agencies.
* ``responses.recipient`` widened to 128 characters (long field-office names).

Revision ID: 0005_identity_jobs
Revises: 0004_users
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_identity_jobs"
down_revision = "0004_users"
branch_labels = None
depends_on = None


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


OLD_JOB_STATES = ("ready", "waiting", "done", "failed")
NEW_JOB_STATES = OLD_JOB_STATES + ("parked",)


def upgrade() -> None:
    op.create_table(
        "ucn_aliases",
        sa.Column("alias", sa.String(16), nullable=False),
        sa.Column("ucn", sa.String(16), nullable=False),
        sa.Column("merged_by", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("merged_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("alias", name="pk_ucn_aliases"),
    )
    op.create_index("ix_ucn_aliases_ucn", "ucn_aliases", ["ucn"])
    with op.batch_alter_table("jobs") as batch:
        batch.drop_constraint("ck_jobs_state", type_="check")
        batch.create_check_constraint("ck_jobs_state", _in("state", NEW_JOB_STATES))
    with op.batch_alter_table("transactions") as batch:
        batch.add_column(sa.Column("sender_tcn", sa.String(40), nullable=True))
    op.execute("UPDATE transactions SET sender_tcn = tcn WHERE tcn NOT LIKE 'UNREAD-%' AND length(tcn) <= 40")
    with op.batch_alter_table("transactions") as batch:
        batch.create_unique_constraint("uq_transactions_ori_sender_tcn", ["ori", "sender_tcn"])
    with op.batch_alter_table("responses") as batch:
        batch.alter_column("recipient", existing_type=sa.String(32), type_=sa.String(128), existing_nullable=False)
    with op.batch_alter_table("arrests") as batch:
        batch.drop_constraint("uq_arrests_tcn", type_="unique")
        batch.create_unique_constraint("uq_arrests_ori_tcn", ["ori", "tcn"])


def downgrade() -> None:
    with op.batch_alter_table("arrests") as batch:
        batch.drop_constraint("uq_arrests_ori_tcn", type_="unique")
        batch.create_unique_constraint("uq_arrests_tcn", ["tcn"])
    with op.batch_alter_table("responses") as batch:
        batch.alter_column("recipient", existing_type=sa.String(128), type_=sa.String(32), existing_nullable=False)
    with op.batch_alter_table("transactions") as batch:
        batch.drop_constraint("uq_transactions_ori_sender_tcn", type_="unique")
        batch.drop_column("sender_tcn")
    op.execute("UPDATE jobs SET state = 'failed' WHERE state = 'parked'")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_constraint("ck_jobs_state", type_="check")
        batch.create_check_constraint("ck_jobs_state", _in("state", OLD_JOB_STATES))
    op.drop_index("ix_ucn_aliases_ucn", table_name="ucn_aliases")
    op.drop_table("ucn_aliases")
