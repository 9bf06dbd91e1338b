"""Step 6 of extraction: an image quality score 0..100 that predicts the matcher's scores.

NFIQ 2 predicts how well an image will match from local features of the ridge
pattern. This score uses features of the same families, computed from what
extraction already has in hand (a few ms), each in its natural unit:

``minutiae``
    the count of minutiae over :data:`ENOUGH_MINUTIAE`, capped at 1, times their
    mean reliability (0..1): what the matcher will have to work with;
``ridge_fraction``
    the fraction of foreground pixels darker than their 15 x 15 px neighbourhood
    mean: about 0.4 on a clean print (ridges narrower than valleys after
    normalisation); wet, smeared or over-pressed prints, whose ridges run into
    the valleys, score higher (ridge-valley structure, as NFIQ 2's RVU and
    mean-grey features);
``orientation_certainty``
    mean orientation coherence over the foreground, mapped from 0.25 (noise) to
    0.75 (clean parallel ridges) onto 0..1 (NFIQ 2's OCL family);
``local_clarity_p10``
    the 10th percentile, over 16 x 16 px blocks at least 80 % inside the
    foreground, of the correlation between the normalised image and its Gabor
    enhancement (NFIQ 2's LCS family). Its weight is negative *given the others*
    (a correction to the correlated orientation certainty); on its own it predicts
    in the expected direction (docs/engine.md);
``core_distance``
    the distance from the foreground's centroid to the nearest core (Poincaré
    index of the 8 px block orientation field), over the square root of the
    foreground area; 1 when no core is found. An off-centre or core-less
    impression overlaps less with the other impressions of its finger.

The score is a linear model of these five features (:data:`MODEL`), fitted to
rank the images of FVC2002 DB1-DB4 B by their mean genuine comparison score
(rank fraction - 0.5, ridge regression), then ``round(100 * (prediction + 0.5))``
clipped to 0..100: roughly the percentile of the image's expected genuine score
among FVC2002 impressions. The feature set was chosen by nested leave-one-database-out
selection and validated leave-one-database-out: fitted on three databases, it ranks the
fourth with Spearman 0.58-0.87 (classical and fused scores; docs/engine.md has the figures and the
method). The older score (a fixed weighted sum of orientation certainty, clarity,
uniformity, area and minutiae) stays available as :attr:`QualityReport.legacy_score`;
it did not predict DB1 (Spearman 0.05).

Images under :data:`TOO_POOR_TO_SEARCH` should be re-taken rather than searched:
their templates are too unreliable for a 1:N decision either way.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

#: Below this score an image should be re-captured, not searched. Noise, blank and cropped images
#: score 0-5; 17 of the 320 FVC2002 B images (5 %) fall below it, 12 of them among the 10 % of their
#: database that match worst (docs/engine.md).
TOO_POOR_TO_SEARCH = 10
#: Foreground area (px at 500 ppi) counted as a full impression (~ 12 x 14 mm).
FULL_AREA = 240 * 280
#: Minutiae count that counts as "enough" for a confident comparison.
ENOUGH_MINUTIAE = 30

#: The legacy score's weights (QualityReport.legacy_score).
WEIGHTS = {"orientation_certainty": 0.25, "clarity": 0.30, "uniformity": 0.10,
           "area": 0.15, "minutiae": 0.20}

#: The score's linear model: intercept and weight per feature (raw units), from
#: benchmarks/fit_quality.py on FVC2002 DB1-DB4 B (classical templates).
MODEL = {"intercept": 1.0314, "minutiae": 0.9313, "ridge_fraction": -2.8389,
         "orientation_certainty": 0.8009, "local_clarity_p10": -1.2731, "core_distance": -0.2154}


@dataclass(frozen=True)
class QualityReport:
    """The score and the features it is made of (all features 0..1)."""

    score: int
    orientation_certainty: float
    clarity: float
    uniformity: float
    area: float
    minutiae: float
    foreground_fraction: float
    minutiae_count: int
    ridge_fraction: float = 0.0
    local_clarity_p10: float = 0.0
    core_distance: float = 1.0
    #: the pre-issue-8 weighted sum (WEIGHTS), kept for comparison
    legacy_score: int = 0

    @property
    def too_poor(self) -> bool:
        return self.score < TOO_POOR_TO_SEARCH

    def as_dict(self) -> dict:
        d = asdict(self)
        d["too_poor"] = self.too_poor
        return d


def model_score(features: dict[str, float]) -> int:
    """The score 0..100 of the five model features (:data:`MODEL`)."""
    pred = MODEL["intercept"] + sum(w * features[k] for k, w in MODEL.items() if k != "intercept")
    return int(np.clip(round(100 * (pred + 0.5)), 0, 100))


def ridge_fraction(image: np.ndarray, mask: np.ndarray) -> float:
    """Fraction of foreground pixels darker than their 15 x 15 px mean (about 0.4 when clean)."""
    img = image.astype(np.float32)
    return float((img < cv2.blur(img, (15, 15)))[mask].mean())


def local_clarity_p10(normalised: np.ndarray, enhanced: np.ndarray, mask: np.ndarray, block: int = 16) -> float:
    """10th percentile of the blockwise correlation of the image with its enhancement (ridges dark in
    the image, positive in the enhancement, so the sign is flipped); 0 without a full block."""
    hb, wb = mask.shape[0] // block, mask.shape[1] // block
    if hb == 0 or wb == 0:
        return 0.0

    def blocks(x: np.ndarray) -> np.ndarray:
        return x[:hb * block, :wb * block].astype(np.float32).reshape(hb, block, wb, block)

    m = blocks(mask)
    a, e = blocks(normalised) * m, blocks(enhanced) * m
    num = -(a * e).sum((1, 3))
    den = np.sqrt((a * a).sum((1, 3)) * (e * e).sum((1, 3))) + 1e-9
    full = m.mean((1, 3)) > 0.8
    return float(np.percentile((num / den)[full], 10)) if full.any() else 0.0


def core_distance(theta: np.ndarray, mask: np.ndarray, block: int = 8) -> float:
    """Distance from the foreground centroid to the nearest core, over sqrt(foreground area); 1 if none.

    Cores: 2 x 2 block loops of the (doubled-angle, smoothed) block orientation field whose
    Poincaré index is about +1/2, well inside the foreground.
    """
    h, w = theta.shape
    hb, wb = h // block, w // block
    if hb < 3 or wb < 3 or not mask.any():
        return 1.0
    t = 2 * theta[:hb * block, :wb * block].astype(np.float32)
    size = (wb, hb)  # block means by area resampling (cv2 takes width first)
    c = cv2.GaussianBlur(cv2.resize(np.cos(t), size, interpolation=cv2.INTER_AREA).astype(np.float64), (0, 0), 1.5)
    s = cv2.GaussianBlur(cv2.resize(np.sin(t), size, interpolation=cv2.INTER_AREA).astype(np.float64), (0, 0), 1.5)
    ang = np.arctan2(s, c) / 2
    inside = cv2.resize(mask[:hb * block, :wb * block].astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0.9
    inside = cv2.erode(inside.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    ring = [ang[:-1, :-1], ang[:-1, 1:], ang[1:, 1:], ang[1:, :-1]]
    turn = np.zeros_like(ring[0])
    for k in range(4):
        turn += (ring[(k + 1) % 4] - ring[k] + np.pi / 2) % np.pi - np.pi / 2
    ok = inside[:-1, :-1] & inside[1:, 1:] & inside[:-1, 1:] & inside[1:, :-1]
    cores = np.argwhere((turn / np.pi > 0.45) & ok)
    if cores.size == 0:
        return 1.0
    mom = cv2.moments(mask.astype(np.uint8), binaryImage=True)
    cy, cx = mom["m01"] / mom["m00"], mom["m10"] / mom["m00"]
    d = np.hypot(cores[:, 0] * block + block - cy, cores[:, 1] * block + block - cx)
    return float(d.min() / np.sqrt(mom["m00"]))


def score_features(mask: np.ndarray, coherence: np.ndarray, normalised: np.ndarray,
                   enhanced: np.ndarray, period: np.ndarray, minutia_quality: np.ndarray,
                   image: np.ndarray | None = None, theta: np.ndarray | None = None) -> QualityReport:
    """Combine the extraction's intermediate results into a :class:`QualityReport`.

    ``image`` (the prepared 500 ppi grey image) and ``theta`` (the orientation field) feed the
    ridge fraction and the core distance; without them those features take neutral values
    (0.5 and 1) and the score is less informative.
    """
    area_px = int(mask.sum())
    frac = area_px / mask.size if mask.size else 0.0
    n = int(minutia_quality.size)
    if area_px < 64:
        return QualityReport(0, 0.0, 0.0, 0.0, 0.0, 0.0, frac, n)
    oc = float(np.clip((coherence[mask].mean() - 0.25) / 0.5, 0, 1))
    a = normalised[mask].astype(np.float64)
    e = enhanced[mask].astype(np.float64)
    den = np.sqrt((a * a).sum() * (e * e).sum())
    corr = float(-(a * e).sum() / den) if den > 0 else 0.0  # ridges dark in a, positive in e
    clarity = float(np.clip((corr - 0.2) / 0.6, 0, 1))
    p = period[mask]
    cv = float(p.std() / max(p.mean(), 1e-6))
    uniformity = float(np.clip(1 - cv / 0.3, 0, 1))
    area = float(min(area_px / FULL_AREA, 1.0))
    mq = float(minutia_quality.mean()) / 100 if n else 0.0
    mins = float(min(n / ENOUGH_MINUTIAE, 1.0) * mq)
    feats = {"orientation_certainty": oc, "clarity": clarity, "uniformity": uniformity,
             "area": area, "minutiae": mins}
    legacy = int(np.clip(round(100 * sum(WEIGHTS[k] * v for k, v in feats.items())), 0, 100))
    model = {"minutiae": mins, "orientation_certainty": oc,
             "ridge_fraction": ridge_fraction(image, mask) if image is not None else 0.5,
             "local_clarity_p10": local_clarity_p10(normalised, enhanced, mask),
             "core_distance": core_distance(theta, mask) if theta is not None else 1.0}
    return QualityReport(score=model_score(model), foreground_fraction=frac, minutiae_count=n,
                         ridge_fraction=model["ridge_fraction"], local_clarity_p10=model["local_clarity_p10"],
                         core_distance=model["core_distance"], legacy_score=legacy, **feats)


def assess(pixels: np.ndarray, ppi: float = 500) -> QualityReport:
    """Quality of an image (runs the extraction; see :func:`securecomm.engine.extract.analyse`)."""
    from securecomm.engine.extract import analyse

    return analyse(pixels, ppi).quality
