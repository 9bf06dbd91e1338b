"""Pipeline commands: init, enroll, agencies, activate, submit, work, status, responses, review, demo.

Every command takes ``--db URL`` and ``--data DIR``; without them the store
is ``$SECURECOMM_DATABASE_URL``, else SQLite in ``$SECURECOMM_DATA`` (default
``./data``). Long work shows rich progress bars.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console()
err = Console(stderr=True)

DbOpt = Annotated[Optional[str], typer.Option("--db", help="database URL (default $SECURECOMM_DATABASE_URL "
                                                           "or SQLite in the data folder)")]
DataOpt = Annotated[Optional[Path], typer.Option("--data", help="data folder for the SQLite store "
                                                                "(default $SECURECOMM_DATA or ./data)")]


def _operator() -> str:
    """Who is at the keyboard, for the audit trail ($SECURECOMM_ACTOR, else the login name)."""
    import getpass
    import os

    return os.environ.get("SECURECOMM_ACTOR") or getpass.getuser() or "unknown"


def _audit(engine, object_type: str, object_id: str, detail: str = "") -> None:
    from securecomm.workflow.pipeline import audit_read

    audit_read(engine, actor=_operator(), role="operator", object_type=object_type, object_id=object_id,
               detail=detail)


def _url(db: str | None, data: Path | None) -> str:
    from securecomm.store.db import default_url, normalise_url

    return normalise_url(db) if db else default_url(data)


def _engine(db: str | None, data: Path | None, *, upgrade: bool = True):
    """An engine on the chosen store, migrated to the newest schema (idempotent)."""
    from securecomm.store.db import make_engine, migrate

    engine = make_engine(_url(db, data))
    if upgrade:
        migrate(engine)
    return engine


def _require_schema(engine) -> None:
    from sqlalchemy import inspect

    if not inspect(engine).has_table("jobs"):
        _fail(f"no securecomm store at {engine.url.render_as_string(hide_password=True)}: run `securecomm init`")


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=False)


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def _read_files(files: list[Path]) -> list[tuple[Path, bytes]]:
    out = []
    for f in files:
        if not f.is_file():
            _fail(f"{f}: no such file")
        out.append((f, f.read_bytes()))
    return out


# ------------------------------------------------------------------------------------------- commands


def init(db: DbOpt = None, data: DataOpt = None) -> None:
    """Create (or upgrade) the store: every table, by Alembic migration."""
    from securecomm.store.db import current_revision

    engine = _engine(db, data)
    console.print(f"store ready at {engine.url.render_as_string(hide_password=True)} "
                  f"(schema {current_revision(engine)})")


def enroll(kind: Annotated[str, typer.Argument(help="criminal | immigration")],
           files: Annotated[list[Path], typer.Argument(help="ANSI/NIST-ITL enrolment transactions")],
           processes: Annotated[int, typer.Option("--processes", "-j", help="extraction processes")] = 1,
           min_fingers: Annotated[int, typer.Option("--min-fingers", help="fingers an enrolment needs")] = 10,
           db: DbOpt = None, data: DataOpt = None) -> None:
    """Enrol subjects into the criminal (CNA) or immigration (IEN) repository."""
    from securecomm.workflow.enrolment import KINDS, enroll_many

    if kind not in KINDS:
        _fail(f"enroll takes 'criminal' or 'immigration', not {kind!r}")
    engine = _engine(db, data)
    items = _read_files(files)
    counts: dict[str, int] = {}
    with _progress() as bar:
        task = bar.add_task(f"enrolling {kind}", total=len(items))

        def done(res) -> None:
            counts[res.outcome] = counts.get(res.outcome, 0) + 1
            if res.outcome != "enrolled":
                bar.console.print(f"{res.tcn}: {res.outcome} {res.message}")
            bar.advance(task)

        enroll_many(engine, kind, [raw for _, raw in items], processes=processes, min_fingers=min_fingers,
                    on_done=done)
    console.print(", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    if counts.get("rejected"):
        raise typer.Exit(2)


agencies_app = typer.Typer(help="agencies by ORI", no_args_is_help=True)


@agencies_app.command("load")
def agencies_load(file: Annotated[Path, typer.Argument(help="CSV or JSON agency file")],
                  db: DbOpt = None, data: DataOpt = None) -> None:
    """Load (upsert) agencies: ORI, name, state, county, kind, SIB ORI, field office."""
    from securecomm.jurisdictions import JurisdictionError, load_agencies
    from securecomm.workflow.queue import write_session

    engine = _engine(db, data)
    try:
        with write_session(engine) as s:
            n = load_agencies(s, file)
    except JurisdictionError as exc:
        _fail(str(exc))
    console.print(f"{n} agencies loaded")


@agencies_app.command("list")
def agencies_list(state: Annotated[Optional[str], typer.Option(help="two-letter state")] = None,
                  db: DbOpt = None, data: DataOpt = None) -> None:
    """List agencies and whether they are activated today."""
    from sqlalchemy.orm import Session

    from securecomm.jurisdictions import agencies, is_activated

    engine = _engine(db, data)
    table = Table("ORI", "name", "county", "kind", "SIB", "field office", "activated today")
    with Session(engine) as s:
        for a in agencies(s, state):
            table.add_row(a.ori, a.name, a.county, a.kind, a.sib_ori or "", a.field_office,
                          "yes" if is_activated(s, a.ori, dt.date.today()) else "no")
    console.print(table)


def activate(state: Annotated[Optional[str], typer.Option("--state", help="two-letter state")] = None,
             county: Annotated[Optional[str], typer.Option("--county", help="county (with --state)")] = None,
             ori: Annotated[Optional[str], typer.Option("--ori", help="one agency")] = None,
             from_: Annotated[Optional[str], typer.Option("--from", help="first day, YYYY-MM-DD")] = None,
             to: Annotated[Optional[str], typer.Option("--to", help="last day, YYYY-MM-DD")] = None,
             schedule: Annotated[Optional[Path], typer.Option("--file", help="activation schedule CSV/JSON")] = None,
             note: str = "", db: DbOpt = None, data: DataOpt = None) -> None:
    """Switch interoperability on for a state, a county or one ORI from a date (to a date)."""
    from securecomm.jurisdictions import JurisdictionError, load_activations
    from securecomm.jurisdictions import activate as schedule_one
    from securecomm.workflow.queue import write_session

    engine = _engine(db, data)
    try:
        with write_session(engine) as s:
            if schedule is not None:
                n = load_activations(s, schedule)
                console.print(f"{n} activations loaded")
                return
            if not from_:
                _fail("activate needs --from DATE (or --file SCHEDULE)")
            row = schedule_one(s, state=state, county=county, ori=ori, effective_from=from_, effective_to=to,
                               note=note)
            console.print(f"activated {row.scope} {row.value} from {row.effective_from}"
                          + (f" to {row.effective_to}" if row.effective_to else ""))
    except JurisdictionError as exc:
        _fail(str(exc))


def submit(files: Annotated[list[Path], typer.Argument(help="CAR booking transactions")],
           db: DbOpt = None, data: DataOpt = None) -> None:
    """Queue bookings for the pipeline (a TCN already received is recognised, not queued again)."""
    from securecomm.workflow.pipeline import submit as submit_one

    engine = _engine(db, data)
    counts: dict[str, int] = {}
    for path, raw in _read_files(files):
        res = submit_one(engine, raw)
        counts[res.outcome] = counts.get(res.outcome, 0) + 1
        if res.outcome != "queued":
            console.print(f"{path.name}: TCN {res.tcn} {res.outcome} ({res.state}): {res.message}")
    console.print(", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    if counts.get("conflict") or counts.get("refused"):
        raise typer.Exit(2)


def work(once: Annotated[bool, typer.Option("--once", help="run one job, then stop")] = False,
         workers: Annotated[int, typer.Option("--workers", "-n", help="worker processes")] = 1,
         lease: Annotated[float, typer.Option("--lease", help="seconds before a silent worker's job is "
                                                              "taken over")] = 60.0,
         min_fingers: Annotated[int, typer.Option("--min-fingers", help="fingers a booking needs")] = 8,
         quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
         db: DbOpt = None, data: DataOpt = None) -> None:
    """Process queued transactions until the queue is empty (or one job with --once).

    One worker runs in this process; ``--workers N`` starts N worker processes.
    Killing any of them at any moment loses nothing: their jobs are taken over
    when the lease runs out.
    """
    from securecomm.workflow.pipeline import Worker
    from securecomm.workflow.queue import JobQueue
    from securecomm.workflow.stages import PipelineConfig

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    engine = _engine(db, data, upgrade=False)  # workers start often (and get killed): no migration here
    _require_schema(engine)
    url = engine.url.render_as_string(hide_password=False)
    queue = JobQueue(engine)
    if once or workers <= 1:
        from securecomm.workflow.pipeline import stop_on_sigterm

        stop = stop_on_sigterm()
        worker = Worker(engine, PipelineConfig(min_fingers=min_fingers), lease_seconds=lease)
        if once:
            console.print(f"{int(worker.step())} job(s) processed")
            return
        if quiet:
            n = worker.run(until_empty=True, stop=stop)
        else:
            with _progress() as bar:
                c = queue.counts()
                task = bar.add_task("processing", total=max(sum(c.values()), 1),
                                    completed=sum(c.values()) - c.get("ready", 0))

                def tick() -> None:
                    c = queue.counts()
                    bar.update(task, total=max(sum(c.values()), 1), completed=sum(c.values()) - c.get("ready", 0))

                n = worker.run(until_empty=True, on_step=tick, stop=stop)
        console.print(f"{n} job(s) processed, {worker.stages_run} stage(s) committed")
        _queue_summary(queue)
        return
    from securecomm.workflow.pipeline import run_workers

    with _progress() as bar:
        task = bar.add_task(f"processing ({workers} workers)", total=1)

        def poll(c: dict[str, int]) -> None:
            bar.update(task, total=max(sum(c.values()), 1), completed=sum(c.values()) - c.get("ready", 0))

        codes = run_workers(engine, workers, PipelineConfig(min_fingers=min_fingers), lease_seconds=lease,
                            on_poll=poll)
    _queue_summary(queue)
    if any(codes):
        _fail(f"worker exit codes {codes}")


def _queue_summary(queue) -> None:
    c = queue.counts()
    console.print(f"queue: {c.get('done', 0)} done, {c.get('waiting', 0)} waiting for review, "
                  f"{c.get('failed', 0)} failed, {c.get('ready', 0)} still queued")


def status(tcn: Annotated[str, typer.Argument(help="transaction control number")],
           as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
           db: DbOpt = None, data: DataOpt = None) -> None:
    """Where one transaction stands: state, job, each stage's result, responses, reviews."""
    from securecomm.workflow.pipeline import transaction_status

    engine = _engine(db, data)
    try:
        info = transaction_status(engine, tcn)
    except LookupError as exc:
        _fail(str(exc))
    _audit(engine, "transaction", tcn, "securecomm status")
    if as_json:
        console.print_json(json.dumps(info, default=str))
        return
    console.print(f"[bold]{info['tcn']}[/bold] {info['tot']} from {info['ori']}: [bold]{info['state']}[/bold]"
                  + (f" -- {info['error']}" if info["error"] else ""))
    if info["job"]:
        j = info["job"]
        console.print(f"job: {j['state']} at stage {j['stage']} (attempts {j['attempts']})"
                      + (f" last error: {j['last_error'][0]}" if j["last_error"] else ""))
    table = Table("stage", "status", "result")
    for st in info["stages"]:
        out = {k: v for k, v in st["output"].items() if k not in ("candidates", "finger_scores", "minutiae")}
        table.add_row(st["stage"], st["status"], json.dumps(out, default=str)[:110])
    console.print(table)
    for r in info["responses"]:
        console.print(f"  {r['kind']:4} -> {r['recipient']} ({r['role']}): {json.dumps(r['summary'])[:90]}")
    for i in info["reviews"]:
        console.print(f"  review #{i['id']} {i['kind']}: {i['state']} {i['decision'] or ''}")


def responses(tcn: Annotated[str, typer.Argument(help="transaction control number")],
              fmt: Annotated[str, typer.Option("--format", help="json | nist")] = "json",
              out: Annotated[Optional[Path], typer.Option("--out", help="folder for nist files")] = None,
              db: DbOpt = None, data: DataOpt = None) -> None:
    """The responses sent for a transaction, as JSON or as the ANSI/NIST-ITL/JSON payloads themselves."""
    from securecomm.workflow.pipeline import responses as list_responses

    if fmt not in ("json", "nist"):
        _fail("--format is json or nist")
    engine = _engine(db, data)
    try:
        rows = list_responses(engine, tcn)
    except LookupError as exc:
        _fail(str(exc))
    _audit(engine, "responses", tcn, f"securecomm responses --format {fmt}")
    if fmt == "json":
        doc = []
        for r in rows:
            item = {"kind": r.kind, "recipient": r.recipient, "role": r.recipient_role, "format": r.format,
                    "created_at": r.created_at.isoformat(timespec="seconds"), "summary": r.summary}
            if r.format == "json":
                item["message"] = json.loads(r.payload)
            else:
                item["bytes"] = len(r.payload)
            doc.append(item)
        sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
        return
    if out is None:
        if len(rows) != 1:
            _fail(f"{len(rows)} responses: give --out DIR to write each payload to its own file")
        sys.stdout.buffer.write(rows[0].payload)
        return
    out.mkdir(parents=True, exist_ok=True)
    for r in rows:
        ext = "an2" if r.format == "nist" else "json"
        path = out / f"{tcn}.{r.kind}.{r.recipient}.{ext}"
        path.write_bytes(r.payload)
        console.print(f"wrote {path}")


review_app = typer.Typer(help="the manual review queue", invoke_without_command=True)


@review_app.callback()
def review(ctx: typer.Context, all_: Annotated[bool, typer.Option("--all", help="resolved items too")] = False,
           db: DbOpt = None, data: DataOpt = None) -> None:
    """List the manual queue: examiner-band matches, undecided statuses, protected persons."""
    if ctx.invoked_subcommand is not None:
        return
    from securecomm.workflow.pipeline import review_items

    engine = _engine(db, data)
    items = review_items(engine, state=None if all_ else "open")
    _audit(engine, "review_queue", "all" if all_ else "open", f"{len(items)} items listed")
    for i in items:
        score = "" if i.score is None else f" score {i.score:.2f}"
        state = i.state + (f" ({i.decision} by {i.resolved_by})" if i.decision else "")
        console.print(f"[bold]#{i.id}[/bold] {i.tcn}  {i.kind}  band {i.band or '-'}{score}  "
                      f"candidate {i.candidate or '-'}  {state}", soft_wrap=True)
        console.print(f"    {i.reason}", soft_wrap=True, highlight=False)
    console.print(f"{len(items)} item(s); decide with: securecomm review decide ID DECISION --reviewer NAME")


@review_app.command("decide")
def review_decide(item: Annotated[int, typer.Argument(help="review item id")],
                  decision: Annotated[str, typer.Argument(help="biometric: confirm|reject; status: "
                                                               "no_action|notification_request|detainer")],
                  reviewer: Annotated[str, typer.Option("--reviewer", help="who decides (audited)")],
                  note: str = "", db: DbOpt = None, data: DataOpt = None) -> None:
    """Record a human decision; the waiting transaction continues at the next `work`."""
    from securecomm.workflow.pipeline import resolve_review

    engine = _engine(db, data)
    try:
        row = resolve_review(engine, item, decision, reviewer=reviewer, note=note)
    except (LookupError, ValueError) as exc:
        _fail(str(exc))
    console.print(f"review #{row.id} ({row.kind}, {row.tcn}): {row.state} -- run `securecomm work` to continue")


def demo(seed: Annotated[int, typer.Option(help="seed of the synthetic state")] = 2012,
         people: Annotated[int, typer.Option(help="people in the synthetic population")] = 0,
         bookings: Annotated[int, typer.Option(help="bookings to run through the pipeline")] = 0,
         processes: Annotated[int, typer.Option("--processes", "-j", help="rendering processes")] = 2,
         fingers: Annotated[str, typer.Option(help="finger positions, e.g. 2,7 or 1-10 (default: all "
                                                   "ten)")] = "",
         db: DbOpt = None, data: DataOpt = None) -> None:
    """Build a small synthetic state from a seed, run its bookings through the pipeline, summarise."""
    from dataclasses import replace

    from securecomm.demo.runner import DemoConfig, run_demo

    cfg = DemoConfig(seed=seed, processes=processes, workers=max(1, processes))
    if fingers:
        cfg = replace(cfg, fingers=_positions(fingers))
    if people:
        cfg = cfg.with_people(people)
    if bookings:
        cfg = cfg.with_bookings(bookings)
    if cfg.people < 2 or cfg.bookings < 1 or people < 0 or bookings < 0:
        _fail("the demo needs --people 2 or more and --bookings 1 or more")
    folder = data or Path(__import__("os").environ.get("SECURECOMM_DATA", "data"))
    run_demo(cfg, data_dir=folder, db_url=db, console=console)


def _positions(text: str) -> tuple[int, ...]:
    """``"2,7"`` or ``"1-10"`` -> finger positions; a bad list is a usage error naming it."""
    out: set[int] = set()
    try:
        for part in text.split(","):
            a, _, b = part.strip().partition("-")
            out.update(range(int(a), int(b or a) + 1))
    except ValueError:
        _fail(f"--fingers {text!r}: give positions like 2,7 or 1-10")
    if not out or not out <= set(range(1, 11)):
        _fail(f"--fingers {text!r}: positions are 1..10")
    return tuple(sorted(out))


def register(app: typer.Typer) -> None:
    """Add the pipeline commands to the root app."""
    app.command("init")(init)
    app.command("enroll")(enroll)
    app.add_typer(agencies_app, name="agencies")
    app.command("activate")(activate)
    app.command("submit")(submit)
    app.command("work")(work)
    app.command("status")(status)
    app.command("responses")(responses)
    app.add_typer(review_app, name="review")
    app.command("demo")(demo)
