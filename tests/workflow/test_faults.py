"""Infrastructure faults are not input errors: they are retried (then parked), never answered with an ERRT.

* PostgreSQL: the worker's own connection is terminated (``pg_terminate_backend``) in the middle of
  stages -- while validating (a stage that reads the submitted bytes, where an unexpected error used
  to become an ERRT on the last attempt), while searching, inside the commit transaction and inside a
  light stage. The booking must finish exactly once, with no ERRT, and the dropped connections must
  not use up its attempts.
* The WSQ decoder process killed from outside (the OOM killer's SIGKILL) or hanging is the machine's
  trouble (``DecoderUnavailable``), not "corrupt WSQ"; a decoder that aborts on the data still is.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import numpy as np
import psycopg
import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from securecomm.interchange import images
from securecomm.interchange.errors import DecoderUnavailable
from securecomm.store.models import ArrestRow
from securecomm.store.workflow_models import Job, Response, StageRun, Transaction
from securecomm.workflow import stages
from securecomm.workflow.pipeline import Worker, submit
from securecomm.workflow.stages import PipelineConfig

CONFIG = PipelineConfig(min_fingers=2)


def _terminate(session: Session, db_url: str) -> int:
    """Kill the server process behind ``session``'s connection, from another connection."""
    pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
    conninfo = db_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    return pid


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_dropped_connections_mid_stage_are_retried_and_the_booking_completes_once(store, scenario, db_url,
                                                                                   monkeypatch):
    plan = Counter({"validate": 2, "criminal_search": 1, "commit": 1, "sre": 1})  # terminations per place
    killed: list[str] = []
    real = dict(stages.RUNNERS)

    def faulty(stage):
        def run(ctx):
            if plan[stage] > 0:
                plan[stage] -= 1
                killed.append(f"{stage}:{_terminate(ctx.session, db_url)}")
            outcome = real[stage](ctx)  # its next query meets the dead connection
            if stage == "criminal_search" and outcome.apply is not None:
                apply = outcome.apply

                def dying_apply(session):
                    if plan["commit"] > 0:
                        plan["commit"] -= 1
                        killed.append(f"commit:{_terminate(session, db_url)}")
                    return apply(session)
                outcome.apply = dying_apply
            return outcome
        return run

    for stage in ("validate", "criminal_search", "sre"):
        monkeypatch.setitem(stages.RUNNERS, stage, faulty(stage))
    tcn = submit(store, scenario.bookings["b1_overstay"]).tcn
    worker = Worker(store, CONFIG, lease_seconds=30, max_attempts=2)  # two attempts: fewer than the drops
    worker.database_backoff = (0.0, 0.0)  # no waiting between database errors
    for _ in range(40):  # back-offs are honoured; skip them between runs
        worker.run(until_empty=True, poll=0.01)
        with Session(store) as s:
            if s.scalar(select(Job.state).where(Job.tcn == tcn)) != "ready":
                break
        _skip_backoff(store)
    assert len(killed) == 5 and not +plan, (killed, plan)
    with Session(store) as s:
        job = s.scalars(select(Job).where(Job.tcn == tcn)).one()
        tx = s.scalars(select(Transaction).where(Transaction.tcn == tcn)).one()
        kinds = Counter(s.execute(select(Response.kind, Response.recipient).where(Response.tcn == tcn)).all())
        runs = Counter(s.scalars(select(StageRun.stage).where(StageRun.tcn == tcn)).all())
        arrests = s.scalars(select(ArrestRow.tcn).where(ArrestRow.tcn == tcn)).all()
    assert job.state == "done" and tx.state == "done", (job.state, job.last_error)
    assert not any(kind == "ERRT" for kind, _ in kinds)  # never the submitter's fault
    assert max(kinds.values()) == 1 and {k for k, _ in kinds} == {"SRE", "IDR", "IAQ", "IAR"}
    assert max(runs.values()) == 1 and len(runs) == 9  # every stage recorded exactly once
    assert arrests == [tcn]  # on one rap sheet, once


def _skip_backoff(engine) -> None:
    from sqlalchemy import update

    from securecomm.domain.clock import SYSTEM_CLOCK

    with Session(engine) as s, s.begin():
        s.execute(update(Job).where(Job.state == "ready").values(available_at=SYSTEM_CLOCK.now()))


# ----------------------------------------------------------------------------------- the WSQ decoder

_FAKE = {
    "killed": "import os, signal, sys; sys.stdin.buffer.read(4); os.kill(os.getpid(), signal.SIGKILL)",
    "hung": "import sys, time; sys.stdin.buffer.read(4); time.sleep(60)",
    "aborted": "import os, sys; sys.stdin.buffer.read(4); os.abort()",
}


def _fake_decoder(monkeypatch, behaviour: str) -> None:
    def start(self):
        return subprocess.Popen([sys.executable, "-c", _FAKE[behaviour]], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    monkeypatch.setattr(images._WsqWorker, "_start", start)


def _wsq() -> bytes:
    rng = np.random.default_rng(1)
    return images.encode_wsq(rng.integers(0, 255, (64, 64), dtype=np.uint8))


def test_a_killed_or_hung_decoder_is_the_machines_trouble_not_corrupt_data(monkeypatch):
    data = _wsq()
    for behaviour in ("killed", "hung"):
        _fake_decoder(monkeypatch, behaviour)
        worker = images._WsqWorker()
        with pytest.raises(DecoderUnavailable):
            worker.decode(data, timeout=2.0)
        worker.close()
    _fake_decoder(monkeypatch, "aborted")  # the decoder itself gave up on the bytes: that is the data
    worker = images._WsqWorker()
    with pytest.raises(images.ImageDecodeError, match="corrupt"):
        worker.decode(data, timeout=5.0)
    worker.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_booking_whose_decoder_is_killed_is_parked_not_rejected(store, scenario, monkeypatch):
    monkeypatch.setattr(images, "_WORKER", images._WsqWorker())
    _fake_decoder(monkeypatch, "killed")
    monkeypatch.setattr(stages, "_CACHE", type(stages._CACHE)())
    tcn = submit(store, scenario.bookings["b2_citizen"]).tcn
    worker = Worker(store, CONFIG, lease_seconds=30, max_attempts=2)
    for _ in range(5):
        worker.run(until_empty=True, poll=0.01)
        _skip_backoff(store)
    with Session(store) as s:
        job = s.scalars(select(Job).where(Job.tcn == tcn)).one()
        tx = s.scalars(select(Transaction).where(Transaction.tcn == tcn)).one()
        sent = s.scalars(select(Response.kind).where(Response.tcn == tcn)).all()
    assert job.state == "parked" and "DecoderUnavailable" in job.last_error
    assert tx.state == "received" and sent == []  # no ERRT, nothing claimed about the image


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_stage_past_its_deadline_commits_nothing_and_its_job_goes_on(store, scenario, monkeypatch):
    import threading
    import time

    real = stages.RUNNERS["extract"]
    calls = []

    def slow_once(ctx):
        calls.append(threading.current_thread().name)
        if len(calls) == 1:
            time.sleep(2.5)  # hangs well past the 0.5 s deadline and the 1 s lease
        return real(ctx)

    monkeypatch.setitem(stages.RUNNERS, "extract", slow_once)
    tcn = submit(store, scenario.bookings["b2_citizen"]).tcn
    config = PipelineConfig(min_fingers=2, stage_deadline=0.5)
    hung = threading.Thread(target=Worker(store, config, lease_seconds=1.0).step, name="hung")
    hung.start()
    time.sleep(1.8)  # the hung worker's lease was let go at the deadline and has run out
    other = Worker(store, config, lease_seconds=1.0)
    other.run(until_empty=True, poll=0.05)  # another worker takes the job over and finishes it
    hung.join(30)
    with Session(store) as s:
        runs = {r.stage: r for r in s.scalars(select(StageRun).where(StageRun.tcn == tcn))}
        job = s.scalars(select(Job).where(Job.tcn == tcn)).one()
        sent = s.scalars(select(Response.kind).where(Response.tcn == tcn)).all()
    assert calls[0] == "hung" and len(calls) == 2
    assert job.state == "done" and runs["extract"].worker == other.queue.owner  # the late result was dropped
    assert "ERRT" not in sent and sent.count("SRE") == 2
