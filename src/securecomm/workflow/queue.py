"""The durable job queue: one ``jobs`` row per transaction, leased by workers.

Why a table and not a broker: a stage's effects and the advance of its job
must commit in ONE database transaction (see docs/pipeline.md), which is only
possible when the queue lives in the same database as the effects.

* Claiming takes a row whose lease is free or expired and stamps a fresh
  ``lease_token``. On PostgreSQL the candidate row is chosen with
  ``FOR UPDATE SKIP LOCKED`` so concurrent workers never wait on each other;
  on SQLite the claim runs in a ``BEGIN IMMEDIATE`` write transaction, which
  serialises writers for the few microseconds it takes.
* A killed worker's lease runs out and any worker takes the row again: the
  stage is redone from its recorded inputs.
* Every advance is *fenced*: ``UPDATE jobs ... WHERE id = ? AND lease_token =
  ? AND stage = ?`` must touch exactly one row, else the caller lost its lease
  (someone else took over) and its whole transaction is rolled back.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from securecomm.store.db import begin_write, session_scope
from securecomm.domain.clock import SYSTEM_CLOCK, Clock
from securecomm.store.workflow_models import Job


class LeaseLost(RuntimeError):
    """The worker no longer holds the job it tried to advance: another worker took it over."""


@dataclass(frozen=True)
class Lease:
    """A worker's temporary hold on one job at one stage."""

    job_id: int
    tcn: str
    stage: str
    token: str
    owner: str
    attempts: int
    expires_at: dt.datetime


def backoff(base: float, attempt: int, cap: float = 300.0) -> float:
    """Seconds before retry number ``attempt``: doubling from ``base``, at most ``cap``."""
    return min(cap, base * 2 ** max(0, attempt - 1))


def default_owner() -> str:
    """A worker name unique across hosts and processes, kept in the job row for diagnosis."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _is_sqlite(session_or_engine: Session | Engine) -> bool:
    bind = session_or_engine.get_bind() if isinstance(session_or_engine, Session) else session_or_engine
    return bind.dialect.name == "sqlite"


@contextlib.contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """A session in one write transaction: ``session_scope`` (commit or roll back), begun as a writer."""
    with session_scope(lambda: Session(engine, expire_on_commit=False)) as session:
        begin_write(session)
        yield session


#: The next runnable job (built once: a claim runs it for every job); PostgreSQL locks the row, skipping locked ones.
_PICK = (select(Job.id, Job.attempts, Job.tcn, Job.stage, Job.lease_token)
         .where(Job.state == "ready", Job.available_at <= bindparam("now"),
                (Job.lease_expires_at.is_(None)) | (Job.lease_expires_at < bindparam("now")))
         .order_by(Job.priority.desc(), Job.id)
         .limit(1))
_PICK_LOCKED = _PICK.with_for_update(skip_locked=True)


def _new_job(tcn: str, stage: str, priority: int, now: dt.datetime) -> dict[str, Any]:
    """The column values of a new transaction's job: ready at ``now``, never attempted."""
    return {"tcn": tcn, "stage": stage, "state": "ready", "priority": priority, "attempts": 0,
            "available_at": now, "created_at": now, "updated_at": now}


class JobQueue:
    """Lease, advance and retry ``jobs`` rows.

    ``lease_seconds`` bounds how long a dead worker delays its job;
    it must exceed the longest stage (a worker extends its lease between
    stages with ``extend``).
    """

    def __init__(self, engine: Engine, *, owner: str | None = None, lease_seconds: float = 60.0,
                 max_attempts: int = 5, clock: Clock = SYSTEM_CLOCK) -> None:
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        self.engine = engine
        self.clock = clock
        self.owner = owner or default_owner()
        self.lease_seconds = float(lease_seconds)
        self.max_attempts = int(max_attempts)

    # -- producer side -------------------------------------------------------------------------
    @staticmethod
    def enqueue(session: Session, tcn: str, stage: str, *, priority: int = 0, at: dt.datetime | None = None) -> Job:
        """Add the job of a new transaction inside the caller's transaction (with its ``transactions`` row).

        ``at`` is the caller's clock reading (default: the system clock).
        """
        job = Job(**_new_job(tcn, stage, priority, at or SYSTEM_CLOCK.now()))
        session.add(job)
        return job

    @staticmethod
    def enqueue_many(session: Session, tcns: list[str], stage: str, *, priority: int = 0,
                     at: dt.datetime | None = None) -> None:
        """:meth:`enqueue` each of ``tcns`` in that order (their ids, so their claim order, follow it) with one
        multi-row insert: a bulk load's jobs, written with their ``transactions`` rows."""
        if not tcns:
            return
        now = at or SYSTEM_CLOCK.now()
        session.execute(insert(Job), [_new_job(t, stage, priority, now) for t in tcns])

    # -- worker side ---------------------------------------------------------------------------
    def claim(self) -> Lease | None:
        """Lease the next runnable job, or None when nothing is runnable right now.

        A job whose previous holders all died on it (``max_attempts`` claims without an
        advance: a poison transaction that kills the process) is parked as ``failed``
        instead of being handed out again, so a crash loop is bounded.
        """
        while True:
            with write_session(self.engine) as session:
                got = self._claim_one(session)
            if got is not False:
                return got

    def claim_in(self, session: Session) -> Lease | None:
        """:meth:`claim` inside the caller's write transaction (the batched single-writer mode of
        ``Worker.run_batched``): the lease is written only when the caller commits."""
        while True:
            got = self._claim_one(session)
            if got is not False:
                return got

    def claim_chain(self, session: Session) -> "AdvanceChain | None":
        """:meth:`claim_in` whose lease is not written now but with the job's one row write at the end of its
        chain of stages (:meth:`AdvanceChain.write`, fenced on the row as the claim read it): the batched
        single-writer mode (``Worker.run_batched``), where the claim and every stage of the job commit
        together anyway, so the claim's own UPDATE was overwritten before anyone could see it. The chain's
        ``claimed`` is the lease; None when nothing is runnable."""
        while True:
            got = self._claim_one(session, defer=True)
            if got is not False:
                return got  # type: ignore[return-value]

    def _claim_one(self, session: Session, defer: bool = False) -> "Lease | AdvanceChain | None | bool":
        """One claim attempt in ``session``: a lease, None (nothing runnable) or False (a job was parked as
        failed: look again). ``defer``: an unwritten claim, as an :class:`AdvanceChain` (``claim_chain``)."""
        token = str(uuid.uuid4())
        now = self.clock.now()
        expires = now + dt.timedelta(seconds=self.lease_seconds)
        pick = _PICK if _is_sqlite(session) else _PICK_LOCKED
        row = session.execute(pick, {"now": now}).one_or_none()
        if row is None:
            return None
        job_id, attempts, tcn, stage, old_token = row  # row locked (PostgreSQL) / write lock held (SQLite)
        if attempts >= self.max_attempts:
            session.execute(
                update(Job).where(Job.id == job_id)
                .values(state="failed", lease_token=None, lease_owner=None, lease_expires_at=None,
                        updated_at=now,
                        last_error=f"abandoned {attempts} times at this stage (workers died on it)"))
            return False
        if defer:
            lease = Lease(job_id=job_id, tcn=tcn, stage=stage, token=token, owner=self.owner,
                          attempts=attempts + 1, expires_at=expires)
            chain = AdvanceChain.start(lease)
            chain.unwritten_claim, chain.updated_at, chain.pending = (attempts, old_token), now, True
            return chain
        session.execute(
            update(Job).where(Job.id == job_id)
            .values(lease_token=token, lease_owner=self.owner, lease_expires_at=expires,
                    attempts=attempts + 1, updated_at=now)
        )
        return Lease(job_id=job_id, tcn=tcn, stage=stage, token=token, owner=self.owner,
                     attempts=attempts + 1, expires_at=expires)

    def advance(self, session: Session, lease: Lease, *, next_stage: str | None,
                state: str = "ready") -> Lease | None:
        """Move the job past ``lease.stage`` inside the caller's transaction (fenced on the lease).

        ``state`` ``ready`` keeps the job (and, with a fresh expiry, the lease: the same
        worker runs the next stage at once); ``waiting`` parks it for a human; ``done``
        finishes it. Raises ``LeaseLost`` when the lease is no longer ours, which must
        roll the caller's whole transaction back. Returns the continued lease, if any.
        """
        if state not in ("ready", "waiting", "done"):
            raise ValueError(f"cannot advance a job to state {state!r}")
        if state == "ready" and not next_stage:
            raise ValueError("a ready job needs a next stage")
        now = self.clock.now()
        keep = state == "ready"
        expires = now + dt.timedelta(seconds=self.lease_seconds) if keep else None
        result = session.execute(
            update(Job)
            .where(Job.id == lease.job_id, Job.lease_token == lease.token, Job.stage == lease.stage,
                   Job.state == "ready")
            .values(stage=next_stage or lease.stage, state=state, attempts=1 if keep else Job.attempts,
                    lease_token=lease.token if keep else None,
                    lease_owner=self.owner if keep else None,
                    lease_expires_at=expires, last_error=None, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            raise LeaseLost(f"job {lease.job_id} ({lease.tcn}) at stage {lease.stage!r} is no longer "
                            f"leased by {self.owner}")
        if not keep:
            return None
        return Lease(job_id=lease.job_id, tcn=lease.tcn, stage=next_stage or lease.stage,
                     token=lease.token, owner=self.owner, attempts=1, expires_at=expires)

    def advance_deferred(self, chain: "AdvanceChain", lease: Lease, *, next_stage: str | None,
                         state: str = "ready") -> Lease | None:
        """:meth:`advance` for the batched single-writer mode (``Worker.run_batched``): the job's row is not
        written now but once, by :meth:`AdvanceChain.write`, when the job's chain of stages in this
        transaction ends -- with the very values the last of the stage-by-stage advances would have left
        (an intermediate state is never visible: the claim and every stage commit together). Returns the
        continued lease, as :meth:`advance` does."""
        if state not in ("ready", "waiting", "done"):
            raise ValueError(f"cannot advance a job to state {state!r}")
        if state == "ready" and not next_stage:
            raise ValueError("a ready job needs a next stage")
        if (lease.job_id, lease.token) != (chain.claimed.job_id, chain.claimed.token) or lease.stage != chain.stage:
            raise LeaseLost(f"job {lease.job_id} ({lease.tcn}) at stage {lease.stage!r} is not the chain's")
        now = self.clock.now()
        keep = state == "ready"
        expires = now + dt.timedelta(seconds=self.lease_seconds) if keep else None
        chain.stage, chain.state = next_stage or lease.stage, state
        if keep:
            chain.attempts = 1
        chain.token = lease.token if keep else None
        chain.owner = self.owner if keep else None
        chain.expires, chain.updated_at = expires, now
        chain.pending = True
        if not keep:
            return None
        return Lease(job_id=lease.job_id, tcn=lease.tcn, stage=next_stage or lease.stage,
                     token=lease.token, owner=self.owner, attempts=1, expires_at=expires)

    def extend(self, lease: Lease) -> Lease:
        """Push the lease's expiry forward (before a long stage); ``LeaseLost`` if it is gone."""
        now = self.clock.now()
        expires = now + dt.timedelta(seconds=self.lease_seconds)
        with write_session(self.engine) as session:
            result = session.execute(
                update(Job).where(Job.id == lease.job_id, Job.lease_token == lease.token,
                                  Job.stage == lease.stage, Job.state == "ready")
                .values(lease_expires_at=expires, updated_at=now)
                .execution_options(synchronize_session=False))
            if result.rowcount != 1:
                raise LeaseLost(f"job {lease.job_id} ({lease.tcn}) lease expired and was taken over")
        return Lease(job_id=lease.job_id, tcn=lease.tcn, stage=lease.stage, token=lease.token,
                     owner=lease.owner, attempts=lease.attempts, expires_at=expires)

    def fail(self, lease: Lease, error: str, *, retry_in: float = 1.0) -> str:
        """Record a failed attempt: retry after an exponential back-off, or park the job after
        ``max_attempts`` (an operator sees it in ``securecomm jobs list`` and resumes it).

        Returns the job's new state (``ready`` or ``parked``); nothing when the lease was lost.
        """
        now = self.clock.now()
        final = lease.attempts >= self.max_attempts
        with write_session(self.engine) as session:
            result = session.execute(
                update(Job).where(Job.id == lease.job_id, Job.lease_token == lease.token,
                                  Job.stage == lease.stage)
                .values(state="parked" if final else "ready", last_error=error[:4000],
                        lease_token=None, lease_owner=None, lease_expires_at=None,
                        available_at=now + dt.timedelta(seconds=backoff(retry_in, lease.attempts)),
                        updated_at=now)
                .execution_options(synchronize_session=False))
            if result.rowcount != 1:
                return ""
        return "parked" if final else "ready"

    def interrupted(self, lease: Lease, error: str, *, retry_in: float = 1.0) -> str:
        """The stage was cut off by a lost database connection: hand the job back after a
        back-off WITHOUT counting the attempt (the connection, not the job, failed)."""
        now = self.clock.now()
        with write_session(self.engine) as session:
            result = session.execute(
                update(Job).where(Job.id == lease.job_id, Job.lease_token == lease.token,
                                  Job.stage == lease.stage, Job.state == "ready")
                .values(attempts=func.max(Job.attempts - 1, 0) if _is_sqlite(session)
                        else func.greatest(Job.attempts - 1, 0),
                        last_error=("interrupted: " + error)[:4000],
                        lease_token=None, lease_owner=None, lease_expires_at=None,
                        available_at=now + dt.timedelta(seconds=retry_in), updated_at=now)
                .execution_options(synchronize_session=False))
        return "ready" if result.rowcount == 1 else ""

    def release(self, lease: Lease) -> None:
        """Give a lease back without counting an attempt (a worker shutting down cleanly)."""
        with write_session(self.engine) as session:
            session.execute(
                update(Job).where(Job.id == lease.job_id, Job.lease_token == lease.token)
                .values(lease_token=None, lease_owner=None, lease_expires_at=None,
                        attempts=Job.attempts - 1, updated_at=self.clock.now())
                .execution_options(synchronize_session=False))

    @staticmethod
    def requeue(session: Session, tcn: str, *, at: dt.datetime | None = None) -> Job:
        """An operator resumes a ``parked`` or ``failed`` job at its stage, with fresh attempts."""
        job = session.scalars(select(Job).where(Job.tcn == tcn).with_for_update()).one_or_none()
        if job is None:
            raise LookupError(f"no job for transaction {tcn!r}")
        if job.state not in ("parked", "failed"):
            raise ValueError(f"job {tcn} is {job.state}; only parked or failed jobs are retried")
        now = at or SYSTEM_CLOCK.now()
        job.state, job.attempts, job.available_at, job.updated_at = "ready", 0, now, now
        job.lease_token = job.lease_owner = job.lease_expires_at = None
        return job

    @staticmethod
    def park(session: Session, tcn: str, reason: str, *, at: dt.datetime | None = None) -> Job:
        """An operator stops a ``ready`` or ``failed`` job; a worker holding it can no longer commit
        (the fence requires ``ready``)."""
        job = session.scalars(select(Job).where(Job.tcn == tcn).with_for_update()).one_or_none()
        if job is None:
            raise LookupError(f"no job for transaction {tcn!r}")
        if job.state not in ("ready", "failed"):
            raise ValueError(f"job {tcn} is {job.state}; only ready or failed jobs are parked")
        now = at or SYSTEM_CLOCK.now()
        job.state, job.updated_at = "parked", now
        job.last_error = f"parked by an operator: {reason}"[:4000]
        job.lease_token = job.lease_owner = job.lease_expires_at = None
        return job

    @staticmethod
    def resume(session: Session, tcn: str, stage: str, *, at: dt.datetime | None = None) -> None:
        """Put a job parked in ``waiting`` back to ``ready`` at ``stage`` (a review was resolved)."""
        now = at or SYSTEM_CLOCK.now()
        result = session.execute(
            update(Job).where(Job.tcn == tcn, Job.state == "waiting")
            .values(state="ready", stage=stage, attempts=0, available_at=now, lease_token=None,
                    lease_owner=None, lease_expires_at=None, updated_at=now)
            .execution_options(synchronize_session=False))
        if result.rowcount != 1:
            raise ValueError(f"transaction {tcn} has no job waiting for review")

    # -- inspection ----------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Jobs per state (``ready``, ``waiting``, ``done``, ``failed``, ``parked``)."""
        with Session(self.engine) as session:
            rows = session.execute(select(Job.state, func.count()).group_by(Job.state)).all()
        return {state: int(n) for state, n in rows}

    def outstanding(self) -> int:
        """Jobs still to run (leased or not): ``work`` runs until this is zero."""
        with Session(self.engine) as session:
            return int(session.execute(
                select(func.count()).select_from(Job).where(Job.state == "ready")).scalar_one())

    def next_available_in(self) -> float | None:
        """Seconds until some ready job becomes claimable (its lease or back-off ends), None if none."""
        now = self.clock.now()
        with Session(self.engine) as session:
            rows = session.execute(
                select(Job.available_at, Job.lease_expires_at).where(Job.state == "ready")).all()
        if not rows:
            return None
        waits = []
        for available_at, lease_expires_at in rows:
            at = max(available_at, lease_expires_at or available_at)
            waits.append(max(0.0, (at - now).total_seconds()))
        return min(waits)


_CHAIN_WRITES: dict[str, Any] = {}


def _chain_write(fence: str) -> Any:
    """``AdvanceChain.write``'s UPDATE, built once per fence: ``leased`` (the claim's own lease token),
    ``unclaimed`` (an unwritten claim of a row without a lease), ``expired`` (... of a row with a lapsed one)."""
    stmt = _CHAIN_WRITES.get(fence)
    if stmt is None:
        held = {"leased": (Job.lease_token == bindparam("fence_token"),),
                "unclaimed": (Job.attempts == bindparam("fence_attempts"), Job.lease_token.is_(None)),
                "expired": (Job.attempts == bindparam("fence_attempts"),
                            Job.lease_token == bindparam("fence_token"))}[fence]
        stmt = _CHAIN_WRITES[fence] = (
            update(Job)
            .where(Job.id == bindparam("job_id"), *held, Job.stage == bindparam("claimed_stage"),
                   Job.state == "ready")
            .values(stage=bindparam("new_stage"), state=bindparam("new_state"), attempts=bindparam("new_attempts"),
                    lease_token=bindparam("new_token"), lease_owner=bindparam("new_owner"),
                    lease_expires_at=bindparam("new_expires", type_=Job.lease_expires_at.type),
                    last_error=None, updated_at=bindparam("new_updated_at", type_=Job.updated_at.type))
            .execution_options(synchronize_session=False))
    return stmt


@dataclass
class AdvanceChain:
    """The job row a chain of deferred advances (:meth:`JobQueue.advance_deferred`) will leave: one fenced
    UPDATE (:meth:`write`) instead of one per stage. Starts from a fresh claim."""

    claimed: Lease
    stage: str = ""
    state: str = "ready"
    attempts: int = 0
    token: str | None = None
    owner: str | None = None
    expires: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    pending: bool = False
    #: (attempts, lease token) of the job's row as an unwritten claim (:meth:`JobQueue.claim_chain`) read it:
    #: :meth:`write` writes the claim too, fenced on those
    unwritten_claim: tuple[int, str | None] | None = None

    @classmethod
    def start(cls, lease: Lease) -> "AdvanceChain":
        return cls(claimed=lease, stage=lease.stage, attempts=lease.attempts, token=lease.token,
                   owner=lease.owner, expires=lease.expires_at)

    def write(self, session: Session) -> None:
        """The job's row as the last advance left it, fenced on the claim (``LeaseLost`` otherwise)."""
        if not self.pending:
            return
        c = self.claimed
        params = {"job_id": c.job_id, "claimed_stage": c.stage, "new_stage": self.stage, "new_state": self.state,
                  "new_attempts": self.attempts, "new_token": self.token, "new_owner": self.owner,
                  "new_expires": self.expires, "new_updated_at": self.updated_at}
        if self.unwritten_claim is not None:  # the row as the claim read it (the claim's values are overwritten)
            attempts, old_token = self.unwritten_claim
            fence = "unclaimed" if old_token is None else "expired"
            params.update(fence_attempts=attempts, fence_token=old_token)
        else:
            fence = "leased"
            params["fence_token"] = c.token
        result = session.execute(_chain_write(fence), params)
        if result.rowcount != 1:
            raise LeaseLost(f"job {c.job_id} ({c.tcn}) at stage {c.stage!r} is no longer leased by {c.owner}")
        self.pending = False
        self.unwritten_claim = None


__all__ = ["AdvanceChain", "JobQueue", "Lease", "LeaseLost", "backoff", "begin_write", "default_owner", "write_session"]
