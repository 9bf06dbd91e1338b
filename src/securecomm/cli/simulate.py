"""``securecomm simulate`` and ``securecomm whatif``: a state-year through the real pipeline, and replays.

``simulate`` plans a synthetic state from a parameter file and a seed and runs
its bookings through the pipeline at template level into the store that
``--db``/``--data`` name (docs/simulation.md); ``securecomm stats`` reads it.
``whatif`` replays a run under another policy, law set or threshold into a
second store and prints the difference.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from securecomm.cli.pipeline import (DataOpt, DbOpt, _actor_name, _engine, _fail, _principal, _sessions, _url, console,
                                    err)


def _date(text: str, what: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        _fail(f"{what} {text!r}: give a date as YYYY-MM-DD")
    raise AssertionError  # pragma: no cover


def _bars(progress: Progress):
    def make(label: str, total: int):
        task = progress.add_task(label, total=max(total, 1))
        return lambda n=1: progress.advance(task, n)
    return make


def _operator(engine):
    """The user at the keyboard in this store; a fresh store makes them its first admin (as `init` does)."""
    from securecomm.services.users import UserError, bootstrap_admin

    try:
        bootstrap_admin(_sessions(engine), _actor_name())
    except UserError as exc:
        _fail(f"cannot make the first admin: {exc} (set $SECURECOMM_ACTOR)")
    return _principal(engine)


def _runner(engine, principal, progress):
    """``run_plan`` through the service layer (permission ``simulation.run``, audited)."""
    from securecomm.services import simulation as service

    def run(into, plan, **kw):
        return service.run(_sessions(into), principal, into, plan, progress=progress, **kw)
    return run


def _progress(to=None) -> Progress:
    return Progress(TextColumn("{task.description:<30}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=to or console)


def simulate(state: Annotated[str, typer.Option("--state", help="parameter file: MA, US, or a path to a .json")] = "MA",
             start: Annotated[str, typer.Option("--from", help="first booking date")] = "2012-05-15",
             end: Annotated[str, typer.Option("--to", help="last booking date")] = "2013-05-14",
             seed: Annotated[int, typer.Option("--seed", help="seed: the same seed, the same state-year")] = 1,
             scale: Annotated[float, typer.Option("--scale", help="fraction of the real arrest volume to book "
                                                                  "(default 0.004, about 600 bookings for MA)")] = 0.004,
             fingers: Annotated[str, typer.Option(help="finger positions searched, e.g. 2,7 (the default) or "
                                                       "1-10")] = "2,7",
             run_id: Annotated[Optional[str], typer.Option("--run-id", help="name of the run")] = None,
             search: Annotated[str, typer.Option("--search", help="exhaustive (every subject scored) or indexed "
                                                                  "(the candidate index shortlists subjects for "
                                                                  "the matcher; for large runs)")] = "exhaustive",
             shortlist: Annotated[Optional[int], typer.Option("--shortlist", help="with --search indexed: subjects "
                                                              "the matcher verifies per search (default 100; "
                                                              "longer finds more two-finger mates, at more CPU; "
                                                              "docs/simulation.md)")] = None,
             prescreen: Annotated[Optional[int], typer.Option("--prescreen", help="with --search indexed: of the "
                                                              "shortlist, the subjects the matcher scores, chosen "
                                                              "by a cheaper pre-score (default: all; "
                                                              "docs/simulation.md)")] = None,
             db: DbOpt = None, data: DataOpt = None) -> None:
    """Simulate a state-year of bookings through the real pipeline, at template level, into the store."""
    from securecomm.cli.pipeline import _positions
    from securecomm.simulation.params import ParameterError, load
    from securecomm.simulation.plan import build_plan
    from securecomm.services.permissions import PermissionDenied
    from securecomm.simulation.runner import SimulationError, describe

    a, b = _date(start, "--from"), _date(end, "--to")
    from securecomm.simulation.runner import SEARCHES

    if search not in SEARCHES:
        _fail(f"--search {search!r}: one of {', '.join(SEARCHES)}")
    if shortlist is not None and (search != "indexed" or shortlist < 1):
        _fail(f"--shortlist {shortlist}: a positive number of subjects, with --search indexed")
    if prescreen is not None and (search != "indexed" or prescreen < 1):
        _fail(f"--prescreen {prescreen}: a positive number of subjects, with --search indexed")
    try:
        params = load(state)
        plan = build_plan(params, seed=seed, start=a, end=b, scale=scale)
    except (ParameterError, ValueError) as exc:
        _fail(str(exc))
    if not plan.bookings:
        _fail(f"--scale {scale} books nobody in {params.name} between {a} and {b}: raise --scale")
    positions = _positions(fingers)
    rid = run_id or f"{'-'.join(plan.states)}-{a}-{b}-s{seed}"
    info = describe(plan)
    engine = _engine(db, data)
    console.print(f"[bold]securecomm simulate[/bold] {params.name} ({params.source}) {a}..{b}, seed {seed}, scale "
                  f"{scale}: {info['bookings']} bookings of {info['people_booked']} people (+{info['background']} "
                  f"background in the galleries), fingers {list(positions)}; store "
                  f"{engine.url.render_as_string(hide_password=True)}; run {rid}")
    if search == "indexed" and len(positions) < 10:
        console.print(f"[yellow]note:[/yellow] the candidate index shortlists by all ten fingers' codes; with "
                      f"{len(positions)} finger(s) it misses mates (benchmarks/bench_simulation_search.py: 16 of 20 "
                      "found at 4,000 subjects with two), so the figures undercount matches unless --shortlist "
                      "covers them (docs/simulation.md)")
    principal = _operator(engine)
    try:
        with _progress() as bar:
            result = _runner(engine, principal, _bars(bar))(engine, plan, run_id=rid, fingers=positions,
                                                            search=search,
                                                            **({"shortlist": shortlist} if shortlist else {}),
                                                            **({"prescreen": prescreen} if prescreen else {}))
    except (SimulationError, PermissionDenied) as exc:
        _fail(str(exc))
    finally:
        engine.dispose()
    s, c = result.seconds, result.cpu_seconds
    console.print(f"{result.bookings} bookings in {s['pipeline']:.1f} s of pipeline ({result.bookings_per_second:.2f} "
                  f"bookings/s wall; {c['pipeline']:.1f} s CPU, {1000 * c['pipeline'] / max(result.bookings, 1):.0f} "
                  f"ms CPU per booking); total {s['total']:.1f} s. Reviews answered: {result.reviews or '-'}")
    fo = result.detainers
    if fo:
        def part(prefix: str) -> dict[str, int]:
            return {k.split(":", 1)[1]: v for k, v in fo.items() if k.startswith(prefix)}
        refused = sum(v for k, v in fo.items() if k.startswith("refused"))
        console.print(f"Field office (simulated) on {sum(part('decided:').values())} IARs: decided "
                      f"{part('decided:')}; jails answered {part('answer:')}; ended {part('end:')}"
                      + (f"; refused by the detainer service: {refused}" if refused else ""))
    console.print("Next: `securecomm stats --level county` (same --db/--data), `securecomm report`, "
                  f"`securecomm whatif --base {rid} --policy 2014-pep`")


def whatif(base: Annotated[Optional[str], typer.Option("--base", help="the base run's id (in the --db/--data "
                                                                       "store)")] = None,
           policy: Annotated[Optional[str], typer.Option("--policy", help="policy version for every booking, "
                                                                          "e.g. 2014-pep")] = None,
           law: Annotated[Optional[Path], typer.Option("--law", help="detainer-law file: the jails' compliance laws "
                                                                     "(format of policy/data/detainer_laws.json)")] = None,
           state_limits: Annotated[Optional[Path], typer.Option("--state-limits", help="state-limits file capping "
                                                                "the IAR's recommendation (format of "
                                                                "policy/data/state_limits.json)")] = None,
           hit_threshold: Annotated[Optional[float], typer.Option("--hit-threshold",
                                                                  help="fused-score hit threshold")] = None,
           into: Annotated[Optional[Path], typer.Option("--into", help="folder of the replay's SQLite store "
                                                                       "(default <data>/whatif/<run>-<change>)")] = None,
           into_db: Annotated[Optional[str], typer.Option("--into-db", help="database URL of the replay's "
                                                                            "store")] = None,
           fmt: Annotated[str, typer.Option("--format", help="table | json")] = "table",
           db: DbOpt = None, data: DataOpt = None) -> None:
    """Replay a simulated run under another policy, detainer-law set, state limits or threshold; print the
    difference."""
    from securecomm.policy.model import PolicyError
    from securecomm.services.permissions import PermissionDenied
    from securecomm.simulation.runner import Overrides, SimulationError
    from securecomm.simulation.whatif import base_run, compare, default_into, replay
    from securecomm.store.db import make_engine, migrate

    if fmt not in ("table", "json"):
        _fail(f"--format {fmt!r}: one of table, json")
    for opt, path in (("--law", law), ("--state-limits", state_limits)):
        if path is not None and not path.is_file():
            _fail(f"{opt} {path}: no such file")
    overrides = Overrides(policy_version=policy, state_limits=str(state_limits) if state_limits else None,
                          hit_threshold=hit_threshold, laws=str(law) if law else None)
    try:
        overrides.check()  # before a replay store is made
    except (SimulationError, PolicyError) as exc:
        _fail(str(exc))
    except ValueError as exc:  # LawDataError: the --law file, record and key named
        _fail(f"--law {law}: {exc}")
    base_engine = _engine(db, data)
    from sqlalchemy.orm import Session

    try:
        with Session(base_engine) as s:
            run = base_run(s, base)
            base_id = run.id
        if into_db:
            url = into_db
        else:
            folder = into or Path(default_into(data or Path("data"), base_id, overrides))
            folder.mkdir(parents=True, exist_ok=True)
            if (folder / "securecomm.db").exists():
                _fail(f"{folder / 'securecomm.db'} exists: remove it or give another --into")
            url = _url(None, folder)
        other = make_engine(url)
        migrate(other)
        principal = _operator(other)
        with _progress(err if fmt == "json" else None) as bar:  # stdout stays one JSON document
            new_id, result = replay(base_engine, base_id, other, overrides,
                                    run=_runner(other, principal, _bars(bar)))
        with Session(base_engine) as a, Session(other) as b:
            cmp = compare(a, b, base_id=base_id, other_id=new_id, overrides=overrides.as_dict())
    except (SimulationError, PolicyError, PermissionDenied, ValueError) as exc:
        _fail(str(exc))
    if fmt == "json":
        typer.echo(json.dumps({**cmp.to_dict(), "replay_store": other.url.render_as_string(hide_password=True)},
                              indent=2))
        return
    t = Table(title=f"what if: {overrides.as_dict()} (base {base_id})", title_justify="left")
    for col in ("measure", "base", "what-if", "difference"):
        t.add_column(col, justify="left" if col == "measure" else "right")
    for m, b0, r0 in cmp.rows:
        diff = "-" if b0 is None or r0 is None else f"{r0 - b0:+,}"
        t.add_row(m, "-" if b0 is None else f"{b0:,}", "-" if r0 is None else f"{r0:,}", diff)
    console.print(t)
    c = Table(title="detainers by county: recommended, and held (honoured) -- base / what-if", title_justify="left")
    for col in ("county", "recommended", "held"):
        c.add_column(col, justify="left" if col == "county" else "right")
    for county, b0, r0, h0, h1 in cmp.by_county:
        c.add_row(county, f"{b0:,} / {r0:,}", f"{h0:,} / {h1:,}")
    console.print(c)
    console.print(f"replay store: {other.url.render_as_string(hide_password=True)} ({result.bookings} bookings, "
                  f"{result.seconds['pipeline']:.0f} s of pipeline); `securecomm stats --db ...` reads it")


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate)
    app.command("whatif")(whatif)
