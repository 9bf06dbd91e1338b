"""The matcher's size normalisation, measured: impostor (and genuine) scores by n_P class, raw and normalised.

LSS-R averages the n_P best cylinder pairs, and n_P shrinks from 12 to 4 as the smaller template of a
comparison shrinks (MCC's sigmoid on min(n_A, n_B)). An average of fewer values spreads further above
the chance level, so small comparisons have heavier impostor tails, and the fused ten-print score,
which reads every finger through one impostor model, let a single small gallery finger lift unrelated
subjects into the review band (docs/benchmarks.md, issue 7, sixth pass). The kernel scales a small
comparison's excess over the chance level by (n_P / 12) ** 0.5 (``MCCParams.size_norm_*``). This script
shows, per class, what that does:

* synthetic impostors (``synth.templates``: plain impressions of one seed, each small one against
  ``PARTNERS`` random rolled and plain impressions of other seeds, the rest against a twentieth as many),
* with ``--fvc ROOT``: every FVC2002 pair of the SDK templates (``.iso``) and of our own extraction.

    .venv/bin/python benchmarks/bench_score_norm.py [--fingers N] [--fvc ../shared/data/fvc2002] [--json F]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from securecomm.engine.match import Prepared, match_rows, pack, prepare_many
from securecomm.engine.mcc import DEFAULT_PARAMS, MCCParams
from securecomm.synth import templates as T

LEVELS = (0.5, 0.9, 0.99, 0.999)
PARTNERS = 400
SEEDS = {"small": 301, "rolled": 302, "plain": 303}
RAW = MCCParams(size_norm_power=0.0)


def n_p_of(nmin) -> np.ndarray:
    return DEFAULT_PARAMS.pairs_averaged(nmin)


def raw_and_normalised(probe: Prepared, gallery, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The probe's scores against gallery templates ``rows``: raw LSS-R, then as the engine scores them."""
    cyl = (gallery.bits, gallery.valid, gallery.x, gallery.y, gallery.angle)
    starts, ends = gallery.offsets[rows], gallery.offsets[rows + 1]
    return match_rows(probe, cyl, starts, ends, RAW), match_rows(probe, cyl, starts, ends)


class ByClass:
    """Scores (raw, normalised) grouped by n_P class."""

    def __init__(self) -> None:
        self.raw: dict[int, list[np.ndarray]] = {}
        self.normed: dict[int, list[np.ndarray]] = {}

    def add(self, cls: np.ndarray, raw: np.ndarray, normed: np.ndarray) -> None:
        for k in np.unique(cls).tolist():
            self.raw.setdefault(k, []).append(raw[cls == k])
            self.normed.setdefault(k, []).append(normed[cls == k])

    def summary(self, levels=LEVELS) -> dict:
        out = {}
        for k in sorted(self.raw):
            r, n = np.concatenate(self.raw[k]), np.concatenate(self.normed[k])
            out[k] = {"pairs": int(r.size), "raw": [round(float(v), 4) for v in np.quantile(r, levels)],
                      "normalised": [round(float(v), 4) for v in np.quantile(n, levels)]}
        return out


def synthetic(fingers: int, seed: int = 0) -> dict:
    """Impostor scores by class on synthetic prints (every pair: two different synthetic fingers)."""
    p = DEFAULT_PARAMS
    small = prepare_many(list(T.impressions(fingers, SEEDS["small"], 0, "plain")))
    others = prepare_many(list(T.impressions(fingers // 2, SEEDS["rolled"], 1, "rolled"))
                          + list(T.impressions(fingers // 2, SEEDS["plain"], 2, "plain")))
    gallery = pack(others)
    n_small = np.array([len(x) for x in small])
    n_other = np.array([len(x) for x in others])
    full_from = int(np.min(np.nonzero(n_p_of(np.arange(200)) == p.max_np)[0]))
    rng = np.random.default_rng(seed)
    got = ByClass()
    t0 = time.perf_counter()
    for i, probe in enumerate(small):
        if n_small[i] < p.min_cylinders:
            continue
        rows = rng.choice(len(others), size=PARTNERS, replace=False)
        rows = rows[n_other[rows] >= p.min_cylinders]
        if n_small[i] >= full_from:  # the full class needs no more than a sample
            rows = rows[: PARTNERS // 20]
        got.add(n_p_of(np.minimum(n_small[i], n_other[rows])), *raw_and_normalised(probe, gallery, rows))
        if (i + 1) % 5000 == 0:
            print(f"synthetic: {i + 1}/{len(small)} probes, {time.perf_counter() - t0:.0f} s", flush=True)
    return got.summary()


def fvc_pairs(root: Path, source: str) -> dict:
    """Every pair of each FVC2002 database, impostor and genuine apart, by class."""
    from securecomm.engine import extractors, fvc
    from securecomm.engine.iso19794 import read_iso_file

    ex = extractors.get("classical") if source == "extract" else None
    imp, gen = ByClass(), ByClass()
    for db in fvc.find_databases(root):
        samples = [s for s in fvc.list_samples(db) if (s.iso if ex is None else s.image) is not None]
        if ex is None:
            temps = [read_iso_file(s.iso) for s in samples]
        else:
            dpi = fvc.database_ppi(db)
            temps = [ex.extract(fvc.load_image(s.image), dpi) for s in samples]
        prep = prepare_many(temps)
        gallery = pack(prep)
        n = np.array([len(x) for x in prep])
        finger = np.array([s.finger for s in samples])
        for i in range(len(prep) - 1):
            rows = np.arange(i + 1, len(prep))
            rows = rows[(n[rows] >= DEFAULT_PARAMS.min_cylinders) & (n[i] >= DEFAULT_PARAMS.min_cylinders)]
            if rows.size == 0:
                continue
            cls = n_p_of(np.minimum(n[i], n[rows]))
            raw, normed = raw_and_normalised(prep[i], gallery, rows)
            same = finger[rows] == finger[i]
            imp.add(cls[~same], raw[~same], normed[~same])
            gen.add(cls[same], raw[same], normed[same])
    return {"impostor": imp.summary((0.5, 0.9, 0.99)), "genuine": gen.summary((0.1, 0.5))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fingers", type=int, default=40_000)
    ap.add_argument("--fvc", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    out = {"params": {"level": DEFAULT_PARAMS.size_norm_level, "power": DEFAULT_PARAMS.size_norm_power},
           "levels": list(LEVELS), "synthetic_impostors": synthetic(args.fingers)}
    if args.fvc is not None:
        out["fvc2002"] = {src: fvc_pairs(args.fvc, src) for src in ("iso", "extract")}
    text = json.dumps(out, indent=1)
    if args.json is not None:
        args.json.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
