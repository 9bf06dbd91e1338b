"""Minutiae extraction: image -> :class:`~securecomm.engine.template.Template`.

The steps, each in its own module (read them in this order):

0. :mod:`~securecomm.engine.image` -- check the input, convert to 8-bit
   grayscale, resample to 500 ppi. Bad input raises ``ImageError`` here.
1. :mod:`~securecomm.engine.orientation` (first pass) -- gradient structure
   tensor and its coherence, which segmentation needs.
2. :mod:`~securecomm.engine.segment` -- the foreground: blocks with strong,
   coherent ridge-band energy, cleaned by morphology, largest component.
3. :mod:`~securecomm.engine.orientation` (second pass) -- the ridge
   orientation field, smoothed within the foreground only.
4. :mod:`~securecomm.engine.frequency` -- the local ridge period.
5. :mod:`~securecomm.engine.enhance` -- per-pixel oriented Gabor filtering.
6. :mod:`~securecomm.engine.minutiae` -- binarise, thin, crossing number,
   trace, remove false minutiae, direction and reliability.
7. :mod:`~securecomm.engine.quality` -- the image quality score.

The template is in the 500 ppi frame of the resampled image (its width and
height are those of the resampled image). At most
:data:`~securecomm.engine.template.MAX_MINUTIAE` minutiae are kept, the most
reliable first. Everything is deterministic: no randomness, no
thread-order-dependent reductions, so one image always gives one template.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from securecomm.engine import enhance as _enhance
from securecomm.engine import frequency, image, minutiae, orientation, quality, segment
from securecomm.engine.template import MAX_MINUTIAE, Template


@dataclass(frozen=True)
class Analysis:
    """Every intermediate result of one extraction (for diagnostics and quality)."""

    image: np.ndarray
    scale: float
    mask: np.ndarray
    theta: np.ndarray
    coherence: np.ndarray
    period: np.ndarray
    enhanced: np.ndarray
    skeleton: np.ndarray
    minutiae: minutiae.RawMinutiae
    quality: quality.QualityReport
    timings_ms: dict


def analyse(pixels: object, ppi: float = 500) -> Analysis:
    """Run the whole extraction and keep the intermediate results."""
    t = {}
    t0 = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t0
        now = time.perf_counter()
        t[name] = round((now - t0) * 1000, 2)
        t0 = now

    img, scale = image.prepare(pixels, ppi)
    lap("prepare")
    tensor = orientation.structure_tensor(img)
    first = orientation.orientation_field(img, tensor=tensor)
    lap("tensor")
    seg = segment.segment(img, first.coherence, first.theta)
    mask = seg.mask
    lap("segment")
    if mask.sum() < 32 * 32:
        rep = quality.QualityReport(0, 0.0, 0.0, 0.0, 0.0, 0.0, seg.fraction, 0)
        z = np.zeros(img.shape, np.float32)
        return Analysis(img, scale, mask, z, z, z, z, np.zeros(img.shape, np.uint8),
                        minutiae.RawMinutiae.empty(), rep, t)
    field = orientation.orientation_field(img, mask, tensor=tensor)
    lap("orientation")
    period, median_period = frequency.ridge_period(img, field.theta, mask)
    lap("frequency")
    norm = _enhance.normalise(img)
    enhanced = _enhance.enhance(img, field.theta, period, mask, norm)
    lap("enhance")
    raw, skel = minutiae.detect(enhanced, mask, field.theta, first.coherence, median_period)
    lap("minutiae")
    rep = quality.score_features(mask, first.coherence, norm, enhanced, period, raw.quality, img, field.theta)
    lap("quality")
    return Analysis(img, scale, mask, field.theta, first.coherence, period, enhanced, skel, raw, rep, t)


def extract(pixels: np.ndarray, ppi: float = 500) -> Template:
    """Minutiae template of one fingerprint image (see the module docstring)."""
    return template_of(analyse(pixels, ppi), ppi)


def template_of(a: Analysis, ppi: float) -> Template:
    """The classical template of an analysis (``ppi``: the source resolution, recorded)."""
    m = a.minutiae
    order = np.lexsort((m.x, m.y, -m.quality.astype(np.int64)))[:MAX_MINUTIAE]
    h, w = a.image.shape
    meta = {
        "foreground_fraction": round(a.quality.foreground_fraction, 4),
        "source_ppi": float(ppi),
        "scale": a.scale,
        "quality": a.quality.as_dict(),
        "timings_ms": a.timings_ms,
    }
    return Template(m.x[order], m.y[order], m.direction[order], m.kind[order], m.quality[order],
                    width=w, height=h, ppi=500, image_quality=a.quality.score, meta=meta,
                    extractor="classical", source_ppi=int(round(float(ppi))))
