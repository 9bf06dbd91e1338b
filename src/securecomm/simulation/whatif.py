"""What-if replay: the same simulated bookings under another policy, law set or match threshold.

``replay(base_engine, run_id, into_engine, overrides)`` reads the base run's
record (``sim_runs``: parameter file, seed, dates, scale, fingers, states),
plans it again -- the plan is deterministic, so the same people, records,
fingerprints and bookings on the same dates -- and runs it through the real
pipeline into a second, empty store with the overrides applied (a policy
version for every booking, a state-limits file, a detainer-law file for the
jails' answers, a hit threshold). Each booking's field-office and jail draws
come from (seed, TCN), so a law-only what-if replays the same decisions,
releases and outcomes and differs only where the law answers differently.
``compare(base_session, replay_session)`` puts the figures side by side.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from securecomm.simulation.runner import Overrides, SimResult, SimulationError

#: The differences a what-if prints: (label, figures summed).
MEASURES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("IDENT matches", ("ident_matches",)),
    ("detainers recommended", ("iar_detainer",)),
    ("notification requests", ("iar_notification",)),
    ("detainers lodged", ("detainers_lodged",)),
    ("detainers honoured (held)", ("detainers_honoured",)),
    ("detainers declined by law", ("detainers_declined_by_law",)),
    ("over-holds", ("over_holds",)),
    ("non-criminals recommended for a detainer", ("detainer_no_conviction",)),
    ("non-criminals held (honoured detainer, no conviction)", ("held_no_conviction",)),
    ("US citizens matched", ("citizens_matched",)),
    ("false biometric matches", ("false_matches",)),
    ("protected people reached (matched)", ("protected_matched",)),
    ("examiner workload (review-band matches + analyst reviews)", ("review_band_matches", "analyst_reviews")),
)


@dataclass(frozen=True)
class Comparison:
    base_run: str
    replay_run: str
    overrides: dict[str, Any]
    rows: tuple[tuple[str, int | None, int | None], ...]  # (measure, base, replay)
    #: (county, detainers recommended base, replay, detainers honoured base, replay)
    by_county: tuple[tuple[str, int, int, int, int], ...]

    def to_dict(self) -> dict[str, Any]:
        return {"base_run": self.base_run, "replay_run": self.replay_run, "overrides": self.overrides,
                "measures": [{"measure": m, "base": b, "replay": r,
                              "difference": None if b is None or r is None else r - b} for m, b, r in self.rows],
                "detainers_by_county": [{"county": c, "base": b, "replay": r, "honoured_base": hb,
                                         "honoured_replay": hr} for c, b, r, hb, hr in self.by_county]}


def base_run(session: Session, run_id: str | None):
    """The ``sim_runs`` row of the base store (the only one when ``run_id`` is None)."""
    from sqlalchemy import select

    from securecomm.store.simulation_models import SimulationRun

    rows = session.scalars(select(SimulationRun).order_by(SimulationRun.created_at)).all()
    if not rows:
        raise SimulationError("the base store holds no simulation run (run `securecomm simulate` first)")
    if run_id is None:
        if len(rows) > 1:
            raise SimulationError(f"the base store holds several runs; name one: {', '.join(r.id for r in rows)}")
        return rows[0]
    for r in rows:
        if r.id == run_id:
            return r
    raise SimulationError(f"no run {run_id!r} in the base store (there is {', '.join(r.id for r in rows)})")


def replay(base_engine: Engine, run_id: str | None, into: Engine, overrides: Overrides, *,
           progress=None, run=None) -> tuple[str, SimResult]:
    """Replay run ``run_id`` of the base store into the empty store ``into`` under ``overrides``.

    ``run`` (default ``runner.run_plan``) is called as ``run(into, plan, run_id=, fingers=, overrides=,
    base_run=, [progress=])``: the CLI passes the service-layer runner (``services.simulation``).
    """
    from securecomm.simulation.params import load
    from securecomm.simulation.plan import build_plan
    from securecomm.simulation.runner import run_plan

    if not overrides.as_dict():
        raise SimulationError("a what-if needs something to change: --policy, --law, --state-limits or "
                              "--hit-threshold")
    with Session(base_engine) as s:
        row = base_run(s, run_id)
        settings = dict(row.settings or {})
        base_id, seed, start, end, source = row.id, row.seed, row.date_from, row.date_to, row.parameters
    params = load(source if Path(source).is_file() else source.removesuffix(".json"))
    plan = build_plan(params, seed=seed, start=start, end=end, scale=float(settings.get("scale", 0.004)),
                      states=tuple(settings.get("states") or ()) or None)
    new_id = f"{base_id}+whatif"[:64]
    kwargs = {"progress": progress} if progress is not None else {}
    if settings.get("search", "exhaustive") != "exhaustive":
        kwargs["search"] = settings["search"]  # replayed with the base run's search
    if settings.get("shortlist"):
        kwargs["shortlist"] = int(settings["shortlist"])  # and its shortlist
    if settings.get("prescreen"):
        kwargs["prescreen"] = int(settings["prescreen"])  # and its pre-screen
    result = (run or run_plan)(into, plan, run_id=new_id, fingers=tuple(settings.get("fingers") or (2, 7)),
                               overrides=overrides, base_run=base_id, **kwargs)
    return new_id, result


def compare(base: Session, other: Session, *, base_id: str, other_id: str, overrides: dict[str, Any]) -> Comparison:
    """The what-if's measures in the base store and the replay's store, and detainers by county."""
    from securecomm.statistics import compute

    a, b = compute(base).rows[0].figures, compute(other).rows[0].figures

    def total(f: dict, names: tuple[str, ...]) -> int | None:
        vals = [f.get(n) for n in names]
        return None if any(v is None for v in vals) else int(sum(vals))

    rows = tuple((label, total(a, names), total(b, names)) for label, names in MEASURES)
    def by_county(s: Session) -> dict[str, tuple[int, int]]:
        return {f"{r.jurisdiction['state']}:{r.jurisdiction['county']}":
                (int(r.figures["iar_detainer"] or 0), int(r.figures["detainers_honoured"] or 0))
                for r in compute(s, level="county").rows}

    ca, cb = by_county(base), by_county(other)
    counties = tuple((k, ca.get(k, (0, 0))[0], cb.get(k, (0, 0))[0], ca.get(k, (0, 0))[1], cb.get(k, (0, 0))[1])
                     for k in sorted(set(ca) | set(cb)))
    return Comparison(base_run=base_id, replay_run=other_id, overrides=overrides, rows=rows, by_county=counties)


def default_into(data_dir, base_id: str, overrides: Overrides) -> str:
    """Where a replay goes by default: a folder beside the base store, named after the change."""
    safe = "".join(ch if ch.isalnum() or ch in "-._" else "_" for ch in
                   "-".join(f"{v}" for v in overrides.as_dict().values()))
    return f"{data_dir}/whatif/{base_id}-{safe}"[:200]


__all__ = ["replay", "compare", "Comparison", "MEASURES", "base_run", "default_into"]
