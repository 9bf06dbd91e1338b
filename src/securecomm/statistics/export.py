"""Write a statistics table as CSV, JSON or Parquet; render it as rich tables.

Parquet needs pyarrow, an optional extra (``pip install 'securecomm[parquet]'``):
the tables are a few hundred rows, so CSV and JSON carry them well and the
core install stays without a 40 MB columnar library (docs/decisions.md).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from securecomm.statistics.figures import BY_NAME, GROUPS
from securecomm.statistics.query import Statistics

FORMATS = ("table", "csv", "json", "parquet")


class ExportError(ValueError):
    """A format that cannot be written here (unknown, or Parquet without pyarrow)."""


def columns(stats: Statistics) -> list[str]:
    return [*stats.key_columns, "period", *stats.figures]


def to_csv(stats: Statistics) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns(stats), lineterminator="\n")
    w.writeheader()
    for rec in stats.records():
        w.writerow({k: "" if rec.get(k) is None else rec.get(k) for k in columns(stats)})
    return buf.getvalue()


def to_json(stats: Statistics) -> str:
    return json.dumps(stats.to_dict(), indent=2, sort_keys=False)


def to_parquet(stats: Statistics, path: Path) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ExportError("--format parquet needs pyarrow: pip install 'securecomm[parquet]' "
                          "(or use --format csv / json)") from None
    cols: dict[str, list[Any]] = {c: [rec.get(c) for rec in stats.records()] for c in columns(stats)}
    pq.write_table(pa.table(cols), str(path))


def write(stats: Statistics, fmt: str, out: Path | None) -> str | None:
    """Write ``stats`` in ``fmt`` to ``out`` (or return the text for stdout); Parquet needs ``out``."""
    if fmt not in FORMATS or fmt == "table":
        raise ExportError(f"format must be one of csv, json, parquet, not {fmt!r}")
    if fmt == "parquet":
        if out is None:
            raise ExportError("--format parquet writes a file: give --out FILE.parquet")
        to_parquet(stats, out)
        return None
    text = to_csv(stats) if fmt == "csv" else to_json(stats)
    if out is None:
        return text
    out.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    return None


def fmt_value(value: Any, kind: str = "count") -> str:
    if value is None:
        return "-"
    if kind == "share":
        return f"{100 * value:.1f} %"
    if kind == "seconds":
        return f"{value:,.0f}"
    return f"{value:,}"


def rich_tables(stats: Statistics, groups: tuple[str, ...] = GROUPS) -> list[Any]:
    """Rich tables: with few rows, one table with a row per figure and a column per jurisdiction-period;
    otherwise one table per figure group with a row per jurisdiction-period and a column per figure."""
    from rich.table import Table

    if len(stats.rows) <= 6:
        t = Table(title=f"statistics ({stats.level}, {stats.period})", title_justify="left")
        t.add_column("group")
        t.add_column("figure")
        for r in stats.rows:
            t.add_column(" ".join([*(v for v in r.jurisdiction.values() if v), r.period]) or "all", justify="right")
        for group in groups:
            for i, n in enumerate(x for x in stats.figures if BY_NAME[x].group == group):
                t.add_row(group if i == 0 else "", BY_NAME[n].label,
                          *(fmt_value(r.figures.get(n), BY_NAME[n].kind) for r in stats.rows),
                          end_section=False)
            t.add_section()
        return [t]
    out = []
    for group in groups:
        names = [n for n in stats.figures if BY_NAME[n].group == group]
        if not names:
            continue
        t = Table(title=f"{group} ({stats.level}, {stats.period}): "
                  + "; ".join(f"{n} = {BY_NAME[n].label}" for n in names), title_justify="left")
        for c in (*stats.key_columns, "period"):
            t.add_column(c, no_wrap=True)
        for n in names:
            t.add_column(n, justify="right")
        for r in stats.rows:
            t.add_row(*r.jurisdiction.values(), r.period,
                      *(fmt_value(r.figures.get(n), BY_NAME[n].kind) for n in names))
        out.append(t)
    return out
