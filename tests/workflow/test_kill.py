"""Durability: real worker processes SIGKILLed at random moments, restarted, and every booking still
finishes exactly once -- one SRE per recipient, at most one IDR, exactly one IAQ and IAR where expected.

Runs ``python -m securecomm work`` subprocesses against SQLite and PostgreSQL with a short lease, so a
killed worker's job is taken over within seconds.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from securecomm.store.models import ArrestRow
from securecomm.store.workflow_models import Job, Response, StageRun, Transaction
from securecomm.workflow.pipeline import submit, worker_processes
from securecomm.workflow.queue import JobQueue

LEASE = "1.5"
CHAOS_SECONDS = 20.0
MAX_KILLS = 4


def _spawn(db_url: str, log) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "securecomm", "work", "--db", db_url, "--lease", LEASE, "--min-fingers", "2",
           "--quiet"]
    return subprocess.Popen(cmd, stdout=log, stderr=log, env={**os.environ, "PYTHONUNBUFFERED": "1"})


@pytest.mark.slow
def test_sigkilled_workers_finish_every_booking_exactly_once(store, scenario, db_url, tmp_path):
    bookings = list(scenario.bookings.values()) + [raw for _, raw in scenario.extra_bookings]
    bad = scenario.bookings["b2_citizen"][:700]  # a truncated copy under a new TCN: must end as one ERRT
    bad = bad.replace(scenario.tcns["b2_citizen"].encode(), b"MA0130100-20120602-K999")
    tcns = [submit(store, raw).tcn for raw in bookings]
    bad_tcn = submit(store, bad).tcn
    queue = JobQueue(store)
    rng = random.Random(20121)
    log = open(tmp_path / "workers.log", "wb")
    procs: list[subprocess.Popen] = []
    kills = 0

    def committed() -> int:
        with Session(store) as s:
            return s.scalar(select(func.count()).select_from(StageRun))

    deadline = time.monotonic() + CHAOS_SECONDS
    try:
        while time.monotonic() < deadline and kills < MAX_KILLS and queue.outstanding() > 0:
            procs = [p for p in procs if p.poll() is None]
            while len(procs) < 2:
                procs.append(_spawn(db_url, log))
            # wait until the workers are busy committing stages, then kill one at a random moment
            seen = committed()
            busy_by = time.monotonic() + 10
            while committed() == seen and time.monotonic() < busy_by:
                time.sleep(0.1)
            time.sleep(rng.uniform(0.0, 0.5))  # soon enough that a fast store still sees two kills
            victim = rng.choice(procs)
            if victim.poll() is None:
                victim.send_signal(signal.SIGKILL)
                victim.wait()
                kills += 1
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.wait()
    left = queue.outstanding()
    t_final = time.monotonic()
    # restart once more and let it finish; jobs of the killed workers are taken over when their leases end
    final = subprocess.run([sys.executable, "-m", "securecomm", "work", "--db", db_url, "--lease", LEASE,
                            "--min-fingers", "2", "--quiet"], stdout=log, stderr=log, timeout=240)
    log.close()
    assert final.returncode == 0, (tmp_path / "workers.log").read_text()[-3000:]
    assert kills >= 2
    print(f"kills={kills} outstanding after chaos={left} final run {time.monotonic() - t_final:.1f}s")

    with Session(store) as s:
        jobs = dict(s.execute(select(Job.tcn, Job.state)).all())
        assert all(jobs[t] in ("done", "waiting") for t in tcns), Counter(jobs.values())
        assert jobs[bad_tcn] == "done"
        resp = Counter(s.execute(select(Response.tcn, Response.kind)).all())
        per_recipient = Counter(s.execute(select(Response.tcn, Response.kind, Response.recipient)).all())
        assert max(per_recipient.values()) == 1
        states = dict(s.execute(select(Transaction.tcn, Transaction.state)).all())
        outputs = {(r.tcn, r.stage): r for r in s.scalars(select(StageRun))}
        arrests = Counter(s.scalars(select(ArrestRow.tcn).where(ArrestRow.tcn.in_(tcns))).all())
    assert states[bad_tcn] == "rejected" and resp[(bad_tcn, "ERRT")] == 1
    assert sum(n for (t, _), n in resp.items() if t == bad_tcn) == 1
    for tcn in tcns:
        assert arrests[tcn] == 1, tcn  # on exactly one rap sheet
        assert resp[(tcn, "SRE")] == 2, tcn  # agency + state bureau
        imm = outputs[(tcn, "immigration_search")]
        if imm.status == "skipped":
            assert resp[(tcn, "IDR")] == 0 and states[tcn] == "done"
            continue
        if imm.status == "review":  # examiner-review band: nothing leaves before a person decides
            assert jobs[tcn] == "waiting" and resp[(tcn, "IDR")] == 0 and resp[(tcn, "IAQ")] == 0, tcn
            continue
        assert resp[(tcn, "IDR")] == 2
        matched = outputs[(tcn, "idr")].output["match"]
        assert resp[(tcn, "IAQ")] == (1 if matched else 0), tcn
        if not matched:
            assert states[tcn] == "done"
        elif jobs[tcn] == "waiting":  # a person must decide (protected): no IAR yet
            assert resp[(tcn, "IAR")] == 0 and outputs[(tcn, "status_determination")].status == "review"
        else:
            assert resp[(tcn, "IAR")] == 3 and states[tcn] == "done", tcn
    assert sum(1 for t in tcns if resp[(t, "IAQ")]) >= 3  # the overstay is booked several times


def test_sigterm_stops_a_worker_cleanly_between_bookings(store, scenario, db_url, tmp_path):
    tcns = [submit(store, raw).tcn for raw in scenario.bookings.values()]
    log = open(tmp_path / "worker.log", "wb")
    proc = _spawn(db_url, log)
    with Session(store) as s:
        deadline = time.monotonic() + 60
        while s.scalar(select(func.count()).select_from(StageRun)) == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
            s.expire_all()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 0, (tmp_path / "worker.log").read_text()[-2000:]
    log.close()
    with Session(store) as s:
        held = s.scalar(select(func.count()).select_from(Job).where(Job.lease_token.is_not(None),
                                                                      Job.state == "ready"))
        finished = s.scalar(select(func.count()).select_from(Job).where(Job.state.in_(("done", "waiting"))))
    assert held == 0  # the booking in hand was finished, nothing left leased
    assert 1 <= finished <= len(tcns)


def _wait_finished(store, tcns, timeout: float = 240.0) -> dict[str, str]:
    with Session(store) as s:
        deadline = time.monotonic() + timeout
        while True:
            jobs = dict(s.execute(select(Job.tcn, Job.state).where(Job.tcn.in_(tcns))).all())
            if len(jobs) == len(tcns) and all(v in ("done", "waiting") for v in jobs.values()):
                return jobs
            if time.monotonic() > deadline:
                raise AssertionError(f"not finished: {Counter(jobs.values())}")
            time.sleep(0.2)
            s.expire_all()


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the back ends' kill paths: test above, bench soak
def test_supervisor_replaces_killed_workers_and_follows_the_queue(store, scenario, db_url, tmp_path):
    """`work --workers 2 --follow`: both worker processes SIGKILLed mid-queue are replaced and every booking
    finishes (before: the supervisor returned with the queue unfinished, exit codes [-9, -9]); a booking
    submitted to the idle service is processed; SIGTERM stops it cleanly."""
    tcns = [submit(store, raw).tcn for raw in scenario.bookings.values()]
    tcns += [submit(store, raw).tcn for _, raw in scenario.extra_bookings]
    log = open(tmp_path / "work.log", "wb")
    sup = subprocess.Popen([sys.executable, "-m", "securecomm", "work", "--workers", "2", "--follow", "--db",
                            db_url, "--lease", LEASE, "--min-fingers", "2", "--quiet"], stdout=log, stderr=log,
                           env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        with Session(store) as s:  # wait for the first committed stage: the workers are at work
            deadline = time.monotonic() + 120
            while s.scalar(select(func.count()).select_from(StageRun)) == 0 and time.monotonic() < deadline:
                assert sup.poll() is None, (tmp_path / "work.log").read_text()[-3000:]
                time.sleep(0.1)
                s.expire_all()
        victims = worker_processes(sup.pid)
        assert len(victims) == 2, victims
        for pid in victims:
            os.kill(pid, signal.SIGKILL)
        _wait_finished(store, tcns)
        late = scenario.bookings["b2_citizen"].replace(scenario.tcns["b2_citizen"].encode(),
                                                        b"MA0130100-20120602-L001")
        late_tcn = submit(store, late).tcn
        _wait_finished(store, [late_tcn])
        assert sup.poll() is None  # still following the queue
        sup.send_signal(signal.SIGTERM)
        assert sup.wait(timeout=120) == 0, (tmp_path / "work.log").read_text()[-3000:]
    finally:
        if sup.poll() is None:
            sup.kill()
            sup.wait()
        log.close()
    text = (tmp_path / "work.log").read_text()
    assert "2 worker process(es) died (exit codes [-9, -9]) and were replaced" in text, text[-2000:]
    with Session(store) as s:
        per_recipient = Counter(s.execute(select(Response.tcn, Response.kind, Response.recipient)).all())
        held = s.scalar(select(func.count()).select_from(Job).where(Job.lease_token.is_not(None)))
    assert max(per_recipient.values()) == 1
    assert held == 0
