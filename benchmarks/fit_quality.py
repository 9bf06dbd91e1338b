"""Fit and validate the image quality model (securecomm.engine.quality.MODEL) on FVC-style data.

    .venv/bin/python benchmarks/fit_quality.py [DIR] [--json OUT]

For every database under DIR (default ../shared/data/fvc2002): classical extraction of
every image (the quality features come with it), the all-pairs score matrix, and each
image's mean genuine score. The model predicts, from the five features, the image's
within-database rank fraction of that mean (minus 0.5), by ridge regression on
standardised features (penalty 0.01 x n). Reported:

* leave-one-database-out: fitted on the other databases, the Spearman correlation of
  the prediction with the held-out database's mean genuine scores (the honest figure);
* the in-sample figure of the fit on all databases, and that fit's raw-unit weights
  and intercept, which is what ``MODEL`` holds;
* the same Spearman for the score as shipped (``Template.image_quality``) and for the
  legacy weighted sum, per image and per genuine pair (min of the two qualities);
* error versus reject: the database's EER once the images with the lowest 5 % and 10 %
  of a quality are left out (all their comparisons), for the held-out prediction, the
  shipped score and the legacy score.

Targets are classical scores (the fused extractor's scores rank the images the same
way: docs/engine.md). Nothing here is keyed on file names, fingers or databases; the
only use of the database is to rank within it, since score levels differ by sensor.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

from securecomm.engine import fvc
from securecomm.engine.extract import analyse, template_of

FEATURES = ("minutiae", "ridge_fraction", "orientation_certainty", "local_clarity_p10", "core_distance")
PENALTY = 0.01


def database(db: Path) -> dict:
    ppi = fvc.database_ppi(db)
    samples = fvc.list_samples(db)
    reps, temps = [], []
    for s in samples:
        a = analyse(fvc.load_image(s.image), ppi)
        reps.append(a.quality)
        temps.append(template_of(a, ppi))
    fingers = np.array([s.finger for s in samples])
    matrix, _ = fvc.all_pairs_matrix(temps)
    sym = np.triu(matrix, 1)
    sym = sym + sym.T
    same = (fingers[:, None] == fingers[None, :]) & ~np.eye(len(samples), dtype=bool)
    mean_genuine = (sym * same).sum(1) / np.maximum(same.sum(1), 1)
    x = np.array([[getattr(r, f) for f in FEATURES] for r in reps])
    return {"x": x, "y": rankdata(mean_genuine) / len(mean_genuine) - 0.5, "mean_genuine": mean_genuine,
            "matrix": matrix, "fingers": fingers, "score": np.array([r.score for r in reps], float),
            "legacy": np.array([r.legacy_score for r in reps], float)}


def eer_without_worst(d: dict, quality: np.ndarray, fraction: float) -> float:
    """EER (percent) of the database with the images of the lowest ``fraction`` of quality left out."""
    keep = quality > np.quantile(quality, fraction) if fraction > 0 else np.ones(quality.size, bool)
    iu = np.triu_indices(quality.size, 1)
    same = (d["fingers"][:, None] == d["fingers"][None, :])[iu]
    k = keep[iu[0]] & keep[iu[1]]
    s = d["matrix"][iu]
    return round(fvc.error_rates(s[same & k], s[~same & k]).eer_pct, 3)


def fit(parts: list[dict]) -> tuple[np.ndarray, float]:
    """(raw-unit weights, intercept) of the ridge fit on the pooled databases."""
    x = np.vstack([p["x"] for p in parts])
    y = np.concatenate([p["y"] for p in parts])
    mu, sd = x.mean(0), x.std(0) + 1e-9
    z = (x - mu) / sd
    w = np.linalg.solve(z.T @ z + PENALTY * len(z) * np.eye(z.shape[1]), z.T @ y)
    return w / sd, float(-(mu / sd) @ w)


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    root = Path(args[0]) if args else Path(__file__).resolve().parents[2] / "shared" / "data" / "fvc2002"
    out_json = sys.argv[sys.argv.index("--json") + 1] if "--json" in sys.argv else None
    dbs = {db.name: database(db) for db in fvc.find_databases(root)}
    report: dict = {"features": list(FEATURES), "held_out": {}, "shipped": {}, "legacy": {},
                    "eer_pct_dropping_worst_0_5_10_pct": {}}
    for name, d in dbs.items():
        w, b = fit([p for n, p in dbs.items() if n != name])
        pred = d["x"] @ w + b
        report["held_out"][name] = round(fvc.spearman(pred, d["mean_genuine"]), 3)
        report["eer_pct_dropping_worst_0_5_10_pct"][name] = {
            q: [eer_without_worst(d, v, f) for f in (0.0, 0.05, 0.10)]
            for q, v in (("held_out", pred), ("shipped", d["score"]), ("legacy", d["legacy"]))}
        report["shipped"][name] = [round(v, 3) for v in fvc.quality_spearman(d["score"], d["matrix"], d["fingers"])]
        report["legacy"][name] = [round(v, 3) for v in fvc.quality_spearman(d["legacy"], d["matrix"], d["fingers"])]
    w, b = fit(list(dbs.values()))
    report["in_sample"] = {n: round(fvc.spearman(d["x"] @ w + b, d["mean_genuine"]), 3) for n, d in dbs.items()}
    report["model"] = {"intercept": round(b, 4), **{f: round(float(v), 4) for f, v in zip(FEATURES, w)}}
    text = json.dumps(report, indent=1)
    print(text)
    if out_json:
        Path(out_json).write_text(text + "\n")


if __name__ == "__main__":
    main()
