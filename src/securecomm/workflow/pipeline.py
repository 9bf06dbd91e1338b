"""Submit transactions, run workers, report status: the booking pipeline's front door.

* ``submit`` records a transaction byte for byte with its job, in one write
  transaction; a TCN already received is recognised and never queued again.
* ``Worker`` leases a job and drives it through as many stages as it can.
  Each stage is computed outside any write transaction (search and
  extraction take time), then its outcome is committed together with the
  job's fenced advance in ONE transaction (see ``Worker._commit`` and
  docs/pipeline.md for why this gives exactly-once effects under SIGKILL).
* Bad input becomes an ERRT and a rejected transaction; an unexpected
  error is retried with back-off and finally marks the job failed -- the
  worker itself never dies of a transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, bindparam, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

from securecomm.domain.actions import ACTIONS, NO_ACTION
from securecomm.domain.clock import SYSTEM_CLOCK, Clock
from securecomm.interchange.errors import TransactionError, TransactionRejected
from securecomm.interchange.limits import check_transaction_size
from securecomm.jurisdictions import hold_activations
from securecomm.repositories import CriminalRepository
from securecomm.store import audit
from securecomm.store.workflow_models import BookingTemplate, Job, Response, ReviewItem, StageRun, Transaction
from securecomm.workflow import consolidation
from securecomm.workflow.gallery import Galleries
from securecomm.workflow.header import peek_header
from securecomm.workflow.queue import AdvanceChain, JobQueue, Lease, LeaseLost, write_session
from securecomm.workflow.stages import (INLINE_STAGES, RUNNERS, PipelineConfig, Rejected, StageContext,
                                        StageOutcome, errt_outcome)

log = logging.getLogger("securecomm.workflow")

#: Stages whose unexpected failures come from the submitted bytes themselves: answered by ERRT.
_INPUT_STAGES = ("validate", "extract")


# ----------------------------------------------------------------------------------- submit


@dataclass(frozen=True)
class SubmitResult:
    """What became of one submitted file: ``queued``, ``duplicate`` (same TCN, same bytes), ``conflict``
    or ``refused`` (larger than the configured maximum transaction size; nothing stored)."""

    tcn: str
    outcome: str
    state: str
    message: str = ""


def submit(engine: Engine, raw: bytes, *, clock: Clock = SYSTEM_CLOCK) -> SubmitResult:
    """Record a transaction and queue it, unless its sender already sent that TCN.

    A TCN is scoped to its sender (ORI): the same TCN from another agency is another
    transaction, stored under the key ``TCN@ORI``. A rejected transaction reserves
    nothing: a corrected resubmission under its TCN is accepted (the same bytes again
    are still a ``duplicate``). A file whose header cannot be read is stored under a
    server-made key (``UNREAD-...``) and reserves no TCN at all.
    """
    if not isinstance(raw, (bytes, bytearray)) or not raw:
        raise ValueError("a submission must be the non-empty bytes of an ANSI/NIST-ITL transaction")
    try:  # bounded before anything is stored (interchange.limits)
        check_transaction_size(len(raw))
    except TransactionRejected as exc:
        return SubmitResult(peek_header(raw[:65536]).tcn, "refused", "refused", str(exc.errors[0]))
    raw = bytes(raw)
    head = peek_header(raw)
    for _ in range(5):  # a concurrent submitter may win a key or a TCN: look again
        try:
            with write_session(engine) as s:
                seen = _received(s, head)
                if seen is not None:
                    return seen
                key = _free_key(s, head)
                s.add(Transaction(tcn=key, sender_tcn=head.tcn if head.readable else None, ori=head.ori,
                                  tot=head.tot, state="received", raw=raw, sha256=head.sha256, received_at=clock.now()))
                s.flush()
                JobQueue.enqueue(s, key, "validate", at=clock.now())
            return SubmitResult(key, "queued", "received")
        except IntegrityError:
            continue
    raise RuntimeError(f"could not record transaction {head.tcn}: its key stayed contended")


def _received(s: Session, head: Any) -> SubmitResult | None:
    """What became of an earlier submission of the same TCN by the same sender, if it still counts."""
    if not head.readable:
        existing = s.scalars(select(Transaction).where(Transaction.tcn == head.tcn)).one_or_none()
        return None if existing is None else _seen(existing, head.sha256)
    existing = s.scalars(select(Transaction).where(Transaction.ori == head.ori,
                                                   Transaction.sender_tcn == head.tcn)).one_or_none()
    if existing is None:
        return None
    if existing.sha256 == head.sha256 or existing.state != "rejected":
        return _seen(existing, head.sha256)
    existing.sender_tcn = None  # rejected: its TCN is free for the corrected transaction
    s.flush()
    return None


def _free_key(s: Session, head: Any) -> str:
    """The store key of a new transaction: its TCN, else ``TCN@ORI`` (another sender has the TCN)."""
    if not head.readable:
        return head.tcn
    base = f"{head.tcn}@{head.ori}"
    for key in (head.tcn, base, *(f"{base}.{n}" for n in range(2, 1000))):
        if s.scalars(select(Transaction.id).where(Transaction.tcn == key)).first() is None:
            return key
    raise RuntimeError(f"no free key for TCN {head.tcn} from {head.ori}")


def _seen(existing: Transaction, sha256: str) -> SubmitResult:
    if existing.sha256 == sha256:
        return SubmitResult(existing.tcn, "duplicate", existing.state, "already received; not processed again")
    return SubmitResult(existing.tcn, "conflict", existing.state,
                        "TCN already used by a different transaction from this agency; resubmit with a new TCN")


# ----------------------------------------------------------------------------------- worker


#: What ``Worker._context`` reads for every job, built once (a statement built per call cost as much to build
#: and key for the statement cache as to run); the outputs as plain columns.
_CONTEXT_TX = select(Transaction).where(Transaction.tcn == bindparam("tcn"))
_CONTEXT_OUTPUTS = select(StageRun.stage, StageRun.output).where(StageRun.tcn == bindparam("tcn"))
_CONTEXT_REVIEWS = select(ReviewItem).where(ReviewItem.tcn == bindparam("tcn"))


class StageTimeout(RuntimeError):
    """A heavy stage ran past its deadline: its lease was let go and its result is not committed."""


def is_disconnect(exc: BaseException) -> bool:
    """A lost database connection (server restart, ``pg_terminate_backend``, network): not the job's fault."""
    return isinstance(exc, DBAPIError) and bool(getattr(exc, "connection_invalidated", False))


def is_input_error(exc: BaseException) -> bool:
    """Bad input found by the reader or a stage: answered with an ERRT (only in ``_INPUT_STAGES``)."""
    return isinstance(exc, (Rejected, TransactionRejected))


class _Heartbeat:
    """Extends a lease while a long stage computes, so a live worker is not mistaken for a dead one.

    It stops at the stage's deadline: a hung stage then loses its lease like a dead worker's,
    and any worker takes the job over. ``lost`` says the lease is gone (taken over, or let go
    at the deadline); the worker then commits nothing of the stage (fencing).
    """

    def __init__(self, queue: JobQueue, lease: Lease, deadline: float) -> None:
        self.queue, self.lease = queue, lease
        self.lost = False
        self.overdue = False
        self._deadline = time.monotonic() + deadline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        period = max(0.2, self.queue.lease_seconds / 3)
        while not self._stop.wait(period):
            if time.monotonic() >= self._deadline:
                self.overdue = True  # let the lease run out: the job goes to another worker
                return
            try:
                self.lease = self.queue.extend(self.lease)
            except LeaseLost:
                self.lost = True
                return
            except Exception:  # a busy database: try again next beat; the fence keeps us safe anyway
                log.debug("lease heartbeat failed", exc_info=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        if time.monotonic() >= self._deadline:
            self.overdue = True


class Worker:
    """Leases jobs and runs their stages until the queue is empty (or forever)."""

    def __init__(self, engine: Engine, config: PipelineConfig | None = None, *, owner: str | None = None,
                 lease_seconds: float = 60.0, max_attempts: int = 5, galleries: Galleries | None = None,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self.engine = engine
        self.config = config or PipelineConfig()
        self.clock = clock
        self.queue = JobQueue(engine, owner=owner, lease_seconds=lease_seconds, max_attempts=max_attempts,
                              clock=clock)
        self.galleries = galleries or Galleries(index_dir=self.config.index_dir)
        from securecomm.engine.extractors import configured

        configured()  # the deployment's extractor, built now: a missing or broken model stops the worker here
        self.stages_run = 0
        #: Detainer timers (expiry warnings and notices, release notices) this worker sent, and how often it
        #: looks for due ones while busy (it always looks when idle and before it stops).
        self.timers_fired = 0
        self.timer_period = 1.0
        self._next_timer_check = 0.0
        #: Consecutive database errors a worker rides out (with back-off) before giving up, and that back-off:
        #: ``base * 2**errors`` seconds, at most ``cap`` (a stop request ends the wait at once).
        self.max_database_errors = 20
        self.database_backoff = (0.5, 30.0)

    # one job ------------------------------------------------------------------------------------
    def step(self) -> bool:
        """Lease one job and drive it as far as it goes; False when nothing was runnable."""
        lease = self.queue.claim()
        if lease is None:
            return False
        try:
            while lease is not None:
                lease = self._run_stage(lease)
        except (KeyboardInterrupt, SystemExit):
            # stopped by the operator mid-stage: nothing of the stage was committed; hand the job
            # back now rather than making the next worker wait for the lease to run out
            if lease is not None:
                try:
                    self.queue.release(lease)
                except Exception:  # the lease will simply expire
                    log.debug("could not release %s", lease.tcn, exc_info=True)
            raise
        return True

    def _context(self, session: Session, tcn: str) -> StageContext:
        key = {"tcn": tcn}
        tx = session.scalars(_CONTEXT_TX, key).one()
        outputs = {stage: dict(output) for stage, output in session.execute(_CONTEXT_OUTPUTS, key)}
        reviews = {r.kind: r for r in session.scalars(_CONTEXT_REVIEWS, key)}
        return StageContext(session=session, tx=tx, outputs=outputs, config=self.config, clock=self.clock,
                            galleries=self.galleries, reviews=reviews, worker=self.queue.owner)

    def _outcome(self, ctx: StageContext, lease: Lease) -> StageOutcome:
        """Run the stage; bad input in a stage that reads the submitted bytes becomes an ERRT.

        Everything else -- a lost connection, a killed decoder, a timeout, a bug -- propagates:
        it is the machine's trouble, retried and finally parked, never answered as the
        submitter's fault.
        """
        runner = RUNNERS.get(lease.stage)
        if runner is None:
            raise RuntimeError(f"job {lease.tcn} is at unknown stage {lease.stage!r}")
        try:
            return runner(ctx)
        except (Rejected, TransactionRejected) as exc:
            if lease.stage not in _INPUT_STAGES:  # an accepted booking is never rejected afterwards
                raise RuntimeError(f"stage {lease.stage} could not read accepted transaction {lease.tcn}: "
                                   f"{exc}") from exc
            return errt_outcome(ctx, exc.errors, lease.stage)

    def _run_stage(self, lease: Lease) -> Lease | None:
        if lease.stage in INLINE_STAGES:
            return self._run_inline(lease)
        try:
            with _Heartbeat(self.queue, lease, self.config.stage_deadline) as beat:
                with Session(self.engine, expire_on_commit=False) as session:
                    outcome = self._outcome(self._context(session, lease.tcn), lease)
        except Exception as exc:
            self._failed(lease, exc)
            return None
        if beat.lost:  # fencing: another worker holds the job now; write nothing of this stage
            log.info("%s: lease on stage %s lost while computing; nothing committed", lease.tcn, lease.stage)
            return None
        if beat.overdue:
            self._failed(lease, StageTimeout(f"stage {lease.stage} ran past its deadline of "
                                             f"{self.config.stage_deadline:g} s"))
            return None
        try:
            nxt = self._commit(lease, outcome)
        except LeaseLost:
            log.info("%s: lease on stage %s lost; another worker finishes it", lease.tcn, lease.stage)
            return None
        except Exception as exc:  # refused writes (rolled back), a uniqueness guard, a lost connection
            self._failed(lease, exc)
            return None
        self.stages_run += 1
        return nxt

    def _failed(self, lease: Lease, exc: Exception) -> None:
        """A stage that did not complete: retry with back-off, then park the job for an operator.

        A lost database connection is not the job's fault and does not count as an attempt.
        When the database cannot even record the failure, the error goes up to ``run``,
        which backs off; the lease then simply runs out.
        """
        detail = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)}"
        if is_disconnect(exc):
            state = self.queue.interrupted(lease, detail)  # an OperationalError here goes up to run()
        else:
            state = self.queue.fail(lease, detail)
        log.warning("%s: stage %s %s (%s): %s", lease.tcn, lease.stage,
                    "interrupted" if is_disconnect(exc) else "failed", state or "lease lost", exc)

    def _run_inline(self, lease: Lease) -> Lease | None:
        """A light stage: computed and committed in the same write transaction."""
        try:
            with write_session(self.engine) as s:
                if s.get_bind().dialect.name == "postgresql":  # the light stages' deadline
                    s.execute(text(f"SET LOCAL statement_timeout = {int(self.config.stage_deadline * 1000)}"))
                outcome = self._outcome(self._context(s, lease.tcn), lease)
                nxt = self._record(s, lease, outcome)
        except LeaseLost:
            log.info("%s: lease on stage %s lost; another worker finishes it", lease.tcn, lease.stage)
            return None
        except Exception as exc:
            self._failed(lease, exc)
            return None
        self.stages_run += 1
        return nxt

    def _commit(self, lease: Lease, outcome: StageOutcome) -> Lease | None:
        """The stage's effects and the job's advance, in one transaction, fenced on the lease."""
        with write_session(self.engine) as s:
            return self._record(s, lease, outcome)

    def _record(self, s: Session, lease: Lease, outcome: StageOutcome,
                ctx: StageContext | None = None, chain: AdvanceChain | None = None) -> Lease | None:
        """Write one stage's outcome and advance its job (fenced) inside the caller's transaction.

        ``ctx``: the stage's context, read in this same session (``run_batched``): its transaction row is
        used instead of reading it again, and the recorded output and review item are added to it, so the
        job's next stage in this session reads what :meth:`_context` would read back (the same objects:
        the session's identity map holds them). ``chain``: the job's advance is deferred to the chain's one
        fenced write at the end of the job's stages in this transaction (``JobQueue.advance_deferred``)."""
        if chain is not None:
            nxt = self.queue.advance_deferred(chain, lease, next_stage=outcome.next_stage, state=outcome.job_state)
        else:
            nxt = self.queue.advance(s, lease, next_stage=outcome.next_stage, state=outcome.job_state)
        extra = outcome.apply(s) if outcome.apply is not None else {}
        output = {**outcome.output, **(extra or {})}
        rows = _AppendOnly.of(s)
        add = rows.add if rows is not None else (lambda model, **values: s.add(model(**values)))
        add(StageRun, tcn=lease.tcn, stage=lease.stage, status=outcome.status, output=output,
            attempt=lease.attempts, worker=self.queue.owner, finished_at=self.clock.now())
        for pos, (data, n) in sorted(outcome.templates.items()):
            add(BookingTemplate, tcn=lease.tcn, position=pos, template=data, minutiae=n)
        for r in outcome.responses:
            add(Response, tcn=lease.tcn, kind=r.kind, recipient=r.recipient, recipient_role=r.role,
                format=r.format, payload=r.payload, summary=r.summary, created_at=self.clock.now())
        item = None
        if outcome.review is not None:
            v = outcome.review
            item = ReviewItem(tcn=lease.tcn, kind=v.kind, reason=v.reason, band=v.band, score=v.score,
                              candidate=v.candidate, details=v.details, state="open", created_at=self.clock.now())
            s.add(item)
        if ctx is not None and ctx.tx.tcn == lease.tcn:
            tx = ctx.tx
            ctx.outputs[lease.stage] = dict(output)
            if outcome.templates:  # what was just written: the bytes a read of the rows would give back
                ctx.stored_templates = {pos: bytes(data) for pos, (data, _) in sorted(outcome.templates.items())}
                ctx.parsed_templates = None
            if item is not None:
                ctx.reviews[item.kind] = item
        else:
            tx = s.scalars(select(Transaction).where(Transaction.tcn == lease.tcn)).one()
        if outcome.tx_state:
            tx.state = outcome.tx_state
            if outcome.tx_state in ("done", "rejected"):
                tx.finished_at = self.clock.now()
        if outcome.tx_error:
            tx.error = outcome.tx_error
        if outcome.booking_date is not None:
            tx.booking_date = outcome.booking_date
        if outcome.arrest_date is not None:
            tx.arrest_date = outcome.arrest_date
        if outcome.captured_at is not None:
            tx.captured_at = outcome.captured_at
        return nxt

    def fire_timers(self, *, drain: bool = False, batch: int = 100) -> int:
        """Send the notices of due detainer timers, each exactly once (workflow.detainers): up to ``batch``
        between jobs, or with ``drain`` every one due now."""
        from securecomm.workflow.detainers import fire_due

        total = 0
        while True:
            n = len(fire_due(self.engine, clock=self.clock, owner=self.queue.owner, limit=batch))
            total += n
            if not drain or n < batch:
                break
        self._next_timer_check = time.monotonic() + self.timer_period
        self.timers_fired += total
        return total

    # many jobs -----------------------------------------------------------------------------------
    def run(self, *, until_empty: bool = True, poll: float = 0.5, stop: threading.Event | None = None,
            on_step: Callable[[], None] | None = None) -> int:
        """Process jobs; with ``until_empty`` return once no job is left to run. Returns jobs touched.

        ``stop`` (set by SIGTERM) ends the run after the booking in hand; every wait -- for a job in retry
        back-off, for new work, for the database to come back -- ends as soon as it is set.
        """
        touched = 0
        errors = 0
        stop = stop if stop is not None else threading.Event()  # never set: waits are plain sleeps
        while not stop.is_set():
            try:
                if time.monotonic() >= self._next_timer_check:
                    self.fire_timers()
                if self.step():
                    touched += 1
                    errors = 0
                    if on_step is not None:
                        on_step()
                    continue
                if until_empty and self.queue.outstanding() == 0:
                    self.fire_timers(drain=True)  # the timers due now go out before the worker stops
                    break
                wait = self.queue.next_available_in()
            except DBAPIError as exc:  # the database itself is unwell (locked, restarting, gone)
                if not (isinstance(exc, OperationalError) or is_disconnect(exc)):
                    raise
                errors += 1
                if errors > self.max_database_errors:
                    raise
                log.warning("database error (%d in a row), retrying: %s", errors, exc)
                base, cap = self.database_backoff
                _pause(min(cap, base * 2 ** min(errors, 6)), stop)
                continue
            _pause(min(poll, max(0.05, wait if wait is not None else poll)), stop)
        return touched


    def run_batched(self, *, batch: int = 50, on_step: Callable[[], None] | None = None) -> int:
        """Empty the queue as the store's only writer, ``batch`` jobs per write transaction (bulk loads).

        The same stages in the same order as :meth:`run` (jobs claimed one at a time by priority and id,
        each driven as far as it goes), recorded by the same ``_record``: the same rows, outputs and
        responses. What differs is the transaction: every stage of up to ``batch`` jobs -- the heavy
        ones included, which :meth:`run` computes outside any write transaction -- runs and is recorded
        inside ONE write transaction, committed once, instead of one transaction per stage (plus one
        per claim). That saves most of a booking's commits and session set-up; it also holds the
        store's write lock for the whole batch, so it is only for a store nobody else writes to
        meanwhile (``securecomm simulate`` and its what-if replays, which run one worker). A crash
        loses at most the batch in hand (its jobs are simply run again). A stage that fails rolls
        the whole batch back; the batch is then run again job by job through :meth:`run`'s own path
        (retries, back-off, ERRT, parking), and batching resumes after it; jobs left in a retry's
        back-off at the end are waited for by :meth:`run` itself. Returns jobs touched.
        """
        touched = 0
        while True:
            done = 0
            self.galleries.checkpoint()  # the galleries read this transaction's enrolments before its commit
            try:
                with write_session(self.engine) as s:
                    pin_agencies(s)
                    rows = _AppendOnly.start(s)  # append-only rows and audit rows: inserted in bulk, below
                    CriminalRepository.hold_aliases(s)  # merged UCNs looked up in memory (only merges add them)
                    hold_activations(s)  # the schedule, read once a batch
                    for _ in range(max(1, int(batch))):
                        # the job's row: written once, claim included, after its last stage
                        chain = self.queue.claim_chain(s)
                        if chain is None:
                            break
                        lease = chain.claimed
                        ctx = None  # read once per job; _record keeps it up to date (the same rows)
                        while lease is not None:
                            if ctx is None or ctx.tx.tcn != lease.tcn:
                                if lease.tcn in rows.tcns:  # never so far (a job is claimed once a batch)
                                    rows.write(s)
                                ctx = self._context(s, lease.tcn)
                            outcome = self._outcome(ctx, lease)
                            lease = self._record(s, lease, outcome, ctx, chain)
                            self.stages_run += 1
                        chain.write(s)
                        done += 1
                    rows.write(s)
            except Exception as exc:  # rolled back: this batch again, one stage per transaction
                self.galleries.rollback()
                log.warning("batch of %d jobs rolled back (%s: %s); running them one by one",
                            done + 1, type(exc).__name__, exc)
                for _ in range(done + 1):
                    if not self.step():
                        break
                    touched += 1
                    if on_step is not None:
                        on_step()
                continue
            touched += done
            if on_step is not None:
                for _ in range(done):
                    on_step()
            if done == 0:
                if self.queue.outstanding():  # a failed stage's job in its back-off: run()'s loop waits for it
                    touched += self.run(until_empty=True, on_step=on_step)
                break
        self.fire_timers(drain=True)  # as run() does before it stops
        return touched


class _AppendOnly:
    """The rows of append-only tables a batch of ``run_batched`` writes -- stage runs, booking templates,
    responses, and (``audit.defer``) audit rows -- held as plain values and inserted in bulk, one statement
    per table, before the batch commits: the same rows with the same ids (each table's rows in the order they
    were added, as flushing them one by one inserted them), without a unit-of-work flush of each, or the
    flushes that the stages' reads triggered for them. Nothing in a batch reads these tables back except
    ``Worker._context`` (a job's earlier stages), and a job's rows are written before that reads them."""

    KEY = "securecomm.workflow.append_only"
    MODELS = (StageRun, BookingTemplate, Response)

    def __init__(self) -> None:
        self.rows: dict[type, list[dict[str, Any]]] = {m: [] for m in self.MODELS}
        self.tcns: set[str] = set()

    @classmethod
    def start(cls, session: Session) -> "_AppendOnly":
        rows = session.info[cls.KEY] = cls()
        audit.defer(session)
        return rows

    @classmethod
    def of(cls, session: Session) -> "_AppendOnly | None":
        return session.info.get(cls.KEY)

    def add(self, model: type, **values: Any) -> None:
        self.rows[model].append(values)
        self.tcns.add(values["tcn"])

    def write(self, session: Session) -> None:
        from sqlalchemy import insert

        for model, rows in self.rows.items():
            if rows:
                session.execute(insert(model), rows)
                rows.clear()
        self.tcns.clear()
        audit.write_deferred(session)


def pin_agencies(session: Session) -> None:
    """Keep every agency row ``session`` loads referenced until the session ends (a batch of
    ``run_batched``, a bulk submission): the identity map holds objects weakly, so ``jurisdictions.agency`` (a
    ``Session.get``) would otherwise read a row that nothing references any more again -- with an
    autoflush -- several times per booking. The same rows of the same transaction: nothing else changes."""
    from sqlalchemy import event

    from securecomm.store.models import Agency

    pinned: list[Agency] = []
    session.info["pinned_agencies"] = pinned

    def keep(_session: Session, instance: object) -> None:
        if isinstance(instance, Agency):
            pinned.append(instance)

    event.listen(session, "loaded_as_persistent", keep)


def _pause(seconds: float, stop: threading.Event, step: float = 0.2) -> None:
    """Sleep up to ``seconds``, ending within ``step`` once ``stop`` is set.

    Not ``stop.wait()``: the SIGTERM handler sets ``stop`` in the main thread, and a handler that runs
    while that thread is inside ``Event.wait`` (holding the event's lock) deadlocks in ``Event.set``.
    """
    end = time.monotonic() + seconds
    while not stop.is_set():
        left = end - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(step, left))


# ----------------------------------------------------------------------------------- reading


def find_key(session: Session, tcn: str) -> str:
    """The store key of a transaction named by its key, or by its TCN when only one sender used it."""
    if session.scalars(select(Transaction.id).where(Transaction.tcn == tcn)).first() is not None:
        return tcn
    keys = session.scalars(select(Transaction.tcn).where(Transaction.sender_tcn == tcn).limit(10)).all()
    if len(keys) == 1:
        return keys[0]
    if keys:
        raise LookupError(f"TCN {tcn!r} was sent by several agencies: name one of {', '.join(sorted(keys))}")
    raise LookupError(f"no transaction with TCN {tcn!r}")


def transaction_status(engine: Engine, tcn: str) -> dict[str, Any]:
    """Everything known about one transaction: state, job, stages, responses, reviews."""
    with Session(engine) as s:
        return status_of(s, tcn)


def status_of(s: Session, tcn: str) -> dict[str, Any]:
    """``transaction_status`` inside the caller's session (the service layer audits in the same one)."""
    tcn = find_key(s, tcn)
    tx = s.scalars(select(Transaction).where(Transaction.tcn == tcn)).one()
    job = s.scalars(select(Job).where(Job.tcn == tcn)).one_or_none()
    runs = s.scalars(select(StageRun).where(StageRun.tcn == tcn).order_by(StageRun.id)).all()
    resp = s.scalars(select(Response).where(Response.tcn == tcn).order_by(Response.id)).all()
    items = s.scalars(select(ReviewItem).where(ReviewItem.tcn == tcn).order_by(ReviewItem.id)).all()
    return {
        "tcn": tx.tcn, "ori": tx.ori, "tot": tx.tot, "state": tx.state, "error": tx.error,
        "received_at": tx.received_at.isoformat(timespec="seconds"),
        "finished_at": tx.finished_at.isoformat(timespec="seconds") if tx.finished_at else None,
        "booking_date": tx.booking_date.isoformat() if tx.booking_date else None,
        "arrest_date": tx.arrest_date.isoformat() if tx.arrest_date else None,
        "captured_at": tx.captured_at.isoformat(timespec="seconds") if tx.captured_at else None,
        "job": None if job is None else {"stage": job.stage, "state": job.state, "attempts": job.attempts,
                                         "last_error": (job.last_error or "").splitlines()[0:1]},
        "stages": [{"stage": r.stage, "status": r.status, "output": r.output, "attempt": r.attempt}
                   for r in runs],
        "responses": [{"kind": r.kind, "recipient": r.recipient, "role": r.recipient_role,
                       "summary": r.summary} for r in resp],
        "reviews": [{"id": i.id, "kind": i.kind, "state": i.state, "decision": i.decision} for i in items],
    }


def responses(engine: Engine, tcn: str) -> list[Response]:
    """The responses sent for one transaction, in the order they were committed."""
    with Session(engine, expire_on_commit=False) as s:
        rows = responses_of(s, tcn)
        s.expunge_all()
        return rows


def responses_of(s: Session, tcn: str) -> list[Response]:
    """``responses`` inside the caller's session."""
    tcn = find_key(s, tcn)
    return list(s.scalars(select(Response).where(Response.tcn == tcn).order_by(Response.id)).all())


# ----------------------------------------------------------------------------------- manual queue

#: What a reviewer may decide, per kind of item.
REVIEW_DECISIONS = {
    "biometric": ("confirm", "reject"),
    "criminal_biometric": ("confirm", "reject"),
    "status": ACTIONS,
}


def review_items(engine: Engine, *, state: str | None = "open") -> list[ReviewItem]:
    """The manual queue (open items by default), oldest first."""
    with Session(engine, expire_on_commit=False) as s:
        rows = review_items_of(s, state=state)
        s.expunge_all()
        return rows


def review_items_of(s: Session, *, state: str | None = "open") -> list[ReviewItem]:
    """``review_items`` inside the caller's session."""
    q = select(ReviewItem).order_by(ReviewItem.id)
    if state:
        q = q.where(ReviewItem.state == state)
    return list(s.scalars(q).all())


def resolve_review(engine: Engine, item_id: int, decision: str, *, reviewer: str, note: str = "",
                   clock: Clock = SYSTEM_CLOCK) -> ReviewItem:
    """Record a human decision and let the waiting transaction go on (in one transaction)."""
    with write_session(engine) as s:
        item = record_review(s, item_id, decision, reviewer=reviewer, note=note, at=clock.now())
        if (item.details or {}).get("merged"):
            _audit_merge(s, reviewer, item)
        _audit(s, reviewer, item, decision)
        s.expunge(item)
        return item


def record_review(s: Session, item_id: int, decision: str, *, reviewer: str, note: str = "",
                  at: dt.datetime) -> ReviewItem:
    """A human decision on a review item inside the caller's transaction (the caller audits it)."""
    item = s.get(ReviewItem, item_id)
    if item is None:
        raise LookupError(f"no review item {item_id}")
    allowed = REVIEW_DECISIONS.get(item.kind, ())
    if decision not in allowed:
        raise ValueError(f"review item {item_id} ({item.kind}) takes one of {', '.join(allowed)}, "
                         f"not {decision!r}")
    if item.state != "open":
        raise ValueError(f"review item {item_id} is already {item.state}")
    if not reviewer.strip():
        raise ValueError("a review decision needs the reviewer's name")
    if item.kind == "status" and decision != NO_ACTION and (item.details or {}).get("removable") is False:
        raise ValueError(f"review item {item_id}: the person is not removable; only no_action is possible")
    if item.kind == consolidation.KIND:  # a consolidation candidate: confirm merges the two subjects
        consolidation.decide(s, item, decision, reviewer=reviewer, note=note, at=at)
        s.flush()
        return item
    item.decision = decision
    item.state = {"confirm": "confirmed", "reject": "rejected"}.get(decision, "resolved")
    item.resolved_by = reviewer.strip()
    item.resolved_at = at
    if note:
        item.details = {**(item.details or {}), "note": note}
    if item.kind in ("biometric", "status"):
        job = s.scalars(select(Job).where(Job.tcn == item.tcn)).one()
        JobQueue.resume(s, item.tcn, job.stage, at=at)
    s.flush()
    return item


def _audit_merge(session: Session, reviewer: str, item: ReviewItem) -> None:
    """The merge a confirmed consolidation candidate made, audited beside the decision."""
    m = item.details["merged"]
    audit.record(session, actor=reviewer, role="examiner", action="merge", object_type="criminal_subject",
                 object_id=m["survivor"], detail=f"UCN {m['merged']} merged into {m['survivor']} "
                 f"({m['arrests_moved']} arrests moved); review item {item.id}")


def _audit(session: Session, reviewer: str, item: ReviewItem, decision: str) -> None:
    """Every review decision is audited in the transaction that records it."""
    audit.record(session, actor=reviewer, role="examiner", action=f"review:{decision}",
                 object_type="transaction", object_id=item.tcn, detail=f"{item.kind} item {item.id}")


# ----------------------------------------------------------------------------------- worker processes


def _worker_process(url: str, config: PipelineConfig, lease_seconds: float, follow: bool = False,
                    threads: int | None = None) -> None:
    """Target of one worker process: its own engine and galleries, until the queue is empty (or, with
    ``follow``, until SIGTERM). ``threads``: the cap on its compute threads (engine.threads)."""
    stop = stop_on_sigterm()  # first: a stop request from now on lets the booking in hand finish
    if stop.is_set():  # stopped while this process was starting: it has taken nothing yet
        return
    from securecomm.store.db import make_engine

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if threads is not None:
        from securecomm.engine import threads as compute_threads

        compute_threads.limit(threads)
    _stop_when_orphaned(stop)
    engine = make_engine(url)
    try:
        # run_workers' caller prepared (verified, topped up and saved) the index before starting us
        galleries = Galleries(index_dir=config.index_dir, verify=False) if config.index_dir else None
        Worker(engine, config, lease_seconds=lease_seconds, galleries=galleries).run(until_empty=not follow,
                                                                                      stop=stop)
    finally:
        engine.dispose()


def _stop_when_orphaned(stop: threading.Event, every: float = 1.0, parent: int | None = None) -> None:
    """Set ``stop`` when the supervising process is gone (killed): the worker finishes the booking in hand and
    exits, instead of following the queue forever beside the supervisor's replacement.

    ``parent``: the supervisor's pid, by default the one multiprocessing recorded when it spawned this process
    -- not ``os.getppid()`` read here: a supervisor killed while this process was still starting has already
    handed it to init by then, and such a worker never noticed (a chaos run left workers following an empty
    queue for minutes after its end).
    """
    import multiprocessing
    import os

    if parent is None:
        spawner = multiprocessing.parent_process()
        parent = spawner.pid if spawner is not None and spawner.pid else os.getppid()

    def watch() -> None:
        while not stop.wait(every):
            if os.getppid() != parent:
                log.warning("supervising process %d is gone; stopping after the booking in hand", parent)
                stop.set()

    threading.Thread(target=watch, name="orphan-watch", daemon=True).start()


def stop_on_sigterm() -> threading.Event:
    """An event set by SIGTERM: the worker finishes the booking in hand, then exits cleanly.

    A SIGTERM already received by a handler that only recorded it (``requests``: the one the CLI installs
    while ``securecomm work`` starts, securecomm.cli) sets the event at once.
    """
    import signal

    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        early = signal.signal(signal.SIGTERM, lambda *_: stop.set())
        if getattr(early, "requests", None):
            stop.set()
    return stop


def worker_processes(supervisor: int) -> list[int]:
    """Process ids of the worker processes a ``work --workers N`` supervisor has running (its spawned
    multiprocessing children; not its WSQ decoder or other helpers). Linux (/proc); [] when it is gone."""
    out = []
    try:
        with open(f"/proc/{supervisor}/task/{supervisor}/children") as f:
            kids = f.read().split()
    except OSError:
        return out
    for kid in kids:
        try:
            with open(f"/proc/{kid}/cmdline", "rb") as f:
                if b"spawn_main" in f.read():
                    out.append(int(kid))
        except OSError:  # ended meanwhile
            pass
    return out


def _work_left(queue: JobQueue) -> bool:
    """Whether jobs remain to run; a database hiccup counts as yes (a replacement worker rides it out)."""
    try:
        return queue.outstanding() > 0
    except DBAPIError:
        return True


def run_workers(engine: Engine, workers: int, config: PipelineConfig | None = None, *, lease_seconds: float = 60.0,
                on_poll: Callable[[dict[str, int]], None] | None = None, poll: float = 0.3,
                follow: bool = False, stop: threading.Event | None = None, max_restarts: int | None = None,
                on_restart: Callable[[int], None] | None = None, threads: int | None = None) -> list[int]:
    """Start ``workers`` worker processes, wait until they have emptied the queue; returns their exit codes.

    A worker that dies (killed, crashed, out of memory) is replaced by a fresh one while jobs remain
    (with ``follow``: until ``stop``), at most ``max_restarts`` times in all (default: 5 per worker, so a
    worker that cannot start -- a broken model -- does not loop); ``on_restart`` gets the dead worker's exit
    code. The codes returned are those of the last process in each slot. With ``follow`` the workers keep
    polling an empty queue until ``stop`` is set; then each finishes the booking in hand (SIGTERM) and
    exits 0. A worker still starting when it is stopped (a replacement just spawned) dies of that SIGTERM
    before its handler is installed: it cannot have held a job yet (the handler comes before its first
    claim), so that stop counts as a clean one (code 0), not as a crash.
    ``on_poll`` gets the queue's counts by state every ``poll`` seconds (for a progress bar).
    ``threads``: compute threads per worker (default: the cores divided among the workers, at least 1,
    so that N workers on N cores do not make their library thread pools compete; engine.threads).
    """
    import multiprocessing as mp
    import os

    from securecomm.engine import threads as compute_threads

    config = config or PipelineConfig()
    url = engine.url.render_as_string(hide_password=False)
    queue = JobQueue(engine)
    ctx = mp.get_context("spawn")
    if config.index_dir:  # checked and brought up to date once here; the workers map it unchecked
        from securecomm.workflow.gallery import prepare_index

        prepare_index(engine, config.index_dir)
    budget = 5 * max(1, workers) if max_restarts is None else max_restarts
    per_worker = int(threads) if threads else compute_threads.per_worker(workers)
    pools = {k: v for k, v in compute_threads.environment(per_worker).items() if k not in os.environ}

    def start():
        p = ctx.Process(target=_worker_process, args=(url, config, lease_seconds, follow, per_worker))
        os.environ.update(pools)  # a spawned process inherits the environment: its pools size themselves
        try:
            p.start()
        finally:
            for k in pools:
                os.environ.pop(k, None)
        return p

    if stop is not None and stop.is_set():  # stopped before anything started
        return []
    procs = [start() for _ in range(max(1, workers))]
    stopping = False
    try:
        while True:
            if stop is not None and stop.is_set() and not stopping:
                stopping = True
                for p in procs:
                    if p.is_alive():
                        p.terminate()  # SIGTERM: finish the booking in hand, then exit
            for i, p in enumerate(procs):
                if p.is_alive() or stopping or budget <= 0:
                    continue
                if p.exitcode == 0 and not follow:
                    continue  # it found the queue empty
                if not follow and not _work_left(queue):
                    continue
                budget -= 1
                log.warning("worker process %d ended with exit code %s; starting a replacement", p.pid, p.exitcode)
                if on_restart is not None:
                    on_restart(int(p.exitcode or 0))
                procs[i] = start()
            if not any(p.is_alive() for p in procs):
                break
            if on_poll is not None:
                _poll(queue, on_poll)
            time.sleep(poll)
    finally:
        for p in procs:
            p.join()
    if on_poll is not None:
        _poll(queue, on_poll)
    return [_exit_code(p.exitcode, stopping) for p in procs]


def _exit_code(code: int | None, stopped: bool) -> int:
    """A worker's exit code as ``run_workers`` reports it: killed by the SIGTERM that stopped it (it was still
    starting, so it held no job) is a clean stop."""
    import signal

    if stopped and code == -signal.SIGTERM:
        return 0
    return int(code or 0)


def _poll(queue: JobQueue, on_poll: Callable[[dict[str, int]], None]) -> None:
    """One progress report; a database hiccup skips it (the workers ride it out on their own)."""
    try:
        counts = queue.counts()
    except DBAPIError as exc:
        log.warning("progress query failed (the workers go on): %s", exc.__class__.__name__)
        return
    on_poll(counts)
