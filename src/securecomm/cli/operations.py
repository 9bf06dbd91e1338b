"""Operator commands over the service layer: ``jobs`` (parked and failed work) and ``subjects``
(the consolidation queue, merging two criminal subjects).

Each command opens a ``UnitOfWork`` as the registered user at the keyboard (``_acting``,
the same as every pipeline command), so the permission allow-list and the audit apply:
jobs need an administrator, consolidation an examiner (or an administrator).
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.table import Table

from securecomm.cli.pipeline import DataOpt, DbOpt, _acting, _engine, console

jobs_app = typer.Typer(help="parked and failed jobs: list, retry, park", no_args_is_help=True)
subjects_app = typer.Typer(help="criminal subjects: the consolidation queue and merges", no_args_is_help=True)


@jobs_app.command("list")
def jobs_list(state: Annotated[Optional[list[str]], typer.Option("--state", help="parked, failed, ready, ... "
                                                                       "(default: parked and failed)")] = None,
              db: DbOpt = None, data: DataOpt = None) -> None:
    """Jobs that stopped (parked: retries outlasted, or parked by hand; failed: workers died on it)."""
    from securecomm.services.jobs import STOPPED, list_jobs

    with _acting(_engine(db, data), "operate the queue", write=True) as uow:
        rows = list_jobs(uow, tuple(state) if state else STOPPED)
    if not rows:
        console.print("no jobs in that state")
        return
    table = Table("TCN", "ORI", "stage", "state", "attempts", "since", "error")
    for r in rows:
        table.add_row(r.tcn, r.ori, r.stage, r.state, str(r.attempts), r.updated_at.isoformat(timespec="seconds"),
                      r.error[:80])
    console.print(table)


@jobs_app.command("retry")
def jobs_retry(tcns: Annotated[list[str], typer.Argument(help="transaction keys (as `jobs list` shows them)")],
               reason: Annotated[str, typer.Option("--reason", help="what was fixed")] = "",
               db: DbOpt = None, data: DataOpt = None) -> None:
    """Resume parked or failed jobs at their stage, with fresh attempts (the next `work` runs them)."""
    from securecomm.services.jobs import retry_job

    for tcn in tcns:
        with _acting(_engine(db, data), "operate the queue", write=True) as uow:
            view = retry_job(uow, tcn, reason)
        console.print(f"{view.tcn}: {view.state} at stage {view.stage}")


@jobs_app.command("park")
def jobs_park(tcn: Annotated[str, typer.Argument(help="transaction key")],
              reason: Annotated[str, typer.Option("--reason", help="why it must wait")] = "",
              db: DbOpt = None, data: DataOpt = None) -> None:
    """Stop a queued job until `jobs retry` (a worker holding it cannot commit its stage any more)."""
    from securecomm.services.jobs import park_job

    with _acting(_engine(db, data), "operate the queue", write=True) as uow:
        view = park_job(uow, tcn, reason)
    console.print(f"{view.tcn}: parked at stage {view.stage}")


@subjects_app.command("consolidation")
def subjects_consolidation(db: DbOpt = None, data: DataOpt = None) -> None:
    """The consolidation queue: bookings enrolled as new subjects beside a weak match."""
    from securecomm.services.identity import consolidation_queue

    with _acting(_engine(db, data), "consolidation review", write=True) as uow:
        items = consolidation_queue(uow)
    if not items:
        console.print("the consolidation queue is empty")
        return
    table = Table("item", "booking", "booking UCN", "candidate UCN", "score")
    for c in items:
        table.add_row(str(c.item_id), c.tcn, c.booking_ucn, c.candidate_ucn,
                      "" if c.score is None else f"{c.score:.2f}")
    console.print(table)


@subjects_app.command("decide")
def subjects_decide(item: Annotated[int, typer.Argument(help="consolidation candidate (review item id)")],
                    decision: Annotated[str, typer.Argument(help="confirm (merge) | reject")],
                    reason: Annotated[str, typer.Option("--reason", help="the examiner's note")] = "",
                    db: DbOpt = None, data: DataOpt = None) -> None:
    """Confirm (merge the booking's subject into the candidate) or reject a consolidation candidate."""
    from securecomm.services.identity import decide_consolidation

    with _acting(_engine(db, data), "consolidation review", write=True) as uow:
        merged = decide_consolidation(uow, item, decision, reason)
    console.print(f"item {item}: {decision}" + (f"; UCN {merged.merged} merged into {merged.survivor} "
                                                 f"({merged.arrests_moved} arrests moved)" if merged else ""))


@subjects_app.command("merge")
def subjects_merge(survivor: Annotated[str, typer.Argument(help="UCN that stays")],
                   merged: Annotated[str, typer.Argument(help="UCN merged into it (becomes an alias)")],
                   reason: Annotated[str, typer.Option("--reason", help="what shows they are one person")] = "",
                   db: DbOpt = None, data: DataOpt = None) -> None:
    """Merge two criminal subjects that are one person: rap sheets joined, the second UCN aliased."""
    from securecomm.services.identity import merge_subjects

    with _acting(_engine(db, data), "consolidation", write=True) as uow:
        result = merge_subjects(uow, survivor, merged, reason)
    console.print(f"UCN {result.merged} merged into {result.survivor} ({result.arrests_moved} arrests moved)")


def register(app: typer.Typer) -> None:
    app.add_typer(jobs_app, name="jobs")
    app.add_typer(subjects_app, name="subjects")
