"""Detainer figures: hold-clock computations per second, and timers fired per second on a store.

    .venv/bin/python benchmarks/bench_detainers.py [--db URL] [--timers 500]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import tempfile
import time
from zoneinfo import ZoneInfo

from securecomm.domain.hold_clock import hold_expiry
from securecomm.policy.detainers import calendar_for
from securecomm.store.db import open_store
from securecomm.store.detainer_models import DetainerRow, DetainerTimer
from securecomm.store.workflow_models import Transaction
from securecomm.workflow.detainers import fire_due


def clock_rate(n: int = 20000) -> float:
    cal = calendar_for(zone=ZoneInfo("America/New_York"), state="MA", county="Suffolk")
    start = dt.datetime(2012, 1, 1, tzinfo=dt.UTC)
    t = time.perf_counter()
    for i in range(n):
        hold_expiry(start + dt.timedelta(hours=7 * i), cal)
    return n / (time.perf_counter() - t)


def timer_rate(url: str, n: int) -> float:
    engine, sessions = open_store(url)
    now = dt.datetime.now(dt.UTC)
    with sessions() as s:
        for i in range(n):
            tcn = f"B-{i:05d}"
            s.add(Transaction(tcn=tcn, sender_tcn=tcn, ori="MA0130100", tot="CAR", state="done", raw=b"x",
                              sha256=hashlib.sha256(tcn.encode()).hexdigest()))
            s.flush()
            row = DetainerRow(tcn=tcn, ori="MA0130100", state_code="MA", time_zone="America/New_York",
                              kind="detainer", state="honoured", officer="o", decided_at=now, expires_at=now,
                              updated_at=now)
            s.add(row)
            s.flush()
            s.add(DetainerTimer(detainer_id=row.id, kind="expiry", due_at=now, state="pending", fired_by=""))
        s.commit()
    t = time.perf_counter()
    fired = fire_due(engine, limit=n)
    rate = len(fired) / (time.perf_counter() - t)
    engine.dispose()
    return rate


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default=None)
    ap.add_argument("--timers", type=int, default=500)
    a = ap.parse_args()
    print(f"hold_expiry: {clock_rate():,.0f} per second")
    url = a.db or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    print(f"timers fired ({url.split(':')[0]}): {timer_rate(url, a.timers):,.0f} per second")
