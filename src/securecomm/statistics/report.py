"""The monthly report, in the layout of the programme's "IDENT/IAFIS Interoperability Statistics".

``write_report(session, out_dir, month=, state=, county=, ori=)`` writes
``report.html`` and ``report.pdf`` (and the charts as PNG) for one
jurisdiction and one month:

1. the published table: each figure for the month and cumulative since the
   first booking in the store (the programme's tables ran cumulatively from
   October 2008), with the nation beside the jurisdiction;
2. charts: by month (submissions, immigration searches, matches), matches
   by level by month, and the jurisdiction against the nation (level mix and
   the share of matched people with no conviction);
3. the critics' measures and how each figure is defined.

``group_chart(monthly, group, path)`` draws one figure group by month (the
charts of docs/statistics.md). Everything comes from
:func:`securecomm.statistics.compute`; nothing here reads a table itself.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from securecomm.statistics.export import fmt_value
from securecomm.statistics.figures import BY_NAME, FIGURES
from securecomm.statistics.query import Statistics, StatisticsError, compute

LEVEL_NAMES = ("matches_l1", "matches_l2", "matches_l3", "matches_nc")
LEVEL_LABELS = ("Level 1", "Level 2", "Level 3", "non-criminal")
LEVEL_COLOURS = ("#7f0000", "#d7301f", "#fc8d59", "#9ecae1")
#: The published table's rows, in order.
TABLE_FIGURES = ("submissions", "immigration_searches", "ident_matches", *LEVEL_NAMES, "iaqs", "iars",
                 "iar_detainer", "iar_notification", "review_band_matches", "matched_people",
                 "share_no_conviction", "citizens_matched", "protected_matched", "false_matches",
                 "booking_to_iar_median_s", "booking_to_iar_p95_s",
                 "detainers_lodged", "notification_requests_lodged", "detainers_honoured",
                 "detainers_declined_by_law", "detainers_expired", "detainers_transferred", "over_holds",
                 "held_no_conviction")


@dataclass(frozen=True)
class Report:
    html: Path
    pdf: Path
    charts: tuple[Path, ...]
    title: str


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _month_bounds(month: str) -> tuple[dt.date, dt.date]:
    try:
        first = dt.datetime.strptime(month, "%Y-%m").date()
    except ValueError:
        raise StatisticsError(f"month must look like 2012-06, not {month!r}") from None
    nxt = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return first, nxt - dt.timedelta(days=1)


def _only(stats: Statistics) -> dict:
    return stats.rows[0].figures if stats.rows else {}


def _series(stats: Statistics, name: str) -> list[float]:
    return [float(r.figures.get(name) or 0) for r in stats.rows]


def group_chart(monthly: Statistics, group: str, path: Path, *, title: str = "") -> Path:
    """One figure group by month as a small PNG (counts as lines; shares on a right-hand axis, dashed)."""
    plt = _plt()
    names = [n for n in monthly.figures if BY_NAME[n].group == group]
    if not names:
        raise StatisticsError(f"no figures in group {group!r}")
    months = [r.period for r in monthly.rows]
    rows = (len(names) + 1) // 2
    fig, ax = plt.subplots(figsize=(6.4, 2.9 + 0.17 * rows), dpi=80)
    x = list(range(len(months)))
    shares = None
    if group == "levels":
        bottom = [0.0] * len(months)
        for n, label, colour in zip(LEVEL_NAMES, LEVEL_LABELS, LEVEL_COLOURS):
            ys = _series(monthly, n)
            ax.bar(x, ys, bottom=bottom, label=label, color=colour)
            bottom = [b + y for b, y in zip(bottom, ys)]
    else:
        for n in names:
            ys = [r.figures.get(n) for r in monthly.rows]
            target, style = ax, {}
            if BY_NAME[n].kind == "share":  # percentages on their own axis, dashed
                ys = [None if v is None else 100 * v for v in ys]
                if shares is None:
                    shares = ax.twinx()
                    shares.set_ylabel("%", fontsize=7)
                    shares.tick_params(labelsize=7)
                target, style = shares, {"linestyle": "--", "color": "black"}
            target.plot(x, [float("nan") if v is None else v for v in ys], marker="o", ms=3, **style,
                        label=BY_NAME[n].label + (" (%, right axis)" if BY_NAME[n].kind == "share" else ""))
    ax.set_xticks(x)
    ax.set_xticklabels(months, rotation=45, ha="right", fontsize=7)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_title(title or f"{group} by month", fontsize=9)
    handles, labels = ax.get_legend_handles_labels()
    if shares is not None:
        h2, l2 = shares.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    fig.legend(handles, labels, fontsize=6, loc="lower center", ncol=2, frameon=False)
    fig.tight_layout(rect=(0, 0.05 + 0.045 * rows, 1, 1))
    fig.savefig(path)
    plt.close(fig)
    return path


def _vs_nation_chart(local: dict, nation: dict, name: str, path: Path) -> Path:
    plt = _plt()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(6.4, 2.6), dpi=80)
    for i, (who, f) in enumerate(((name, local), ("nation", nation))):
        total = sum(float(f.get(n) or 0) for n in LEVEL_NAMES) or 1.0
        left = 0.0
        for n, label, colour in zip(LEVEL_NAMES, LEVEL_LABELS, LEVEL_COLOURS):
            share = 100 * float(f.get(n) or 0) / total
            ax1.barh(i, share, left=left, color=colour, label=label if i == 0 else None)
            left += share
    ax1.set_yticks([0, 1])
    ax1.set_yticklabels([name, "nation"], fontsize=7)
    ax1.set_xlabel("% of matches by level", fontsize=7)
    ax1.legend(fontsize=6, frameon=False, loc="lower right")
    shares = [100 * (local.get("share_no_conviction") or 0), 100 * (nation.get("share_no_conviction") or 0)]
    ax2.bar([0, 1], shares, color=["#d7301f", "#636363"])
    ax2.set_xticks([0, 1])
    ax2.set_xticklabels([name, "nation"], fontsize=7)
    ax2.set_ylabel("% no conviction", fontsize=7)
    ax2.set_title("matched people with no conviction", fontsize=8)
    for ax in (ax1, ax2):
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write_report(session: Session, out_dir: Path, *, month: str | None = None, state: str | None = None,
                 county: str | None = None, ori: str | None = None) -> Report:
    """Write the monthly report (HTML, PDF, PNG charts) for a jurisdiction; the nation when none is named."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    scope = {"state": state, "county": county, "ori": ori}
    name = ori or (f"{county} County, {state}" if county else state) or "nation"
    monthly = compute(session, level="nation", period="month", **scope)
    months = [r.period for r in monthly.rows if r.period != "unknown"]
    if not months:
        raise StatisticsError(f"no bookings for {name}: nothing to report")
    month = month or months[-1]
    first, last = _month_bounds(month)
    this = _only(compute(session, end=last, start=first, **scope))
    cumulative = _only(compute(session, end=last, **scope))
    nation_month = _only(compute(session, start=first, end=last))
    nation_cum = _only(compute(session, end=last))
    charts = (
        group_chart(monthly, "volume", out_dir / "by_month.png", title=f"{name}: submissions and matches by month"),
        group_chart(monthly, "levels", out_dir / "by_level.png", title=f"{name}: matches by level by month"),
        _vs_nation_chart(cumulative, nation_cum, name, out_dir / "vs_nation.png"),
    )
    title = f"IDENT/IAFIS interoperability statistics: {name}, {month}"
    rows = [(BY_NAME[n].label, *(fmt_value(f.get(n), BY_NAME[n].kind) for f in
                                 (this, cumulative, nation_month, nation_cum))) for n in TABLE_FIGURES]
    head = ("figure", f"{name}, {month}", f"{name}, cumulative to {month}", f"nation, {month}",
            f"nation, cumulative to {month}")
    html_path = out_dir / "report.html"
    html_path.write_text(_html(title, head, rows, charts), encoding="utf-8")
    pdf_path = out_dir / "report.pdf"
    _pdf(pdf_path, title, head, rows, charts)
    return Report(html=html_path, pdf=pdf_path, charts=charts, title=title)


def _html(title: str, head: tuple, rows: list[tuple], charts: tuple[Path, ...]) -> str:
    e = html.escape
    imgs = "".join(f'<img alt="{e(p.stem)}" src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}">'
                   for p in charts)
    table = "<tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr>" + "".join(
        "<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    defs = "".join(f"<dt>{e(f.label)}</dt><dd>{e(f.definition)}</dd>" for f in FIGURES)
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{e(title)}</title>"
            "<style>body{font-family:sans-serif;max-width:64em;margin:auto}table{border-collapse:collapse}"
            "td,th{border:1px solid #999;padding:2px 6px;text-align:right}td:first-child{text-align:left}"
            "img{max-width:100%}</style></head><body>"
            f"<h1>{e(title)}</h1><p>Synthetic or test data unless stated otherwise; computed live from the "
            "store by securecomm.statistics. A dash is a figure that does not apply (or, in the public view, a "
            "suppressed small count).</p>"
            f"<table>{table}</table><h2>Charts</h2>{imgs}<h2>Definitions</h2><dl>{defs}</dl></body></html>")


def _pdf(path: Path, title: str, head: tuple, rows: list[tuple], charts: tuple[Path, ...]) -> None:
    plt = _plt()
    from matplotlib.backends.backend_pdf import PdfPages

    with PdfPages(path) as pdf:
        fig, ax = plt.subplots(figsize=(11.0, 8.5))
        ax.axis("off")
        ax.set_title(title, fontsize=12)
        table = ax.table(cellText=[list(r) for r in rows], colLabels=list(head), loc="upper center",
                         cellLoc="right", colLoc="center")
        table.auto_set_font_size(False)
        table.set_fontsize(7)
        table.scale(1, 1.3)
        pdf.savefig(fig)
        plt.close(fig)
        for chart in charts:
            img = plt.imread(str(chart))
            fig, ax = plt.subplots(figsize=(11.0, 8.5))
            ax.imshow(img)
            ax.axis("off")
            pdf.savefig(fig)
            plt.close(fig)


def jurisdiction_table(stats: Statistics, title: str):
    """A rich table in the shape of the published monthly tables: one row per jurisdiction."""
    from rich.table import Table

    cols = ("submissions", "immigration_searches", "ident_matches", *LEVEL_NAMES, "iars", "iar_detainer",
            "detainers_lodged", "detainers_honoured", "over_holds", "share_no_conviction")
    heads = ("submissions", "searched", "matches", "L1", "L2", "L3", "NC", "IARs", "detainer rec.",
             "lodged", "honoured", "over-holds", "no conviction")
    t = Table(title=title, title_justify="left")
    for c in stats.key_columns:
        t.add_column(c)
    for h in heads:
        t.add_column(h, justify="right")
    for r in stats.rows:
        t.add_row(*r.jurisdiction.values(), *(fmt_value(r.figures.get(c), BY_NAME[c].kind) for c in cols))
    return t


def demo_tail(session_factory, console, out_dir: Path) -> Report | None:
    """The end of ``securecomm demo``: the by-county table (computed in SQL) and where the report is."""
    with session_factory() as s:
        stats = compute(s, level="county", period="all")
        console.print(jurisdiction_table(stats, "By county (the monthly interoperability statistics' layout; "
                                                "`securecomm stats --level county` for every figure)"))
        try:
            rep = write_report(s, out_dir)
        except StatisticsError as exc:  # no booking got a date (every submission rejected)
            console.print(f"no report: {exc}")
            return None
    console.print(f"Report ({rep.title}): {rep.html} and {rep.pdf}")
    return rep
