"""Regenerate the candidate index's fixed code parameters (engine.index), both from synthetic data only:

* ``src/securecomm/engine/data/index_reference.json``: the mean raw finger code that codes are centred
  on. Mean of the Hellinger pair histograms of 10,000 synthetic plain and 10,000 synthetic rolled
  impressions (synth.templates, seed 1). Centring matters: with a mean of uniformly random minutiae
  instead, mates fell to rank 35 of 150 (all rank 0 with this).
* ``src/securecomm/engine/data/index_projection.npy``: the linear projection of the centred 1,024-bin
  histogram to ``CODE_DIMS`` dimensions, fitted as a linear discriminant (LDA): whiten the scatter
  of *mated* differences (the same finger, another impression), then keep the directions along which
  the whitened fingers spread most. Fitted on 10,000 synthetic fingers (seed 101) in three
  impressions (plain, rolled, plain: every mated pair of them); ridge ``REG`` on the within-finger
  scatter. Stored as float16 (the code is the cosine of projections; float16 weights change no
  ranking measured). The choice and its measurements: docs/benchmarks.md, "Learned projection".

    .venv/bin/python benchmarks/make_index_reference.py [--projection-only]
"""

import json
import sys
from pathlib import Path

import numpy as np

from securecomm.engine import index as I
from securecomm.synth import templates as T

DATA = Path(__file__).resolve().parents[1] / "src/securecomm/engine/data"
FIT_FINGERS, FIT_SEED, REG = 10_000, 101, 0.1


def centred(n: int, seed: int, impression: int, kind: str, mean: np.ndarray) -> np.ndarray:
    p = T.impressions(n, seed, impression, kind)
    r = I._raw(p.offsets, p.x, p.y, p.angle) - mean
    return r / np.maximum(np.linalg.norm(r, axis=1, keepdims=True), 1e-9)


def fit_projection(mean: np.ndarray, dims: int = I.CODE_DIMS) -> np.ndarray:
    views = [centred(FIT_FINGERS, FIT_SEED, imp, kind, mean) for imp, kind in ((0, "plain"), (1, "rolled"), (2, "plain"))]
    diffs = np.concatenate([views[a] - views[b] for a, b in ((0, 1), (0, 2), (1, 2))]).astype(np.float64)
    within = diffs.T @ diffs / diffs.shape[0] / 2.0  # scatter of one impression about its finger
    allv = np.concatenate(views).astype(np.float64)
    allv -= allv.mean(axis=0)
    total = allv.T @ allv / allv.shape[0]
    w, v = np.linalg.eigh(within + REG * np.trace(within) / within.shape[0] * np.eye(within.shape[0]))
    whiten = v / np.sqrt(w)
    w2, v2 = np.linalg.eigh(whiten.T @ total @ whiten)
    proj = whiten @ v2[:, np.argsort(w2)[::-1][:dims]]
    proj /= np.linalg.norm(proj, axis=0, keepdims=True)  # unit columns: float16 keeps them well scaled
    return proj.astype(np.float16)


if __name__ == "__main__":
    if "--projection-only" not in sys.argv:
        parts = []
        for kind in ("plain", "rolled"):
            p = T.impressions(10_000, 1, 0, kind)
            parts.append(I._raw(p.offsets, p.x, p.y, p.angle))
        mean = np.concatenate(parts).mean(axis=0)
        (DATA / "index_reference.json").write_text(json.dumps({
            "what": "mean raw finger code (engine.index), synth.templates seed 1, 10,000 plain + 10,000 rolled impressions",
            "bins": [I.N_DIST, I.N_ALPHA, I.N_BETA], "d_range": list(I.D_RANGE),
            "mean": [round(float(x), 6) for x in mean]}) + "\n")
    ref = json.loads((DATA / "index_reference.json").read_text())
    proj = fit_projection(np.asarray(ref["mean"], np.float32))
    np.save(DATA / "index_projection.npy", proj, allow_pickle=False)
    print(DATA, proj.shape, proj.dtype)
