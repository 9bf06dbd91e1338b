"""Domain tables: agencies and activations, the criminal and immigration repositories, the audit log.

Portable types only (String, Integer, Date, UTCDateTime, Boolean, LargeBinary,
Text), so the same Alembic migration builds the schema on SQLite and
PostgreSQL. Allowed values that change with policy (encounter types, NCIC
codes) are validated in code, not with CHECK constraints, so adding one
needs no migration; values fixed by the domain (finger positions 1..10,
activation scope, disposition outcome) are CHECKed.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, LargeBinary,
                        String, Text, UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from securecomm.domain.principal import Role
from securecomm.store.base import Base, UTCDateTime, clock_now

#: Kinds of agency the activation schedule and routing know about.
AGENCY_KINDS = ("police", "sheriff", "jail", "SIB", "federal", "other")
#: Activation scopes: a whole state, one county of a state, or one ORI.
ACTIVATION_SCOPES = ("state", "county", "ori")
#: Court outcomes a disposition can record.
OUTCOMES = ("convicted", "dismissed", "pending", "acquitted")
#: Roles a user may hold: the closed set of the domain (a new role needs a migration, on purpose).
USER_ROLES = tuple(r.value for r in Role)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


# --------------------------------------------------------------------------- jurisdictions


class Agency(Base):
    """A booking agency or bureau, identified by its 9-character ORI."""

    __tablename__ = "agencies"
    __table_args__ = (CheckConstraint(_in("kind", AGENCY_KINDS), name="kind"),)

    ori: Mapped[str] = mapped_column(String(9), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    county: Mapped[str] = mapped_column(String(100), default="")
    state: Mapped[str] = mapped_column(String(2), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="police")
    sib_ori: Mapped[str | None] = mapped_column(String(9), nullable=True)
    field_office: Mapped[str] = mapped_column(String(100), default="")
    #: IANA time zone name (e.g. ``America/Chicago``) when the agency's differs from its state's default.
    time_zone: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Activation(Base):
    """Interoperability switched on for a state, a county or one ORI from a date (to a date).

    ``value`` is the two-letter state for scope ``state``, ``"ST:County"`` for
    scope ``county`` (county names repeat across states), the ORI for ``ori``.
    """

    __tablename__ = "activations"
    __table_args__ = (
        CheckConstraint(_in("scope", ACTIVATION_SCOPES), name="scope"),
        CheckConstraint("effective_to IS NULL OR effective_to >= effective_from", name="dates"),
        Index("ix_activations_scope_value", "scope", "value"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(8))
    value: Mapped[str] = mapped_column(String(120))
    effective_from: Mapped[dt.date] = mapped_column(Date)
    effective_to: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")


# --------------------------------------------------------------------------- identifiers


class IdSequence(Base):
    """Named counters for repository identifiers (UCN, FIN): portable where SQLite has no sequences."""

    __tablename__ = "id_sequences"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


# --------------------------------------------------------------------------- criminal repository


class _Person:
    """Biographic columns shared by both repositories (EBTS Type-2 descriptors)."""

    last_name: Mapped[str] = mapped_column(String(100))
    first_name: Mapped[str] = mapped_column(String(100))
    middle_name: Mapped[str] = mapped_column(String(100), default="")
    dob: Mapped[dt.date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(1))
    pob: Mapped[str] = mapped_column(String(8), default="")
    citizenship: Mapped[str] = mapped_column(String(8), default="")


class CriminalSubject(_Person, Base):
    """A subject of the criminal master file, identified by UCN (FBI number)."""

    __tablename__ = "criminal_subjects"
    __table_args__ = (CheckConstraint(_in("sex", ("M", "F", "X", "U")), name="sex"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ucn: Mapped[str] = mapped_column(String(16), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=clock_now)

    templates: Mapped[list[CriminalTemplate]] = relationship(
        back_populates="subject", cascade="all, delete-orphan", order_by="CriminalTemplate.position")
    arrests: Mapped[list[ArrestRow]] = relationship(
        back_populates="subject", cascade="all, delete-orphan", order_by="(ArrestRow.date, ArrestRow.id)")


class CriminalTemplate(Base):
    """One enrolled finger template of a criminal subject."""

    __tablename__ = "criminal_templates"
    __table_args__ = (
        UniqueConstraint("subject_id", "position", name="uq_criminal_templates_subject_position"),
        CheckConstraint("position BETWEEN 1 AND 10", name="position"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("criminal_subjects.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    template: Mapped[bytes] = mapped_column(LargeBinary)
    image_quality: Mapped[int] = mapped_column(Integer, default=-1)

    subject: Mapped[CriminalSubject] = relationship(back_populates="templates")


class ArrestRow(Base):
    """One arrest cycle on a subject's rap sheet; the booking's ORI and TCN make appends idempotent.

    A TCN is unique per agency (ORI), not across agencies.
    """

    __tablename__ = "arrests"
    __table_args__ = (UniqueConstraint("ori", "tcn", name="uq_arrests_ori_tcn"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("criminal_subjects.id", ondelete="CASCADE"), index=True)
    date: Mapped[dt.date] = mapped_column(Date)
    ori: Mapped[str] = mapped_column(String(9))
    tcn: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=clock_now)

    subject: Mapped[CriminalSubject] = relationship(back_populates="arrests")
    charges: Mapped[list[ChargeRow]] = relationship(
        back_populates="arrest", cascade="all, delete-orphan", order_by="ChargeRow.seq")
    dispositions: Mapped[list[DispositionRow]] = relationship(
        back_populates="arrest", cascade="all, delete-orphan", order_by="DispositionRow.id")


class ChargeRow(Base):
    """One charge of an arrest: NCIC uniform offense code and literal."""

    __tablename__ = "charges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    arrest_id: Mapped[int] = mapped_column(ForeignKey("arrests.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    ncic: Mapped[str] = mapped_column(String(4))
    literal: Mapped[str] = mapped_column(String(200), default="")

    arrest: Mapped[ArrestRow] = relationship(back_populates="charges")


class DispositionRow(Base):
    """What a court made of one charge of an arrest."""

    __tablename__ = "dispositions"
    __table_args__ = (
        CheckConstraint(_in("outcome", OUTCOMES), name="outcome"),
        CheckConstraint("sentence_days >= 0", name="sentence_days"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    arrest_id: Mapped[int] = mapped_column(ForeignKey("arrests.id", ondelete="CASCADE"), index=True)
    ncic: Mapped[str] = mapped_column(String(4))
    outcome: Mapped[str] = mapped_column(String(12))
    date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    felony: Mapped[bool] = mapped_column(Boolean, default=False)
    sentence_days: Mapped[int] = mapped_column(Integer, default=0)

    arrest: Mapped[ArrestRow] = relationship(back_populates="dispositions")


# --------------------------------------------------------------------------- immigration repository


class ImmigrationIdentity(_Person, Base):
    """An identity of the immigration repository, by FIN, with an A-number once one is issued.

    U/T visa and VAWA protection is derived from encounters; a known victim or
    witness of a crime (a fact the encounters do not carry) is flagged here.
    """

    __tablename__ = "immigration_identities"
    __table_args__ = (CheckConstraint(_in("sex", ("M", "F", "X", "U")), name="sex"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fin: Mapped[str] = mapped_column(String(16), unique=True)
    a_number: Mapped[str | None] = mapped_column(String(12), unique=True, nullable=True)
    victim_witness: Mapped[bool] = mapped_column(Boolean, default=False)
    victim_witness_note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=clock_now)

    aliases: Mapped[list[AliasRow]] = relationship(
        back_populates="identity", cascade="all, delete-orphan", order_by="AliasRow.id")
    encounters: Mapped[list[EncounterRow]] = relationship(
        back_populates="identity", cascade="all, delete-orphan", order_by="(EncounterRow.date, EncounterRow.id)")
    templates: Mapped[list[ImmigrationTemplate]] = relationship(
        back_populates="identity", cascade="all, delete-orphan", order_by="ImmigrationTemplate.position")


class AliasRow(Base):
    """Another name an immigration identity has used."""

    __tablename__ = "aliases"
    __table_args__ = (UniqueConstraint("identity_id", "name", name="uq_aliases_identity_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("immigration_identities.id", ondelete="CASCADE"),
                                             index=True)
    name: Mapped[str] = mapped_column(String(200))

    identity: Mapped[ImmigrationIdentity] = relationship(back_populates="aliases")


class EncounterRow(Base):
    """One immigration encounter (type from ``records.ENCOUNTER_TYPES``, checked in code)."""

    __tablename__ = "encounters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("immigration_identities.id", ondelete="CASCADE"),
                                             index=True)
    type: Mapped[str] = mapped_column(String(40))
    date: Mapped[dt.date] = mapped_column(Date)
    location: Mapped[str] = mapped_column(String(100), default="")
    expires: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")

    identity: Mapped[ImmigrationIdentity] = relationship(back_populates="encounters")


class ImmigrationTemplate(Base):
    """One enrolled finger template of an immigration identity."""

    __tablename__ = "immigration_templates"
    __table_args__ = (
        UniqueConstraint("identity_id", "position", name="uq_immigration_templates_identity_position"),
        CheckConstraint("position BETWEEN 1 AND 10", name="position"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("immigration_identities.id", ondelete="CASCADE"),
                                             index=True)
    position: Mapped[int] = mapped_column(Integer)
    template: Mapped[bytes] = mapped_column(LargeBinary)
    image_quality: Mapped[int] = mapped_column(Integer, default=-1)

    identity: Mapped[ImmigrationIdentity] = relationship(back_populates="templates")


class RetainedBooking(Base):
    """A no-match booking the immigration side keeps only because a retention policy said so.

    Kept apart from identities (never searched as one) and dropped at
    ``retain_until`` by ``ImmigrationRepository.purge_expired``.
    """

    __tablename__ = "retained_bookings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tcn: Mapped[str] = mapped_column(String(40), unique=True)
    ori: Mapped[str] = mapped_column(String(9))
    booking_date: Mapped[dt.date] = mapped_column(Date)
    last_name: Mapped[str] = mapped_column(String(100))
    first_name: Mapped[str] = mapped_column(String(100))
    dob: Mapped[dt.date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(1))
    policy_version: Mapped[str] = mapped_column(String(40))
    retain_until: Mapped[dt.date] = mapped_column(Date, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=clock_now)

    templates: Mapped[list[RetainedTemplate]] = relationship(
        back_populates="booking", cascade="all, delete-orphan", order_by="RetainedTemplate.position")


class RetainedTemplate(Base):
    """A finger template of a retained no-match booking."""

    __tablename__ = "retained_templates"
    __table_args__ = (
        UniqueConstraint("booking_id", "position", name="uq_retained_templates_booking_position"),
        CheckConstraint("position BETWEEN 1 AND 10", name="position"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("retained_bookings.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    template: Mapped[bytes] = mapped_column(LargeBinary)

    booking: Mapped[RetainedBooking] = relationship(back_populates="templates")


# --------------------------------------------------------------------------- audit


class AuditEntry(Base):
    """One access to personal data or one decision: who, in what role, did what to which object, when."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=clock_now, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(40))
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text, default="")
    purpose: Mapped[str] = mapped_column(String(200), default="", server_default="")
    # The hash chain (``securecomm.store.audit.seal``): position in the chain, the previous row's hash and
    # this row's hash over its own fields and that one. NULL until sealed (after the work commits: at once, or
    # by the server's batch sealer about half a second later -- securecomm.services.sealing).
    chain_seq: Mapped[int | None] = mapped_column(Integer, nullable=True, unique=True)
    prev_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    row_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)


# --------------------------------------------------------------------------- users


class User(Base):
    """A person (or system) allowed to act: the role and scopes its principal carries.

    Entry points never take a role from the caller: the CLI resolves the
    operating-system user (or ``$SECURECOMM_ACTOR``) here, the HTTP API a
    token issued to a user. A user is disabled, never deleted, so the audit
    trail keeps naming someone who existed.
    """

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_in("role", USER_ROLES), name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(40))
    ori: Mapped[str | None] = mapped_column(String(9), nullable=True)
    state: Mapped[str | None] = mapped_column(String(2), nullable=True)
    area: Mapped[str | None] = mapped_column(String(100), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=clock_now)
    created_by: Mapped[str] = mapped_column(String(100), default="")


class ApiToken(Base):
    """A bearer token of the HTTP API, issued to one user: only its SHA-256 is stored.

    The token acts as its user (role and scopes come from the ``users`` row at each
    request, so disabling the user stops every token of it). Revoked or expired
    tokens are kept for the audit trail.
    """

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=clock_now)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(100), nullable=True)


#: Tables this module owns, in creation order (the 0001 migration builds exactly these).
DOMAIN_TABLES = (
    "agencies", "activations", "id_sequences", "criminal_subjects", "criminal_templates", "arrests",
    "charges", "dispositions", "immigration_identities", "aliases", "encounters", "immigration_templates",
    "retained_bookings", "retained_templates", "audit_log", "users", "api_tokens",
)


class UcnAlias(Base):
    """A UCN merged into another: lookups by the old UCN reach the surviving subject.

    Written by ``CriminalRepository.merge`` when examiners consolidate two subjects
    that are one person. The losing subject row keeps its templates (they are more
    prints of the same person, still searched); its arrests move to the survivor.
    """

    __tablename__ = "ucn_aliases"

    alias: Mapped[str] = mapped_column(String(16), primary_key=True)
    ucn: Mapped[str] = mapped_column(String(16), index=True)  # the surviving subject's UCN
    merged_by: Mapped[str] = mapped_column(String(64), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    merged_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=clock_now)

from securecomm.store import detainer_models  # noqa: E402,F401  (detainer tables: one metadata for migrations)
