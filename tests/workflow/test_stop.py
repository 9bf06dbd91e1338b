"""Stopping: ``securecomm work`` ends promptly on SIGTERM while it only waits -- for a job in retry back-off,
or for the database to come back -- and the job in back-off is left as it was, for the next worker."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from securecomm.store.workflow_models import Job
from securecomm.workflow.pipeline import Worker, submit
from securecomm.workflow.queue import JobQueue
from securecomm.workflow.stages import PipelineConfig

#: How long a waiting worker may take to notice a stop request. The waits in these tests are 300 s
#: (retry back-off) and 120 s (database back-off); a worker that finishes its wait first fails them.
PROMPT = 30.0


@contextlib.contextmanager
def _work(tmp_path, *args: str) -> Iterator[subprocess.Popen]:
    """``securecomm work ARGS`` as a subprocess logging to ``tmp_path/work.log``; killed if still running when
    the block ends."""
    with open(tmp_path / "work.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "securecomm", "work", *args], stdout=log, stderr=log,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_a_stop_request_ends_the_database_back_off_at_once(store):
    worker = Worker(store, PipelineConfig(min_fingers=2), lease_seconds=30)
    worker.database_backoff = (120.0, 120.0)  # the wait after a database error
    failing = threading.Event()

    def claim():
        failing.set()
        raise OperationalError("SELECT", {}, Exception("server closed the connection unexpectedly"))

    worker.queue.claim = claim  # type: ignore[method-assign]
    stop = threading.Event()
    result: list[int] = []
    runner = threading.Thread(target=lambda: result.append(worker.run(until_empty=False, stop=stop)), daemon=True)
    runner.start()
    assert failing.wait(30)
    time.sleep(0.2)  # the worker is now in its back-off wait
    stop.set()
    runner.join(PROMPT)
    assert not runner.is_alive(), "the worker slept through its stop request"
    assert result == [0]


def test_sigterm_stops_work_while_its_only_job_is_in_retry_back_off(store, scenario, db_url, tmp_path):
    """`work` (until the queue is empty) waits for a job in retry back-off; SIGTERM must end that wait."""
    tcn = submit(store, scenario.bookings["b2_citizen"]).tcn
    queue = JobQueue(store, lease_seconds=30)
    lease = queue.claim()
    assert lease is not None and lease.tcn == tcn
    assert queue.fail(lease, "RuntimeError: a stage failed", retry_in=300.0) == "ready"  # back in 300 s
    # a truncated copy under its own TCN: answered by an ERRT at once; when it is, the worker is up and waiting
    bad = scenario.bookings["b2_citizen"][:700].replace(scenario.tcns["b2_citizen"].encode(),
                                                        b"MA0130100-20120602-S001")
    bad_tcn = submit(store, bad).tcn
    with _work(tmp_path, "--db", db_url, "--lease", "30", "--min-fingers", "2", "--quiet") as proc:
        with Session(store) as s:
            deadline = time.monotonic() + 120
            while s.scalar(select(Job.state).where(Job.tcn == bad_tcn)) != "done":
                assert proc.poll() is None and time.monotonic() < deadline, \
                    (tmp_path / "work.log").read_text()[-2000:]
                time.sleep(0.1)
                s.expire_all()
        time.sleep(0.5)  # now only waiting for the job in back-off
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=PROMPT)
    assert code == 0, (tmp_path / "work.log").read_text()[-2000:]
    with Session(store) as s:
        job = s.scalars(select(Job).where(Job.tcn == tcn)).one()
    assert (job.state, job.stage, job.attempts, job.lease_token) == ("ready", "validate", 1, None)


def _catches_sigterm(pid: int) -> bool:
    """Whether process ``pid`` has a SIGTERM handler installed (Linux: SigCgt in /proc/<pid>/status)."""
    with open(f"/proc/{pid}/status") as f:
        caught = next(line for line in f if line.startswith("SigCgt:")).split()[1]
    return bool(int(caught, 16) & (1 << (signal.SIGTERM - 1)))


def test_workers_stopped_while_still_starting_count_as_a_clean_stop(store):
    """A worker process stopped before its SIGTERM handler is installed (spawned a moment ago: a chaos run's
    replacement, or a stop right after start) dies of the signal; it held no job, so the stop is clean."""
    from securecomm.workflow.pipeline import run_workers

    stop = threading.Event()
    timer = threading.Timer(0.1, stop.set)  # the spawned workers are still importing
    timer.start()
    try:
        codes = run_workers(store, 2, PipelineConfig(min_fingers=2), lease_seconds=30, follow=True, stop=stop)
    finally:
        timer.cancel()
    assert codes == [0, 0]


def test_sigterm_while_work_starts_stops_it_cleanly(store, db_url, tmp_path):
    """`work --workers 2 --follow` stopped the moment it can take a signal -- before its worker processes are
    up -- exits 0 (it used to report the workers' deaths by that SIGTERM as a failure, exit status 1)."""
    with _work(tmp_path, "--db", db_url, "--workers", "2", "--follow", "--quiet") as proc:
        deadline = time.monotonic() + 60
        while not _catches_sigterm(proc.pid):
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "work.log").read_text()
            time.sleep(0.005)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=PROMPT)
    assert code == 0, (tmp_path / "work.log").read_text()[-2000:]


def test_a_worker_orphaned_before_it_started_watching_stops():
    """The orphan watch compares the parent it was given (the supervisor multiprocessing spawned it from) with
    the current one: a worker whose supervisor died while it was still starting stops too."""
    from securecomm.workflow.pipeline import _stop_when_orphaned

    stop = threading.Event()
    dead_supervisor = 2**22 + 12345  # not our parent: as if ours had died and we were handed to init
    _stop_when_orphaned(stop, every=0.05, parent=dead_supervisor)
    assert stop.wait(PROMPT)
    quiet = threading.Event()
    _stop_when_orphaned(quiet, every=0.05, parent=os.getppid())  # a live parent: no stop
    assert not quiet.wait(0.3)
    quiet.set()  # ends the watch thread
