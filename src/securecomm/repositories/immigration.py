"""The immigration repository: identities by FIN, A-numbers, aliases, encounters, fingerprints.

An identity's encounters (visa application, admission, apprehension,
removal order, removal, LPR grant, naturalisation, asylum, U/T visa or VAWA
applications ...) are the facts status determination reasons over; the
protections that follow from them (U/T visa, VAWA) are derived, never typed
in separately, so they cannot drift. A known victim or witness of a crime,
which no encounter records, is a flag set by a named person and audited.

No-match bookings are not kept here: ``retain_unmatched`` writes only when
the retention policy passed in says so, and ``purge_expired`` drops them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, selectinload

from securecomm.domain.identifiers import InvalidIdentifier, make_fin, normalise_a_number
from securecomm.domain.records import (ENCOUNTER_TYPES, Biographic, Booking, Encounter, ImmigrationEnrolment,
                                       ImmigrationRecord)
from securecomm.policy.retention import RetentionPolicy
from securecomm.repositories._common import (RepositoryError, UnknownRecord, check_biographic, check_templates,
                                             next_in_sequence, person_columns, person_of)
from securecomm.repositories._common import gallery_rows as _gallery_rows
from securecomm.store import audit
from securecomm.store.base import clock_now
from securecomm.store.models import (AliasRow, EncounterRow, ImmigrationIdentity, ImmigrationTemplate,
                                     RetainedBooking, RetainedTemplate)

__all__ = ["ImmigrationRepository", "UnknownIdentity"]

#: An enrolment's rows (built once): Core statements on the tables, as the criminal repository's.
_NEW_IDENTITY = ImmigrationIdentity.__table__.insert().returning(ImmigrationIdentity.__table__.c.id)
_NEW_ALIASES = AliasRow.__table__.insert()
_NEW_ENCOUNTERS = EncounterRow.__table__.insert()
_NEW_TEMPLATES = ImmigrationTemplate.__table__.insert()

class UnknownIdentity(UnknownRecord):
    """No immigration identity with that FIN."""


def _a_number(value: str) -> str:
    try:
        return normalise_a_number(value)
    except InvalidIdentifier as exc:
        raise RepositoryError(str(exc)) from None


def _check_encounter(e: Encounter, what: str) -> None:
    if not isinstance(e, Encounter):
        raise RepositoryError(f"{what}: encounter must be an Encounter, got {type(e).__name__}")
    if e.type not in ENCOUNTER_TYPES:
        raise RepositoryError(f"{what}: encounter type {e.type!r} is not one of {', '.join(ENCOUNTER_TYPES)}")
    if not isinstance(e.date, dt.date):
        raise RepositoryError(f"{what}: {e.type} date {e.date!r} is not a date")
    if e.expires is not None and e.expires < e.date:
        raise RepositoryError(f"{what}: {e.type} of {e.date} expires before it starts ({e.expires})")


def _encounter_row(e: Encounter) -> EncounterRow:
    return EncounterRow(type=e.type, date=e.date, location=e.location.strip()[:100], expires=e.expires,
                        note=e.note)


class ImmigrationRepository:
    """Identities, encounters and templates in one SQLAlchemy session (the caller commits)."""

    def __init__(self, session: Session):
        self.session = session

    def _identity(self, fin: str) -> ImmigrationIdentity | None:
        if not isinstance(fin, str):
            return None
        return self.session.scalar(select(ImmigrationIdentity).where(ImmigrationIdentity.fin == fin.strip()))

    def _require(self, fin: str) -> ImmigrationIdentity:
        row = self._identity(fin)
        if row is None:
            raise UnknownIdentity(f"no immigration identity with FIN {fin!r}")
        return row

    def _new_fin(self) -> str:
        while True:
            fin = make_fin(next_in_sequence(self.session, "fin"))
            if self._identity(fin) is None:
                return fin

    # ------------------------------------------------------------------ writes

    def enroll(self, enrolment: ImmigrationEnrolment, templates: Mapping[int, bytes]) -> str:
        """Enrol an identity with its encounters and prints; returns the FIN."""
        what = f"immigration enrolment {enrolment.tcn}"
        check_biographic(enrolment.person, what)
        tpls = check_templates(templates, what)
        for e in enrolment.encounters:
            _check_encounter(e, what)
        a_number = _a_number(enrolment.a_number) if enrolment.a_number else None
        if a_number and self.session.scalar(
                select(ImmigrationIdentity.fin).where(ImmigrationIdentity.a_number == a_number)):
            raise RepositoryError(f"{what}: A-number {a_number} already belongs to another identity")
        if enrolment.fin:
            fin = enrolment.fin.strip()
            if not fin.isalnum() or len(fin) > 16:
                raise RepositoryError(f"{what}: FIN {enrolment.fin!r} must be 1..16 letters and digits")
            if self._identity(fin) is not None:
                raise RepositoryError(f"{what}: FIN {fin} is already enrolled")
            next_in_sequence(self.session, "fin")  # enrolment lock: row ids commit in order
        else:
            fin = self._new_fin()
        names = []
        for alias in enrolment.aliases:
            alias = " ".join(str(alias).split())[:200]
            if alias and alias not in names:
                names.append(alias)
        # plain INSERTs of the rows the ORM objects would flush, in the same order per table (a bulk load
        # enrols tens of thousands of identities; the unit of work was half of an enrolment's CPU)
        self.session.flush()  # what the session holds goes first, as an autoflush would send it
        identity_id = self.session.execute(_NEW_IDENTITY, {"fin": fin, "a_number": a_number,
                                                           **person_columns(enrolment.person),
                                                           "victim_witness": False, "victim_witness_note": "",
                                                           "created_at": clock_now()}).scalar_one()
        if names:
            self.session.execute(_NEW_ALIASES, [{"identity_id": identity_id, "name": n} for n in names])
        if enrolment.encounters:
            self.session.execute(_NEW_ENCOUNTERS, [
                {"identity_id": identity_id, "type": e.type, "date": e.date, "location": e.location.strip()[:100],
                 "expires": e.expires, "note": e.note} for e in sorted(enrolment.encounters, key=lambda e: e.date)])
        self.session.execute(_NEW_TEMPLATES, [{"identity_id": identity_id, "position": p, "template": b,
                                               "image_quality": q} for p, (b, q) in tpls.items()])
        return fin

    def add_encounter(self, fin: str, encounter: Encounter) -> None:
        """Record a new encounter (e.g. a removal order issued after enrolment)."""
        _check_encounter(encounter, f"identity {fin}")
        row = self._require(fin)  # held: a temporary parent can be garbage-collected mid-append (SQLAlchemy
        row.encounters.append(_encounter_row(encounter))  # then raises ObjectDereferencedError, seen in make test)
        self.session.flush()

    def add_alias(self, fin: str, name: str) -> None:
        row = self._require(fin)
        name = " ".join(str(name).split())[:200]
        if not name:
            raise RepositoryError(f"identity {fin}: alias is empty")
        if name not in {a.name for a in row.aliases}:
            row.aliases.append(AliasRow(name=name))
            self.session.flush()

    def set_a_number(self, fin: str, a_number: str) -> None:
        row = self._require(fin)
        a = _a_number(a_number)
        other = self.session.scalar(select(ImmigrationIdentity.fin).where(ImmigrationIdentity.a_number == a))
        if other and other != row.fin:
            raise RepositoryError(f"A-number {a} already belongs to FIN {other}")
        row.a_number = a
        self.session.flush()

    def set_victim_witness(self, fin: str, *, flagged: bool, note: str = "") -> None:
        """Mark (or unmark) a known victim or witness of a crime.

        Who may do it, with what reason, and the audit row are the service
        layer's (``securecomm.services.protections``).
        """
        if flagged and not (note or "").strip():
            raise RepositoryError(f"identity {fin}: a victim/witness flag needs a note saying on what basis")
        row = self._require(fin)
        row.victim_witness = bool(flagged)
        row.victim_witness_note = note.strip() if flagged else ""
        self.session.flush()

    # ------------------------------------------------------------------ reads

    def exists(self, fin: str) -> bool:
        return self._identity(fin) is not None

    def fin_for_a_number(self, a_number: str) -> str | None:
        return self.session.scalar(select(ImmigrationIdentity.fin).where(
            ImmigrationIdentity.a_number == _a_number(a_number)))

    def identity(self, fin: str, *, actor: str, role: str, purpose: str = "") -> ImmigrationRecord:
        """The identity with aliases and encounters; the read is audited."""
        row = self.session.scalar(
            select(ImmigrationIdentity).where(ImmigrationIdentity.fin == fin).options(
                selectinload(ImmigrationIdentity.aliases), selectinload(ImmigrationIdentity.encounters)))
        if row is None:
            raise UnknownIdentity(f"no immigration identity with FIN {fin!r}")
        audit.record(self.session, actor=actor, role=role, action="read", object_type="immigration_identity",
                     object_id=fin, detail=purpose)
        return ImmigrationRecord(
            fin=row.fin, a_number=row.a_number, person=person_of(row),
            aliases=tuple(a.name for a in row.aliases),
            encounters=tuple(Encounter(e.type, e.date, e.location, e.expires, e.note) for e in row.encounters),
            victim_witness=bool(row.victim_witness), victim_witness_note=row.victim_witness_note)

    def templates(self, fin: str, *, actor: str, role: str, purpose: str = "") -> dict[int, bytes]:
        """Enrolled templates by finger (examiner comparison); audited."""
        row = self._require(fin)
        audit.record(self.session, actor=actor, role=role, action="read", object_type="immigration_templates",
                     object_id=fin, detail=purpose)
        return {t.position: bytes(t.template) for t in row.templates}

    def count(self) -> int:
        return int(self.session.scalar(select(func.count(ImmigrationIdentity.id))) or 0)

    def gallery_rows(self, after_id: int = 0, batch: int = 1000) -> Iterator[tuple[int, str, dict[int, bytes]]]:
        """(row id, FIN, templates by finger) for identities with row id > ``after_id``, in id order.

        Same watermark contract as ``CriminalRepository.gallery_rows``.
        Retained no-match bookings are never part of the gallery.
        """
        return _gallery_rows(self.session, ImmigrationIdentity.fin, ImmigrationTemplate.identity_id, after_id, batch)

    # ------------------------------------------------------------------ no-match retention

    def retain_unmatched(self, booking: Booking, templates: Mapping[int, bytes],
                         policy: RetentionPolicy) -> int | None:
        """Keep a no-match booking only if ``policy`` says so; returns the retained row id or None.

        With the default policy nothing is written at all. Idempotent on TCN.
        """
        if not isinstance(policy, RetentionPolicy):
            raise RepositoryError(f"retention policy expected, got {type(policy).__name__}")
        until = policy.retain_until(booking.date)
        if until is None:
            return None
        existing = self.session.scalar(select(RetainedBooking.id).where(RetainedBooking.tcn == booking.tcn))
        if existing is not None:
            return int(existing)
        what = f"booking {booking.tcn}"
        check_biographic(booking.person, what)
        tpls = check_templates(templates, what)
        row = RetainedBooking(tcn=booking.tcn, ori=booking.ori, booking_date=booking.date,
                              last_name=booking.person.last_name, first_name=booking.person.first_name,
                              dob=booking.person.dob, sex=booking.person.sex, policy_version=policy.version,
                              retain_until=until)
        row.templates = [RetainedTemplate(position=p, template=b) for p, (b, _q) in tpls.items()]
        self.session.add(row)
        self.session.flush()
        return row.id

    def retained_count(self) -> int:
        return int(self.session.scalar(select(func.count(RetainedBooking.id))) or 0)

    def purge_expired(self, on: dt.date, *, actor: str = "retention", role: str = "system") -> int:
        """Drop retained no-match bookings whose retention ended before ``on``; returns how many (audited)."""
        rows = self.session.execute(select(RetainedBooking.id, RetainedBooking.tcn)
                                    .where(RetainedBooking.retain_until < on)).all()
        ids = [i for i, _ in rows]
        if ids:
            self.session.execute(delete(RetainedTemplate).where(RetainedTemplate.booking_id.in_(ids)))
            self.session.execute(delete(RetainedBooking).where(RetainedBooking.id.in_(ids)))
            for _, tcn in rows:
                audit.record(self.session, actor=actor, role=role, action="purge", object_type="retained_booking",
                             object_id=tcn, detail=f"retention ended before {on}")
        return len(ids)
