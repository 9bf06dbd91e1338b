"""Step 6 of extraction: an image quality score 0..100 (NFIQ 2-like in spirit).

NFIQ 2 predicts how well an image will match from local features of the
ridge pattern. This score uses the same families of evidence, computed from
what extraction already has in hand, so it costs almost nothing:

``orientation certainty`` (weight 0.25)
    mean orientation coherence over the foreground, mapped linearly from 0.25
    (noise) to 0.75 (clean parallel ridges) onto 0..1;
``local clarity`` (0.30)
    correlation between the normalised image and its Gabor-enhanced version
    over the foreground: a clean print *is* its own enhancement (near 1); in
    smudged, dry or noisy areas the filter has to invent the ridges (near 0);
``ridge-valley uniformity`` (0.10)
    how steady the ridge period is across the print (1 minus the coefficient
    of variation of the period, scaled): uneven spacing means distortion or
    mis-estimated frequency;
``foreground area`` (0.15)
    foreground area over :data:`FULL_AREA` px (about a plain impression at
    500 ppi), capped at 1;
``minutiae`` (0.20)
    the count of minutiae over :data:`ENOUGH_MINUTIAE`, capped at 1, times their
    mean reliability.

The weighted sum, times 100, is the score. Images under
:data:`TOO_POOR_TO_SEARCH` should be re-taken rather than searched: their
templates are too unreliable for a 1:N decision either way.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

#: Below this score an image should be re-captured, not searched.
TOO_POOR_TO_SEARCH = 20
#: Foreground area (px at 500 ppi) counted as a full impression (~ 12 x 14 mm).
FULL_AREA = 240 * 280
#: Minutiae count that counts as "enough" for a confident comparison.
ENOUGH_MINUTIAE = 30

WEIGHTS = {"orientation_certainty": 0.25, "clarity": 0.30, "uniformity": 0.10,
           "area": 0.15, "minutiae": 0.20}


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

    @property
    def too_poor(self) -> bool:
        return self.score < TOO_POOR_TO_SEARCH

    def as_dict(self) -> dict:
        d = asdict(self)
        d["too_poor"] = self.too_poor
        return d


def score_features(mask: np.ndarray, coherence: np.ndarray, normalised: np.ndarray,
                   enhanced: np.ndarray, period: np.ndarray, minutia_quality: np.ndarray) -> QualityReport:
    """Combine the extraction's intermediate results into a :class:`QualityReport`."""
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
    score = int(round(100 * sum(WEIGHTS[k] * v for k, v in feats.items())))
    return QualityReport(score=int(np.clip(score, 0, 100)), foreground_fraction=frac,
                         minutiae_count=n, **feats)


def assess(pixels: np.ndarray, ppi: float = 500) -> QualityReport:
    """Quality of an image (runs the extraction; see :func:`securecomm.engine.extract.analyse`)."""
    from securecomm.engine.extract import analyse

    return analyse(pixels, ppi).quality
