"""The durable job queue: leases, fencing, expiry and retry, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from securecomm.store.db import make_engine, migrate
from securecomm.domain.clock import SYSTEM_CLOCK
from securecomm.store.workflow_models import Job, Response, StageRun, Transaction
from securecomm.workflow.queue import JobQueue, LeaseLost, write_session


@pytest.fixture
def engine(db_url):
    eng = make_engine(db_url)
    migrate(eng)
    yield eng
    eng.dispose()


def _submit(engine, tcn: str, stage: str = "validate", priority: int = 0) -> None:
    raw = tcn.encode()
    with write_session(engine) as s:
        s.add(Transaction(tcn=tcn, ori="MA0130100", tot="CAR", state="received", raw=raw,
                          sha256=hashlib.sha256(raw).hexdigest()))
        s.flush()
        JobQueue.enqueue(s, tcn, stage, priority=priority)


def test_migration_builds_workflow_schema_with_constraints(engine):
    _submit(engine, "T1")
    with pytest.raises(Exception):
        _submit(engine, "T1")  # TCN unique
    with write_session(engine) as s:
        s.add(Response(tcn="T1", kind="SRE", recipient="MA0130100", recipient_role="ori", format="nist",
                       payload=b"x"))
    with pytest.raises(Exception):
        with write_session(engine) as s:
            s.add(Response(tcn="T1", kind="SRE", recipient="MA0130100", recipient_role="ori",
                           format="nist", payload=b"y"))
    with pytest.raises(Exception):
        with write_session(engine) as s:
            s.add(Response(tcn="T1", kind="XYZ", recipient="A", recipient_role="ori", format="nist",
                           payload=b"y"))


def test_claim_advance_and_finish(engine):
    q = JobQueue(engine, owner="w1", lease_seconds=30)
    _submit(engine, "T1")
    _submit(engine, "T2")
    lease = q.claim()
    assert lease is not None and lease.tcn == "T1" and lease.stage == "validate" and lease.attempts == 1
    second = q.claim()
    assert second is not None and second.tcn == "T2"  # T1 is leased: skipped, not waited on
    assert q.claim() is None
    with write_session(engine) as s:
        s.add(StageRun(tcn="T1", stage="validate", status="done", output={"ok": True}))
        nxt = q.advance(s, lease, next_stage="extract")
    assert nxt is not None and nxt.stage == "extract" and nxt.token == lease.token
    with write_session(engine) as s:
        assert q.advance(s, nxt, next_stage=None, state="done") is None
    with Session(engine) as s:
        job = s.scalars(select(Job).where(Job.tcn == "T1")).one()
        assert job.state == "done" and job.lease_token is None
    assert q.counts() == {"done": 1, "ready": 1}
    assert q.outstanding() == 1


def test_expired_lease_is_taken_over_and_the_old_holder_cannot_commit(engine):
    slow = JobQueue(engine, owner="slow", lease_seconds=30)
    fast = JobQueue(engine, owner="fast", lease_seconds=30)
    _submit(engine, "T1")
    old = slow.claim()
    assert old is not None
    assert fast.claim() is None
    with write_session(engine) as s:  # the slow worker was killed: its lease runs out
        s.execute(update(Job).values(lease_expires_at=SYSTEM_CLOCK.now() - dt.timedelta(seconds=1)))
    new = fast.claim()
    assert new is not None and new.tcn == "T1" and new.token != old.token and new.attempts == 2
    with pytest.raises(LeaseLost):
        with write_session(engine) as s:
            s.add(StageRun(tcn="T1", stage="validate", status="done", output={"by": "slow"}))
            slow.advance(s, old, next_stage="extract")
    with write_session(engine) as s:
        s.add(StageRun(tcn="T1", stage="validate", status="done", output={"by": "fast"}))
        fast.advance(s, new, next_stage="extract")
    with Session(engine) as s:
        runs = s.scalars(select(StageRun)).all()
        assert [r.output["by"] for r in runs] == ["fast"]  # the loser's effects rolled back
        assert s.scalars(select(Job)).one().stage == "extract"
    with pytest.raises(LeaseLost):
        slow.extend(old)


def test_failures_back_off_then_give_up(engine):
    q = JobQueue(engine, owner="w", lease_seconds=30, max_attempts=2)
    _submit(engine, "T1")
    lease = q.claim()
    assert q.fail(lease, "boom", retry_in=0.0) == "ready"
    lease = q.claim()
    assert lease is not None and lease.attempts == 2
    assert q.fail(lease, "boom again", retry_in=0.0) == "parked"
    assert q.claim() is None
    with Session(engine) as s:
        job = s.scalars(select(Job)).one()
        assert job.state == "parked" and job.last_error == "boom again"


def test_waiting_job_resumes_only_when_told(engine):
    q = JobQueue(engine, owner="w", lease_seconds=30)
    _submit(engine, "T1")
    lease = q.claim()
    with write_session(engine) as s:
        q.advance(s, lease, next_stage="review", state="waiting")
    assert q.claim() is None and q.outstanding() == 0
    with write_session(engine) as s:
        q.resume(s, "T1", "iaq")
    lease = q.claim()
    assert lease is not None and lease.stage == "iaq"
    with pytest.raises(ValueError):
        with write_session(engine) as s:
            q.resume(s, "T1", "iaq")  # not waiting any more


def test_concurrent_claims_never_share_a_job(engine):
    for i in range(12):
        _submit(engine, f"T{i:02d}")
    got: list[str] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        q = JobQueue(engine, owner=f"w{n}", lease_seconds=30)
        while (lease := q.claim()) is not None:
            with lock:
                got.append(lease.tcn)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == [f"T{i:02d}" for i in range(12)]


def test_a_job_that_keeps_killing_its_workers_is_parked(engine):
    q = JobQueue(engine, owner="w", lease_seconds=30, max_attempts=3)
    _submit(engine, "POISON")
    _submit(engine, "OK")
    for _ in range(3):  # three workers die holding it: their leases simply run out
        lease = q.claim()
        assert lease.tcn == "POISON"
        with write_session(engine) as s:
            s.execute(update(Job).where(Job.tcn == "POISON")
                      .values(lease_expires_at=SYSTEM_CLOCK.now() - dt.timedelta(seconds=1)))
    lease = q.claim()
    assert lease is not None and lease.tcn == "OK"
    with Session(engine) as s:
        job = s.scalars(select(Job).where(Job.tcn == "POISON")).one()
        assert job.state == "failed" and "abandoned 3 times" in job.last_error


def test_a_deferred_chain_leaves_the_row_the_stage_by_stage_advances_leave(engine):
    """Worker.run_batched writes a job's row once per chain (JobQueue.advance_deferred, AdvanceChain.write):
    the same stage, state, attempts, owner, expiry and error as one advance per stage, fenced on the claim."""
    import datetime as dt

    from securecomm.domain.clock import FixedClock
    from securecomm.workflow.queue import AdvanceChain

    clock = FixedClock(SYSTEM_CLOCK.now() + dt.timedelta(minutes=1))  # the jobs are available by then
    q = JobQueue(engine, owner="w1", lease_seconds=30, clock=clock)
    steps = [("sre", "ready"), ("immigration_search", "ready"), (None, "done")]
    for tcn in ("STEP", "CHAIN", "WAIT1", "WAIT2"):
        _submit(engine, tcn, "criminal_search")
    with write_session(engine) as s:  # one stage per advance
        lease = q.claim_in(s)
        assert lease.tcn == "STEP"
        for nxt, state in steps:
            lease = q.advance(s, lease, next_stage=nxt, state=state)
    with write_session(engine) as s:  # the same stages, one write
        lease = q.claim_in(s)
        assert lease.tcn == "CHAIN"
        chain = AdvanceChain.start(lease)
        leases = []
        for nxt, state in steps:
            lease = q.advance_deferred(chain, lease, next_stage=nxt, state=state)
            leases.append(lease)
        assert leases[-1] is None and leases[0].stage == "sre" and leases[0].attempts == 1
        chain.write(s)
    # a chain of one stage that parks the job keeps the claim's attempt count (as advance does)
    for tcn, deferred in (("WAIT1", False), ("WAIT2", True)):
        with write_session(engine) as s:
            lease = q.claim_in(s)
            assert lease.tcn == tcn
            if deferred:
                chain = AdvanceChain.start(lease)
                q.advance_deferred(chain, lease, next_stage="idr", state="waiting")
                chain.write(s)
            else:
                q.advance(s, lease, next_stage="idr", state="waiting")

    def row(tcn):
        with Session(engine) as s:
            j = s.scalars(select(Job).where(Job.tcn == tcn)).one()
            return (j.stage, j.state, j.attempts, j.lease_token, j.lease_owner, j.lease_expires_at, j.last_error,
                    j.updated_at)

    assert row("CHAIN") == row("STEP") == ("immigration_search", "done", 1, None, None, None, None, row("STEP")[-1])
    assert row("WAIT2") == row("WAIT1") and row("WAIT1")[:3] == ("idr", "waiting", 1)


def test_a_deferred_chain_is_fenced_on_its_claim(engine):
    """The chain's one write is refused (LeaseLost) when the claim is no longer the job's holder, and a lease
    of another job or stage cannot be advanced through it."""
    from securecomm.workflow.queue import AdvanceChain

    q = JobQueue(engine, owner="w1", lease_seconds=30)
    _submit(engine, "F1", "criminal_search")
    _submit(engine, "F2", "criminal_search")
    with write_session(engine) as s:
        lease = q.claim_in(s)
        other = q.claim_in(s)
        chain = AdvanceChain.start(lease)
        with pytest.raises(LeaseLost):
            q.advance_deferred(chain, other, next_stage="sre")
        q.advance_deferred(chain, lease, next_stage="sre")
        s.execute(update(Job).where(Job.id == lease.job_id).values(lease_token="taken-over"))
        with pytest.raises(LeaseLost):
            chain.write(s)


def test_claims_take_higher_priority_first_then_submission_order_skipping_backed_off_jobs(engine):
    q = JobQueue(engine, owner="w1", lease_seconds=30)
    now = SYSTEM_CLOCK.now()
    for tcn, priority in (("A", 0), ("B", 5), ("C", 0), ("D", 5)):
        _submit(engine, tcn, priority=priority)
    with write_session(engine) as s:  # B backs off: the claim passes over it, not waits on it
        s.execute(update(Job).where(Job.tcn == "B").values(available_at=now + dt.timedelta(hours=1)))
    assert [q.claim().tcn for _ in range(3)] == ["D", "A", "C"]
    assert q.claim() is None


def test_a_claim_reads_the_ready_rows_in_its_own_order_from_an_index(tmp_path):
    """The claim's query must not sort the whole queue: with 10^5 submitted bookings that sort cost
    milliseconds a claim and grew with the queue (migration 0009). SQLite's plan: PostgreSQL chooses
    by its statistics."""
    from securecomm.workflow.queue import _PICK

    engine = make_engine(f"sqlite:///{tmp_path / 'q.db'}")
    migrate(engine)
    sql = str(_PICK.compile(engine, compile_kwargs={"literal_binds": False}))
    now = SYSTEM_CLOCK.now()
    with engine.connect() as conn:
        plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}",
                                                                      ("ready", now, now, 1, 0)))
    assert "ix_jobs_claim_order" in plan and "TEMP B-TREE" not in plan, plan
    engine.dispose()
