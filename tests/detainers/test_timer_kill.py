"""Durable detainer timers: worker processes (`securecomm work`) SIGKILLed while firing, restarted, and every
timer fired exactly once -- one notice per timer, its audit row, nothing twice -- on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import random
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from securecomm.services import users
from securecomm.store.db import make_sessionmaker, open_store
from securecomm.store.detainer_models import DetainerNotice, DetainerRow, DetainerTimer
from securecomm.store.models import AuditEntry
from securecomm.store.workflow_models import Transaction

DETAINERS = 150  # two timers each: the warning and the expiry notice
MAX_KILLS = 2


def _seed(sessions) -> None:
    now = dt.datetime.now(dt.UTC)
    with sessions() as s:
        for i in range(DETAINERS):
            tcn = f"T-KILL-{i:04d}"
            s.add(Transaction(tcn=tcn, sender_tcn=tcn, ori="MA0130100", tot="CAR", state="done", raw=b"x",
                              sha256=hashlib.sha256(tcn.encode()).hexdigest()))
            s.flush()
            expires = now - dt.timedelta(minutes=DETAINERS - i)  # all due, in order
            row = DetainerRow(tcn=tcn, ori="MA0130100", state_code="MA", county="Suffolk", field_office="Boston",
                              time_zone="America/New_York", kind="detainer", state="honoured", officer="officer",
                              decided_at=expires - dt.timedelta(days=3), release_at=expires - dt.timedelta(days=2),
                              expires_at=expires, answer="honoured", law_name="8 CFR 287.7", law_rule="honour_all",
                              over_held=False, updated_at=now)
            s.add(row)
            s.flush()
            s.add_all([DetainerTimer(detainer_id=row.id, kind="warning", due_at=expires - dt.timedelta(hours=4),
                                     state="pending", fired_by=""),
                       DetainerTimer(detainer_id=row.id, kind="expiry", due_at=expires, state="pending",
                                     fired_by="")])
        s.commit()


def _spawn(db_url: str, log) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "securecomm", "work", "--db", db_url, "--quiet"], stdout=log,
                            stderr=log, env={**os.environ, "PYTHONUNBUFFERED": "1", "SECURECOMM_ACTOR": "root"})


@pytest.mark.slow
def test_sigkilled_workers_fire_every_timer_exactly_once(db_url, tmp_path):
    engine, sessions = open_store(db_url)
    users.bootstrap_admin(sessions, "root")
    _seed(sessions)

    def fired() -> int:
        with Session(engine) as s:
            return s.scalar(select(func.count()).select_from(DetainerTimer).where(DetainerTimer.state == "fired"))

    rng = random.Random(2013)
    log = open(tmp_path / "workers.log", "wb")
    kills = 0
    try:
        while kills < MAX_KILLS and fired() < 2 * DETAINERS:
            proc = _spawn(db_url, log)
            seen, started = fired(), time.monotonic()
            while fired() == seen and proc.poll() is None and time.monotonic() - started < 30:
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.15))  # mid-stream: some timers fired, others not yet
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills += 1
            else:
                break
    finally:
        log.close()
    before_final = fired()
    final = subprocess.run([sys.executable, "-m", "securecomm", "work", "--db", db_url, "--quiet"],
                           capture_output=True, text=True, timeout=120,
                           env={**os.environ, "SECURECOMM_ACTOR": "root"})
    assert final.returncode == 0, final.stdout + final.stderr
    assert kills >= 1 and 0 < before_final < 2 * DETAINERS, (kills, before_final)  # the kills hit mid-stream
    with Session(engine) as s:
        timers = list(s.scalars(select(DetainerTimer)))
        assert {t.state for t in timers} == {"fired"} and len(timers) == 2 * DETAINERS
        notices = {(n.detainer_id, n.kind): n for n in s.scalars(select(DetainerNotice))}
        assert len(notices) == 2 * DETAINERS
        kind = {"warning": "expiry_warning", "expiry": "expiry_notice"}
        for t in timers:  # the notice and the timer's "fired" committed together
            assert notices[(t.detainer_id, kind[t.kind])].created_at == t.fired_at
        audits = s.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "notify", AuditEntry.object_type == "detainer"))
        assert audits == 2 * DETAINERS
    engine.dispose()
