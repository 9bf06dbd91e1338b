"""``securecomm stats`` and ``securecomm report``: the programme's statistics from the store.

Both go through the service layer (``securecomm.services.statistics``) as the
user at the keyboard (``securecomm users``; ``--public`` shows what the public
sees: the same user acting in the ``public`` role, small cells suppressed), so
every read is permitted, scoped and audited like any other.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Optional

import typer

from securecomm.cli.pipeline import DataOpt, DbOpt, _engine, _fail, _principal, _require_schema, console

LevelOpt = Annotated[str, typer.Option("--level", help="nation | state | county | ori")]
PeriodOpt = Annotated[str, typer.Option("--period", help="month | fy (federal fiscal year, from 1 October) | all")]
StateOpt = Annotated[Optional[str], typer.Option("--state", help="two-letter state")]
CountyOpt = Annotated[Optional[str], typer.Option("--county", help="county (with --state)")]
OriOpt = Annotated[Optional[str], typer.Option("--ori", help="one agency's ORI")]


def _date(text: str | None, what: str) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        _fail(f"{what} {text!r}: give a date as YYYY-MM-DD")
    return None  # pragma: no cover


def _reader(engine, public: bool):
    """The user at the keyboard; with ``--public``, the same user in the public role (never more rights)."""
    from dataclasses import replace

    from securecomm.domain.principal import Role

    user = _principal(engine)
    return replace(user, role=Role.PUBLIC, ori=None, state=None, area=None) if public else user


def stats(level: LevelOpt = "nation", period: PeriodOpt = "all", state: StateOpt = None, county: CountyOpt = None,
          ori: OriOpt = None,
          start: Annotated[Optional[str], typer.Option("--from", help="first booking date, YYYY-MM-DD")] = None,
          end: Annotated[Optional[str], typer.Option("--to", help="last booking date, YYYY-MM-DD")] = None,
          fmt: Annotated[str, typer.Option("--format", help="table | csv | json | parquet")] = "table",
          out: Annotated[Optional[Path], typer.Option("--out", help="write to this file (parquet: required)")] = None,
          public: Annotated[bool, typer.Option("--public", help="the public view (small cells suppressed)")] = False,
          db: DbOpt = None, data: DataOpt = None) -> None:
    """Statistics by jurisdiction and period (docs/statistics.md defines every figure)."""
    from securecomm.services.statistics import statistics
    from securecomm.statistics import StatisticsError
    from securecomm.statistics.export import ExportError, rich_tables, write
    from securecomm.store.db import make_sessionmaker

    if fmt not in ("table", "csv", "json", "parquet"):
        _fail(f"--format {fmt!r}: one of table, csv, json, parquet")
    engine = _engine(db, data)
    _require_schema(engine)
    try:
        result = statistics(make_sessionmaker(engine), _reader(engine, public), level=level, period=period, state=state,
                            county=county, ori=ori, start=_date(start, "--from"), end=_date(end, "--to"))
        if fmt == "table":
            for t in rich_tables(result):
                console.print(t)
            if result.truth:
                console.print("[dim]this store holds synthetic ground truth (a simulation): false matches "
                              "are counted against it[/dim]")
            return
        text = write(result, fmt, out)
    except (StatisticsError, ExportError) as exc:
        _fail(str(exc))
    finally:
        engine.dispose()
    if text is not None:
        typer.echo(text, nl=not text.endswith("\n"))
    else:
        console.print(f"wrote {out}")


def report(month: Annotated[Optional[str], typer.Option("--month", help="YYYY-MM (default: the latest)")] = None,
           state: StateOpt = None, county: CountyOpt = None, ori: OriOpt = None,
           out: Annotated[Optional[Path], typer.Option("--out", help="folder (default <data>/report)")] = None,
           db: DbOpt = None, data: DataOpt = None) -> None:
    """The monthly report (HTML + PDF + charts) for a jurisdiction, beside the nation."""
    from securecomm.services.statistics import statistics
    from securecomm.statistics import StatisticsError
    from securecomm.statistics.report import write_report
    from securecomm.store.db import make_sessionmaker

    engine = _engine(db, data)
    _require_schema(engine)
    folder = out or (data or Path("data")) / "report"
    try:
        Session = make_sessionmaker(engine)
        statistics(Session, _reader(engine, False), state=state, county=county, ori=ori)  # permission, scope, audit
        with Session() as s:
            rep = write_report(s, folder, month=month, state=state, county=county, ori=ori)
    except StatisticsError as exc:
        _fail(str(exc))
    finally:
        engine.dispose()
    console.print(f"{rep.title}\n  HTML: {rep.html}\n  PDF:  {rep.pdf}")


def register(app: typer.Typer) -> None:
    app.command("stats")(stats)
    app.command("report")(report)
