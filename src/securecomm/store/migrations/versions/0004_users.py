"""Users (who may act, in which role and scopes) and the purpose of each audited access.

Revision ID: 0004_users
Revises: 0003_simulation
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_users"
down_revision = "0003_simulation"
branch_labels = None
depends_on = None

#: The roles of securecomm.domain.principal.Role when this revision was written (frozen here on purpose).
ROLES = ("agency", "sib", "examiner", "lesc_analyst", "field_officer", "field_supervisor", "jail", "oversight",
         "public", "admin", "system")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(40), nullable=False),
        sa.Column("ori", sa.String(9), nullable=True),
        sa.Column("state", sa.String(2), nullable=True),
        sa.Column("area", sa.String(100), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("name", name="uq_users_name"),
        sa.CheckConstraint("role IN (" + ", ".join(repr(r) for r in ROLES) + ")", name="ck_users_role"),
    )
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("purpose", sa.String(200), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("purpose")
    op.drop_table("users")
