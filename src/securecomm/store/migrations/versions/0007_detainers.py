"""Detainers: the field office's decisions, their durable timers (warning, expiry, release notice) and the
notices sent (see ``store.detainer_models``).

Revision ID: 0007_detainers
Revises: 0008_api
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_detainers"
down_revision = "0008_api"
branch_labels = None
depends_on = None

KINDS = ("no_action", "notification_request", "detainer")
STATES = ("lodged", "honoured", "notify", "closed")
OUTCOMES = ("no_action", "transferred", "released_at_expiry", "released_before", "declined_by_law",
            "released_notified", "cancelled", "lodged_after_release")
TIMER_KINDS = ("warning", "expiry", "release_notice")
TIMER_STATES = ("pending", "fired", "cancelled")
NOTICE_KINDS = ("detainer", "acknowledgment", "expiry_warning", "expiry_notice", "release_notice", "cancellation")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "detainers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tcn", sa.String(64), nullable=False),
        sa.Column("ori", sa.String(16), nullable=False),
        sa.Column("state_code", sa.String(2), nullable=False),
        sa.Column("county", sa.String(64), nullable=False),
        sa.Column("field_office", sa.String(128), nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("form", sa.String(16), nullable=False),
        sa.Column("form_revision", sa.String(16), nullable=False),
        sa.Column("level", sa.String(4), nullable=False),
        sa.Column("recommended", sa.String(24), nullable=False),
        sa.Column("basis", sa.JSON(), nullable=False),
        sa.Column("officer", sa.String(64), nullable=False),
        sa.Column("reviewed_by", sa.String(64), nullable=False),
        _ts("decided_at"),
        _ts("booked_at", True),
        sa.Column("acknowledged_by", sa.String(64), nullable=False),
        _ts("acknowledged_at", True),
        _ts("release_at", True),
        _ts("expires_at", True),
        sa.Column("law_name", sa.String(200), nullable=False),
        sa.Column("law_rule", sa.String(32), nullable=False),
        sa.Column("answer", sa.String(16), nullable=False),
        sa.Column("answer_reason", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(24), nullable=True),
        _ts("outcome_at", True),
        sa.Column("outcome_reason", sa.Text(), nullable=False),
        sa.Column("outcome_by", sa.String(64), nullable=False),
        sa.Column("over_held", sa.Boolean(), nullable=False),
        sa.Column("override", sa.Text(), nullable=False),
        _ts("updated_at"),
        sa.CheckConstraint(_in("kind", KINDS), name="ck_detainers_kind"),
        sa.CheckConstraint(_in("state", STATES), name="ck_detainers_state"),
        sa.CheckConstraint("outcome IS NULL OR " + _in("outcome", OUTCOMES), name="ck_detainers_outcome"),
        sa.CheckConstraint("(state = 'closed') = (outcome IS NOT NULL)", name="ck_detainers_closed_has_outcome"),
        sa.ForeignKeyConstraint(["tcn"], ["transactions.tcn"], name="fk_detainers_tcn_transactions"),
        sa.PrimaryKeyConstraint("id", name="pk_detainers"),
    )
    op.create_index("ix_detainers_tcn", "detainers", ["tcn"])
    op.create_index("ix_detainers_ori_state", "detainers", ["ori", "state"])
    op.create_table(
        "detainer_timers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("detainer_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        _ts("due_at"),
        sa.Column("state", sa.String(16), nullable=False),
        _ts("fired_at", True),
        sa.Column("fired_by", sa.String(96), nullable=False),
        sa.CheckConstraint(_in("kind", TIMER_KINDS), name="ck_detainer_timers_kind"),
        sa.CheckConstraint(_in("state", TIMER_STATES), name="ck_detainer_timers_state"),
        sa.ForeignKeyConstraint(["detainer_id"], ["detainers.id"], name="fk_detainer_timers_detainer_id_detainers"),
        sa.PrimaryKeyConstraint("id", name="pk_detainer_timers"),
        sa.UniqueConstraint("detainer_id", "kind", name="uq_detainer_timers_detainer_id_kind"),
    )
    op.create_index("ix_detainer_timers_state_due_at", "detainer_timers", ["state", "due_at"])
    op.create_table(
        "detainer_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("detainer_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("recipient", sa.String(128), nullable=False),
        sa.Column("recipient_role", sa.String(16), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        _ts("created_at"),
        sa.CheckConstraint(_in("kind", NOTICE_KINDS), name="ck_detainer_notices_kind"),
        sa.ForeignKeyConstraint(["detainer_id"], ["detainers.id"],
                                name="fk_detainer_notices_detainer_id_detainers"),
        sa.PrimaryKeyConstraint("id", name="pk_detainer_notices"),
        sa.UniqueConstraint("detainer_id", "kind", name="uq_detainer_notices_detainer_id_kind"),
    )


def downgrade() -> None:
    op.drop_table("detainer_notices")
    op.drop_index("ix_detainer_timers_state_due_at", table_name="detainer_timers")
    op.drop_table("detainer_timers")
    op.drop_index("ix_detainers_ori_state", table_name="detainers")
    op.drop_index("ix_detainers_tcn", table_name="detainers")
    op.drop_table("detainers")
