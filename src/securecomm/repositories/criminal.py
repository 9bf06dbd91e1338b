"""The criminal repository: subjects by UCN, their ten-prints, and their rap sheets.

A booking the 1:N search does not identify creates a subject; an identified
one appends an arrest to the subject's rap sheet. Both are idempotent on the
booking's TCN, so a pipeline stage retried after a crash never creates a
second subject or a duplicate arrest. Reading a rap sheet is audited.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, inspect, select, update
from sqlalchemy.orm import Session

from securecomm.domain import offenses
from securecomm.domain.identifiers import make_ucn
from securecomm.domain.records import (Arrest, Biographic, Booking, Charge, CriminalEnrolment, Disposition,
                                       RapSheet)
from securecomm.repositories._common import (RepositoryError, UnknownRecord, check_biographic, check_charges,
                                             check_ncic, check_templates, lock_sequence, next_in_sequence,
                                             person_columns, person_of)
from securecomm.repositories._common import gallery_rows as _gallery_rows
from securecomm.store import audit
from securecomm.store.base import clock_now
from securecomm.store.models import (OUTCOMES, ArrestRow, ChargeRow, CriminalSubject, CriminalTemplate,
                                     DispositionRow, UcnAlias)

__all__ = ["CriminalRepository", "render_rap_sheet", "UnknownSubject", "TcnCollision", "Merge"]

def _rap_sheet_statement():
    s, a, c, d = CriminalSubject, ArrestRow, ChargeRow, DispositionRow
    return (select(s.ucn, s.last_name, s.first_name, s.middle_name, s.dob, s.sex, s.pob, s.citizenship,
                   a.id, a.date, a.ori, a.tcn, c.id.label("charge_id"), c.ncic, c.literal,
                   d.id.label("disposition_id"), d.ncic.label("d_ncic"), d.outcome, d.date.label("d_date"),
                   d.felony, d.sentence_days)
            .outerjoin(a, a.subject_id == s.id).outerjoin(c, c.arrest_id == a.id)
            .outerjoin(d, d.arrest_id == a.id)
            .where(s.ucn == bindparam("ucn")).order_by(a.date, a.id, c.seq, c.id, d.id))


#: A rap sheet's one statement (``CriminalRepository.rap_sheet``), built once: it runs for every booking.
_RAP_SHEET = _rap_sheet_statement()
#: A subject by UCN; an arrest by TCN and ORI (built once: every booking asks).
_SUBJECT = select(CriminalSubject).where(CriminalSubject.ucn == bindparam("ucn"))
_ARREST = select(ArrestRow).where(ArrestRow.tcn == bindparam("tcn"), ArrestRow.ori == bindparam("ori"))

#: A new subject's and a new arrest's row, returning its id, and their children's rows (built once: one of
#: them per booking). Core statements on the tables: no ORM bulk-insert machinery per statement (a third of
#: an enrolment's CPU), and no autoflush -- each writer below flushes the session once before its first.
_NEW_SUBJECT = CriminalSubject.__table__.insert().returning(CriminalSubject.__table__.c.id)
_NEW_ARREST = ArrestRow.__table__.insert().returning(ArrestRow.__table__.c.id)
_NEW_TEMPLATES = CriminalTemplate.__table__.insert()
_NEW_CHARGES = ChargeRow.__table__.insert()
_NEW_DISPOSITIONS = DispositionRow.__table__.insert()

#: ``session.info`` key of the UCN aliases :meth:`CriminalRepository.hold_aliases` read.
_ALIASES = "securecomm.criminal.aliases"


class UnknownSubject(UnknownRecord):
    """No criminal subject with that UCN."""


class TcnCollision(RepositoryError):
    """A booking's TCN already names a *different* arrest on file (not a retry of this booking)."""


@dataclass(frozen=True)
class Merge:
    """What a consolidation did: the surviving UCN, the one aliased to it, the arrests moved."""

    survivor: str
    merged: str
    arrests_moved: int


def _literal(code: str, literal: str) -> str:
    return literal or (offenses.describe(code) if offenses.is_valid(code) else "")


def render_rap_sheet(sheet: RapSheet) -> str:
    """The plain-text identification record the SRE carries back to the booking agency."""
    p = sheet.person
    name = f"{p.last_name}, {p.first_name}" + (f" {p.middle_name}" if p.middle_name else "")
    lines = [
        "IDENTIFICATION RECORD",
        f"UCN: {sheet.ucn}",
        f"NAME: {name.upper()}",
        f"SEX: {p.sex}  DOB: {p.dob.isoformat()}  POB: {p.pob or 'UNKNOWN'}"
        + (f"  CTZ: {p.citizenship}" if p.citizenship else ""),
        f"ARRESTS: {len(sheet.arrests)}  CONVICTIONS: {len(sheet.convictions())}",
    ]
    for i, a in enumerate(sheet.arrests, start=1):
        lines.append("")
        lines.append(f"ARREST {i}  DATE: {a.date.isoformat()}  ORI: {a.ori}  TCN: {a.tcn}")
        for j, c in enumerate(a.charges, start=1):
            lines.append(f"  CHARGE {j}: {c.ncic} {_literal(c.ncic, c.literal)}".rstrip())
        if not a.dispositions:
            lines.append("  DISPOSITION: NONE REPORTED")
        for d in a.dispositions:
            grade = "FELONY" if d.felony else "MISDEMEANOR"
            when = d.date.isoformat() if d.date else "DATE UNKNOWN"
            text = f"  DISPOSITION: {d.ncic} {d.outcome.upper()} {when}"
            if d.outcome == "convicted":
                text += f" {grade}" + (f" SENTENCE {d.sentence_days} DAYS" if d.sentence_days else " NO CUSTODY")
            lines.append(text)
    return "\n".join(lines) + "\n"


class CriminalRepository:
    """Subjects, templates and rap sheets in one SQLAlchemy session (the caller commits)."""

    def __init__(self, session: Session):
        self.session = session

    # ------------------------------------------------------------------ writes

    def _new_ucn(self) -> str:
        while True:  # skip numbers an imported record already uses
            ucn = make_ucn(next_in_sequence(self.session, "ucn"))
            if self._subject(ucn) is None:
                return ucn

    def _subject(self, ucn: str) -> CriminalSubject | None:
        return self.session.scalar(_SUBJECT, {"ucn": ucn})

    def resolve(self, ucn: str) -> str:
        """The UCN a subject is known by now: a merged UCN leads to the surviving one."""
        aliases = self.session.info.get(_ALIASES)  # held for a bulk writer's transaction (hold_aliases)
        seen = set()
        while isinstance(ucn, str) and ucn not in seen:
            seen.add(ucn)
            if aliases is not None:
                target = aliases.get(ucn)
            else:
                target = self.session.scalar(select(UcnAlias.ucn).where(UcnAlias.alias == ucn))
            if target is None:
                return ucn
            ucn = target
        raise RepositoryError(f"UCN aliases form a loop at {ucn!r}")

    @staticmethod
    def hold_aliases(session: Session) -> None:
        """Read every UCN alias once and let :meth:`resolve` look merged UCNs up in memory for the rest of
        ``session`` (a bulk writer's transaction, ``Worker.run_batched``: the store's only writer, so no
        alias appears meanwhile but through :meth:`merge` in this session, which drops the held ones).
        Aliases are made only by consolidation merges: a small table."""
        session.info[_ALIASES] = {alias: ucn for alias, ucn in session.execute(select(UcnAlias.alias, UcnAlias.ucn))}

    def lock_enrolments(self) -> None:
        """Serialise with every other enrolment until this transaction ends (search-then-enrol)."""
        lock_sequence(self.session, "ucn")

    def _require(self, ucn: str) -> CriminalSubject:
        row = self._subject(self.resolve(ucn)) if isinstance(ucn, str) else None
        if row is None:
            raise UnknownSubject(f"no criminal subject with UCN {ucn!r}")
        return row

    @staticmethod
    def _disposition_row(d: Disposition, what: str) -> DispositionRow:
        if not isinstance(d, Disposition):
            raise RepositoryError(f"{what}: disposition must be a Disposition")
        check_ncic(d.ncic, f"{what} disposition")
        if d.outcome not in OUTCOMES:
            raise RepositoryError(f"{what}: disposition outcome {d.outcome!r} is not one of {', '.join(OUTCOMES)}")
        if d.sentence_days < 0:
            raise RepositoryError(f"{what}: sentence of {d.sentence_days} days is negative")
        return DispositionRow(ncic=d.ncic.strip(), outcome=d.outcome, date=d.date, felony=bool(d.felony),
                              sentence_days=int(d.sentence_days))

    def _arrest_by_tcn(self, tcn: str, ori: str | None = None) -> ArrestRow | None:
        """The arrest with this TCN from this ORI (a TCN is unique per agency); without an ORI,
        the only arrest with that TCN (several agencies' arrests under one TCN: name the ORI)."""
        if ori is not None:
            return self.session.scalar(_ARREST, {"tcn": tcn.strip(), "ori": ori.strip().upper()})
        query = select(ArrestRow).where(ArrestRow.tcn == tcn.strip())
        rows = self.session.scalars(query.limit(2)).all()
        if len(rows) > 1:
            raise RepositoryError(f"TCN {tcn!r} names arrests of several agencies; give the ORI")
        return rows[0] if rows else None

    def _check_arrest(self, *, tcn: str, ori: str, charges: tuple[Charge, ...], what: str) -> None:
        if not isinstance(tcn, str) or not tcn.strip() or len(tcn.strip()) > 40:
            raise RepositoryError(f"{what}: TCN {tcn!r} must be 1..40 characters")
        if not isinstance(ori, str) or len(ori.strip()) != 9:
            raise RepositoryError(f"{what}: ORI {ori!r} is not 9 characters")
        check_charges(charges, what)

    def enroll(self, enrolment: CriminalEnrolment, templates: Mapping[int, bytes]) -> str:
        """Enrol a subject with prior history; returns the UCN (the given one, or a new one)."""
        what = f"enrolment {enrolment.tcn}"
        check_biographic(enrolment.person, what)
        tpls = check_templates(templates, what)
        for a in enrolment.arrests:
            self._check_arrest(tcn=a.tcn, ori=a.ori, charges=a.charges, what=f"{what} arrest {a.tcn}")
            if self._arrest_by_tcn(a.tcn, a.ori) is not None:
                raise RepositoryError(f"{what}: arrest TCN {a.tcn} is already on a rap sheet")
        if enrolment.ucn:
            ucn = enrolment.ucn.strip().upper()
            if not ucn.isalnum() or len(ucn) > 16:
                raise RepositoryError(f"{what}: UCN {enrolment.ucn!r} must be 1..16 letters and digits")
            if self._subject(ucn) is not None:
                raise RepositoryError(f"{what}: UCN {ucn} is already enrolled")
            next_in_sequence(self.session, "ucn")  # take the enrolment lock: row ids commit in order
        else:
            ucn = self._new_ucn()
        arrests = sorted(enrolment.arrests, key=lambda a: a.date)
        dispositions = [[self._disposition_row(d, f"arrest {a.tcn}") for d in a.dispositions] for a in arrests]
        # everything checked: plain INSERTs of the rows the ORM objects would flush, in the same order per
        # table (a bulk load enrols tens of thousands of subjects; the unit of work cost 3x the statements)
        self.session.flush()  # what the session holds goes first, as an autoflush would send it
        subject_id = self.session.execute(_NEW_SUBJECT, {"ucn": ucn, **person_columns(enrolment.person),
                                                         "created_at": clock_now()}).scalar_one()
        self.session.execute(_NEW_TEMPLATES, [{"subject_id": subject_id, "position": p, "template": b,
                                               "image_quality": q} for p, (b, q) in tpls.items()])
        for a, rows in zip(arrests, dispositions):
            self._insert_arrest(subject_id, date=a.date, ori=a.ori, tcn=a.tcn, charges=a.charges,
                                dispositions=rows)
        return ucn

    def create_subject_from_booking(self, booking: Booking, templates: Mapping[int, bytes]) -> str:
        """A booking not identified: a new subject whose rap sheet starts with this arrest.

        Idempotent: a booking whose TCN is already on file returns that subject's UCN.
        """
        what = f"booking {booking.tcn}"
        self._check_arrest(tcn=booking.tcn, ori=booking.ori, charges=booking.charges, what=what)
        existing = self._arrest_by_tcn(booking.tcn, booking.ori)
        if existing is not None:
            self._same_booking(existing, booking, what)  # a retry, or a TcnCollision
            return existing.subject.ucn
        check_biographic(booking.person, what)
        tpls = check_templates(templates, what)
        ucn = self._new_ucn()
        # plain INSERTs (the rows the ORM objects would flush, in the same order), not a unit of work:
        # one subject per unidentified booking
        self.session.flush()
        subject_id = self.session.execute(_NEW_SUBJECT, {"ucn": ucn, **person_columns(booking.person),
                                                         "created_at": clock_now()}).scalar_one()
        self.session.execute(_NEW_TEMPLATES, [{"subject_id": subject_id, "position": p, "template": b,
                                               "image_quality": q} for p, (b, q) in tpls.items()])
        self._insert_arrest(subject_id, date=booking.arrest_date, ori=booking.ori, tcn=booking.tcn,
                            charges=booking.charges)
        return ucn

    def _insert_arrest(self, subject_id: int, *, date: dt.date, ori: str, tcn: str,
                       charges: tuple[Charge, ...], dispositions: list[DispositionRow] = ()) -> None:
        """An arrest, its charges and its (checked) dispositions as plain INSERTs."""
        arrest_id = self.session.execute(_NEW_ARREST, {"subject_id": subject_id, "date": date,
                                                       "ori": ori.strip().upper(), "tcn": tcn.strip(),
                                                       "created_at": clock_now()}).scalar_one()
        if charges:
            self.session.execute(_NEW_CHARGES, [{"arrest_id": arrest_id, "seq": i, "ncic": c.ncic.strip(),
                                                 "literal": c.literal.strip()[:200]} for i, c in enumerate(charges)])
        if dispositions:
            self.session.execute(_NEW_DISPOSITIONS, [
                {"arrest_id": arrest_id, "ncic": d.ncic, "outcome": d.outcome, "date": d.date, "felony": d.felony,
                 "sentence_days": d.sentence_days} for d in dispositions])

    def append_arrest(self, ucn: str, booking: Booking) -> None:
        """An identified booking: add its arrest to the subject's rap sheet (idempotent on TCN)."""
        what = f"booking {booking.tcn}"
        self._check_arrest(tcn=booking.tcn, ori=booking.ori, charges=booking.charges, what=what)
        subject = self._require(ucn)
        existing = self._arrest_by_tcn(booking.tcn, booking.ori)
        if existing is not None:
            self._same_booking(existing, booking, what)
            if existing.subject_id != subject.id:
                raise TcnCollision(f"{what}: TCN already on the rap sheet of another subject")
            return
        self._insert_arrest(subject.id, date=booking.arrest_date, ori=booking.ori, tcn=booking.tcn,
                            charges=booking.charges)
        if "arrests" not in inspect(subject).unloaded:  # a rap sheet read as objects in this session: read again
            self.session.expire(subject, ["arrests"])

    @staticmethod
    def _same_booking(existing: ArrestRow, booking: Booking, what: str) -> None:
        """Tell a retry of this booking (its own arrest, already written) from a TCN collision.

        The arrest a booking writes carries its ORI, arrest date and charges; an arrest
        under the same TCN that differs in any of them belongs to someone else's event
        and must never hand this booking that subject's UCN.
        """
        mine = (booking.ori.strip().upper(), booking.arrest_date,
                tuple((c.ncic.strip(), c.literal.strip()[:200]) for c in booking.charges))
        theirs = (existing.ori, existing.date, tuple((c.ncic, c.literal) for c in existing.charges))
        if mine != theirs:
            raise TcnCollision(f"{what}: TCN {booking.tcn} already names a different arrest on file")

    def merge(self, survivor: str, merged: str, *, merged_by: str = "", reason: str = "") -> Merge:
        """Consolidate two subjects that are one person: ``merged``'s arrests join ``survivor``'s rap
        sheet and ``merged`` becomes an alias of ``survivor`` (lookups by either UCN work).

        The merged subject keeps its templates (more prints of the same person, still searched:
        a hit on them resolves to the survivor). Taking the enrolment lock first keeps a
        concurrent search-then-enrol from identifying against a half-merged pair. The caller
        audits and commits.
        """
        self.lock_enrolments()
        self.session.info.pop(_ALIASES, None)  # aliases change: resolve reads them from the table again
        keep, gone = self._require(survivor), self._require(merged)
        if keep.id == gone.id:
            raise RepositoryError(f"UCN {survivor} and {merged} are already one subject ({keep.ucn})")
        moved = self.session.execute(update(ArrestRow).where(ArrestRow.subject_id == gone.id)
                                     .values(subject_id=keep.id).execution_options(synchronize_session=False))
        self.session.execute(update(UcnAlias).where(UcnAlias.ucn == gone.ucn).values(ucn=keep.ucn)
                             .execution_options(synchronize_session=False))
        self.session.add(UcnAlias(alias=gone.ucn, ucn=keep.ucn, merged_by=merged_by[:64], reason=reason))
        self.session.flush()
        self.session.expire_all()
        return Merge(survivor=keep.ucn, merged=gone.ucn, arrests_moved=int(moved.rowcount or 0))

    def record_disposition(self, tcn: str, disposition: Disposition, ori: str | None = None) -> None:
        """Record what a court made of a charge of the arrest with this TCN.

        A final outcome replaces a ``pending`` one for the same charge; recording
        the same disposition twice is a no-op.
        """
        arrest = self._arrest_by_tcn(tcn, ori) if isinstance(tcn, str) else None
        if arrest is None:
            raise UnknownRecord(f"no arrest with TCN {tcn!r}")
        new = self._disposition_row(disposition, f"arrest {tcn}")
        for d in arrest.dispositions:
            same = (d.ncic, d.outcome, d.date, bool(d.felony), d.sentence_days) == \
                (new.ncic, new.outcome, new.date, new.felony, new.sentence_days)
            if same:
                return
        for d in list(arrest.dispositions):
            if d.ncic == new.ncic and d.outcome == "pending" and new.outcome != "pending":
                arrest.dispositions.remove(d)
        arrest.dispositions.append(new)
        self.session.flush()

    # ------------------------------------------------------------------ reads

    def exists(self, ucn: str) -> bool:
        return self._subject(self.resolve(ucn)) is not None

    def ucn_for_tcn(self, tcn: str, ori: str | None = None) -> str | None:
        """The UCN whose rap sheet holds the arrest with this TCN (from ``ori``); not audited (no personal data)."""
        arrest = self._arrest_by_tcn(tcn, ori)
        return arrest.subject.ucn if arrest is not None else None

    def rap_sheet(self, ucn: str, *, actor: str, role: str, purpose: str = "") -> RapSheet:
        """The subject's rap sheet; the read is audited (who, in which role, why).

        One statement of plain columns -- the subject, its arrests, their charges and dispositions, joined
        (an arrest's rows are its charges times its dispositions: a handful) -- not ORM objects, in the
        relationships' orders: arrests by date and id, charges by sequence, dispositions by id. A rap sheet
        is read for every booking's SRE."""
        ucn = self.resolve(ucn)
        rows = self.session.execute(_RAP_SHEET, {"ucn": ucn}).all()
        if not rows:
            raise UnknownSubject(f"no criminal subject with UCN {ucn!r}")
        audit.record(self.session, actor=actor, role=role, action="read", object_type="rap_sheet",
                     object_id=ucn, detail=purpose)
        arrests: dict[int, tuple[Any, dict[int, Charge], dict[int, Disposition]]] = {}
        for r in rows:
            if r.id is None:  # a subject without arrests
                continue
            _, charges, dispositions = arrests.setdefault(r.id, (r, {}, {}))
            if r.charge_id is not None and r.charge_id not in charges:
                charges[r.charge_id] = Charge(r.ncic, r.literal)
            if r.disposition_id is not None and r.disposition_id not in dispositions:
                dispositions[r.disposition_id] = Disposition(r.d_ncic, r.outcome, r.d_date, bool(r.felony),
                                                             int(r.sentence_days))
        head = rows[0]
        return RapSheet(ucn=head.ucn, person=person_of(head),
                        arrests=tuple(Arrest(date=r.date, ori=r.ori, tcn=r.tcn, charges=tuple(charges.values()),
                                             dispositions=tuple(dispositions[k] for k in sorted(dispositions)))
                                      for r, charges, dispositions in arrests.values()))

    def templates(self, ucn: str, *, actor: str, role: str, purpose: str = "") -> dict[int, bytes]:
        """The subject's enrolled templates by finger (examiner comparison); audited."""
        subject = self._require(ucn)
        audit.record(self.session, actor=actor, role=role, action="read", object_type="criminal_templates",
                     object_id=ucn, detail=purpose)
        return {t.position: bytes(t.template) for t in subject.templates}

    def count(self) -> int:
        return int(self.session.scalar(select(func.count(CriminalSubject.id))) or 0)

    def gallery_rows(self, after_id: int = 0, batch: int = 1000) -> Iterator[tuple[int, str, dict[int, bytes]]]:
        """(row id, UCN, templates by finger) for every subject with row id > ``after_id``, in id order.

        The row id is a watermark: a search worker loads its gallery once,
        remembers the last id, and later calls again with it to top up with
        subjects enrolled since. Machine loading, not a person reading: not
        audited (matches are audited where a person sees them). Every
        enrolment takes the ``ucn`` sequence row lock before inserting, so
        row ids become visible in id order and the watermark misses none.
        """
        return _gallery_rows(self.session, CriminalSubject.ucn, CriminalTemplate.subject_id, after_id, batch)
