"""The programme's statistics, computed in the database with SQL aggregates.

One SELECT builds the *booking facts* (one row per submission, from
``transactions``, ``jobs``, ``agencies``, the ``stage_runs`` of the searches,
IDR, status determination and IAR, the ``responses`` outbox, the review items,
the criminal repository's dispositions and, in a simulated store, the
synthetic truth); three aggregate queries over it give the counts, the
distinct-people figures and the booking-to-IAR percentiles per jurisdiction
and period. Python only assembles the (few) result rows. See
docs/statistics.md for every figure's definition.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, case, exists, func, literal, or_, select
from sqlalchemy.orm import Session

from securecomm.statistics.figures import BY_NAME, FIGURES
from securecomm.statistics.sqlfuncs import local_date, month_of, prepare, seconds_between, year_of
from securecomm.store.detainer_models import DetainerRow
from securecomm.store.models import Agency, ArrestRow, CriminalSubject, DispositionRow
from securecomm.store.simulation_models import SimulatedBooking
from securecomm.store.workflow_models import Job, Response, ReviewItem, StageRun, Transaction

#: Jurisdiction levels and the key columns each groups by.
LEVELS = {"nation": (), "state": ("state",), "county": ("state", "county"), "ori": ("state", "county", "ori")}
#: Periods: calendar month, US federal fiscal year (1 October - 30 September), or everything.
PERIODS = ("month", "fy", "all")
#: Status determination's status for a naturalised citizen (policy/data/status_rules.json).
NATURALIZED = "USC_NATURALIZED"
LEVEL_FIGURES = {"L1": "matches_l1", "L2": "matches_l2", "L3": "matches_l3", "NC": "matches_nc"}
#: The detainer group's figures (from the ``detainers`` table).
DETAINER_FIGURES = tuple(f.name for f in FIGURES if f.group == "detainers")


class StatisticsError(ValueError):
    """A statistics request that cannot be answered as asked (unknown level, period, bad dates)."""


@dataclass(frozen=True)
class Row:
    """The figures of one jurisdiction in one period."""

    jurisdiction: dict[str, str]
    period: str
    figures: dict[str, int | float | None]

    def record(self) -> dict[str, Any]:
        return {**self.jurisdiction, "period": self.period, **self.figures}


@dataclass(frozen=True)
class Statistics:
    """A statistics table: rows by jurisdiction and period, figures in :data:`FIGURES` order."""

    level: str
    period: str
    rows: tuple[Row, ...]
    figures: tuple[str, ...]
    filters: dict[str, Any] = field(default_factory=dict)
    truth: bool = False  # the store holds synthetic ground truth (a simulation)
    suppressed_below: int | None = None  # small counts hidden (public view)

    def records(self) -> list[dict[str, Any]]:
        return [r.record() for r in self.rows]

    @property
    def key_columns(self) -> tuple[str, ...]:
        return LEVELS[self.level]

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "period": self.period, "filters": self.filters, "truth": self.truth,
                "suppressed_below": self.suppressed_below, "figures": list(self.figures),
                "rows": self.records()}


def _period_label(period: str, year: int | None, month: int | None) -> str:
    if period == "all":
        return "all"
    if year is None:
        return "unknown"
    if period == "fy":
        return f"FY{year}"
    return f"{year:04d}-{month:02d}"


def _agency_zone(a):
    """SQL for an agency's IANA zone: its own ``time_zone``, else its state's default, else UTC."""
    from securecomm.domain.timezones import state_zone_names

    return func.coalesce(a.c.time_zone, case(state_zone_names(), value=a.c.state, else_=None), literal("UTC"))


def _facts():
    """The booking-facts subquery: one row per submission, every column a fact a figure counts."""
    t = Transaction.__table__
    a = Agency.__table__
    sr = StageRun.__table__
    crim, imm, idr, sd, iar = (sr.alias(n) for n in ("crim", "imm", "idr", "sd", "iar_run"))
    ri = ReviewItem.__table__
    bio, rst = ri.alias("bio"), ri.alias("rst")
    r = Response.__table__
    first = {kind: select(r.c.tcn, func.min(r.c.created_at).label("at")).where(r.c.kind == kind)
             .group_by(r.c.tcn).subquery(f"first_{kind.lower()}") for kind in ("IAQ", "IAR")}
    st = SimulatedBooking.__table__
    j = Job.__table__

    # the booking date (the agency's local date the booking carries); a submission not (yet) read counts on
    # the day it was received where its agency is (the agency's zone, else its state's; UTC for an unknown ORI)
    day = func.coalesce(t.c.booking_date, local_date(t.c.received_at, _agency_zone(a)))
    year, month = year_of(day), month_of(day)
    matched = and_(idr.c.tcn.is_not(None), idr.c.output["match"].as_boolean())
    fin = idr.c.output["fin"].as_string()
    level = sd.c.output["level"].as_string()
    flags = sd.c.output["protected_flags"].as_string()
    # a conviction on the matched person's rap sheet dated on or before this booking (this arrest excluded)
    cs, ar, dp = CriminalSubject.__table__, ArrestRow.__table__, DispositionRow.__table__
    convicted = exists(
        select(literal(1)).select_from(dp.join(ar, ar.c.id == dp.c.arrest_id).join(cs, cs.c.id == ar.c.subject_id))
        .where(cs.c.ucn == crim.c.output["ucn"].as_string(), dp.c.outcome == "convicted", ar.c.tcn != t.c.tcn,
               func.coalesce(dp.c.date, ar.c.date) <= func.coalesce(t.c.booking_date, day)))

    def stage(alias, name):
        return and_(alias.c.tcn == t.c.tcn, alias.c.stage == name)

    joined = (t.join(j, j.c.tcn == t.c.tcn)  # submissions are the transactions with a job (enrolments have none)
              .outerjoin(a, a.c.ori == t.c.ori)
              .outerjoin(crim, stage(crim, "criminal_search"))
              .outerjoin(imm, stage(imm, "immigration_search"))
              .outerjoin(idr, stage(idr, "idr"))
              .outerjoin(sd, stage(sd, "status_determination"))
              .outerjoin(iar, stage(iar, "iar"))
              .outerjoin(bio, and_(bio.c.tcn == t.c.tcn, bio.c.kind == "biometric"))
              .outerjoin(rst, and_(rst.c.tcn == t.c.tcn, rst.c.kind == "status"))
              .outerjoin(first["IAQ"], first["IAQ"].c.tcn == t.c.tcn)
              .outerjoin(first["IAR"], first["IAR"].c.tcn == t.c.tcn)
              .outerjoin(st, st.c.tcn == t.c.tcn))
    naturalized = sd.c.output["status"].as_string() == NATURALIZED
    truth_known = st.c.tcn.is_not(None)
    false_match = and_(matched, truth_known, or_(st.c.true_fin.is_(None), st.c.true_fin != fin))
    cols = [
        t.c.tcn.label("tcn"), t.c.ori.label("ori"),
        func.coalesce(a.c.state, "").label("state"), func.coalesce(a.c.county, "").label("county"),
        year.label("year"), month.label("month"), day.label("day"),
        (t.c.state == "rejected").label("rejected"),
        (crim.c.output["result"].as_string() == "I").label("identified"),
        and_(imm.c.tcn.is_not(None), imm.c.status != "skipped").label("searched"),
        matched.label("matched"),
        case((matched, fin)).label("fin"),
        case((matched, level)).label("level"),
        bio.c.state.label("bio_state"), rst.c.id.is_not(None).label("analyst"),
        first["IAQ"].c.tcn.is_not(None).label("iaq"), first["IAR"].c.tcn.is_not(None).label("iar"),
        iar.c.output["action"].as_string().label("action"),
        case((first["IAR"].c.at.is_not(None), seconds_between(t.c.received_at, first["IAR"].c.at)))
        .label("iar_seconds"),
        convicted.label("convicted"),
        case((and_(matched, naturalized), fin)).label("naturalized_fin"),
        case((and_(matched, flags.is_not(None), flags != "[]", flags != ""), fin)).label("protected_fin"),
        truth_known.label("truth"),
        false_match.label("false_match"),
        case((and_(matched, or_(naturalized, and_(truth_known, st.c.citizen == True))),  # noqa: E712
              func.coalesce(st.c.person, literal("FIN:") + fin))).label("citizen_key"),
    ]
    return select(*cols).select_from(joined)


def _periods(cols, period: str) -> list:
    """The period key columns of an inner query (constants when the period is everything)."""
    if period == "all":
        return [literal(None).label("p_year"), literal(None).label("p_month")]
    return [cols.p_year, cols.p_month]


def _n(cond):
    """COUNT of rows where ``cond`` holds (a SUM of 0/1, portable)."""
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


def _truthy(col):
    return col == True  # noqa: E712 - SQL boolean comparison


def compute(session: Session, *, level: str = "nation", period: str = "all", state: str | None = None,
            county: str | None = None, ori: str | None = None, start: dt.date | None = None,
            end: dt.date | None = None) -> Statistics:
    """Every figure of :data:`FIGURES` for each jurisdiction at ``level`` and each ``period``.

    Filters narrow the submissions counted: ``state`` (two letters), ``county``
    (with ``state``), ``ori``, and booking dates ``start``..``end`` inclusive.
    """
    if level not in LEVELS:
        raise StatisticsError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")
    if period not in PERIODS:
        raise StatisticsError(f"period must be one of {', '.join(PERIODS)}, not {period!r}")
    if start is not None and end is not None and end < start:
        raise StatisticsError(f"period ends ({end}) before it starts ({start})")
    if county is not None and state is None:
        raise StatisticsError("a county filter needs the state too (county names repeat across states)")
    prepare(session)
    f = _facts()
    conds = []
    if state:
        conds.append(f.selected_columns.state == state.strip().upper())
    if county:
        conds.append(func.upper(f.selected_columns.county) == county.strip().upper())
    if ori:
        conds.append(f.selected_columns.ori == ori.strip().upper())
    facts = f.where(*conds).subquery("facts") if conds else f.subquery("facts")
    c = facts.c
    if start is not None:
        facts = select(facts).where(c.day >= start).subquery("facts_from")
        c = facts.c
    if end is not None:
        facts = select(facts).where(c.day < end + dt.timedelta(days=1)).subquery("facts_to")
        c = facts.c

    keys = [c[k] for k in LEVELS[level]]
    if period == "month":
        pkeys = [c.year.label("p_year"), c.month.label("p_month")]
    elif period == "fy":
        pkeys = [(c.year + case((c.month >= 10, 1), else_=0)).label("p_year"), literal(None).label("p_month")]
    else:
        pkeys = [literal(None).label("p_year"), literal(None).label("p_month")]
    group = [*keys, *(p for p in pkeys if period != "all")]
    gcols = [*keys, *pkeys]

    counts = select(
        *gcols,
        func.count().label("submissions"),
        _n(_truthy(c.rejected)).label("rejected"),
        _n(_truthy(c.identified)).label("criminal_identified"),
        _n(_truthy(c.searched)).label("immigration_searches"),
        _n(_truthy(c.matched)).label("ident_matches"),
        *(_n(c.level == lv).label(name) for lv, name in LEVEL_FIGURES.items()),
        _n(and_(_truthy(c.matched), c.level.is_(None))).label("matches_level_pending"),
        _n(c.bio_state.is_not(None)).label("review_band_matches"),
        _n(c.bio_state == "confirmed").label("examiner_confirmed"),
        _n(c.bio_state == "rejected").label("examiner_rejected"),
        _n(c.bio_state == "open").label("examiner_open"),
        _n(_truthy(c.analyst)).label("analyst_reviews"),
        _n(_truthy(c.iaq)).label("iaqs"),
        _n(_truthy(c.iar)).label("iars"),
        _n(and_(_truthy(c.iar), c.action == "detainer")).label("iar_detainer"),
        _n(and_(_truthy(c.iar), c.action == "notification_request")).label("iar_notification"),
        _n(and_(_truthy(c.iar), c.action == "no_action")).label("iar_no_action"),
        _n(and_(_truthy(c.iar), c.action == "detainer", ~_truthy(c.convicted))).label("detainer_no_conviction"),
        func.count(func.distinct(c.fin)).label("matched_people"),
        func.count(func.distinct(c.naturalized_fin)).label("naturalized_matched"),
        func.count(func.distinct(c.protected_fin)).label("protected_matched"),
        func.count(func.distinct(c.citizen_key)).label("citizens_matched"),
        _n(_truthy(c.false_match)).label("false_matches"),
        _n(_truthy(c.truth)).label("_truth_rows"),
    ).group_by(*group)

    # people matched with no conviction at any of their matches: per (group, FIN), then summed
    per_person = (select(*gcols, c.fin.label("fin"),
                         func.max(case((_truthy(c.convicted), 1), else_=0)).label("any_conviction"))
                  .where(c.fin.is_not(None)).group_by(*group, c.fin).subquery("per_person"))
    pp = per_person.c
    pgroup = [pp[k] for k in LEVELS[level]] + ([pp.p_year, pp.p_month] if period != "all" else [])
    no_conv = select(*[pp[k] for k in LEVELS[level]], *_periods(pp, period),
                     _n(pp.any_conviction == 0).label("n")).group_by(*pgroup)

    # nearest-rank percentiles of booking-to-IAR seconds: ROW_NUMBER over each group's ordered durations
    ranked = (select(*gcols, c.iar_seconds.label("s"),
                     func.row_number().over(partition_by=group or None, order_by=c.iar_seconds).label("rn"),
                     func.count().over(partition_by=group or None).label("n"))
              .where(c.iar_seconds.is_not(None)).subquery("ranked"))
    rk = ranked.c
    rgroup = [rk[k] for k in LEVELS[level]] + ([rk.p_year, rk.p_month] if period != "all" else [])
    pct = select(*[rk[k] for k in LEVELS[level]], *_periods(rk, period),
                 func.max(case((rk.rn == (rk.n * 50 + 99) // 100, rk.s))).label("median"),
                 func.max(case((rk.rn == (rk.n * 95 + 99) // 100, rk.s))).label("p95")).group_by(*rgroup)

    # detainer decisions and outcomes (the detainer tables): per decision, on the booking's jurisdiction and period
    d = DetainerRow.__table__
    held = and_(d.c.kind == "detainer", d.c.answer == "honoured")
    det = (select(*gcols,
                  _n(d.c.kind == "detainer").label("detainers_lodged"),
                  _n(d.c.kind == "notification_request").label("notification_requests_lodged"),
                  _n(held).label("detainers_honoured"),
                  _n(d.c.outcome == "declined_by_law").label("detainers_declined_by_law"),
                  _n(d.c.outcome == "released_at_expiry").label("detainers_expired"),
                  _n(d.c.outcome == "transferred").label("detainers_transferred"),
                  _n(and_(d.c.kind != "no_action", d.c.outcome.is_(None))).label("detainers_open"),
                  _n(_truthy(d.c.over_held)).label("over_holds"),
                  _n(and_(held, ~_truthy(c.convicted))).label("held_no_conviction"))
           .select_from(facts.join(d, d.c.tcn == c.tcn)).group_by(*group))

    nk = len(keys)

    def key_of(row) -> tuple:
        return tuple(row[:nk]) + (row[nk], row[nk + 1])

    extra_nc = {key_of(r): int(r[-1]) for r in session.execute(no_conv)}
    extra_pct = {key_of(r): (r[-2], r[-1]) for r in session.execute(pct)}
    extra_det = {}
    for r in session.execute(det).mappings():
        extra_det[tuple(r[name] for name in LEVELS[level]) + (r["p_year"], r["p_month"])] = \
            {name: int(r[name]) for name in DETAINER_FIGURES}
    truth_any = False
    rows = []
    for rec in session.execute(counts).mappings():
        k = tuple(rec[name] for name in LEVELS[level]) + (rec["p_year"], rec["p_month"])
        figures: dict[str, int | float | None] = {}
        truth = int(rec["_truth_rows"]) > 0
        truth_any = truth_any or truth
        for fig in FIGURES:
            if fig.name in rec:
                figures[fig.name] = int(rec[fig.name])
        figures["matched_people_no_conviction"] = extra_nc.get(k, 0)
        mp = figures["matched_people"]
        figures["share_no_conviction"] = round(figures["matched_people_no_conviction"] / mp, 4) if mp else None
        med, p95 = extra_pct.get(k, (None, None))
        figures["booking_to_iar_median_s"] = round(float(med), 3) if med is not None else None
        figures["booking_to_iar_p95_s"] = round(float(p95), 3) if p95 is not None else None
        if not truth:
            figures["false_matches"] = None
        figures.update(extra_det.get(k) or dict.fromkeys(DETAINER_FIGURES, 0))
        jur = {name: (rec[name] or "") for name in LEVELS[level]}
        label = _period_label(period, rec["p_year"], rec["p_month"])
        rows.append(Row(jurisdiction=jur, period=label,
                        figures={f.name: figures.get(f.name) for f in FIGURES if f.name in figures}))
    rows.sort(key=lambda r: (tuple(r.jurisdiction.values()), r.period))
    names = tuple(f.name for f in FIGURES)
    filters = {k: v for k, v in (("state", state), ("county", county), ("ori", ori),
                                  ("start", start.isoformat() if start else None),
                                  ("end", end.isoformat() if end else None)) if v}
    return Statistics(level=level, period=period, rows=tuple(rows), figures=names, filters=filters, truth=truth_any)


def figure(name: str):
    """The :class:`~securecomm.statistics.figures.Figure` called ``name``."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise StatisticsError(f"no figure {name!r}") from None


__all__ = ["compute", "Statistics", "Row", "StatisticsError", "LEVELS", "PERIODS", "figure"]
