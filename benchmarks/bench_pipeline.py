"""Pipeline throughput, booking->IAR latency and a chaos soak with ``securecomm work --workers 2`` (issue 13).

    nice -n 10 .venv/bin/python benchmarks/bench_pipeline.py throughput --backend sqlite --bookings 40
    nice -n 10 .venv/bin/python benchmarks/bench_pipeline.py latency    --backend postgres --bookings 30 --rate 0.5
    nice -n 10 .venv/bin/python benchmarks/bench_pipeline.py soak       --backend postgres --bookings 2000 \\
        --fingers 2,7 --kill-every 20

What is fed (synthetic, nothing real): ``--people`` persons from ``securecomm.synth``
(masters rendered as plain 500 ppi impressions, WSQ-compressed as a live-scan sends
them), booked at an activated agency of the demo's state (``securecomm.demo``). Half
of them have an immigration record (visa overstay: IAQ and IAR expected), a third a
criminal history. ``--impressions`` distinct impression sets are rendered per person;
booking ``k`` carries set ``k mod (people x impressions)`` under its own TCN, so a run
of thousands of bookings needs no thousands of renders. Every booking is still read,
WSQ-decoded, extracted and searched in full by the workers (the parse cache is keyed
by the transaction; nothing is reused across bookings). Renders are cached under
``--data`` (default /work/bench-data-13 or $SECURECOMM_BENCH_DATA).

* ``throughput``: all bookings queued, then ``securecomm work --workers N`` until the
  queue is empty; bookings/s over the run (first to last committed stage) and with
  worker start-up; worker CPU per booking; beside it the **extraction-bound limit**:
  CPU time of read + WSQ decode + extraction per booking, measured in this process on
  the same bookings with the thread cap ``work`` gives each worker (engine.threads),
  limit = workers / that (bookings/s, were the cores free); and the same measured in
  ``--workers`` processes at once (``extraction_bound_concurrent``: two extractions
  side by side cost each more CPU than one alone, which the workers pay too). ``work``
  runs with the operator's environment: the bench passes none of its own pool sizes.
  On a shared machine the workers also wait for CPUs other processes hold: the run's
  threads' run-queue wait (/proc schedstat, sampled every 0.1 s) is reported, over the
  whole run and within the processing span, with the rate the span would give without
  it (``*_less_runqueue_wait``: an estimate, each worker's share of the wait taken off).
* ``latency``: ``work --workers N --follow`` running; bookings submitted at ``--rate``
  per second (Poisson arrivals); latency = IAR (or, without an IAR, the last response)
  ``created_at`` - ``received_at``, p50/p95.
* ``soak``: all bookings queued; ``work --workers N --follow --lease L``; every
  ``--kill-every`` s (uniform 0.5-1.5x) a random chaos event: SIGKILL one worker
  process (the supervisor replaces it), SIGKILL the supervisor itself (restarted; its
  orphaned workers stop), or, on PostgreSQL, ``pg_terminate_backend`` on every
  connection to the store. Checked at the end: every booking done (or waiting for a
  person), exactly one SRE per recipient, at most one of every response per recipient,
  one arrest per TCN, no job failed or parked. A soak cut short by ``--max-seconds``
  reports the bookings not reached yet (job still ``ready``) as ``unfinished``, apart
  from ``lost`` (failed, parked, or finished without its answers).

Results: ``--out`` (default benchmarks/results)/pipeline-<mode>-<backend>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import multiprocessing as mp
import os
import pickle
import platform
import random
import resource
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("SECURECOMM_BENCH_DATA", "/work/bench-data-13"))
PG_ADMIN = os.environ.get("SECURECOMM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
TEMPLATE_TCN = "MA0130100-20120601-T000000"  # replaced, same length, per booking


# ---------------------------------------------------------------------------------------------- inputs


def _person(i: int):
    from securecomm.domain.records import Biographic

    surnames = ("RAMIREZ", "MURPHY", "SANTOS", "FLORES", "NGUYEN", "OKAFOR", "SILVA", "KOWALSKI")
    return Biographic(f"{surnames[i % len(surnames)]}{'ABCDEFGHIJ'[i // 8 % 10]}", "BENCH",
                      dt.date(1970 + i % 30, 1 + i % 12, 1 + i % 28), "M" if i % 2 else "F", "MX" if i % 2 else "BR")


def _render(args: tuple) -> tuple[int, int, dict]:
    """Plain impressions of person ``i``, impression seed ``seed``: {position: FingerImage}."""
    i, seed, fingers = args
    from securecomm.domain.records import FingerImage
    from securecomm.synth import make_person, render

    master = make_person(90_000 + i)
    return i, seed, {p: FingerImage(position=p, pixels=render(master.fingers[p], seed, "plain").pixels, ppi=500.0,
                                    compression="WSQ") for p in fingers if p in master.fingers}


def build_inputs(data: Path, people: int, impressions: int, fingers: tuple[int, ...], processes: int = 2) -> dict:
    """Enrolment files and booking templates (one per person and impression set), cached on disk."""
    key = hashlib.sha256(repr((people, impressions, fingers, 3)).encode())
    for package in ("interchange", "synth"):
        for src in sorted((ROOT / "src" / "securecomm" / package).glob("*.py")):
            key.update(src.read_bytes())
    path = data / f"pipeline-inputs-{key.hexdigest()[:16]}.pickle"
    if path.is_file():
        return pickle.loads(path.read_bytes())
    from securecomm.demo.population import AGENCIES, SIB_ORI
    from securecomm.domain.records import (Arrest, Booking, Charge, CriminalEnrolment, Disposition, Encounter,
                                           ImmigrationEnrolment)
    from securecomm.interchange import write_booking, write_criminal_enrolment, write_immigration_enrolment
    from securecomm.interchange.ebts import FBI_ORI

    jobs = [(i, s, fingers) for i in range(people) for s in [1] + [100 + k for k in range(impressions)]]
    rendered: dict[tuple[int, int], dict] = {}
    t = time.monotonic()
    with mp.get_context("spawn").Pool(processes) as pool:
        for i, s, imgs in pool.imap_unordered(_render, jobs):
            rendered[(i, s)] = imgs
    render_s = time.monotonic() - t
    ori = AGENCIES[0][0]  # activated since 2008
    criminal, immigration, templates = [], [], []
    for i in range(people):
        person = _person(i)
        if i % 3 == 0:
            criminal.append(write_criminal_enrolment(CriminalEnrolment(
                tcn=f"CNA-BENCH-{i:05d}", ori=ori, person=person, fingers=rendered[(i, 1)],
                arrests=(Arrest(dt.date(2009, 5, 1), ori, f"H-BENCH-{i:05d}", (Charge("2303"),),
                                (Disposition("2303", "convicted", dt.date(2009, 8, 1)),)),)), date=dt.date(2010, 1, 1)))
        if i % 2 == 0:
            immigration.append(write_immigration_enrolment(ImmigrationEnrolment(
                tcn=f"IEN-BENCH-{i:05d}", person=person, fingers=rendered[(i, 1)],
                encounters=(Encounter("admission", dt.date(2004, 3, 1), "JFK POE", expires=dt.date(2004, 9, 1)),
                            Encounter("visa_overstay", dt.date(2004, 9, 2)))), date=dt.date(2010, 1, 1)))
        for k in range(impressions):
            raw = write_booking(Booking(ori=ori, tcn=TEMPLATE_TCN, dai=FBI_ORI, date=dt.date(2012, 6, 1),
                                        person=person, arrest_date=dt.date(2012, 6, 1), charges=(Charge("5404"),),
                                        fingers=rendered[(i, 100 + k)], sib_ori=SIB_ORI))
            assert raw.count(TEMPLATE_TCN.encode()) >= 1
            templates.append({"person": i, "impression": k, "immigration": i % 2 == 0, "raw": raw})
    out = {"criminal": criminal, "immigration": immigration, "templates": templates, "render_s": render_s,
           "renders": len(jobs), "fingers": fingers}
    data.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(pickle.dumps(out))
    tmp.replace(path)
    return out


def booking_bytes(inputs: dict, k: int) -> tuple[str, bytes, dict]:
    t = inputs["templates"][k % len(inputs["templates"])]
    tcn = f"{TEMPLATE_TCN[:-6]}{k:06d}"
    return tcn, t["raw"].replace(TEMPLATE_TCN.encode(), tcn.encode()), t


# ---------------------------------------------------------------------------------------------- stores


def fresh_store(backend: str, data: Path) -> str:
    if backend == "sqlite":
        db = data / f"pipeline-{uuid.uuid4().hex[:8]}.db"
        return f"sqlite:///{db}"
    import psycopg
    from sqlalchemy.engine import make_url

    admin = make_url(PG_ADMIN)
    name = f"sc_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin.set(drivername="postgresql").render_as_string(hide_password=False),
                         autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)


def drop_store(url: str) -> None:
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        return
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    with psycopg.connect(u.set(drivername="postgresql", database=make_url(PG_ADMIN).database)
                         .render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)')


def setup_store(url: str, inputs: dict):
    from securecomm.demo import scenario
    from securecomm.store.db import make_engine, migrate

    engine = make_engine(url)
    migrate(engine)
    agencies, activations = _scenario_tables()
    sc = scenario.Scenario(agencies, activations, criminal=list(inputs["criminal"]),
                           immigration=list(inputs["immigration"]))
    scenario.setup_store(engine, sc)
    return engine


def _scenario_tables():
    from securecomm.demo.population import AGENCIES, FIELD_OFFICE, PILOT_FROM, SIB_ORI, STATE, STATEWIDE_FROM

    agencies = [{"ori": o, "name": n, "state": STATE, "county": c, "kind": k, "sib_ori": SIB_ORI,
                 "field_office": FIELD_OFFICE} for o, n, c, k in AGENCIES]
    agencies.append({"ori": SIB_ORI, "name": "State Identification Bureau", "state": STATE, "county": "",
                     "kind": "SIB", "sib_ori": "", "field_office": FIELD_OFFICE})
    activations = [
        {"scope": "ori", "value": AGENCIES[0][0], "effective_from": PILOT_FROM.isoformat(), "effective_to": "",
         "note": ""},
        {"scope": "state", "value": STATE, "effective_from": STATEWIDE_FROM.isoformat(), "effective_to": "",
         "note": ""}]
    return agencies, activations


def work_cmd(url: str, workers: int, min_fingers: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "securecomm", "work", "--workers", str(workers), "--db", url, "--min-fingers",
            str(min_fingers), "--quiet", *extra]


#: Thread-pool variables (engine.threads.POOL_VARIABLES, not imported here: they must be set before the
#: engine's libraries load).
POOLS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENCV_FOR_THREADS_NUM")


def child_env() -> dict[str, str]:
    """The environment of ``securecomm work``: unbuffered; its thread pools are sized by ``work`` itself
    (engine.threads), so the benchmark's own settings are not passed on."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for name in POOLS:
        if os.environ.get(name) == _OURS.get(name):
            env.pop(name, None)
    return env


_OURS: dict[str, str] = {}


# ---------------------------------------------------------------------------------------------- measures


def _children_cpu() -> float:
    """CPU seconds of this process's live children (the isolated WSQ decoder process decodes there)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path("/proc/self/task").iterdir():
        try:
            kids = (task / "children").read_text().split()
        except OSError:
            continue
        for kid in kids:
            try:
                fields = Path(f"/proc/{kid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
            except (OSError, IndexError, ValueError):
                pass
    return total


def extraction_bound(inputs: dict, sample: int, min_fingers: int, threads: int | None = None,
                     first: int = 0) -> dict:
    """CPU seconds of read + WSQ decode + extraction per booking, in this process (and its WSQ decoder
    process), on ``sample`` bookings; ``threads``: the compute-thread cap a worker runs with (engine.threads)."""
    from securecomm.engine import threads as compute_threads
    from securecomm.engine.extractors import configured
    from securecomm.interchange import parse_booking, read_transaction

    if threads is not None:
        compute_threads.limit(threads)
    extractor = configured()
    warm = parse_booking(read_transaction(booking_bytes(inputs, 0)[1]), min_fingers=min_fingers)  # decoder up
    fingers = [(p, img) for p, img in sorted(warm.fingers.items()) if not img.amputated]
    extractor.extract_many([(img.pixels, img.ppi) for _, img in fingers], positions=[p for p, _ in fingers])
    decode, extract = [], []
    for k in range(first, first + sample):
        _, raw, _ = booking_bytes(inputs, k)
        t0 = time.process_time() + _children_cpu()
        b = parse_booking(read_transaction(raw), min_fingers=min_fingers)
        t1 = time.process_time() + _children_cpu()
        fingers = [(p, img) for p, img in sorted(b.fingers.items()) if not img.amputated]
        extractor.extract_many([(img.pixels, img.ppi) for _, img in fingers], positions=[p for p, _ in fingers])
        t2 = time.process_time() + _children_cpu()  # the same clock as t1 (children's CPU is cumulative)
        decode.append(t1 - t0)
        extract.append(t2 - t1)
    per = (sum(decode) + sum(extract)) / sample
    return {"extractor": extractor.label, "sample": sample, "threads": threads, "decode_cpu_s": sum(decode) / sample,
            "extract_cpu_s": sum(extract) / sample, "cpu_s_per_booking": per}


def _bound_process(args: tuple) -> dict:
    data, people, impressions, fingers, sample, min_fingers, threads, first = args
    return extraction_bound(build_inputs(data, people, impressions, fingers), sample, min_fingers, threads, first)


def extraction_bound_concurrent(args, processes: int, threads: int) -> dict:
    """The same measurement in ``processes`` processes at once, as the workers run: each extracts its own
    bookings while the others do, with the workers' thread cap. Two processes on two cores cost more CPU
    per booking than one alone (shared caches and memory bandwidth, clock), which the workers pay too."""
    env = {k: os.environ.get(k) for k in POOLS}
    with mp.get_context("spawn").Pool(processes) as pool:
        runs = pool.map(_bound_process, [(args.data, args.people, args.impressions, args.fingers, args.sample,
                                          len(args.fingers), threads, i * args.sample) for i in range(processes)])
    per = sum(r["cpu_s_per_booking"] for r in runs) / len(runs)
    return {"processes": processes, "threads": threads, "env": env, "cpu_s_per_booking": per,
            "decode_cpu_s": sum(r["decode_cpu_s"] for r in runs) / len(runs),
            "extract_cpu_s": sum(r["extract_cpu_s"] for r in runs) / len(runs),
            "limit_bookings_per_s": processes / per}


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]


def latencies(engine, tcns: list[str]) -> dict:
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from securecomm.store.workflow_models import Response, Transaction

    with Session(engine) as s:
        recv = dict(s.execute(select(Transaction.tcn, Transaction.received_at).where(Transaction.tcn.in_(tcns))).all())
        iar = dict(s.execute(select(Response.tcn, func.max(Response.created_at))
                             .where(Response.tcn.in_(tcns), Response.kind == "IAR").group_by(Response.tcn)).all())
        last = dict(s.execute(select(Response.tcn, func.max(Response.created_at))
                              .where(Response.tcn.in_(tcns)).group_by(Response.tcn)).all())
    to_iar = [(iar[t] - recv[t]).total_seconds() for t in tcns if t in iar]
    to_last = [(last[t] - recv[t]).total_seconds() for t in tcns if t in last]
    return {"with_iar": len(to_iar), "iar_p50_s": _pct(to_iar, 0.5), "iar_p95_s": _pct(to_iar, 0.95),
            "iar_max_s": max(to_iar) if to_iar else None,
            "answered": len(to_last), "last_response_p50_s": _pct(to_last, 0.5),
            "last_response_p95_s": _pct(to_last, 0.95)}


def _between(timeline: list[tuple[float, float, float]], first: float, last: float) -> dict:
    """On-CPU and run-queue-wait seconds accrued between two instants (epoch s), from the sampled timeline."""
    def at(t: float) -> tuple[float, float]:
        before = [x for x in timeline if x[0] <= t]
        row = before[-1] if before else (t, 0.0, 0.0)
        return row[1], row[2]

    (c0, w0), (c1, w1) = at(first), at(last)
    return {"on_cpu_s": c1 - c0, "runqueue_wait_s": w1 - w0, "span_s": last - first}


def stage_times(engine, tcns: list[str]) -> tuple[float, float]:
    """Epoch seconds of the run's first committed stage and of its last answer (the span of ``stage_span``)."""
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from securecomm.store.workflow_models import Response, StageRun, Transaction

    with Session(engine) as s:
        first = s.scalar(select(func.min(StageRun.finished_at)).where(StageRun.tcn.in_(tcns)))
        last = s.scalar(select(func.max(Transaction.finished_at)).where(Transaction.tcn.in_(tcns)))
        last_resp = s.scalar(select(func.max(Response.created_at)).where(Response.tcn.in_(tcns)))
    end = max(x for x in (last, last_resp) if x is not None)
    return first.timestamp(), end.timestamp()


def stage_span(engine, tcns: list[str]) -> tuple[float, float]:
    """Seconds from the run's first committed stage to its last (for bookings/s without start-up)."""
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from securecomm.store.workflow_models import Response, StageRun, Transaction

    with Session(engine) as s:
        first = s.scalar(select(func.min(StageRun.finished_at)).where(StageRun.tcn.in_(tcns)))
        last = s.scalar(select(func.max(Transaction.finished_at)).where(Transaction.tcn.in_(tcns)))
        last_resp = s.scalar(select(func.max(Response.created_at)).where(Response.tcn.in_(tcns)))
        first_recv = s.scalar(select(func.min(Transaction.received_at)).where(Transaction.tcn.in_(tcns)))
    end = max(x for x in (last, last_resp) if x is not None)
    return (end - first).total_seconds(), (end - first_recv).total_seconds()


def check_exactly_once(engine, tcns: list[str], expected_iar: set[str]) -> dict:
    """0 lost, 0 duplicated: every booking finished once with its answers."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from securecomm.store.models import ArrestRow
    from securecomm.store.workflow_models import Job, Response, Transaction

    with Session(engine) as s:
        jobs = dict(s.execute(select(Job.tcn, Job.state)).all())
        states = dict(s.execute(select(Transaction.tcn, Transaction.state)).all())
        per_recipient = Counter(s.execute(select(Response.tcn, Response.kind, Response.recipient)).all())
        arrests = Counter(s.scalars(select(ArrestRow.tcn)).all())
    kinds = Counter()
    for (t, kind, _), n in per_recipient.items():
        kinds[(t, kind)] += n
    # a job still ``ready`` is not lost but not reached yet (a soak cut short by --max-seconds); one that is
    # failed, parked or missing, or finished without its two SREs, is lost
    unfinished = [t for t in tcns if jobs.get(t) == "ready"]
    lost = [t for t in tcns if jobs.get(t) != "ready" and
            (jobs.get(t) not in ("done", "waiting") or kinds[(t, "SRE")] != 2)]
    duplicated = sorted({t for (t, _, _), n in per_recipient.items() if n > 1} |
                        {t for t in tcns if arrests[t] > 1} |
                        {t for t in tcns if jobs.get(t) in ("done", "waiting") and arrests[t] != 1})
    missing_iar = [t for t in expected_iar if jobs.get(t) == "done" and kinds[(t, "IAR")] == 0]
    return {"bookings": len(tcns), "finished": len(tcns) - len(unfinished), "unfinished": len(unfinished),
            "lost": len(lost), "lost_examples": lost[:5], "duplicated": len(duplicated),
            "duplicated_examples": duplicated[:5], "jobs": dict(Counter(jobs.get(t) for t in tcns)),
            "transactions": dict(Counter(states.get(t) for t in tcns)),
            "responses": dict(Counter(k for (_, k), n in kinds.items() for _ in range(n))),
            "expected_iar": len(expected_iar), "done_without_iar": len(missing_iar)}


# ---------------------------------------------------------------------------------------------- modes


def submit_all(engine, inputs: dict, n: int) -> tuple[list[str], set[str], float]:
    from securecomm.workflow.pipeline import submit

    tcns, iar = [], set()
    t = time.monotonic()
    for k in range(n):
        tcn, raw, meta = booking_bytes(inputs, k)
        res = submit(engine, raw)
        assert res.outcome == "queued", res
        tcns.append(res.tcn)
        if meta["immigration"]:
            iar.add(res.tcn)
    return tcns, iar, time.monotonic() - t


def _tree_schedstat(root: int, seen: dict[int, tuple[float, float]]) -> None:
    """Latest on-CPU and run-queue-wait seconds of every thread of ``root`` and its descendants, by thread id
    (Linux /proc/<pid>/task/<tid>/schedstat: time running, time runnable but waiting for a CPU)."""
    stack = [root]
    while stack:
        pid = stack.pop()
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                run, wait, _ = Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()
                seen[int(tid)] = (int(run) / 1e9, int(wait) / 1e9)
                stack.extend(int(k) for k in Path(f"/proc/{pid}/task/{tid}/children").read_text().split())
            except (OSError, ValueError):
                pass


def _work_cpu(url: str, args) -> tuple[float, float, subprocess.CompletedProcess, dict]:
    """Run ``work`` to completion; (wall s, CPU s of it and its workers, the process, its threads' scheduling:
    ``runqueue_wait_s`` is the time its processes were ready to run but another process held the CPU -- on a
    shared machine, wall time the run lost to others, not to the pipeline)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    seen: dict[int, tuple[float, float]] = {}
    t = time.monotonic()
    proc = subprocess.Popen(work_cmd(url, args.workers, len(args.fingers), "--lease", str(args.lease)),
                            env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler_done = False
    timeline: list[tuple[float, float, float]] = []  # (time.time(), on-CPU s, run-queue wait s) so far

    def sample() -> None:
        while not sampler_done:
            _tree_schedstat(proc.pid, seen)
            timeline.append((time.time(), sum(v[0] for v in seen.values()), sum(v[1] for v in seen.values())))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    sampler_done = True
    sampler.join()
    wall = time.monotonic() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    sched = {"threads": len(seen), "on_cpu_s": sum(v[0] for v in seen.values()),
             "runqueue_wait_s": sum(v[1] for v in seen.values()), "timeline": timeline}
    return (wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            subprocess.CompletedProcess(proc.args, proc.returncode, out, err), sched)


def mode_throughput(args, inputs, url, engine) -> dict:
    # start-up alone (imports, extractor, galleries) on the empty queue, to tell it from per-booking work
    startup_wall, startup_cpu, _, startup_sched = _work_cpu(url, args)
    tcns, iar, submit_s = submit_all(engine, inputs, args.bookings)
    wall, cpu, proc, sched = _work_cpu(url, args)
    span, _ = stage_span(engine, tcns)
    first, last = stage_times(engine, tcns)
    in_span = _between(sched.pop("timeline"), first, last)
    startup_sched.pop("timeline")
    check = check_exactly_once(engine, tcns, iar)
    return {"bookings": len(tcns), "submit_s": submit_s, "work_exit": proc.returncode,
            "work_tail": proc.stdout[-400:] + proc.stderr[-400:], "wall_s": wall, "processing_s": span,
            "bookings_per_s": len(tcns) / span, "bookings_per_s_with_startup": len(tcns) / wall,
            "worker_cpu_s": cpu, "startup_wall_s": startup_wall, "startup_cpu_s": startup_cpu,
            "worker_cpu_s_per_booking": max(0.0, cpu - startup_cpu) / len(tcns),
            # time the run's processes were runnable but waited for a CPU another process held (sampled every
            # 0.1 s from /proc; start-up included): the run's share of the machine, apart from the pipeline
            "sched": sched, "startup_sched": startup_sched,
            "runqueue_wait_share": sched["runqueue_wait_s"] / (args.workers * wall),
            # the same within the processing span (first to last committed stage): the wall time the workers
            # lost to other processes there, and the rate they would have had on cores of their own (an
            # estimate: each worker's share of the wait taken off the span)
            "span_sched": in_span,
            "bookings_per_s_less_runqueue_wait": len(tcns) / max(1e-9, span - in_span["runqueue_wait_s"] / args.workers),
            "latency_bulk": latencies(engine, tcns),
            "check": check}


def _wait_done(engine, tcns: list[str], timeout: float) -> bool:
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from securecomm.store.workflow_models import Job

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with Session(engine) as s:
                left = s.scalar(select(func.count()).select_from(Job)
                                .where(Job.tcn.in_(tcns), Job.state.not_in(("done", "waiting"))))
            if left == 0:
                return True
        except Exception:  # noqa: BLE001 - the soak terminates our connections too
            pass
        time.sleep(0.5)
    return False


def _catches_sigterm(pid: int) -> bool:
    """Whether ``pid`` has installed a SIGTERM handler yet (Linux: SigCgt in /proc/<pid>/status)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            caught = next(line for line in f if line.startswith("SigCgt:")).split()[1]
    except (OSError, StopIteration):
        return False
    return bool(int(caught, 16) & (1 << (signal.SIGTERM - 1)))


def _stop(proc: subprocess.Popen) -> int:
    """SIGTERM ``work`` and wait for it. A supervisor the soak has just restarted may still be in the
    interpreter's start-up, where SIGTERM's default action kills it (-15): wait (up to 30 s) until it can
    take the signal; from its first import on, it stops cleanly (securecomm.cli)."""
    deadline = time.monotonic() + 30
    while proc.poll() is None and not _catches_sigterm(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()


def mode_latency(args, inputs, url, engine) -> dict:
    from securecomm.workflow.pipeline import submit

    log = open(Path(args.data) / "latency-work.log", "wb")
    proc = subprocess.Popen(work_cmd(url, args.workers, len(args.fingers), "--follow"), env=child_env(),
                            stdout=log, stderr=log)
    try:
        warm_tcn, raw, _ = booking_bytes(inputs, 10**6 - 1)  # warm-up: the workers are up and galleries loaded
        submit(engine, raw)
        assert _wait_done(engine, [warm_tcn], 300), "warm-up booking not finished"
        rng = random.Random(13)
        tcns, iar = [], set()
        t0 = time.monotonic()
        next_at = t0
        for k in range(args.bookings):
            next_at += rng.expovariate(args.rate)
            time.sleep(max(0.0, next_at - time.monotonic()))
            tcn, raw, meta = booking_bytes(inputs, k)
            res = submit(engine, raw)
            tcns.append(res.tcn)
            if meta["immigration"]:
                iar.add(res.tcn)
        fed = time.monotonic() - t0
        finished = _wait_done(engine, tcns, 600)
    finally:
        code = _stop(proc)
        log.close()
    return {"bookings": len(tcns), "rate_per_s": args.rate, "fed_s": fed, "finished": finished, "work_exit": code,
            "latency": latencies(engine, tcns), "check": check_exactly_once(engine, tcns, iar)}


def _terminate_backends(url: str) -> int:
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    with psycopg.connect(u.set(drivername="postgresql").render_as_string(hide_password=False),
                         autocommit=True) as conn:
        rows = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchall()
    return len(rows)


def mode_soak(args, inputs, url, engine) -> dict:
    tcns, iar, submit_s = submit_all(engine, inputs, args.bookings)
    rng = random.Random(args.seed)
    log = open(Path(args.data) / "soak-work.log", "wb")
    cmd = work_cmd(url, args.workers, len(args.fingers), "--follow", "--lease", str(args.lease))
    events = Counter()
    t0 = time.monotonic()

    def start():
        return subprocess.Popen(cmd, env=child_env(), stdout=log, stderr=log)

    sup = start()
    deadline = t0 + args.max_seconds
    last_progress = 0.0
    try:
        while time.monotonic() < deadline:
            if _wait_done(engine, tcns, rng.uniform(0.5, 1.5) * args.kill_every):
                break
            if sup.poll() is not None:
                events["supervisor_exited"] += 1
                sup = start()
                continue
            choices = ["kill_worker"] * 3 + ["kill_supervisor"]
            if not url.startswith("sqlite"):
                choices += ["terminate_backends"] * 2
            what = rng.choice(choices)
            if what == "kill_worker":
                from securecomm.workflow.pipeline import worker_processes

                kids = worker_processes(sup.pid)
                if kids:
                    os.kill(rng.choice(kids), signal.SIGKILL)
                    events[what] += 1
            elif what == "kill_supervisor":
                sup.send_signal(signal.SIGKILL)  # its workers see their parent gone and stop after the booking
                sup.wait()
                events[what] += 1
                sup = start()
            else:
                events["backends_terminated"] += _terminate_backends(url)
                events[what] += 1
            if time.monotonic() - last_progress > 60:
                last_progress = time.monotonic()
                print(f"  soak {time.monotonic() - t0:.0f}s events {dict(events)}", flush=True)
        finished = _wait_done(engine, tcns, 1)
    finally:
        code = _stop(sup)
        log.close()
    wall = time.monotonic() - t0
    return {"bookings": len(tcns), "submit_s": submit_s, "wall_s": wall, "finished": finished, "work_exit": code,
            "events": dict(events), "bookings_per_s": len(tcns) / wall, "check": check_exactly_once(engine, tcns, iar)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mode", choices=("throughput", "latency", "soak", "inputs"))
    ap.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    ap.add_argument("--bookings", type=int, default=40)
    ap.add_argument("--people", type=int, default=8)
    ap.add_argument("--impressions", type=int, default=2, help="distinct impression sets rendered per person")
    ap.add_argument("--fingers", default="1-10", help="positions: 1-10 (ten-print) or e.g. 2,7")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--lease", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=0.5, help="latency: bookings per second fed")
    ap.add_argument("--kill-every", type=float, default=20.0, help="soak: mean seconds between chaos events")
    ap.add_argument("--max-seconds", type=float, default=3600.0, help="soak: give up after this")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--sample", type=int, default=6, help="bookings for the extraction-bound measurement")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--keep", action="store_true", help="keep the store")
    args = ap.parse_args(argv)
    if "-" in args.fingers:
        a, b = args.fingers.split("-")
        args.fingers = tuple(range(int(a), int(b) + 1))
    else:
        args.fingers = tuple(int(x) for x in args.fingers.split(","))
    args.data.mkdir(parents=True, exist_ok=True)
    for name in POOLS:  # this process's thread pools, as `work` sizes its workers' (engine.threads)
        if name not in os.environ:
            os.environ[name] = _OURS[name] = str(max(1, len(os.sched_getaffinity(0)) // max(1, args.workers)))
    t = time.monotonic()
    inputs = build_inputs(args.data, args.people, args.impressions, args.fingers)
    print(f"inputs: {len(inputs['templates'])} booking image sets of {len(args.fingers)} fingers, "
          f"{len(inputs['criminal'])} CNA + {len(inputs['immigration'])} IEN enrolments "
          f"({time.monotonic() - t:.0f} s; rendering {inputs['render_s']:.0f} s when built)", flush=True)
    if args.mode == "inputs":
        return 0
    result: dict = {"mode": args.mode, "backend": args.backend, "machine": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count(), "load_before": os.getloadavg(),
                    "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    "extractor": os.environ.get("SECURECOMM_EXTRACTOR", "fused (default)"),
                    "fingers": list(args.fingers), "people": args.people, "impressions": args.impressions,
                    "workers": args.workers}
    if args.mode == "throughput":
        from securecomm.engine import threads as compute_threads

        threads = compute_threads.per_worker(args.workers)  # what `work --workers N` gives each worker
        result["extraction_bound"] = eb = extraction_bound(inputs, args.sample, len(args.fingers), threads)
        eb["limit_bookings_per_s"] = args.workers / eb["cpu_s_per_booking"]
        print(f"extraction-bound: {eb['cpu_s_per_booking']:.3f} CPU-s/booking -> "
              f"{eb['limit_bookings_per_s']:.2f} bookings/s with {args.workers} free cores", flush=True)
        if args.workers > 1:
            result["extraction_bound_concurrent"] = ec = extraction_bound_concurrent(args, args.workers, threads)
            print(f"extraction-bound, {args.workers} processes at once: {ec['cpu_s_per_booking']:.3f} "
                  f"CPU-s/booking -> {ec['limit_bookings_per_s']:.2f} bookings/s", flush=True)
    url = fresh_store(args.backend, args.data)
    try:
        engine = setup_store(url, inputs)
        run = {"throughput": mode_throughput, "latency": mode_latency, "soak": mode_soak}[args.mode]
        result["result"] = run(args, inputs, url, engine)
        engine.dispose()
        if args.mode == "throughput":
            # the same bound again right after the run: on a shared VM the CPU-s of the same extraction moves
            # by half with the machine's state, so the run is compared with the bound on both sides of it
            after = extraction_bound(inputs, args.sample, len(args.fingers), threads)
            eb["cpu_s_per_booking_after_run"] = after["cpu_s_per_booking"]
            eb["cpu_s_per_booking_bracket"] = (eb["cpu_s_per_booking"] + after["cpu_s_per_booking"]) / 2
    finally:
        if not args.keep:
            drop_store(url)
    result["load_after"] = os.getloadavg()
    if args.mode == "throughput":
        r = result["result"]
        r["fraction_of_extraction_bound"] = r["bookings_per_s"] / result["extraction_bound"]["limit_bookings_per_s"]
        r["extraction_share_of_worker_cpu"] = (result["extraction_bound"]["cpu_s_per_booking"]
                                               / r["worker_cpu_s_per_booking"])
        r["extraction_share_of_worker_cpu_bracket"] = (result["extraction_bound"]["cpu_s_per_booking_bracket"]
                                                       / r["worker_cpu_s_per_booking"])
        r["fraction_of_extraction_bound_bracket"] = r["bookings_per_s"] / (
            args.workers / result["extraction_bound"]["cpu_s_per_booking_bracket"])
        r["fraction_of_extraction_bound_less_runqueue_wait"] = (
            r["bookings_per_s_less_runqueue_wait"] / result["extraction_bound"]["limit_bookings_per_s"])
        if "extraction_bound_concurrent" in result:
            ec = result["extraction_bound_concurrent"]
            r["fraction_of_concurrent_extraction_bound"] = r["bookings_per_s"] / ec["limit_bookings_per_s"]
            r["concurrent_extraction_share_of_worker_cpu"] = ec["cpu_s_per_booking"] / r["worker_cpu_s_per_booking"]
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"pipeline-{args.mode}-{args.backend}.json"
    out.write_text(json.dumps(result, indent=2, default=str))
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
