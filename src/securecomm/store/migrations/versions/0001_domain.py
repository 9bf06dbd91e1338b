"""Domain schema: agencies and activations, criminal and immigration repositories, audit log.

Hand-written and portable: only types and constraints both SQLite and
PostgreSQL support, every constraint named explicitly with the naming
convention of ``securecomm.store.base`` so later migrations can address them
on both back ends.

Revision ID: 0001_domain
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_domain"
down_revision = None
branch_labels = None
depends_on = None

SEX = "sex IN ('M', 'F', 'X', 'U')"


def _person() -> list[sa.Column]:
    return [
        sa.Column("last_name", sa.String(100), nullable=False),
        sa.Column("first_name", sa.String(100), nullable=False),
        sa.Column("middle_name", sa.String(100), nullable=False),
        sa.Column("dob", sa.Date(), nullable=False),
        sa.Column("sex", sa.String(1), nullable=False),
        sa.Column("pob", sa.String(8), nullable=False),
        sa.Column("citizenship", sa.String(8), nullable=False),
    ]


def _templates(table: str, owner_col: str, owner_table: str, with_quality: bool = True) -> None:
    cols = [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(owner_col, sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("template", sa.LargeBinary(), nullable=False),
    ]
    if with_quality:
        cols.append(sa.Column("image_quality", sa.Integer(), nullable=False))
    op.create_table(
        table, *cols,
        sa.CheckConstraint("position BETWEEN 1 AND 10", name=op.f(f"ck_{table}_position")),
        sa.ForeignKeyConstraint([owner_col], [f"{owner_table}.id"], ondelete="CASCADE",
                                name=op.f(f"fk_{table}_{owner_col}_{owner_table}")),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
        sa.UniqueConstraint(owner_col, "position",
                            name=op.f(f"uq_{table}_{owner_col.removesuffix('_id')}_position")),
    )
    op.create_index(op.f(f"ix_{table}_{owner_col}"), table, [owner_col])


def upgrade() -> None:
    # -- jurisdictions
    op.create_table(
        "agencies",
        sa.Column("ori", sa.String(9), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("county", sa.String(100), nullable=False),
        sa.Column("state", sa.String(2), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("sib_ori", sa.String(9), nullable=True),
        sa.Column("field_office", sa.String(100), nullable=False),
        sa.CheckConstraint("kind IN ('police', 'sheriff', 'jail', 'SIB', 'federal', 'other')",
                           name=op.f("ck_agencies_kind")),
        sa.PrimaryKeyConstraint("ori", name=op.f("pk_agencies")),
    )
    op.create_index(op.f("ix_agencies_state"), "agencies", ["state"])

    op.create_table(
        "activations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(8), nullable=False),
        sa.Column("value", sa.String(120), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("effective_to", sa.Date(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.CheckConstraint("scope IN ('state', 'county', 'ori')", name=op.f("ck_activations_scope")),
        sa.CheckConstraint("effective_to IS NULL OR effective_to >= effective_from",
                           name=op.f("ck_activations_dates")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activations")),
    )
    op.create_index("ix_activations_scope_value", "activations", ["scope", "value"])

    # -- identifiers
    sequences = op.create_table(
        "id_sequences",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_id_sequences")),
    )
    op.bulk_insert(sequences, [{"name": "ucn", "value": 0}, {"name": "fin", "value": 0}])

    # -- criminal repository
    op.create_table(
        "criminal_subjects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ucn", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        *_person(),
        sa.CheckConstraint(SEX, name=op.f("ck_criminal_subjects_sex")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_criminal_subjects")),
        sa.UniqueConstraint("ucn", name=op.f("uq_criminal_subjects_ucn")),
    )
    _templates("criminal_templates", "subject_id", "criminal_subjects")

    op.create_table(
        "arrests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("ori", sa.String(9), nullable=False),
        sa.Column("tcn", sa.String(40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["subject_id"], ["criminal_subjects.id"], ondelete="CASCADE",
                                name=op.f("fk_arrests_subject_id_criminal_subjects")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_arrests")),
        sa.UniqueConstraint("tcn", name=op.f("uq_arrests_tcn")),
    )
    op.create_index(op.f("ix_arrests_subject_id"), "arrests", ["subject_id"])

    op.create_table(
        "charges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("arrest_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("ncic", sa.String(4), nullable=False),
        sa.Column("literal", sa.String(200), nullable=False),
        sa.ForeignKeyConstraint(["arrest_id"], ["arrests.id"], ondelete="CASCADE",
                                name=op.f("fk_charges_arrest_id_arrests")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charges")),
    )
    op.create_index(op.f("ix_charges_arrest_id"), "charges", ["arrest_id"])

    op.create_table(
        "dispositions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("arrest_id", sa.Integer(), nullable=False),
        sa.Column("ncic", sa.String(4), nullable=False),
        sa.Column("outcome", sa.String(12), nullable=False),
        sa.Column("date", sa.Date(), nullable=True),
        sa.Column("felony", sa.Boolean(), nullable=False),
        sa.Column("sentence_days", sa.Integer(), nullable=False),
        sa.CheckConstraint("outcome IN ('convicted', 'dismissed', 'pending', 'acquitted')",
                           name=op.f("ck_dispositions_outcome")),
        sa.CheckConstraint("sentence_days >= 0", name=op.f("ck_dispositions_sentence_days")),
        sa.ForeignKeyConstraint(["arrest_id"], ["arrests.id"], ondelete="CASCADE",
                                name=op.f("fk_dispositions_arrest_id_arrests")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispositions")),
    )
    op.create_index(op.f("ix_dispositions_arrest_id"), "dispositions", ["arrest_id"])

    # -- immigration repository
    op.create_table(
        "immigration_identities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fin", sa.String(16), nullable=False),
        sa.Column("a_number", sa.String(12), nullable=True),
        sa.Column("victim_witness", sa.Boolean(), nullable=False),
        sa.Column("victim_witness_note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        *_person(),
        sa.CheckConstraint(SEX, name=op.f("ck_immigration_identities_sex")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_immigration_identities")),
        sa.UniqueConstraint("fin", name=op.f("uq_immigration_identities_fin")),
        sa.UniqueConstraint("a_number", name=op.f("uq_immigration_identities_a_number")),
    )

    op.create_table(
        "aliases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("identity_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.ForeignKeyConstraint(["identity_id"], ["immigration_identities.id"], ondelete="CASCADE",
                                name=op.f("fk_aliases_identity_id_immigration_identities")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aliases")),
        sa.UniqueConstraint("identity_id", "name", name=op.f("uq_aliases_identity_name")),
    )
    op.create_index(op.f("ix_aliases_identity_id"), "aliases", ["identity_id"])

    op.create_table(
        "encounters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("identity_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("location", sa.String(100), nullable=False),
        sa.Column("expires", sa.Date(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["identity_id"], ["immigration_identities.id"], ondelete="CASCADE",
                                name=op.f("fk_encounters_identity_id_immigration_identities")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_encounters")),
    )
    op.create_index(op.f("ix_encounters_identity_id"), "encounters", ["identity_id"])

    _templates("immigration_templates", "identity_id", "immigration_identities")

    op.create_table(
        "retained_bookings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tcn", sa.String(40), nullable=False),
        sa.Column("ori", sa.String(9), nullable=False),
        sa.Column("booking_date", sa.Date(), nullable=False),
        sa.Column("last_name", sa.String(100), nullable=False),
        sa.Column("first_name", sa.String(100), nullable=False),
        sa.Column("dob", sa.Date(), nullable=False),
        sa.Column("sex", sa.String(1), nullable=False),
        sa.Column("policy_version", sa.String(40), nullable=False),
        sa.Column("retain_until", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retained_bookings")),
        sa.UniqueConstraint("tcn", name=op.f("uq_retained_bookings_tcn")),
    )
    op.create_index(op.f("ix_retained_bookings_retain_until"), "retained_bookings", ["retain_until"])
    _templates("retained_templates", "booking_id", "retained_bookings", with_quality=False)

    # -- audit
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("role", sa.String(40), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("object_type", sa.String(40), nullable=False),
        sa.Column("object_id", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"])
    op.create_index("ix_audit_log_object", "audit_log", ["object_type", "object_id"])


def downgrade() -> None:
    for table in ("audit_log", "retained_templates", "retained_bookings", "immigration_templates", "encounters",
                  "aliases", "immigration_identities", "dispositions", "charges", "arrests",
                  "criminal_templates", "criminal_subjects", "id_sequences", "activations", "agencies"):
        op.drop_table(table)
