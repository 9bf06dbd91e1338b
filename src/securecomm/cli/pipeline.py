"""Pipeline commands: init, users, enroll, agencies, activate, submit, work, status, responses, review, demo.

Every command takes ``--db URL`` and ``--data DIR``; without them the store
is ``$SECURECOMM_DATABASE_URL``, else SQLite in ``$SECURECOMM_DATA`` (default
``./data``). Long work shows rich progress bars.

Every command that touches the store acts as a user of the store: the
operating-system login name, or ``$SECURECOMM_ACTOR``, looked up in the
``users`` table (``securecomm init`` makes the first one an admin). The
command calls one service function (``securecomm.services``) in a unit of
work with that principal: permissions, scopes and the audit are decided
there, never here.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
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


def _actor_name() -> str:
    from securecomm.services.users import local_actor_name

    return local_actor_name()


def _sessions(engine):
    from securecomm.store.db import make_sessionmaker

    return make_sessionmaker(engine)


def _principal(engine):
    """The principal of the user at the keyboard; a clear refusal for an unknown or disabled user."""
    from securecomm.services.users import DisabledUser, UnknownUser, principal_for

    _require_schema(engine)
    with _sessions(engine)() as s:
        try:
            return principal_for(s, _actor_name())
        except (UnknownUser, DisabledUser) as exc:
            _fail(str(exc))


@contextmanager
def _acting(engine, purpose: str, *, write: bool = False) -> Iterator:
    """A unit of work as the user at the keyboard; refusals and absences become clear errors."""
    from securecomm.jurisdictions import JurisdictionError
    from securecomm.services import NotFound, PermissionDenied, UnitOfWork
    from securecomm.services.users import UserError

    principal = _principal(engine)
    try:
        with UnitOfWork(_sessions(engine), principal, purpose=purpose, write=write) as uow:
            yield uow
    except PermissionDenied as exc:
        _fail(f"{principal.actor} ({principal.role.value}) may not {exc.operation}"
              + (f": {exc.why}" if exc.why else ""))
    except LookupError as exc:  # NotFound and the workflow's lookups: the message names what is missing
        _fail(str(exc.args[0]) if exc.args else "not found")
    except (JurisdictionError, UserError, ValueError) as exc:
        _fail(str(exc))


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

    if not inspect(engine).has_table("users"):
        _fail(f"no securecomm store at {engine.url.render_as_string(hide_password=True)}: run `securecomm init`")


def _progress(disable: bool = False) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=False, disable=disable)


def _fail(message: str, code: int = 1) -> None:
    from rich.markup import escape

    err.print(f"[red]error:[/red] {escape(message)}")  # a message's own brackets ("rules[0]", "[parquet]") stay
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
    """Create (or upgrade) the store, by Alembic migration; the first run makes you its first admin."""
    from securecomm.services.users import UserError, bootstrap_admin
    from securecomm.store.db import current_revision

    engine = _engine(db, data)
    console.print(f"store ready at {engine.url.render_as_string(hide_password=True)} "
                  f"(schema {current_revision(engine)})")
    name = _actor_name()
    try:
        first = bootstrap_admin(_sessions(engine), name)
    except UserError as exc:
        _fail(f"cannot make the first admin: {exc} (set $SECURECOMM_ACTOR)")
    if first is not None:
        console.print(f"first admin: {first.name} (add others with `securecomm users add NAME --role ROLE`)")


def enroll(kind: Annotated[str, typer.Argument(help="criminal | immigration")],
           files: Annotated[list[Path], typer.Argument(help="ANSI/NIST-ITL enrolment transactions")],
           processes: Annotated[int, typer.Option("--processes", "-j", help="extraction processes")] = 1,
           min_fingers: Annotated[int, typer.Option("--min-fingers", help="fingers an enrolment needs")] = 10,
           db: DbOpt = None, data: DataOpt = None) -> None:
    """Enrol subjects into the criminal (CNA) or immigration (IEN) repository."""
    from securecomm.services import PermissionDenied
    from securecomm.services.enrolment import OPERATION, enroll_many

    if kind not in OPERATION:
        _fail(f"enroll takes 'criminal' or 'immigration', not {kind!r}")
    engine = _engine(db, data)
    principal = _principal(engine)
    items = _read_files(files)
    counts: dict[str, int] = {}
    with _progress() as bar:
        task = bar.add_task(f"enrolling {kind}", total=len(items))

        def done(res) -> None:
            counts[res.outcome] = counts.get(res.outcome, 0) + 1
            if res.outcome != "enrolled":
                bar.console.print(f"{res.tcn}: {res.outcome} {res.message}")
            bar.advance(task)

        try:
            enroll_many(_sessions(engine), principal, kind, [raw for _, raw in items], processes=processes,
                        min_fingers=min_fingers, on_done=done)
        except PermissionDenied as exc:
            _fail(f"{principal.actor} ({principal.role.value}) may not {exc.operation}")
    console.print(", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    if counts.get("rejected"):
        raise typer.Exit(2)


agencies_app = typer.Typer(help="agencies by ORI", no_args_is_help=True)


@agencies_app.command("load")
def agencies_load(file: Annotated[Path, typer.Argument(help="CSV or JSON agency file")],
                  db: DbOpt = None, data: DataOpt = None) -> None:
    """Load (upsert) agencies: ORI, name, state, county, kind, SIB ORI, field office, time zone."""
    from securecomm.services import config

    engine = _engine(db, data)
    with _acting(engine, f"agencies load {file.name}", write=True) as uow:
        n = config.load_agencies(uow, file)
    console.print(f"{n} agencies loaded")


@agencies_app.command("list")
def agencies_list(state: Annotated[Optional[str], typer.Option(help="two-letter state")] = None,
                  db: DbOpt = None, data: DataOpt = None) -> None:
    """List agencies and whether they are activated today."""
    from securecomm.services import config

    engine = _engine(db, data)
    table = Table("ORI", "name", "county", "kind", "SIB", "field office", "time zone", "activated today")
    with _acting(engine, "agencies list") as uow:
        for a in config.list_agencies(uow, state):
            table.add_row(a.ori, a.name, a.county, a.kind, a.sib_ori, a.field_office, a.time_zone,
                          "yes" if a.activated else "no")
    console.print(table)


def activate(state: Annotated[Optional[str], typer.Option("--state", help="two-letter state")] = None,
             county: Annotated[Optional[str], typer.Option("--county", help="county (with --state)")] = None,
             ori: Annotated[Optional[str], typer.Option("--ori", help="one agency")] = None,
             from_: Annotated[Optional[str], typer.Option("--from", help="first day, YYYY-MM-DD")] = None,
             to: Annotated[Optional[str], typer.Option("--to", help="last day, YYYY-MM-DD")] = None,
             schedule: Annotated[Optional[Path], typer.Option("--file", help="activation schedule CSV/JSON")] = None,
             note: str = "", db: DbOpt = None, data: DataOpt = None) -> None:
    """Switch interoperability on for a state, a county or one ORI from a date (to a date)."""
    from securecomm.services import config

    if schedule is None and not from_:
        _fail("activate needs --from DATE (or --file SCHEDULE)")
    engine = _engine(db, data)
    with _acting(engine, "activation schedule", write=True) as uow:
        if schedule is not None:
            n = config.load_activations(uow, schedule)
            console.print(f"{n} new activations loaded (entries already scheduled are not added again)")
            return
        row = config.activate(uow, state=state, county=county, ori=ori, effective_from=from_, effective_to=to,
                              note=note)
    console.print(f"activated {row.scope} {row.value} from {row.effective_from}"
                  + (f" to {row.effective_to}" if row.effective_to else ""))


def submit(files: Annotated[list[Path], typer.Argument(help="CAR booking transactions")],
           db: DbOpt = None, data: DataOpt = None) -> None:
    """Queue bookings for the pipeline (a TCN already received is recognised, not queued again)."""
    from securecomm.services import bookings

    engine = _engine(db, data)
    counts: dict[str, int] = {}
    for path in files:  # one bad file is reported and the rest of the batch goes on
        problem = ("no such file" if not path.is_file() else
                   "empty file (no transaction in it)" if path.stat().st_size == 0 else "")
        if problem:
            counts["error"] = counts.get("error", 0) + 1
            err.print(f"[red]error:[/red] {path}: {problem}; not submitted")
            continue
        raw = path.read_bytes()
        with _acting(engine, f"submit {path.name}") as uow:
            res = bookings.submit(uow, raw)
        counts[res.outcome] = counts.get(res.outcome, 0) + 1
        if res.outcome != "queued":
            console.print(f"{path.name}: TCN {res.tcn} {res.outcome} ({res.state}): {res.message}")
    console.print(", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    if counts.get("conflict") or counts.get("error") or counts.get("refused"):
        raise typer.Exit(2)


def work(once: Annotated[bool, typer.Option("--once", help="run one job, then stop")] = False,
         workers: Annotated[int, typer.Option("--workers", "-n", help="worker processes")] = 1,
         lease: Annotated[float, typer.Option("--lease", help="seconds before a silent worker's job is "
                                                              "taken over")] = 60.0,
         min_fingers: Annotated[int, typer.Option("--min-fingers", help="fingers a booking needs")] = 8,
         quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
         follow: Annotated[bool, typer.Option("--follow", help="keep waiting for new bookings after the queue "
                                                             "empties, until SIGTERM (a service)")] = False,
         index_dir: Annotated[Path | None, typer.Option(
             "--index-dir", envvar="SECURECOMM_INDEX_DIR",
             help="search through the candidate index saved in this folder (made if missing; checked, brought "
                  "up to the repositories and saved at start, then mapped by every worker); default: exhaustive "
                  "search")] = None,
         db: DbOpt = None, data: DataOpt = None) -> None:
    """Process queued transactions until the queue is empty (or one job with --once).

    One worker runs in this process; ``--workers N`` starts N worker processes
    and replaces any that dies while work remains. Killing any of them at any
    moment loses nothing: their jobs are taken over when the lease runs out.
    ``--follow`` keeps the workers waiting for new bookings until SIGTERM.
    """
    from securecomm.workflow.pipeline import stop_on_sigterm

    stop = stop_on_sigterm()  # from here on SIGTERM means "finish the booking in hand, then exit 0"
    if stop.is_set():  # it came while this command was still starting (cli/__init__): nothing has begun
        return
    from securecomm.services import PermissionDenied
    from securecomm.services import pipeline as pipeline_service
    from securecomm.workflow.queue import JobQueue
    from securecomm.workflow.stages import PipelineConfig

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    engine = _engine(db, data, upgrade=False)  # workers start often (and get killed): no migration here
    principal = _principal(engine)
    queue = JobQueue(engine)
    config = PipelineConfig(min_fingers=min_fingers, index_dir=str(index_dir) if index_dir else None)
    try:
        if once or workers <= 1:
            galleries = None
            if index_dir is not None:  # (run_workers does this for --workers N)
                from securecomm.workflow.gallery import Galleries, prepare_index

                added = prepare_index(engine, index_dir)
                if not quiet:
                    console.print(f"search index {index_dir}: {added['criminal']} criminal and "
                                  f"{added['immigration']} immigration subjects added since it was saved")
                galleries = Galleries(index_dir=index_dir, verify=False)  # just checked: not hashed twice
            if stop.is_set():
                return
            _work_here(pipeline_service.worker(engine, principal, config, lease_seconds=lease, galleries=galleries),
                       queue, once, quiet, follow, stop)
            return
        restarts: list[int] = []
        with _progress(disable=quiet) as bar:
            task = bar.add_task(f"processing ({workers} workers)", total=1)

            def poll(c: dict[str, int]) -> None:
                bar.update(task, total=max(sum(c.values()), 1), completed=sum(c.values()) - c.get("ready", 0))

            codes = pipeline_service.run_workers(engine, principal, workers, config, lease_seconds=lease,
                                                 on_poll=None if quiet else poll, follow=follow, stop=stop,
                                                 on_restart=restarts.append)
        if restarts:
            console.print(f"{len(restarts)} worker process(es) died (exit codes {restarts}) and were replaced")
    except PermissionDenied as exc:
        _fail(f"{principal.actor} ({principal.role.value}) may not {exc.operation}")
    _queue_summary(queue)
    if any(codes):
        _fail(f"worker exit codes {codes}")


def _work_here(worker, queue, once: bool, quiet: bool, follow: bool, stop) -> None:
    """One worker in this process: one job, or until the queue is empty (with a progress bar); ``stop``: set by
    SIGTERM."""
    if stop.is_set():
        return
    if once:
        console.print(f"{int(worker.step())} job(s) processed")
        return
    if quiet:
        n = worker.run(until_empty=not follow, stop=stop)
    else:
        with _progress() as bar:
            c = _counts(queue) or {}
            task = bar.add_task("processing", total=max(sum(c.values()), 1),
                                completed=sum(c.values()) - c.get("ready", 0))

            def tick() -> None:
                c = _counts(queue)
                if c is None:
                    return
                bar.update(task, total=max(sum(c.values()), 1), completed=sum(c.values()) - c.get("ready", 0))

            n = worker.run(until_empty=not follow, on_step=tick, stop=stop)
    console.print(f"{n} job(s) processed, {worker.stages_run} stage(s) committed")
    if worker.timers_fired:
        console.print(f"{worker.timers_fired} detainer timer(s) fired")
    _queue_summary(queue)


def _counts(queue) -> dict[str, int] | None:
    """The queue's counts by state, or None when the database does not answer (a report, never fatal)."""
    from sqlalchemy.exc import DBAPIError

    try:
        return queue.counts()
    except DBAPIError as exc:
        err.print(f"[yellow]queue counts unavailable ({exc.__class__.__name__}); the workers are unaffected[/yellow]")
        return None


def _queue_summary(queue) -> None:
    c = _counts(queue)
    if c is None:
        return
    console.print(f"queue: {c.get('done', 0)} done, {c.get('waiting', 0)} waiting for review, "
                  f"{c.get('failed', 0)} failed, {c.get('parked', 0)} parked, {c.get('ready', 0)} still queued"
                  + (" (securecomm jobs list)" if c.get("failed") or c.get("parked") else ""))


def status(tcn: Annotated[str, typer.Argument(help="transaction control number")],
           as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
           db: DbOpt = None, data: DataOpt = None) -> None:
    """Where one transaction stands: state, job, each stage's result, responses, reviews."""
    from securecomm.services import bookings

    engine = _engine(db, data)
    with _acting(engine, "securecomm status") as uow:
        info = bookings.status(uow, tcn)
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
    from securecomm.services import bookings

    if fmt not in ("json", "nist"):
        _fail("--format is json or nist")
    engine = _engine(db, data)
    with _acting(engine, f"securecomm responses --format {fmt}") as uow:
        rows = bookings.responses(uow, tcn)
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
    from securecomm.services import review as review_service

    engine = _engine(db, data)
    with _acting(engine, "securecomm review") as uow:
        items = review_service.list_items(uow, state=None if all_ else "open")
        for i in items:
            score = "" if i.score is None else f" score {i.score:.2f}"
            state = i.state + (f" ({i.decision} by {i.resolved_by})" if i.decision else "")
            console.print(f"[bold]#{i.id}[/bold] {i.tcn}  {i.kind}  band {i.band or '-'}{score}  "
                          f"candidate {i.candidate or '-'}  {state}", soft_wrap=True)
            console.print(f"    {i.reason}", soft_wrap=True, highlight=False)
    console.print(f"{len(items)} item(s); decide with: securecomm review decide ID DECISION")


@review_app.command("decide")
def review_decide(item: Annotated[int, typer.Argument(help="review item id")],
                  decision: Annotated[str, typer.Argument(help="biometric: confirm|reject; status: "
                                                               "no_action|notification_request|detainer")],
                  note: str = "", db: DbOpt = None, data: DataOpt = None) -> None:
    """Record your decision (as the user you are); the waiting transaction continues at the next `work`."""
    from securecomm.services import review as review_service

    engine = _engine(db, data)
    with _acting(engine, f"review item {item}", write=True) as uow:
        row = review_service.decide(uow, item, decision, note=note)
        text = f"review #{row.id} ({row.kind}, {row.tcn}): {row.state}"
    console.print(f"{text} -- run `securecomm work` to continue")


audit_app = typer.Typer(help="the audit trail (oversight, admin); `audit verify` checks its hash chain, "
                             "`audit seal` chains pending rows",
                        invoke_without_command=True)


@audit_app.callback()
def audit(ctx: typer.Context,
          object_type: Annotated[Optional[str], typer.Option("--object-type", help="e.g. transaction, user")] = None,
          object_id: Annotated[Optional[str], typer.Option("--object-id", help="e.g. a TCN")] = None,
          actor: Annotated[Optional[str], typer.Option("--actor", help="who acted")] = None,
          db: DbOpt = None, data: DataOpt = None) -> None:
    """The audit trail, oldest first (oversight and admin; this reading is audited too)."""
    if ctx.invoked_subcommand is not None:
        return
    from securecomm.services import audit as audit_service

    engine = _engine(db, data)
    with _acting(engine, "securecomm audit") as uow:
        rows = audit_service.trail(uow, object_type=object_type, object_id=object_id, actor=actor)
    for r in rows:
        console.print(f"{r.at.isoformat(timespec='seconds')}  {r.actor} ({r.role})  {r.action} {r.object_type} "
                      f"{r.object_id}" + (f"  purpose: {r.purpose}" if r.purpose else "")
                      + (f"  -- {r.detail}" if r.detail else ""), soft_wrap=True, highlight=False)
    console.print(f"{len(rows)} row(s)")


users_app = typer.Typer(help="who may act, in which role and scopes (admin only)", no_args_is_help=True)


@users_app.command("add")
def users_add(name: Annotated[str, typer.Argument(help="login name (or the name $SECURECOMM_ACTOR will give)")],
              role: Annotated[str, typer.Option("--role", help="agency | sib | examiner | lesc_analyst | "
                                                               "field_officer | field_supervisor | jail | "
                                                               "oversight | public | admin | system")],
              ori: Annotated[Optional[str], typer.Option("--ori", help="agency/jail scope")] = None,
              state: Annotated[Optional[str], typer.Option("--state", help="state scope (SIB)")] = None,
              area: Annotated[Optional[str], typer.Option("--area", help="field-office area of "
                                                                         "responsibility")] = None,
              db: DbOpt = None, data: DataOpt = None) -> None:
    """Add a user with a role and the scopes it needs."""
    from securecomm.services import users

    engine = _engine(db, data)
    with _acting(engine, "users add", write=True) as uow:
        info = users.add_user(uow, name, role, ori=ori, state=state, area=area)
    console.print(f"added {info.principal()}")


@users_app.command("list")
def users_list(db: DbOpt = None, data: DataOpt = None) -> None:
    """Every user, role, scopes, and whether active."""
    from securecomm.services import users

    engine = _engine(db, data)
    with _acting(engine, "users list") as uow:
        rows = users.list_users(uow)
    for u in rows:
        scopes = ", ".join(f"{k} {v}" for k, v in (("ori", u.ori), ("state", u.state), ("area", u.area)) if v)
        console.print(f"{u.name}\t{u.role.value}\t{scopes or '-'}\t{'active' if u.active else 'DISABLED'}\t"
                      f"created {u.created_at.isoformat(timespec='seconds')} by {u.created_by}",
                      soft_wrap=True, highlight=False)


@users_app.command("disable")
def users_disable(name: Annotated[str, typer.Argument(help="user to disable")],
                  reason: Annotated[str, typer.Option("--reason", help="why (audited)")],
                  db: DbOpt = None, data: DataOpt = None) -> None:
    """Disable a user: it can no longer act (its audit trail stays)."""
    from securecomm.services import users

    engine = _engine(db, data)
    with _acting(engine, "users disable", write=True) as uow:
        users.disable_user(uow, name, reason=reason)
    console.print(f"disabled {name}")


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
    app.add_typer(users_app, name="users")
    app.add_typer(audit_app, name="audit")
    app.command("demo")(demo)
