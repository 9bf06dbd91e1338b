"""The charts of docs/statistics.md: one PNG per figure group, by month, from a simulated store.

    .venv/bin/python benchmarks/bench_simulation.py --state MA --scale 0.005 --seed 2012 --out /tmp/sim-ma
    .venv/bin/python benchmarks/statistics_charts.py sqlite:////tmp/sim-ma/securecomm.db docs/img/statistics
"""

from __future__ import annotations

import sys
from pathlib import Path

from securecomm.statistics import GROUPS, compute
from securecomm.statistics.report import group_chart
from securecomm.store.db import open_store


def main(url: str, out: str) -> None:
    engine, Session = open_store(url)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    with Session() as s:
        monthly = compute(s, period="month")
    for group in GROUPS:
        try:
            path = group_chart(monthly, group, folder / f"{group}.png",
                               title=f"{group} by month (simulated Massachusetts, synthetic data)")
        except ValueError:  # a group with no figures yet (detainers)
            continue
        print(path, path.stat().st_size)
    engine.dispose()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
