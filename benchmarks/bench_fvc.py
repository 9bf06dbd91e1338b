"""FVC2002 benchmark: both template sources, written to benchmarks/results/fvc2002.json.

    .venv/bin/python benchmarks/bench_fvc.py [DIR]

1. The all-pairs protocol (securecomm.engine.fvc) with the SDK ISO templates
   (matcher-only accuracy) and with our own extraction.
2. Score normalisation check: one threshold per pooled FMR target (1 %, 0.1 %) over
   every database and template source, and the FMR each database gets at it.
3. Bulk throughput: one probe against a packed gallery of every FVC2002 template
   (SDK and ours, 640), pairs per CPU-second of the calling thread, best of 3.
4. Ten-print fusion check: fused scores of 1, 4 and 10 random non-mated fingers
   should exceed f with probability about 10**-f whatever the finger count.
5. The impostor model engine.tenprint reads scores with (IMPOSTOR_QUANTILES, IMPOSTOR_Q99,
   TAIL_BETA_90, TAIL_BETA_99), fitted on the pooled impostors of both sources.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from securecomm.engine import fvc
from securecomm.engine.iso19794 import read_iso_file
from securecomm.engine.tenprint import fuse

ROOT = Path(__file__).resolve().parents[1]


def impostor_and_genuine(data: Path, source: str, keep: list) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from securecomm.engine.extract import extract

    out = {}
    for db in fvc.find_databases(data):
        samples = fvc.list_samples(db)
        if source == "iso":
            temps = [read_iso_file(s.iso) for s in samples]
        else:
            temps = [extract(fvc.load_image(s.image), fvc.database_ppi(db)) for s in samples]
        keep.extend(temps)
        gen, imp, _ = fvc.all_pairs_scores(temps, np.array([s.finger for s in samples]))
        out[db.name] = (gen, imp)
    return out


def normalisation_check(scores: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]) -> dict:
    pooled = np.concatenate([imp for _, imp in scores.values()])
    res = {}
    for target in (0.01, 0.001):
        t = float(np.quantile(pooled, 1 - target))
        res[f"pooled_fmr_{target:g}"] = {"threshold": round(t, 4), "fmr_pct": {
            f"{src}/{db}": round(100 * float(np.mean(imp >= t)), 3) for (src, db), (_, imp) in scores.items()}}
    return res


def bulk_throughput(templates: list) -> dict:
    from securecomm.engine.match import match_many, pack, prepare

    preps = [prepare(t) for t in templates]
    gallery = pack(preps)
    probes = preps[:: max(1, len(preps) // 40)]
    match_many(probes[0], gallery)  # compile / load the kernel first
    best = float("inf")
    for _ in range(3):
        t0 = time.thread_time()
        for p in probes:
            match_many(p, gallery)
        best = min(best, time.thread_time() - t0)
    return {"gallery": len(gallery), "probes": len(probes),
            "mean_minutiae": round(float(np.mean([len(t) for t in templates])), 1),
            "pairs_per_cpu_s": round(len(probes) * len(gallery) / best)}


def fusion_check(pooled_impostors: np.ndarray) -> dict:
    rng = np.random.default_rng(0)
    res = {}
    for n in (1, 4, 10):
        m = np.full((200_000, 10), np.nan)
        m[:, :n] = rng.choice(pooled_impostors, (200_000, n))
        f = fuse(m)
        res[f"{n}_fingers"] = {f"P(F>={k})": float(np.mean(f >= k)) for k in (1, 2, 3, 4)}
    return res


def impostor_model(pooled: np.ndarray) -> dict:
    """The constants of engine.tenprint's impostor model, from pooled impostor scores."""
    q90, q99 = (float(np.quantile(pooled, q)) for q in (0.9, 0.99))
    return {"scores": int(pooled.size),
            "IMPOSTOR_QUANTILES": [round(float(np.quantile(pooled, q)), 4) for q in np.arange(10) / 10],
            "IMPOSTOR_Q99": round(q99, 4), "TAIL_BETA_90": round((q99 - q90) / np.log(10.0), 5),
            "TAIL_BETA_99": round(float(np.mean(pooled[pooled > q99] - q99)), 5)}


def main() -> None:
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data" / "fvc2002"
    out = {"data": str(data), "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                          "load_average_at_start": os.getloadavg()},
           "date": time.strftime("%Y-%m-%d %H:%M")}
    for source in ("iso", "extract"):
        out[source] = fvc.run(data, templates=source)
        print(source, json.dumps(out[source], indent=1), flush=True)
    scores = {}
    templates: list = []
    for source in ("iso", "extract"):
        for db, gi in impostor_and_genuine(data, source, templates).items():
            scores[(source, db)] = gi
    out["bulk"] = bulk_throughput(templates)
    out["normalisation"] = normalisation_check(scores)
    out["fusion"] = fusion_check(np.concatenate([imp for _, imp in scores.values()]))
    out["impostor_model"] = impostor_model(np.concatenate([imp for _, imp in scores.values()]))
    out["machine"]["load_average_at_end"] = os.getloadavg()
    print(json.dumps({k: out[k] for k in ("normalisation", "bulk", "fusion", "impostor_model")}, indent=1))
    dest = ROOT / "benchmarks" / "results"
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "fvc2002.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
