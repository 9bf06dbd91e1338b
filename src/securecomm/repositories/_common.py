"""What both repositories share: identifier sequences, template checks, biographic rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from securecomm.engine.errors import TemplateError
from securecomm.engine.template import Template
from securecomm.domain import offenses
from securecomm.domain.records import Biographic, Charge
from securecomm.store.models import IdSequence


class RepositoryError(ValueError):
    """A repository request is malformed or contradicts what is stored."""


class UnknownRecord(LookupError):
    """No subject / identity with that identifier."""


#: A counter advanced (returning its new value) or locked without advancing; built once (every enrolment runs
#: them). No ORM object of a counter is ever loaded: nothing in the session to synchronise (the ORM's default
#: would look for some, at a cost that showed per booking).
_ADVANCE = (update(IdSequence).where(IdSequence.name == bindparam("sequence")).values(value=IdSequence.value + 1)
            .returning(IdSequence.value).execution_options(synchronize_session=False))
_LOCK = (update(IdSequence).where(IdSequence.name == bindparam("sequence")).values(value=IdSequence.value)
         .execution_options(synchronize_session=False))


def next_in_sequence(session: Session, name: str) -> int:
    """Advance the named counter and return the new value.

    The UPDATE takes the row lock (PostgreSQL) or the write lock (SQLite), so
    concurrent enrolments get distinct numbers; the value is only used once
    the enclosing transaction commits.
    """
    value = session.execute(_ADVANCE, {"sequence": name}).scalar_one_or_none()
    if value is None:  # a database migrated before this counter existed
        session.execute(insert(IdSequence).values(name=name, value=1))
        value = 1
    return int(value)


def lock_sequence(session: Session, name: str) -> None:
    """Take the named counter's lock without advancing it, until the transaction ends.

    Every enrolment advances (and so locks) its counter before inserting, so once this
    returns every enrolment that started earlier has committed and is visible to the
    statements that follow (PostgreSQL: the row lock under READ COMMITTED; SQLite: the
    database write lock).
    """
    done = session.execute(_LOCK, {"sequence": name})
    if done.rowcount == 0:  # a database migrated before this counter existed
        next_in_sequence(session, name)


def gallery_rows(session: Session, key, template_owner_id, after_id: int,
                 batch: int) -> Iterator[tuple[int, str, dict[int, bytes]]]:
    """(row id, key, templates by finger) of the subjects/identities with id > ``after_id``, in id order.

    ``key`` is the identifier column of the owning table (``CriminalSubject.ucn``,
    ``ImmigrationIdentity.fin``); ``template_owner_id`` is its template table's foreign
    key. ``batch`` owners at a time, with one template query per batch.
    """
    owners, templates = _gallery_statements(key, template_owner_id)
    last = int(after_id)
    while True:
        ids = session.execute(owners, {"last": last, "batch": int(batch)}).all()
        if not ids:
            return
        by_id: dict[int, dict[int, bytes]] = {i: {} for i, _ in ids}
        for oid, pos, data in session.execute(templates, {"ids": list(by_id)}):
            by_id[oid][pos] = bytes(data)
        for oid, k in ids:
            yield oid, k, by_id[oid]
        if len(ids) < batch:  # the last of them: asking again would find none
            return
        last = ids[-1][0]


_GALLERY_STATEMENTS: dict[tuple[str, str], tuple] = {}


def _gallery_statements(key, template_owner_id) -> tuple:
    """``gallery_rows``' two statements for one repository, built once (each search's top-up runs them)."""
    name = (str(key), str(template_owner_id))
    got = _GALLERY_STATEMENTS.get(name)
    if got is None:
        owner, tpl = key.class_, template_owner_id.class_
        got = _GALLERY_STATEMENTS[name] = (
            select(owner.id, key).where(owner.id > bindparam("last")).order_by(owner.id).limit(bindparam("batch")),
            select(template_owner_id, tpl.position, tpl.template)
            .where(template_owner_id.in_(bindparam("ids", expanding=True))))
    return got


def check_templates(templates: Mapping[int, bytes], what: str) -> dict[int, tuple[bytes, int]]:
    """Templates by finger position 1..10, each parsed once so garbage never enters a gallery.

    Returns position -> (bytes, image quality).
    """
    if not isinstance(templates, Mapping) or not templates:
        raise RepositoryError(f"{what}: at least one finger template is required")
    out: dict[int, tuple[bytes, int]] = {}
    for pos, data in templates.items():
        if isinstance(pos, bool) or not isinstance(pos, int) or not 1 <= pos <= 10:
            raise RepositoryError(f"{what}: finger position {pos!r} is not 1..10")
        if isinstance(data, Template):
            data = data.to_bytes()
        try:
            tpl = Template.from_bytes(data)
        except TemplateError as exc:
            raise RepositoryError(f"{what}: finger {pos} template is unreadable: {exc}") from exc
        out[pos] = (bytes(data), int(tpl.image_quality))
    return out


def check_biographic(person: Biographic, what: str) -> None:
    if not isinstance(person, Biographic):
        raise RepositoryError(f"{what}: person must be a Biographic, got {type(person).__name__}")
    if not person.last_name.strip() or not person.first_name.strip():
        raise RepositoryError(f"{what}: last and first name are required")
    if not isinstance(person.dob, dt.date):
        raise RepositoryError(f"{what}: date of birth {person.dob!r} is not a date")
    if person.sex not in ("M", "F", "X", "U"):
        raise RepositoryError(f"{what}: sex {person.sex!r} is not M, F, X or U")


def person_columns(person: Biographic) -> dict[str, object]:
    return {"last_name": person.last_name.strip(), "first_name": person.first_name.strip(),
            "middle_name": person.middle_name.strip(), "dob": person.dob, "sex": person.sex,
            "pob": person.pob.strip(), "citizenship": person.citizenship.strip()}


def person_of(row) -> Biographic:
    return Biographic(last_name=row.last_name, first_name=row.first_name, dob=row.dob, sex=row.sex,
                      pob=row.pob, middle_name=row.middle_name, citizenship=row.citizenship)


def check_ncic(code: str, what: str) -> str:
    """A valid NCIC uniform offense code, or a RepositoryError naming it."""
    if not offenses.is_valid(code):
        try:
            offenses.lookup(code)
        except offenses.UnknownOffenseCode as exc:
            raise RepositoryError(f"{what}: {exc}") from exc
    return code.strip()


def check_charges(charges: tuple[Charge, ...], what: str) -> None:
    for i, ch in enumerate(charges, start=1):
        if not isinstance(ch, Charge):
            raise RepositoryError(f"{what}: charge {i} is not a Charge")
        check_ncic(ch.ncic, f"{what} charge {i}")
