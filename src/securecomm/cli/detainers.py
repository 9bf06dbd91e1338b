"""``securecomm detainers ...``: the field office's decisions, the jail's answers, the hold clock and its timers.

Each command runs as the registered user at the keyboard (a field officer decides and cancels, a jail
acknowledges and releases, ...; ``docs/security.md``). Times without a zone (``2013-07-03T17:00``) are
the jail's local time.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Optional

import typer
from rich.table import Table

from securecomm.cli.pipeline import DataOpt, DbOpt, _acting, _engine, _fail, _principal, _sessions, console

app = typer.Typer(help="detainers: decide, acknowledge, release, transfer, cancel; the hold's expiry; timers",
                  no_args_is_help=True)

AtOpt = Annotated[Optional[str], typer.Option("--at", help="when (ISO; no zone = the jail's local time; "
                                                           "default now)")]
OverrideOpt = Annotated[str, typer.Option("--override", help="record a hold past expiry, with the reason "
                                                             "(audited and counted)")]


def _when(text: str | None, what: str) -> dt.datetime | None:
    if text is None:
        return None
    try:
        return dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        _fail(f"{what} {text!r} is not an ISO date and time (e.g. 2013-07-03T17:00)")
    return None


def _local(value: dt.datetime | None, zone_name: str) -> str:
    from securecomm.domain.hold_clock import local_text
    from securecomm.domain.timezones import zone

    return local_text(value, zone(zone_name)) if value is not None else "-"


def _show(row) -> None:
    console.print(f"detainer {row.id} ({row.kind}) booking {row.tcn} at {row.ori}: {row.state}"
                  + (f", {row.outcome}" if row.outcome else "")
                  + (f"; expires {_local(row.expires_at, row.time_zone)}" if row.expires_at else "")
                  + (f"; {row.law_name}: {row.answer}" if row.answer else "")
                  + ("; OVER-HELD (override recorded)" if row.over_held else ""))


@app.command("list")
def list_(ori: Annotated[Optional[str], typer.Option("--ori", help="jail ORI")] = None,
          office: Annotated[Optional[str], typer.Option("--office", help="field office (area)")] = None,
          state: Annotated[Optional[str], typer.Option("--state", help="two-letter state")] = None,
          open_only: Annotated[bool, typer.Option("--open", help="open detainers only")] = False,
          as_json: Annotated[bool, typer.Option("--json", help="the detainer documents (docs/formats.md)")] = False,
          db: DbOpt = None, data: DataOpt = None) -> None:
    """Detainers you may see (your area, your jail, your state), newest first."""
    from securecomm.services import detainers
    from securecomm.workflow.detainers import document

    with _acting(_engine(db, data), "list detainers") as uow:
        rows = detainers.list_detainers(uow, ori=ori, field_office=office, state=state, open_only=open_only)
        if as_json:
            console.print_json(json.dumps([document(r) for r in rows]))
            return
    if not rows:
        console.print("no detainers")
        return
    table = Table("id", "booking", "jail", "kind", "form", "state", "answer", "release", "expires", "outcome")
    for r in rows:
        table.add_row(str(r.id), r.tcn, r.ori, r.kind, f"{r.form} {r.form_revision}".strip(), r.state,
                      r.answer or "-", _local(r.release_at, r.time_zone), _local(r.expires_at, r.time_zone),
                      (r.outcome or "-") + (" (over-held)" if r.over_held else ""))
    console.print(table)


@app.command("show")
def show(detainer: Annotated[int, typer.Argument(help="detainer id")], db: DbOpt = None,
         data: DataOpt = None) -> None:
    """One detainer document (JSON, docs/formats.md)."""
    from securecomm.services import detainers

    with _acting(_engine(db, data), "show detainer") as uow:
        console.print_json(json.dumps(detainers.show(uow, detainer)))


@app.command("decide")
def decide(tcn: Annotated[str, typer.Argument(help="booking TCN (with its IAR)")],
           kind: Annotated[str, typer.Argument(help="no_action | notification_request | detainer")],
           warrant: Annotated[str, typer.Option("--warrant", help="I-200 | I-205 | judicial")] = "",
           probable_cause: Annotated[str, typer.Option("--probable-cause", help="the basis checked on the form")] = "",
           reimbursement: Annotated[str, typer.Option("--reimbursement", help="reimbursement agreement, if any")] = "",
           note: Annotated[str, typer.Option("--note")] = "",
           review_note: Annotated[str, typer.Option("--review-note", help="a supervisor's review (protected "
                                                                          "person or review-band match)")] = "",
           at: AtOpt = None, db: DbOpt = None, data: DataOpt = None) -> None:
    """The field office's decision on an IAR, on the form in force that day."""
    from securecomm.services import detainers

    basis = {k: v for k, v in (("warrant", warrant), ("probable_cause", probable_cause),
                               ("reimbursement", reimbursement), ("note", note)) if v}
    with _acting(_engine(db, data), f"decide {tcn}", write=True) as uow:
        row = detainers.decide(uow, tcn, kind, basis=basis, review_note=review_note, at=_when(at, "--at"))
        _show(row)


@app.command("acknowledge")
def acknowledge(detainer: Annotated[int, typer.Argument(help="detainer id")],
                release: Annotated[str, typer.Option("--release", help="scheduled release (jail local time)")],
                at: AtOpt = None, db: DbOpt = None, data: DataOpt = None) -> None:
    """The jail's answer: the scheduled release; the law in force decides whether a hold starts."""
    from securecomm.services import detainers

    with _acting(_engine(db, data), f"acknowledge detainer {detainer}", write=True) as uow:
        _show(detainers.acknowledge(uow, detainer, release_at=_when(release, "--release"), at=_when(at, "--at")))


@app.command("release")
def release(detainer: Annotated[int, typer.Argument(help="detainer id")],
            reason: Annotated[str, typer.Option("--reason", help="expiry | bail | charges_dropped | "
                                                                 "sentence_served | court_order | other")] = "other",
            override: OverrideOpt = "", at: AtOpt = None, db: DbOpt = None, data: DataOpt = None) -> None:
    """The person was released."""
    from securecomm.services import detainers

    with _acting(_engine(db, data), f"release on detainer {detainer}", write=True) as uow:
        _show(detainers.release(uow, detainer, at=_when(at, "--at"), reason=reason, override=override))


@app.command("transfer")
def transfer(detainer: Annotated[int, typer.Argument(help="detainer id")], override: OverrideOpt = "",
             at: AtOpt = None, db: DbOpt = None, data: DataOpt = None) -> None:
    """Custody transferred to the immigration agency."""
    from securecomm.services import detainers

    with _acting(_engine(db, data), f"transfer on detainer {detainer}", write=True) as uow:
        _show(detainers.transfer(uow, detainer, at=_when(at, "--at"), override=override))


@app.command("cancel")
def cancel(detainer: Annotated[int, typer.Argument(help="detainer id")],
           reason: Annotated[str, typer.Option("--reason", help="why it is withdrawn")],
           at: AtOpt = None, db: DbOpt = None, data: DataOpt = None) -> None:
    """The field office withdraws the detainer; the jail is told."""
    from securecomm.services import detainers

    with _acting(_engine(db, data), f"cancel detainer {detainer}", write=True) as uow:
        _show(detainers.cancel(uow, detainer, reason=reason, at=_when(at, "--at")))


@app.command("expiry")
def expiry(release: Annotated[str, typer.Option("--release", help="release time (the jail's local time)")],
           ori: Annotated[str, typer.Option("--ori", help="the jail's ORI")],
           verbose: Annotated[bool, typer.Option("--verbose", "-v", help="days skipped and the law")] = False,
           db: DbOpt = None, data: DataOpt = None) -> None:
    """When a hold starting at --release would expire: 48 hours excluding Saturdays, Sundays, holidays."""
    from securecomm.services import detainers

    with _acting(_engine(db, data), "hold expiry") as uow:
        out = detainers.expiry(uow, ori=ori, release_at=_when(release, "--release"))
    console.print(out["expires_local"])
    if verbose:
        console.print(f"released {out['release_local']} ({out['time_zone']}); days not counted: "
                      f"{', '.join(out['skipped_days']) or 'none'}; law: {out['law']} ({out['rule']})")


@app.command("timers")
def timers(fire: Annotated[bool, typer.Option("--fire", help="fire the due timers now")] = False,
           all_: Annotated[bool, typer.Option("--all", help="fired and cancelled too")] = False,
           db: DbOpt = None, data: DataOpt = None) -> None:
    """Pending timers (expiry warnings, expiry notices, release notices); --fire sends those due."""
    from securecomm.services import detainers

    engine = _engine(db, data)
    if fire:
        try:
            fired = detainers.fire_timers(_sessions(engine), _principal(engine), engine)
        except PermissionError as exc:
            _fail(str(exc))
        for f in fired:
            console.print(f"fired {f.kind} of detainer {f.detainer_id} (due {f.due_at.isoformat()})")
        console.print(f"{len(fired)} timer(s) fired")
    with _acting(engine, "list timers") as uow:
        rows = detainers.timers(uow, state=None if all_ else "pending")
        table = Table("id", "detainer", "kind", "due (UTC)", "state", "fired")
        for r in rows:
            table.add_row(str(r.id), str(r.detainer_id), r.kind, r.due_at.isoformat(timespec="minutes"), r.state,
                          r.fired_at.isoformat(timespec="seconds") if r.fired_at else "-")
    console.print(table)


@app.command("figures")
def figures(by: Annotated[str, typer.Option("--by", help="state | county | ori")] = "state",
            db: DbOpt = None, data: DataOpt = None) -> None:
    """Detainer figures by jurisdiction: lodged, honoured, declined by law, expired, transferred, over-held."""
    from securecomm.services import detainers
    from securecomm.statistics.detainers import FIGURES

    with _acting(_engine(db, data), "detainer figures") as uow:
        rows = detainers.figures(uow, by=by)
    table = Table("jurisdiction", *FIGURES)
    for r in rows:
        table.add_row(r["jurisdiction"], *(str(r[f]) for f in FIGURES))
    console.print(table)


@app.command("laws")
def laws(file: Annotated[Optional[str], typer.Argument(help="a law file to check (default: the shipped one)")] = None,
         ) -> None:
    """Check a compliance-law file (no gaps or overlaps per jurisdiction) and print its laws."""
    from securecomm.policy.detainers import LawDataError, load_laws

    try:
        schedule = load_laws(file)
    except LawDataError as exc:
        _fail(str(exc))
        return
    table = Table("scope", "jurisdiction", "law", "rule", "from", "to")
    for law in sorted(schedule.laws, key=lambda x: (x.scope, x.value, x.effective_from)):
        table.add_row(law.scope, law.value, law.name, law.rule + (f" {','.join(law.levels)}" if law.levels else ""),
                      law.effective_from.isoformat(), law.effective_to.isoformat() if law.effective_to else "-")
    console.print(table)
    console.print(f"{len(schedule.laws)} laws; hold limit {schedule.limit}, warning {schedule.warning_before} "
                  "before expiry")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="detainers")
