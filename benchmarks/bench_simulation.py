"""State-year simulation throughput and calibration: bookings/s through the real pipeline at template level.

    .venv/bin/python benchmarks/bench_simulation.py --state MA --scale 0.005 --seed 2012 --out /tmp/sim-ma
    .venv/bin/python benchmarks/bench_simulation.py ... --search indexed     # the candidate index
    .venv/bin/python benchmarks/bench_simulation.py ... --search indexed --shortlist 400

Runs `securecomm simulate`'s service path (the pipeline, then the simulated field office and jails
through the detainer service) into a fresh SQLite store under --out, then prints one JSON object:
bookings, people, gallery sizes, wall and CPU seconds per phase, bookings/s (wall and per CPU second),
CPU ms per booking, the field office's counts, and the convicted share of matched people by county and
for the whole store (the calibration table of docs/simulation.md). The machine is shared: report CPU
time beside wall time. ``--profile FILE`` writes a cProfile of the run; ``--sql-counts`` counts the pipeline's
SQL statements (by kind) and ORM flushes per booking; ``--verify-times`` times the index's verification by
thread (the worker's, the search-ahead thread, the verify threads): wall and CPU per search, and the matcher's
CPU per finger pair.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--state", default="MA")
    ap.add_argument("--scale", type=float, default=0.005)
    ap.add_argument("--seed", type=int, default=2012)
    ap.add_argument("--from", dest="start", default="2012-05-15")
    ap.add_argument("--to", dest="end", default="2013-05-14")
    ap.add_argument("--out", default="/tmp/securecomm-bench-sim")
    ap.add_argument("--search", default="exhaustive", choices=("exhaustive", "indexed"))
    ap.add_argument("--shortlist", type=int, default=None, help="with --search indexed: subjects verified per search")
    ap.add_argument("--prescreen", type=int, default=None, help="with --search indexed: of the shortlist, the "
                                                                   "subjects the matcher scores (by pre-score)")
    ap.add_argument("--profile", default=None, help="write a cProfile of the run to this file (CPU time: "
                                                    "time.process_time, not the wall clock of a shared machine)")
    ap.add_argument("--sql-counts", action="store_true", help="count the pipeline's SQL statements and ORM flushes "
                                                              "(per booking, by statement kind)")
    ap.add_argument("--verify-times", action="store_true", help="time the index's verification by thread: wall and "
                                                                "CPU per search, matcher CPU per finger pair")
    args = ap.parse_args()

    from securecomm.simulation.params import load
    from securecomm.simulation.plan import build_plan
    from securecomm.domain.principal import Principal, Role
    from securecomm.services import simulation as service
    from securecomm.statistics import compute
    from securecomm.store.db import make_sessionmaker, open_store

    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    plan = build_plan(load(args.state), seed=args.seed, start=dt.date.fromisoformat(args.start),
                      end=dt.date.fromisoformat(args.end), scale=args.scale)
    engine, Session = open_store(f"sqlite:///{out / 'securecomm.db'}")
    import time

    from securecomm.workflow import gallery

    searched = {"cpu_s": 0.0, "searches": 0}  # CPU inside the galleries' searches (their top-ups included)
    plain_search = gallery.RepositoryGallery.search

    seen: dict[int, object] = {}  # the galleries searched (their searches-ahead counts, below)

    def timed_search(self, *a, **kw):
        seen[id(self)] = self
        t = time.process_time()
        try:
            return plain_search(self, *a, **kw)
        finally:
            searched["cpu_s"] += time.process_time() - t
            searched["searches"] += 1

    gallery.RepositoryGallery.search = timed_search
    sql: dict[str, int] = {}
    if args.sql_counts:  # only while the worker runs (Worker.run_batched / Worker.run): the pipeline phase
        from collections import Counter

        from sqlalchemy import event
        from sqlalchemy.orm import Session as OrmSession

        from securecomm.workflow.pipeline import Worker

        sql = Counter()
        inside = [False]
        for name in ("run_batched", "run"):
            def wrap(plain):
                def counted(self, *a, **kw):
                    outer, inside[0] = inside[0], True
                    try:
                        return plain(self, *a, **kw)
                    finally:
                        inside[0] = outer
                return counted
            setattr(Worker, name, wrap(getattr(Worker, name)))

        @event.listens_for(engine, "before_cursor_execute")
        def _statement(conn, cursor, statement, params, context, executemany):
            if inside[0]:
                sql["statements"] += 1
                sql[" ".join(statement.split()[:2])] += 1

        @event.listens_for(OrmSession, "before_flush")
        def _flush(session, flush_context, instances):
            if inside[0]:
                sql["flushes"] += 1
    verify = _time_verification() if args.verify_times else None
    extra = {"shortlist": args.shortlist} if args.shortlist else {}
    if args.prescreen:
        extra["prescreen"] = args.prescreen

    def run():
        return service.run(make_sessionmaker(engine), Principal("bench", Role.ADMIN), engine, plan,
                           run_id=f"bench-{args.state}-{args.seed}", search=args.search, **extra)

    if args.profile:
        import cProfile

        prof = cProfile.Profile(time.process_time)
        r = prof.runcall(run)
        prof.dump_stats(args.profile)
    else:
        r = run()
    with Session() as s:
        nation = compute(s).rows[0].figures
        counties = {f"{x.jurisdiction['state']}:{x.jurisdiction['county']}": x.figures
                    for x in compute(s, level="county").rows}

    def convicted(f):
        share = f["share_no_conviction"]
        return {"matched_people": f["matched_people"], "convicted_share": None if share is None else round(1 - share, 3)}

    print(json.dumps({
        "state": args.state, "scale": args.scale, "search": args.search, "seed": args.seed, "bookings": r.bookings, "people": r.people,
        "enrolled": r.enrolled, "seconds": r.seconds, "cpu_seconds": r.cpu_seconds,
        "bookings_per_s_wall": round(r.bookings_per_second, 2),
        "bookings_per_cpu_s": round(r.bookings / r.cpu_seconds["pipeline"], 2) if r.cpu_seconds["pipeline"] else None,
        "cpu_ms_per_booking": {k: round(1000 * v / max(r.bookings, 1), 1) for k, v in r.cpu_seconds.items()},
        "search_cpu_ms_per_booking": round(1000 * searched["cpu_s"] / max(r.bookings, 1), 1),
        "fixed_cpu_ms_per_booking": round(1000 * (r.cpu_seconds["pipeline"] - searched["cpu_s"]) / max(r.bookings, 1), 1),
        # immigration searches made ahead on their own thread (Galleries(ahead=True)) and used or dropped; the
        # CPU of that thread is inside the pipeline's, split between "search" and "fixed" by when it ran
        "searches_ahead": {g.kind: {"used": g.ahead_used, "dropped": g.ahead_dropped,
                                    "cpu_ms_per_booking": round(1000 * g.ahead_cpu_s / max(r.bookings, 1), 1)}
                           for g in seen.values() if g.ahead_used or g.ahead_dropped},
        "shortlist": args.shortlist, "prescreen": args.prescreen,
        **({"sql_per_booking": {k: round(v / max(r.bookings, 1), 2) for k, v in sorted(sql.items(), key=lambda kv: -kv[1])}}
           if args.sql_counts else {}),
        **({"verify_times": _verify_report(verify, r.bookings)} if verify is not None else {}),
        "field_office": r.detainers,
        "load_average": os.getloadavg(), "nation": convicted(nation),
        "counties": {k: convicted(v) for k, v in sorted(counties.items())},
        "figures": nation}, indent=1, default=str))


def _thread_kind() -> str:
    import threading

    name = threading.current_thread().name
    return "worker" if name == "MainThread" else name.rsplit("_", 1)[0]  # pools name threads PREFIX_N


def _time_verification() -> dict:
    """Wrap the index's verification (``IndexedBackend._verify_many``: one search's shortlist) and the matcher
    calls it makes (``match_rows`` / ``match_many``) with wall and thread-CPU clocks, by thread kind."""
    import threading
    import time
    from collections import defaultdict

    from securecomm.engine import index

    got: dict = defaultdict(lambda: [0, 0, 0.0, 0.0])  # (what, thread) -> calls, pairs, wall s, CPU s
    lock = threading.Lock()  # the two verify threads add to one row

    def timed(what, plain, pairs):
        def call(*a, **kw):
            w, c = time.perf_counter(), time.thread_time()
            try:
                return plain(*a, **kw)
            finally:
                wall, cpu = time.perf_counter() - w, time.thread_time() - c
                with lock:
                    row = got[(what, _thread_kind())]
                    row[0] += 1
                    row[1] += pairs(a)
                    row[2] += wall
                    row[3] += cpu
        return call

    index.IndexedBackend._verify_many = timed("search", index.IndexedBackend._verify_many, lambda a: 0)
    index.match_rows = timed("matcher", index.match_rows, lambda a: len(a[2]))  # (probe, cylinders, starts, ends)
    index.match_many = timed("matcher", index.match_many, lambda a: len(a[1]))  # (probe, packed, parallel)
    return got


def _verify_report(got: dict, bookings: int) -> dict:
    """Per thread kind: searches verified (wall and CPU ms per search, on the thread that asked) and the
    matcher's calls (CPU ms per booking, µs per finger pair)."""
    out: dict = {}
    for (what, thread), (calls, pairs, wall, cpu) in sorted(got.items()):
        if what == "search":
            out[f"search@{thread}"] = {"searches": calls, "wall_ms_per_search": round(1000 * wall / max(calls, 1), 2),
                                       "cpu_ms_per_search": round(1000 * cpu / max(calls, 1), 2)}
        else:
            out[f"matcher@{thread}"] = {"pairs": pairs, "cpu_ms_per_booking": round(1000 * cpu / max(bookings, 1), 1),
                                        "cpu_us_per_pair": round(1e6 * cpu / max(pairs, 1), 1),
                                        "wall_us_per_pair": round(1e6 * wall / max(pairs, 1), 1)}
    return out


if __name__ == "__main__":
    main()
