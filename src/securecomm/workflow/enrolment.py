"""Enrol criminal (CNA) and immigration (IEN) transactions into the repositories.

An enrolment is read with the real ANSI/NIST-ITL reader, its fingers are
extracted with the real engine, and the repository write, together with a
``transactions`` row (TOT, raw bytes, state ``done``), commits in one
database transaction: the TCN's uniqueness makes a re-run of the same file
a recognised duplicate instead of a second subject.

Image work (WSQ decode + minutiae extraction) dominates; ``prepare`` is a
pure function of the bytes so ``enroll_many`` can spread it over a process
pool while the database writes stay in the calling process.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import multiprocessing as mp
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from securecomm.interchange.errors import TransactionError, TransactionRejected
from securecomm.domain.clock import SYSTEM_CLOCK
from securecomm.store.workflow_models import Transaction
from securecomm.workflow.header import peek_header
from securecomm.workflow.queue import write_session

KINDS = ("criminal", "immigration")

#: A finger yielding fewer minutiae than this is not enrolled (nothing to match on).
MIN_MINUTIAE = 4


@dataclass(frozen=True)
class PreparedEnrolment:
    """An enrolment read and extracted, ready to write (fingers dropped, templates kept)."""

    kind: str
    tcn: str
    ori: str
    tot: str
    sha256: str
    raw: bytes
    record: Any  # CriminalEnrolment | ImmigrationEnrolment, without pixels
    templates: dict[int, bytes]


@dataclass(frozen=True)
class EnrolResult:
    """What became of one file: ``enrolled`` (with UCN/FIN), ``duplicate`` or ``rejected`` (with reason)."""

    tcn: str
    outcome: str
    key: str = ""
    message: str = ""


def extract_templates(fingers: dict[int, Any]) -> dict[int, bytes]:
    """One template per printable finger 1..10 (amputated and unusable fingers are left out)."""
    from securecomm.engine.extractors import configured

    out: dict[int, bytes] = {}
    todo = [(pos, img) for pos, img in sorted(fingers.items()) if not img.amputated and 1 <= pos <= 10]
    for (pos, _), tpl in zip(todo, configured().extract_many([(img.pixels, img.ppi) for _, img in todo],
                                                                positions=[pos for pos, _ in todo])):
        if isinstance(tpl, Exception):
            raise tpl
        if tpl.x.size >= MIN_MINUTIAE:
            out[pos] = tpl.to_bytes()
    return out


def prepare(kind: str, raw: bytes, min_fingers: int = 10) -> PreparedEnrolment:
    """Read, validate and extract one enrolment transaction (no database; safe in a worker process)."""
    from securecomm.interchange import parse_criminal_enrolment, parse_immigration_enrolment, read_transaction

    if kind not in KINDS:
        raise ValueError(f"enrolment kind must be one of {KINDS}, not {kind!r}")
    tx = read_transaction(raw)
    parse = parse_criminal_enrolment if kind == "criminal" else parse_immigration_enrolment
    record = parse(tx, min_fingers=min_fingers)
    templates = extract_templates(record.fingers)
    if not templates:
        raise TransactionRejected(TransactionError("Type-4/14", "DATA", "no finger image yields usable minutiae"))
    return PreparedEnrolment(kind=kind, tcn=record.tcn, ori=getattr(record, "ori", "") or tx.ori, tot=tx.tot,
                    sha256=hashlib.sha256(raw).hexdigest(), raw=raw,
                    record=dataclasses.replace(record, fingers={}), templates=templates)


def _prepare_safely(args: tuple[str, bytes, int]) -> PreparedEnrolment | EnrolResult:
    kind, raw, min_fingers = args
    try:
        return prepare(kind, raw, min_fingers)
    except TransactionRejected as exc:
        return EnrolResult(peek_header(raw).tcn, "rejected", message="; ".join(str(e) for e in exc.errors))


def commit(engine: Engine, item: PreparedEnrolment) -> EnrolResult:
    """Write one prepared enrolment: repository rows and its transaction row, in one transaction."""
    from securecomm.repositories import RepositoryError

    try:
        with write_session(engine) as s:
            return write(s, item)
    except RepositoryError as exc:
        return EnrolResult(item.tcn, "rejected", message=str(exc))
    except IntegrityError:
        with Session(engine) as s:
            return concurrent(s, item)


def concurrent(session: Session, item: PreparedEnrolment) -> EnrolResult:
    """The verdict after a uniqueness conflict: the same TCN was enrolled concurrently and won."""
    return _seen(session, item) or EnrolResult(item.tcn, "rejected",
                                               message="TCN is being enrolled concurrently; try again")


def write(session: Session, item: PreparedEnrolment, *, at: dt.datetime | None = None) -> EnrolResult:
    """Write one prepared enrolment inside the caller's transaction.

    A TCN already received is ``duplicate`` (same bytes) or ``rejected``
    (different bytes) and writes nothing; a record the repository refuses
    raises ``RepositoryError`` (the caller rolls back).
    """
    from securecomm.repositories import CriminalRepository, ImmigrationRepository

    seen = _seen(session, item)
    if seen is not None:
        return seen
    if item.kind == "criminal":
        key = CriminalRepository(session).enroll(item.record, item.templates)
    else:
        key = ImmigrationRepository(session).enroll(item.record, item.templates)
    now = at or SYSTEM_CLOCK.now()
    session.add(Transaction(tcn=item.tcn, sender_tcn=item.tcn, ori=item.ori or "", tot=item.tot, state="done",
                            raw=item.raw, sha256=item.sha256, received_at=now, finished_at=now))
    session.flush()
    return EnrolResult(item.tcn, "enrolled", key=key)


def _seen(s, item: PreparedEnrolment) -> EnrolResult | None:
    """The verdict on an enrolment whose TCN is already on file (same bytes: duplicate)."""
    seen = s.scalars(select(Transaction).where(Transaction.tcn == item.tcn)).one_or_none()
    if seen is None:
        return None
    outcome = "duplicate" if seen.sha256 == item.sha256 else "rejected"
    return EnrolResult(item.tcn, outcome, message="TCN already received"
                       + ("" if outcome == "duplicate" else " with different content"))


def enroll(engine: Engine, kind: str, raw: bytes, *, min_fingers: int = 10) -> EnrolResult:
    """Enrol one transaction file's bytes."""
    item = _prepare_safely((kind, raw, min_fingers))
    return item if isinstance(item, EnrolResult) else commit(engine, item)


def enroll_many(engine: Engine | None, kind: str, raws: Iterable[bytes], *, processes: int = 1, min_fingers: int = 10,
                on_done: Callable[[EnrolResult], None] | None = None,
                commit_one: Callable[[PreparedEnrolment], EnrolResult] | None = None) -> list[EnrolResult]:
    """Enrol many files; image work in ``processes`` worker processes, writes here, in input order.

    ``commit_one`` writes one prepared enrolment (default: :func:`commit` on ``engine``); the service
    layer passes its own, which checks the principal's right and audits in the same transaction.
    """
    jobs = [(kind, bytes(r), int(min_fingers)) for r in raws]
    results: list[EnrolResult] = []
    commit_one = commit_one or (lambda item: commit(engine, item))

    def handle(item: PreparedEnrolment | EnrolResult) -> None:
        res = item if isinstance(item, EnrolResult) else commit_one(item)
        results.append(res)
        if on_done is not None:
            on_done(res)

    if processes > 1 and len(jobs) > 1:
        # spawn, not fork: a forked child would inherit (and on exit close) the parent's database connections
        with ProcessPoolExecutor(max_workers=processes, mp_context=mp.get_context("spawn")) as pool:
            for item in pool.map(_prepare_safely, jobs, chunksize=1):
                handle(item)
    else:
        for job in jobs:
            handle(_prepare_safely(job))
    return results
