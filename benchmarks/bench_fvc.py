"""FVC2002 benchmark: both template sources, written to benchmarks/results/fvc2002.json.

    .venv/bin/python benchmarks/bench_fvc.py [DIR]

Runs the all-pairs protocol (securecomm.engine.fvc) with the SDK ISO templates
(matcher-only accuracy) and with our own extraction, and prints both.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

from securecomm.engine import fvc

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data" / "fvc2002"
    out = {"data": str(data), "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
           "date": time.strftime("%Y-%m-%d %H:%M")}
    for source in ("iso", "extract"):
        out[source] = fvc.run(data, templates=source)
        print(source, json.dumps(out[source], indent=1), flush=True)
    dest = ROOT / "benchmarks" / "results"
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "fvc2002.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
