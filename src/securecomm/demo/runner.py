"""``securecomm demo``: build a synthetic state, run its bookings through the real pipeline, summarise.

Every step goes through the same code an operator would use: agency and
activation files through the jurisdiction loaders, enrolments as CNA/IEN
transactions through ``workflow.enrolment``, bookings as CAR transactions
through ``workflow.pipeline.submit`` and worker processes. The files are
left in ``<data>/demo/`` for inspection (``securecomm nist inspect ...``),
and the store in ``<data>/securecomm.db`` for ``securecomm status`` and
``securecomm review``.

The plan's ground truth is used only at the end, to report how well the
pipeline did (true and false matches); nothing in the pipeline sees it.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import multiprocessing as mp
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from securecomm.demo.population import BOOKINGS_FROM, FIELD_OFFICE, Population, build_population
from securecomm.demo.transactions import PersonTransactions, person_transactions


@dataclass(frozen=True)
class DemoConfig:
    """Sizes of the demo; the defaults run in about three minutes on two cores."""

    seed: int = 2012
    people: int = 40
    bookings: int = 40
    fingers: tuple[int, ...] = tuple(range(1, 11))  # full ten-prints, as a booking takes; --fingers 2,7 is quicker
    processes: int = 2  # rendering and extraction processes
    workers: int = 2  # pipeline worker processes
    bad_inputs: bool = True

    def with_people(self, n: int) -> DemoConfig:
        return replace(self, people=int(n))

    def with_bookings(self, n: int) -> DemoConfig:
        return replace(self, bookings=int(n))


@dataclass
class DemoResult:
    """What the demo did, for the summary and for tests."""

    store_url: str
    submitted: Counter = field(default_factory=Counter)  # submit outcome -> count
    enrolled: Counter = field(default_factory=Counter)  # kind -> count
    summary: dict[str, Any] = field(default_factory=dict)
    report: str | None = None  # the monthly report's HTML (securecomm.statistics.report)
    seconds: dict[str, float] = field(default_factory=dict)


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description:<34}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console)


def _render(args: tuple) -> PersonTransactions:
    person, bookings, fingers, enrol_date = args
    return person_transactions(person, bookings, fingers, enrol_date)


def _fresh_store(data_dir: Path, db_url: str | None) -> Engine:
    from securecomm.store.db import make_engine, migrate

    if db_url is None:
        data_dir.mkdir(parents=True, exist_ok=True)
        db = data_dir / "securecomm.db"
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(str(db) + suffix).unlink(missing_ok=True)
        db_url = f"sqlite:///{db.resolve()}"
    engine = make_engine(db_url)
    migrate(engine)
    from securecomm.store.workflow_models import Transaction

    with Session(engine) as s:
        if s.scalars(select(Transaction.id).limit(1)).first() is not None:
            raise SystemExit(f"the demo needs an empty store; {engine.url.render_as_string(hide_password=True)} "
                             "already holds transactions")
    return engine


def _write_csv(path: Path, rows: tuple[dict[str, str], ...]) -> None:
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def run_demo(cfg: DemoConfig, *, data_dir: Path, db_url: str | None = None,
             console: Console | None = None) -> DemoResult:
    """Run the whole demo; returns its result (the summary is also printed)."""
    from securecomm.domain.principal import Role
    from securecomm.services import bookings, config, enrolment, pipeline, protections, users
    from securecomm.services.unit_of_work import UnitOfWork
    from securecomm.store.db import make_sessionmaker
    from securecomm.workflow.stages import PipelineConfig

    console = console or Console()
    t0 = time.monotonic()
    data_dir = Path(data_dir)
    engine = _fresh_store(data_dir, db_url)
    result = DemoResult(store_url=engine.url.render_as_string(hide_password=True))
    folder = data_dir / "demo"
    shutil.rmtree(folder, ignore_errors=True)
    for sub in ("criminal", "immigration", "bookings"):
        (folder / sub).mkdir(parents=True)

    pop = build_population(cfg.seed, cfg.people, cfg.bookings, cfg.fingers, bad_inputs=cfg.bad_inputs)
    console.print(f"[bold]securecomm demo[/bold] seed {cfg.seed}: {len(pop.people)} people, "
                  f"{sum(1 for b in pop.bookings if not b.defect)} bookings (+{sum(1 for b in pop.bookings if b.defect)} "
                  f"bad or repeated submissions), fingers {list(cfg.fingers)}; store {result.store_url}")
    _write_csv(folder / "agencies.csv", pop.agencies)
    _write_csv(folder / "activations.csv", pop.activations)
    # the demo's people: the operator running it is the fresh store's first admin (as after `securecomm init`),
    # plus an examiner, an analyst and a field officer to work the review queue afterwards
    sessions = make_sessionmaker(engine)
    admin = users.bootstrap_admin(sessions, users.local_actor_name() or "demo-admin").principal()
    with UnitOfWork(sessions, admin, purpose="demo set-up", write=True) as uow:
        users.add_user(uow, "demo-examiner", Role.EXAMINER)
        users.add_user(uow, "demo-analyst", Role.LESC_ANALYST)
        officer = users.add_user(uow, "demo-field-officer", Role.FIELD_OFFICER, area=FIELD_OFFICE).principal()
        config.load_agencies(uow, folder / "agencies.csv")
        config.load_activations(uow, folder / "activations.csv")

    # 1. synthetic fingerprints -> real transactions (the expensive part: a process pool)
    by_person: dict[int, list] = {}
    for b in pop.bookings:
        by_person.setdefault(b.person_index, []).append(b)
    enrol_date = BOOKINGS_FROM - dt.timedelta(days=1)
    jobs = [(p, by_person.get(p.index, []), cfg.fingers, enrol_date) for p in pop.people
            if p.in_criminal or p.in_immigration or p.index in by_person]
    jobs.sort(key=lambda j: -(len(j[1]) + 2 * (j[0].in_criminal + j[0].in_immigration)))  # big ones first
    rendered: list[PersonTransactions] = []
    t = time.monotonic()
    with _progress(console) as bar:
        task = bar.add_task("fingerprints -> ANSI/NIST-ITL", total=len(jobs))
        if cfg.processes > 1:
            with mp.get_context("spawn").Pool(cfg.processes) as pool:
                for pt in pool.imap_unordered(_render, jobs):
                    rendered.append(pt)
                    bar.advance(task)
        else:
            for job in jobs:
                rendered.append(_render(job))
                bar.advance(task)
    result.seconds["render"] = time.monotonic() - t
    rendered.sort(key=lambda pt: pt.index)
    criminal = [pt.criminal for pt in rendered if pt.criminal]
    immigration = [pt.immigration for pt in rendered if pt.immigration]
    booking_bytes = {tcn: raw for pt in rendered for tcn, raw in pt.bookings}
    for pt in rendered:
        if pt.criminal:
            (folder / "criminal" / f"CNA-{pt.index:05d}.an2").write_bytes(pt.criminal)
        if pt.immigration:
            (folder / "immigration" / f"IEN-{pt.index:05d}.an2").write_bytes(pt.immigration)
    for tcn, raw in booking_bytes.items():
        (folder / "bookings" / f"{tcn}.an2").write_bytes(raw)

    # 2. enrol both repositories (read, extract, write) through the enrolment path
    t = time.monotonic()
    fin_of: dict[int, str] = {}
    with _progress(console) as bar:
        for kind, raws, owners in (
                ("criminal", criminal, [pt.index for pt in rendered if pt.criminal]),
                ("immigration", immigration, [pt.index for pt in rendered if pt.immigration])):
            task = bar.add_task(f"enrolling {kind}", total=len(raws))
            done = enrolment.enroll_many(sessions, admin, kind, raws, processes=cfg.processes,
                                         min_fingers=len(cfg.fingers), on_done=lambda _r, task=task: bar.advance(task))
            for owner, res in zip(owners, done):
                result.enrolled[f"{kind}:{res.outcome}"] += 1
                if kind == "immigration" and res.outcome == "enrolled":
                    fin_of[owner] = res.key
    # known victims and witnesses: a fact local law enforcement reports, recorded (audited) on the identity
    with UnitOfWork(sessions, officer, purpose="victim/witness report (demo)", write=True) as uow:
        for i in pop.victim_witness:
            if i in fin_of:
                protections.flag_victim_witness(uow, fin_of[i], basis="cooperating witness (demo)")
    result.seconds["enrol"] = time.monotonic() - t

    # 3. submit the bookings (dates in order; bad inputs and a resubmission at the end)
    for b in pop.bookings:  # the "duplicate" entry sends the first booking's file again
        raw = booking_bytes.get(b.tcn)
        if raw is not None:
            with UnitOfWork(sessions, admin, purpose="demo submission") as uow:
                result.submitted[bookings.submit(uow, raw).outcome] += 1

    # 4. the pipeline: worker processes until the queue is empty
    t = time.monotonic()
    with _progress(console) as bar:
        task = bar.add_task(f"pipeline ({cfg.workers} workers)", total=1)

        def poll(c: dict[str, int]) -> None:
            bar.update(task, total=max(sum(c.values()), 1), completed=sum(c.values()) - c.get("ready", 0))

        codes = pipeline.run_workers(engine, admin, cfg.workers, PipelineConfig(min_fingers=len(cfg.fingers)),
                                     on_poll=poll)
    if any(codes):
        console.print(f"[red]worker exit codes {codes}[/red]")
    result.seconds["pipeline"] = time.monotonic() - t
    # 5. detainers: the field office decides on each IAR; the jails answer under their laws
    from securecomm.demo.detainers import carry_through

    t = time.monotonic()
    detained = carry_through(engine, sessions, officer, admin, seed=cfg.seed)
    result.seconds["detainers"] = time.monotonic() - t
    result.seconds["total"] = time.monotonic() - t0
    result.summary = summarise(engine, pop, fin_of)
    result.summary["detainers"] = detained
    (folder / "summary.json").write_text(json.dumps({"summary": result.summary, "seconds": result.seconds,
                                                      "submitted": dict(result.submitted),
                                                      "enrolled": dict(result.enrolled)}, indent=2, default=str))
    print_summary(console, result)
    # ends with the jurisdiction table, computed in SQL by securecomm.statistics, and the monthly report
    from securecomm.statistics.report import demo_tail
    from securecomm.store.db import make_sessionmaker

    rep = demo_tail(make_sessionmaker(engine), console, data_dir / "report")
    result.report = str(rep.html) if rep is not None else None
    from securecomm.demo.accounts import issue_accounts  # issue 11: one console/API account per role

    issue_accounts(sessions, admin, data_dir, FIELD_OFFICE, console)
    return result


def summarise(engine: Engine, pop: Population, fin_of: dict[int, str]) -> dict[str, Any]:
    """Counts the programme published, from the store; plus accuracy against the plan's truth."""
    from securecomm.store.workflow_models import Job, Response, ReviewItem, StageRun, Transaction

    truth = {b.tcn: b for b in pop.bookings}
    people = {p.index: p for p in pop.people}
    with Session(engine) as s:
        # submissions are the transactions with a job (enrolments have none)
        bookings = s.scalars(select(Transaction).join(Job, Job.tcn == Transaction.tcn)).all()
        runs = {(r.tcn, r.stage): r for r in s.scalars(select(StageRun))}
        resp = s.execute(select(Response.tcn, Response.kind, Response.recipient, Response.summary)).all()
        items = s.scalars(select(ReviewItem)).all()
        jobs = dict(s.execute(select(Job.tcn, Job.state)).all())
    kinds = Counter((tcn, kind) for tcn, kind, _, _ in resp)

    def output(t: Transaction, stage: str) -> dict[str, Any]:
        """What ``stage`` recorded for booking ``t`` ({} when it has not run)."""
        r = runs.get((t.tcn, stage))
        return r.output if r is not None else {}

    def searched(t: Transaction) -> bool | None:
        """Searched against immigration (True), not activated (False), not that far (None)."""
        r = runs.get((t.tcn, "immigration_search"))
        return None if r is None else r.status != "skipped"

    out: dict[str, Any] = {
        "submissions": len(bookings),
        "rejected_errt": sum(1 for t in bookings if t.state == "rejected"),
        "criminal_identified": sum(1 for t in bookings if output(t, "criminal_search").get("result") == "I"),
        "criminal_new_subjects": sum(1 for t in bookings if output(t, "criminal_search").get("result") == "N"),
        "not_activated": sum(1 for t in bookings if searched(t) is False),
        "immigration_searches": sum(1 for t in bookings if searched(t) is True),
        "immigration_matches": sum(1 for t in bookings if output(t, "idr").get("match")),
        "examiner_review_band": sum(1 for i in items if i.kind == "biometric"),
        "iaq": sum(1 for (_, k) in kinds if k == "IAQ"),
        "iar": sum(1 for (_, k) in kinds if k == "IAR"),
        "manual_review_open": sum(1 for i in items if i.state == "open"),
        "manual_review_by_kind": dict(Counter(i.kind for i in items if i.state == "open")),
        "jobs": dict(Counter(jobs.values())),
    }
    iar_status, iar_level, iar_action, match_level = Counter(), Counter(), Counter(), Counter()
    for t in bookings:
        sd = runs.get((t.tcn, "status_determination"))
        if sd is not None:
            match_level[sd.output.get("level", "?")] += 1
        iar = runs.get((t.tcn, "iar"))
        if iar is not None:
            iar_status[iar.output["status"]] += 1
            iar_level[iar.output["level"]] += 1
            iar_action[iar.output["action"]] += 1
    out.update(iar_by_status=dict(iar_status), iar_by_level=dict(iar_level), iar_by_action=dict(iar_action),
               matches_by_level=dict(match_level))
    # the programme's monthly tables were by state and county: submissions, matches, and matches by level
    county = {a["ori"]: a["county"] or a["name"] for a in pop.agencies}
    by_county: dict[str, Counter] = {}
    for t in bookings:
        c = by_county.setdefault(county.get(t.ori, "unknown ORI"), Counter())
        c["submissions"] += 1
        if searched(t):
            c["searched"] += 1
        if output(t, "idr").get("match"):
            c["matches"] += 1
            if (t.tcn, "status_determination") in runs:
                c[output(t, "status_determination").get("level", "?")] += 1
    out["by_county"] = {k: dict(v) for k, v in sorted(by_county.items())}
    # accuracy against the plan's truth (reporting only)
    true_match = false_match = missed = 0
    for t in bookings:
        b = truth.get(t.tcn)
        imm = runs.get((t.tcn, "immigration_search"))
        if b is None or b.defect or imm is None or imm.status == "skipped":
            continue
        expected = fin_of.get(b.person_index)
        got = runs.get((t.tcn, "idr"))
        found = got.output.get("fin") if got is not None and got.output.get("match") else None
        if imm.output.get("decision") == "review" and got is None:
            continue  # waiting for an examiner
        if found and found == expected:
            true_match += 1
        elif found:
            false_match += 1
        elif expected:
            missed += 1
    out["accuracy"] = {"true_matches": true_match, "false_matches": false_match, "missed_matches": missed}
    examples: dict[str, str] = {}
    for t in sorted(bookings, key=lambda t: t.id):
        if t.state == "rejected":
            examples.setdefault("ERRT", t.tcn)
        elif (t.tcn, "iar") in runs:
            examples.setdefault("IAR", t.tcn)
        elif jobs.get(t.tcn) == "waiting":
            examples.setdefault("manual review", t.tcn)
        elif searched(t) is False:
            examples.setdefault("not activated", t.tcn)
    out["examples"] = examples
    out["population"] = dict(Counter(p.category for p in people.values()))
    out["protected_people"] = dict(Counter(p.protection for p in people.values() if p.protection))
    return out


def print_summary(console: Console, result: DemoResult) -> None:
    s = result.summary
    table = Table(title="Secure Communities demo: interoperability statistics", show_header=True)
    table.add_column("measure")
    table.add_column("count", justify="right")
    rows = [
        ("fingerprint submissions (CAR)", s["submissions"]),
        ("  rejected with ERRT (bad input)", s["rejected_errt"]),
        ("  resubmissions recognised", result.submitted.get("duplicate", 0)),
        ("criminal: identified (SRE I)", s["criminal_identified"]),
        ("criminal: new subjects (SRE N)", s["criminal_new_subjects"]),
        ("ORI not activated on booking date", s["not_activated"]),
        ("immigration searches", s["immigration_searches"]),
        ("immigration matches (IDR match)", s["immigration_matches"]),
        ("  in the examiner-review band", s["examiner_review_band"]),
        ("IAQs to the LESC", s["iaq"]),
        ("IARs (bookings answered)", s["iar"]),
        ("manual review queue (open)", s["manual_review_open"]),
    ]
    for k, v in rows:
        table.add_row(k, str(v))
    console.print(table)
    by = Table(title="IAR outcomes and matches by criminal level")
    by.add_column("what")
    by.add_column("breakdown")
    by.add_row("matches by level", _fmt(s["matches_by_level"]))
    by.add_row("IARs by level", _fmt(s["iar_by_level"]))
    by.add_row("IARs by status", _fmt(s["iar_by_status"]))
    by.add_row("IARs by recommended action", _fmt(s["iar_by_action"]))
    by.add_row("manual review by kind", _fmt(s["manual_review_by_kind"]))
    by.add_row("population", _fmt(s["population"]))
    by.add_row("protected people", _fmt(s["protected_people"]))
    by.add_row("match accuracy (vs synthetic truth)", _fmt(s["accuracy"]))
    console.print(by)
    _print_detainers(console, s.get("detainers"))
    for what, tcn in s.get("examples", {}).items():
        console.print(f"  {what:>14}: securecomm status {tcn}")
    secs = result.seconds
    console.print(f"time: {secs.get('total', 0):.0f} s (fingerprints {secs.get('render', 0):.0f} s, enrolment "
                  f"{secs.get('enrol', 0):.0f} s, pipeline {secs.get('pipeline', 0):.0f} s, detainers "
                  f"{secs.get('detainers', 0):.0f} s). Next: "
                  "`securecomm review`, `securecomm status TCN`, `securecomm responses TCN`; "
                  "transactions in data/demo/.")


def _print_detainers(console: Console, d: dict | None) -> None:
    """Detainers by jail: the law that answered and how each ended (statistics.detainers.figures)."""
    if not d or not d.get("by_ori"):
        return
    cols = ("lodged", "honoured", "declined_by_law", "expired", "transferred")
    table = Table(title="Detainers by jail, under its law")
    table.add_column("jail")
    table.add_column("law in force")
    for h in ("lodged", "honoured", "declined\nby law", "expired", "transferred"):
        table.add_column(h, justify="right", no_wrap=True)
    for row in d["by_ori"]:
        table.add_row(row["jurisdiction"], d.get("laws", {}).get(row["jurisdiction"], "-"),
                      *(str(row[c]) for c in cols))
    tot = d.get("totals", {})
    table.add_row("all", "", *(str(tot.get(c, 0)) for c in cols))
    console.print(table)
    console.print(f"  also: {tot.get('notification_requests', 0)} notification requests "
                  f"({tot.get('released_notified', 0)} release notices), {tot.get('released_before', 0)} released "
                  f"before expiry, {tot.get('cancelled', 0)} cancelled, {tot.get('lodged_after_release', 0)} lodged "
                  f"after release (too late), {tot.get('decisions', 0) - tot.get('lodged', 0) - tot.get('notification_requests', 0)}"
                  f" no action; over-held: {tot.get('over_held', 0)}; `securecomm detainers list` / `figures`")
    if d.get("errors"):
        console.print(f"  detainer events refused: {_fmt(d['errors'])}")


def _fmt(d: dict) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(d.items(), key=lambda kv: str(kv[0]))) or "-"
