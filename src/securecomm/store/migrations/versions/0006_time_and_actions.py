"""Aware UTC timestamps in the workflow tables, the booking's arrest date and capture time, agency time
zones, and one action vocabulary in stored stage outputs.

* ``transactions``, ``stage_runs``, ``jobs``, ``responses``, ``review_items``: every timestamp becomes
  ``timestamp with time zone`` on PostgreSQL (the stored naive values were UTC, so they are read as UTC).
  SQLite has no time zones: its values already are UTC wall times and stay as they are; the model type
  (``UTCDateTime``) reads them back as aware UTC.
* ``transactions.arrest_date`` (2.045 DOA) and ``transactions.captured_at`` (1.014 GMT) of a booking.
* ``agencies.time_zone``: an IANA zone name, when the agency's differs from its state's default.
* Status-determination outputs and status review items stored with the policy's old action word
  ``none`` now say ``no_action``, the word of the IAR and the review queue.

Revision ID: 0006_time_and_actions
Revises: 0005_identity_jobs
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_time_and_actions"
down_revision = "0005_identity_jobs"
branch_labels = None
depends_on = None

#: The workflow timestamps that were naive UTC.
TIMESTAMPS = {
    "transactions": ("received_at", "finished_at"),
    "stage_runs": ("finished_at",),
    "jobs": ("available_at", "lease_expires_at", "created_at", "updated_at"),
    "responses": ("created_at",),
    "review_items": ("created_at", "resolved_at"),
}
#: Keys of a status determination that hold an action.
ACTION_KEYS = ("action", "action_before_safeguards")


def _retype(aware: bool) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite: DATETIME either way, values are UTC wall times
    target = "TIMESTAMP WITH TIME ZONE" if aware else "TIMESTAMP WITHOUT TIME ZONE"
    for table, columns in TIMESTAMPS.items():
        for column in columns:
            op.execute(f'ALTER TABLE {table} ALTER COLUMN {column} TYPE {target} USING {column} AT TIME ZONE \'UTC\'')


def _rename_action(old: str, new: str) -> None:
    """Rewrite the action words of stored status determinations (JSON, read and written in Python: portable)."""
    conn = op.get_bind()
    for table, key_col, where in (("stage_runs", "output", ("stage", "status_determination")),
                                  ("review_items", "details", ("kind", "status"))):
        t = sa.table(table, sa.column("id", sa.Integer), sa.column(key_col, sa.JSON), sa.column(where[0], sa.String))
        rows = conn.execute(sa.select(t.c.id, t.c[key_col]).where(t.c[where[0]] == where[1])).all()
        for row_id, doc in rows:
            if not isinstance(doc, dict) or not any(doc.get(k) == old for k in ACTION_KEYS):
                continue
            fixed = {k: (new if k in ACTION_KEYS and v == old else v) for k, v in doc.items()}
            conn.execute(sa.update(t).where(t.c.id == row_id).values({key_col: fixed}))


def upgrade() -> None:
    _retype(aware=True)
    op.add_column("transactions", sa.Column("arrest_date", sa.Date(), nullable=True))
    op.add_column("transactions", sa.Column("captured_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("agencies", sa.Column("time_zone", sa.String(64), nullable=True))
    _rename_action("none", "no_action")


def downgrade() -> None:
    _rename_action("no_action", "none")
    # plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35): a batch copy would trip the foreign keys into
    # transactions and agencies
    op.drop_column("agencies", "time_zone")
    op.drop_column("transactions", "captured_at")
    op.drop_column("transactions", "arrest_date")
    _retype(aware=False)
