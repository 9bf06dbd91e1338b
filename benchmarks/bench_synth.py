"""Synthetic fingerprints: speed, realism against FVC2002, extraction accuracy against ground truth.

    .venv/bin/python benchmarks/bench_synth.py [--fingers 30] [--impressions 8] [--seed 1]
        [--gallery-subjects 100000] [--fvc2002 DIR | --no-fvc2002]

Writes benchmarks/results/synth.json and prints a summary. Measures:

* generation speed on one core: master ridge pattern (ms per finger), rendered
  impression (ms, plain and rolled), template-level gallery (fingers per second);
* the engine's accuracy on a synthetic FVC-layout database (all-pairs protocol,
  ``securecomm.engine.fvc``), with extracted templates and with the ground-truth
  templates, next to the same measurement on the real FVC2002 B sets;
* minutiae extraction precision and recall against the ground truth: an extracted
  minutia is correct when a ground-truth one lies within 8 px and 30 degrees
  (one-to-one, nearest first);
* the engine's accuracy on template-level impressions (no images).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from securecomm.engine import fvc
from securecomm.engine.extract import extract
from securecomm.engine.iso19794 import read_iso_file
from securecomm.engine.template import Template
from securecomm.synth import make_master, render
from securecomm.synth import templates as T
from securecomm.synth.fvcdb import write_database
from securecomm.synth.master import _pattern_uncached

ROOT = Path(__file__).resolve().parents[1]
DIST_PX = 8.0
DIST_ANGLE = np.radians(30.0)


def precision_recall(truth: Template, found: Template) -> tuple[int, int, int]:
    """(correct, extracted, true) with one-to-one pairing within 8 px and 30 degrees."""
    if len(truth) == 0 or len(found) == 0:
        return 0, len(found), len(truth)
    d = np.hypot(truth.x[:, None] - found.x[None, :], truth.y[:, None] - found.y[None, :])
    da = np.abs(np.angle(np.exp(1j * (truth.angle[:, None].astype(np.float64) - found.angle[None, :]))))
    ok = (d <= DIST_PX) & (da <= DIST_ANGLE)
    pairs = np.argwhere(ok)
    pairs = pairs[np.argsort(d[ok], kind="stable")]
    used_t: set[int] = set()
    used_f: set[int] = set()
    for i, j in pairs:
        if i not in used_t and j not in used_f:
            used_t.add(int(i))
            used_f.add(int(j))
    return len(used_t), len(found), len(truth)


def quantiles(a: np.ndarray) -> dict[str, float]:
    return {f"q{q}": round(float(np.percentile(a, q)), 4) for q in (10, 50, 90, 99)}


def accuracy(templates: list[Template | None], fingers: np.ndarray) -> dict:
    gen, imp, pps = fvc.all_pairs_scores(templates, fingers)
    rates = fvc.error_rates(gen, imp)
    return {"eer_pct": round(rates.eer_pct, 3), "fmr100_pct": round(rates.fmr100_pct, 3),
            "fmr1000_pct": round(rates.fmr1000_pct, 3), "genuine": int(gen.size), "impostor": int(imp.size),
            "genuine_scores": quantiles(gen), "impostor_scores": quantiles(imp)}


def speed(n_masters: int, seed: int) -> dict:
    """Median per-finger master time and per-impression render time, on one thread.

    CPU time of this thread (OpenCV limited to one thread), so other work on a
    shared machine does not inflate the figures; wall time is reported too.
    """
    cv2.setNumThreads(1)
    cpu: dict[str, list[float]] = {"master": [], "plain": [], "rolled": []}
    wall: dict[str, list[float]] = {"master": [], "plain": [], "rolled": []}
    counts = []
    _pattern_uncached(make_master(seed))  # warm numba and the filter-bank cache

    def timed(key: str, fn, *a, **kw):
        c0, w0 = time.thread_time(), time.perf_counter()
        out = fn(*a, **kw)
        cpu[key].append(1e3 * (time.thread_time() - c0))
        wall[key].append(1e3 * (time.perf_counter() - w0))
        return out

    for i in range(n_masters):
        m = make_master(seed * 1000 + i)
        timed("master", m.pattern)
        for s in range(3):
            counts.append(len(timed("plain", render, m, s, "plain").minutiae))
            timed("rolled", render, m, s, "rolled")
    out = {f"{k}_ms_median": round(statistics.median(v), 1) for k, v in cpu.items()}
    out.update({f"{k}_ms_median_wall": round(statistics.median(v), 1) for k, v in wall.items()})
    out["plain_truth_minutiae"] = {"mean": round(float(np.mean(counts)), 1),
                                   "p5": float(np.percentile(counts, 5)),
                                   "p95": float(np.percentile(counts, 95))}
    return out


def synthetic_database(fingers: int, impressions: int, seed: int) -> dict:
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        db = write_database(Path(tmp), fingers, impressions, seed)
        out["write_s"] = round(time.perf_counter() - t0, 1)
        samples = fvc.list_samples(db)
        fingers_arr = np.array([s.finger for s in samples])
        extracted: list[Template | None] = []
        truths: list[Template] = []
        correct = n_found = n_true = 0
        ms = []
        for s in samples:
            pixels = np.asarray(Image.open(s.image))
            truth = read_iso_file(s.iso)
            t0 = time.perf_counter()
            found = extract(pixels)
            ms.append(1e3 * (time.perf_counter() - t0))
            c, f, t = precision_recall(truth, found)
            correct, n_found, n_true = correct + c, n_found + f, n_true + t
            extracted.append(found)
            truths.append(truth)
        out["extract_ms_median"] = round(statistics.median(ms), 1)
        out["precision"] = round(correct / max(n_found, 1), 4)
        out["recall"] = round(correct / max(n_true, 1), 4)
        out["extracted_minutiae_mean"] = round(n_found / len(samples), 1)
        out["truth_minutiae_mean"] = round(n_true / len(samples), 1)
        out["extract"] = accuracy(extracted, fingers_arr)
        out["truth"] = accuracy(truths, fingers_arr)
    return out


def real_databases(root: Path) -> dict:
    out = {}
    for db in fvc.find_databases(root):
        samples = fvc.list_samples(db)
        ppi = fvc.database_ppi(db)
        temps: list[Template | None] = []
        for s in samples:
            try:
                temps.append(extract(fvc.load_image(s.image), ppi=ppi))
            except ValueError:
                temps.append(None)
        n = [len(t) for t in temps if t is not None]
        res = accuracy(temps, np.array([s.finger for s in samples]))
        res["extracted_minutiae_mean"] = round(float(np.mean(n)), 1)
        out[db.name] = res
        print(db.name, json.dumps(res), flush=True)
    return out


def template_level(subjects: int, seed: int, workers: int) -> dict:
    t0 = time.perf_counter()
    n = subjects * 10
    minutiae = 0
    for block in T.iter_blocks(n, seed, workers=workers):
        minutiae += int(block.offsets[-1])
    dt = time.perf_counter() - t0
    out = {"fingers": n, "workers": workers, "seconds": round(dt, 2), "fingers_per_s": round(n / dt),
           "mean_minutiae": round(minutiae / n, 1),
           "bytes_per_finger": round(T.impressions(1000, seed).nbytes / 1000, 1),
           "projected_1e7_fingers_min": round(1e7 / (n / dt) / 60, 1)}
    k, f = 4, 150
    temps = [t for i in range(k) for t in T.impressions(f, seed + 1, impression=i)]
    out["engine"] = accuracy(temps, np.tile(np.arange(f), k))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fingers", type=int, default=30)
    ap.add_argument("--impressions", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--speed-masters", type=int, default=10)
    ap.add_argument("--gallery-subjects", type=int, default=100_000)
    ap.add_argument("--fvc2002", type=Path, default=ROOT.parent / "shared" / "data" / "fvc2002")
    ap.add_argument("--no-fvc2002", action="store_true")
    ap.add_argument("--workers", type=int, default=2, help="processes for the template-level gallery")
    args = ap.parse_args()
    result: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                    "date": time.strftime("%Y-%m-%d %H:%M"), "args": {k: str(v) for k, v in vars(args).items()}}
    result["speed"] = speed(args.speed_masters, args.seed)
    print("speed", json.dumps(result["speed"]), flush=True)
    result["template_level"] = template_level(args.gallery_subjects, args.seed, args.workers)
    print("template_level", json.dumps(result["template_level"]), flush=True)
    result["synthetic"] = synthetic_database(args.fingers, args.impressions, args.seed)
    print("synthetic", json.dumps(result["synthetic"]), flush=True)
    if not args.no_fvc2002 and args.fvc2002.is_dir():
        result["fvc2002"] = real_databases(args.fvc2002)
    dest = ROOT / "benchmarks" / "results"
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "synth.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {dest / 'synth.json'}", file=sys.stderr)


if __name__ == "__main__":
    main()
