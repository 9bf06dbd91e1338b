"""Small-cell suppression for the public view of the statistics.

A count between 1 and ``k - 1`` in one jurisdiction and period can point at a
person (one matched protected person in a small county); the public sees
``None`` there instead. Zero stays zero (it reveals no one). A share or a
percentile whose denominator is under ``k`` is suppressed too. This is
primary suppression only: a hidden cell can sometimes be recovered by
subtracting the others from a total (complementary suppression is not done;
docs/statistics.md says so).
"""

from __future__ import annotations

from dataclasses import replace

from securecomm.statistics.figures import BY_NAME
from securecomm.statistics.query import Row, Statistics

#: Smallest count the public sees (counts 1..K_PUBLIC-1 are hidden).
K_PUBLIC = 5
#: Denominator of each share or percentile figure.
DENOMINATORS = {"share_no_conviction": "matched_people", "booking_to_iar_median_s": "iars",
                "booking_to_iar_p95_s": "iars"}


def suppress(stats: Statistics, k: int = K_PUBLIC) -> Statistics:
    """A copy of ``stats`` with every small count, and every figure resting on one, set to ``None``."""
    if k < 2:
        raise ValueError("suppression threshold must be at least 2")
    rows = []
    for row in stats.rows:
        figs = dict(row.figures)
        for name, value in row.figures.items():
            fig = BY_NAME.get(name)
            if fig is not None and fig.is_count and value is not None and 0 < value < k:
                figs[name] = None
            den = DENOMINATORS.get(name)
            if den is not None and (row.figures.get(den) or 0) < k:
                figs[name] = None
        rows.append(Row(jurisdiction=row.jurisdiction, period=row.period, figures=figs))
    return replace(stats, rows=tuple(rows), suppressed_below=k)
