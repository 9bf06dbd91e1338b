"""The job claim's cost against the length of the queue (SQLite and PostgreSQL).

    .venv/bin/python benchmarks/bench_queue_claim.py --jobs 1000 10000 100000
    .venv/bin/python benchmarks/bench_queue_claim.py --jobs 10000 --old-index   # before migration 0009
    .venv/bin/python benchmarks/bench_queue_claim.py --db postgresql+psycopg://postgres@127.0.0.1:5432/test

``securecomm simulate`` submits a year of bookings before the worker starts, so the worker claims
from a queue holding every booking not yet run. For each queue length this builds a fresh store with
that many ready jobs (one bare transaction each, inserted in bulk), then times ``--claims`` claims in
the batched worker's way (``JobQueue.claim_chain`` in a write transaction, the job then marked done
so the next claim takes the next one) and prints one JSON line per length: CPU and wall µs per claim.
``--old-index`` swaps migration 0009's index back for the one before it (state, available_at), to
measure what the migration changed. With ``--db`` (PostgreSQL) each length gets a fresh database on that
server, dropped afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import tempfile
import time
from pathlib import Path


@contextlib.contextmanager
def scratch_database(server: str | None):
    """A fresh PostgreSQL database on ``server``'s host, dropped afterwards (None: no server given)."""
    if server is None:
        yield None
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"bench_queue_{os.getpid()}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
        admin.dispose()


def build(url: str, jobs: int, old_index: bool):
    from sqlalchemy import insert, text

    from securecomm.domain.clock import SYSTEM_CLOCK
    from securecomm.store.db import make_engine, migrate
    from securecomm.store.workflow_models import Job, Transaction

    engine = make_engine(url)
    migrate(engine)
    now = SYSTEM_CLOCK.now() - dt.timedelta(seconds=1)
    with engine.begin() as conn:
        for lo in range(0, jobs, 20_000):
            ids = range(lo, min(jobs, lo + 20_000))
            conn.execute(insert(Transaction), [
                {"tcn": f"T{i:09d}", "ori": "MA0130100", "tot": "CAR", "state": "received", "raw": b"x",
                 "sha256": "0" * 64, "received_at": now} for i in ids])
            conn.execute(insert(Job), [
                {"tcn": f"T{i:09d}", "stage": "validate", "state": "ready", "priority": 0, "attempts": 0,
                 "available_at": now, "created_at": now, "updated_at": now} for i in ids])
        if old_index:
            conn.execute(text("DROP INDEX ix_jobs_claim_order"))
            conn.execute(text("CREATE INDEX ix_jobs_state_available_at ON jobs (state, available_at)"))
        if engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE jobs"))  # the statistics autovacuum would gather after a bulk load
    return engine


def measure(engine, claims: int) -> dict[str, float]:
    from sqlalchemy import update

    from securecomm.store.workflow_models import Job
    from securecomm.workflow.queue import JobQueue, write_session

    q = JobQueue(engine, owner="bench")
    cpu = wall = 0.0
    for _ in range(claims):
        with write_session(engine) as s:
            t, c = time.perf_counter(), time.process_time()
            chain = q.claim_chain(s)
            wall += time.perf_counter() - t
            cpu += time.process_time() - c
            s.execute(update(Job).where(Job.id == chain.claimed.job_id).values(state="done"))
    return {"claim_cpu_us": round(1e6 * cpu / claims, 1), "claim_wall_us": round(1e6 * wall / claims, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, nargs="+", default=[1000, 10_000, 100_000])
    ap.add_argument("--claims", type=int, default=500)
    ap.add_argument("--db", default=None, help="a database URL (default: a fresh SQLite file per length)")
    ap.add_argument("--old-index", action="store_true", help="the index before migration 0009")
    args = ap.parse_args()
    for n in args.jobs:
        with tempfile.TemporaryDirectory() as tmp, scratch_database(args.db) as url:
            engine = build(url or f"sqlite:///{Path(tmp) / 'queue.db'}", n, args.old_index)
            try:
                r = measure(engine, min(args.claims, n))
            finally:
                engine.dispose()
            print(json.dumps({"backend": engine.dialect.name, "ready_jobs": n,
                              "index": "state, available_at" if args.old_index else "state, priority desc, id",
                              **r}), flush=True)


if __name__ == "__main__":
    main()
