"""Step 1 of extraction: separate the fingerprint (foreground) from everything else.

Background is not only the blank sensor glass: scanned ink cards carry
printed box lines, typed labels and handwriting, and live scans carry latent
residue and halo. All of these have contrast, so contrast alone is not
enough. A block (:data:`BLOCK` px) is foreground when it shows *ridges*:

1. **ridge-band energy** -- the RMS of a difference-of-Gaussians band-pass
   tuned to ridge periods of roughly 5-16 px. Flat glass and paper have
   none; a single printed line or a pen stroke has some but much less than a
   patch of several parallel ridges;
2. **orientation coherence** (see :mod:`orientation`) -- ridges are locally
   parallel; handwriting, print and noise are not (or only along one thin
   stroke);
3. **periodicity** -- the autocorrelation peak of the oriented x-signature
   (see :mod:`frequency`): several parallel ridges repeat at the ridge period,
   while a printed box line or a pen stroke, coherent as it is, is a single
   dip with no repeat. This is what keeps ten-print card rulings out;
4. thresholds are relative to the image itself (an Otsu split of the block
   energies, kept within fixed fractions of the strongest blocks), so dry,
   wet and low-contrast sensors all segment without per-sensor tuning.

The block mask is then cleaned with morphology: a closing bridges gaps
between ridge patches (with the image border replicated, so a print that runs
off the edge of a small sensor keeps its edge), an opening with a disc of about one ridge-patch
(5 blocks) removes isolated blocks and thin strips along ruled lines, the largest
connected component is kept (with any other component at least a third as
large, for the odd split print), and holes are filled -- a scar inside a
finger is still part of the finger. The block mask is up-sampled and
smoothed to a pixel mask. Minutiae close to its edge are dropped later, by
distance (see :mod:`minutiae`), rather than by eroding the mask here, so the
enhancement filter still sees ridges right up to the border.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from securecomm.engine import frequency
from securecomm.engine.image import reduced_blur

#: Block size in px at 500 ppi (a little under one ridge period).
BLOCK = 8
#: Band-pass for ridge energy: Gaussian sigmas (px) of the difference of Gaussians.
DOG_FINE, DOG_COARSE = 1.2, 4.5
#: Minimum block coherence of a ridge area.
MIN_COHERENCE = 0.22
#: Energy threshold limits, as fractions of the 95th-percentile block energy.
ENERGY_FLOOR, ENERGY_CEIL = 0.10, 0.30
#: Periodicity: block step (px) and the smallest smoothed autocorrelation peak of a ridge area.
PERIOD_STEP = 16
MIN_PERIODICITY = 0.15


@dataclass(frozen=True)
class Segmentation:
    """Foreground mask (bool, per pixel) and the per-block evidence behind it."""

    mask: np.ndarray
    block_energy: np.ndarray
    block_coherence: np.ndarray

    @property
    def fraction(self) -> float:
        return float(self.mask.mean())


def _block_mean(a: np.ndarray, block: int) -> np.ndarray:
    h, w = a.shape
    nh, nw = -(-h // block), -(-w // block)
    pad = np.pad(a, ((0, nh * block - h), (0, nw * block - w)), mode="edge")
    return pad.reshape(nh, block, nw, block).mean(axis=(1, 3))


def _otsu(values: np.ndarray) -> float:
    v = np.sort(values.ravel())
    if v.size < 2 or v[0] == v[-1]:
        return float(v[0]) if v.size else 0.0
    hist, edges = np.histogram(v, bins=64)
    p = hist.astype(np.float64) / hist.sum()
    centers = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(p)
    m0 = np.cumsum(p * centers)
    mt = m0[-1]
    w1 = 1 - w0
    with np.errstate(invalid="ignore", divide="ignore"):
        between = (mt * w0 - m0) ** 2 / (w0 * w1)
    between[~np.isfinite(between)] = -1
    return float(edges[int(np.argmax(between)) + 1])


def _largest_components(mask: np.ndarray, keep_ratio: float = 0.33) -> np.ndarray:
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=4)
    if n <= 1:
        return mask.astype(bool)
    areas = stats[1:, cv2.CC_STAT_AREA]
    biggest = areas.max()
    keep = np.zeros(n, bool)
    keep[1:] = areas >= keep_ratio * biggest
    return keep[labels]


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    m = mask.astype(np.uint8)
    h, w = m.shape
    pad = np.zeros((h + 2, w + 2), np.uint8)
    pad[1:-1, 1:-1] = m
    flood = pad.copy()
    ff = np.zeros((h + 4, w + 4), np.uint8)
    cv2.floodFill(flood, ff, (0, 0), 1)
    holes = flood[1:-1, 1:-1] == 0
    return mask.astype(bool) | holes


def periodicity(img: np.ndarray, theta: np.ndarray, block: int = BLOCK) -> np.ndarray:
    """Per-block strength (0..1) of the ridge-period repeat, on the ``block`` grid."""
    h, w = img.shape
    _, conf = frequency.block_periods(img, theta, np.ones((h, w), np.bool_), PERIOD_STEP)
    conf = cv2.GaussianBlur(conf, (0, 0), 0.8, borderType=cv2.BORDER_REPLICATE)
    nh, nw = -(-h // block), -(-w // block)
    return cv2.resize(conf, (nw, nh), interpolation=cv2.INTER_LINEAR)


def segment(img: np.ndarray, coherence: np.ndarray, theta: np.ndarray | None = None,
            block: int = BLOCK) -> Segmentation:
    """Foreground of a 500 ppi image, given its per-pixel orientation coherence and field."""
    f = img.astype(np.float32)
    band = cv2.GaussianBlur(f, (0, 0), DOG_FINE) - reduced_blur(f, DOG_COARSE)
    be = np.sqrt(cv2.GaussianBlur(_block_mean(band * band, block), (0, 0), 0.75,
                                  borderType=cv2.BORDER_REPLICATE))
    bc = _block_mean(coherence, block)
    ref = float(np.percentile(be, 95))
    if ref <= 1e-6:
        empty = np.zeros(img.shape, bool)
        return Segmentation(empty, be, bc)
    t = _otsu(be)
    t = min(max(t, ENERGY_FLOOR * ref), ENERGY_CEIL * ref)
    fg = (be > t) & (bc > MIN_COHERENCE)
    if theta is not None:
        fg &= periodicity(img, theta, block) > MIN_PERIODICITY
    k5 = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    m = fg.astype(np.uint8)
    # closing with replicated borders: a print that runs off the image edge is not eroded
    # there; the opening's dilation restores whatever its erosion took from a wide region
    m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, k5, borderType=cv2.BORDER_REPLICATE)
    m = cv2.morphologyEx(m, cv2.MORPH_OPEN, k5, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    m = _largest_components(m > 0)
    m = _fill_holes(m)
    h, w = img.shape
    up = cv2.resize(m.astype(np.float32), (m.shape[1] * block, m.shape[0] * block),
                    interpolation=cv2.INTER_LINEAR)[:h, :w]
    up = cv2.GaussianBlur(up, (0, 0), block / 2)
    return Segmentation(up > 0.5, be, bc)
