"""Score fusion of the learned and classical minutiae of ``fused`` templates, on the classical scale.

A fused template (:mod:`securecomm.engine.extractors`) carries two minutiae sets.
Two fused templates are compared set by set with the same MCC matcher, and the two
scores are averaged (:data:`LEARNED_WEIGHT` 0.5: equal weights, not fitted). The
average has its own impostor distribution, so it is mapped onto the scale of the
classical score (:func:`to_classical_scale`): a fused score ``s`` is the classical
score with the same impostor tail probability. That is the recalibration of the
impostor model: the ten-print layer (:mod:`securecomm.engine.tenprint`) turns
scores into tail probabilities with one model, and after the mapping that model
holds for fused scores too, so a fused ten-print score still reads as "one in
10**score non-mated comparisons scores this high" and the hit / review thresholds
keep their meaning.

The map is piecewise linear through matching quantiles of the two impostor models
(levels 0, 0.1, ..., 0.9 and 0.99) and continues beyond the 99th percentile with the
ratio of the two exponential tail scales as its initial slope (bending towards 1, the
top of the scale), so it is monotone and the ranking of
comparisons (hence EER, FMR100, ...) is unchanged. :data:`FUSED_IMPOSTOR` was fitted
on FVC2002 B (all four databases, our templates, every cross-finger pair: 11,520
scores); re-measure with ``benchmarks/bench_extractors.py --fvc-cache DIR`` (its
``raw_average_model``) if an extractor or the matcher changes.
"""

from __future__ import annotations

import numpy as np

#: Weight of the learned minutiae's score in the average (the classical one gets the rest).
LEARNED_WEIGHT = 0.5

#: Impostor model of the raw average (same form as the classical model in engine.tenprint):
#: quantiles at levels 0.0..0.9, the 99th percentile, and the exponential tail scale beyond it.
#: Refitted 2026-12-03 for the matcher's size normalisation (before: q99 0.0728, tail 0.01057).
FUSED_IMPOSTOR = {
    "quantiles": (0.0308, 0.0394, 0.0409, 0.0421, 0.0434, 0.0446, 0.0459, 0.0476, 0.0499, 0.0538),
    "q99": 0.0685,
    "tail_beta_99": 0.00893,
}

_KNOTS: tuple[np.ndarray, np.ndarray, float] | None = None


def _knots() -> tuple[np.ndarray, np.ndarray, float]:
    global _KNOTS
    if _KNOTS is None:
        from securecomm.engine import tenprint as T

        src = np.array([*FUSED_IMPOSTOR["quantiles"], FUSED_IMPOSTOR["q99"]], np.float64)
        dst = np.array([*T.IMPOSTOR_QUANTILES, T.IMPOSTOR_Q99], np.float64)
        _KNOTS = (src, dst, T.TAIL_BETA_99 / FUSED_IMPOSTOR["tail_beta_99"])
    return _KNOTS


def to_classical_scale(raw: np.ndarray) -> np.ndarray:
    """Map raw averaged scores onto the classical score scale (monotone; 0 stays 0)."""
    src, dst, slope = _knots()
    r = np.asarray(raw, np.float64)
    low = r * (dst[0] / src[0])  # below the lowest impostor quantile: proportional, so 0 -> 0
    mid = np.interp(r, src, dst)
    # beyond the 99th percentile: the tail slope at first, bending so that 1 is reached only at 1
    high = 1.0 - (1.0 - dst[-1]) * (np.clip(1.0 - r, 0.0, None) / (1.0 - src[-1])) ** slope
    return np.where(r < src[0], low, np.where(r > src[-1], high, mid))


def fuse_scores(learned: np.ndarray, classical: np.ndarray) -> np.ndarray:
    """Fused score of comparisons scored on both minutiae sets."""
    raw = LEARNED_WEIGHT * np.asarray(learned, np.float64) + (1 - LEARNED_WEIGHT) * np.asarray(classical, np.float64)
    return to_classical_scale(raw)
