"""Step 3 of extraction: the local ridge period (inverse frequency).

The enhancement filter must match the ridge spacing, which varies across a
finger (tighter at the tip, wider at the core) and between people and
pressures. It is estimated per block with the *x-signature* of Hong, Wan &
Jain (1998):

1. in an oriented window centred on the block (:data:`WINDOW_ACROSS` px
   across the ridges by :data:`WINDOW_ALONG` px along them), average the grey
   levels along the ridge direction; the result is a 1-D profile across the
   ridges that is close to a sinusoid;
2. its normalised autocorrelation peaks at the ridge period; the first peak in
   :data:`MIN_PERIOD`..:data:`MAX_PERIOD` px is refined to sub-pixel precision
   with a parabola. A window that runs off the image is used as far as it
   goes (at least 55% of it, two periods), so prints touching the image edge
   keep their edge. A block whose peak is weak (creases, noise, singular
   points) is marked invalid;
3. invalid blocks are filled by normalised convolution (a Gaussian-weighted
   mean of the valid neighbours), falling back to the image median; the block
   field is smoothed and interpolated to every pixel.

500 ppi ridges repeat every ~9 px (7-12 px in most adults); the limits are
generous so that children's and worn prints still fall inside.
"""

from __future__ import annotations

import cv2
import numpy as np
from numba import njit

#: Block step (px) of the period estimate.
BLOCK = 12
#: Oriented window: extent across and along the ridges (px).
WINDOW_ACROSS, WINDOW_ALONG = 40, 16
#: Plausible ridge periods at 500 ppi (px).
MIN_PERIOD, MAX_PERIOD = 4.5, 16.0
#: Default period when nothing can be measured (adult average at 500 ppi).
DEFAULT_PERIOD = 9.0
#: Minimum autocorrelation of an accepted peak.
MIN_PEAK = 0.25


@njit(cache=True)
def _block_periods(img, theta, mask, block, across, along, pmin, pmax, min_peak):
    h, w = img.shape
    nh = (h + block - 1) // block
    nw = (w + block - 1) // block
    out = np.zeros((nh, nw), np.float32)
    conf = np.zeros((nh, nw), np.float32)
    half_a = across // 2
    half_l = along // 2
    sums = np.zeros(across, np.float64)
    cnts = np.zeros(across, np.float64)
    sig = np.zeros(across, np.float64)
    kmax = int(pmax) + 2
    ac = np.zeros(kmax + 2, np.float64)
    for bi in range(nh):
        for bj in range(nw):
            cy = min(bi * block + block // 2, h - 1)
            cx = min(bj * block + block // 2, w - 1)
            if not mask[cy, cx]:
                continue
            t = theta[cy, cx]
            tx, ty = np.cos(t), np.sin(t)  # along ridge
            nx, ny = -ty, tx  # across
            sums[:] = 0.0
            cnts[:] = 0.0
            # sample the oriented window directly (nearest pixel): across x along
            for k in range(across):
                u = k - half_a + 0.5
                bx = cx + u * nx
                by = cy + u * ny
                for j in range(along):
                    v = j - half_l + 0.5
                    x = int(bx + v * tx + 0.5)
                    y = int(by + v * ty + 0.5)
                    if x < 0 or x >= w or y < 0 or y >= h:
                        continue
                    sums[k] += img[y, x]
                    cnts[k] += 1.0
            n = 0
            mean = 0.0
            for k in range(across):
                if cnts[k] > 0:
                    sig[k] = sums[k] / cnts[k]
                    mean += sig[k]
                    n += 1
                else:
                    sig[k] = np.nan
            if n < across * 0.55:  # windows may run off the image: two periods or more suffice
                continue
            mean /= n
            e0 = 0.0
            for k in range(across):
                if not np.isnan(sig[k]):
                    sig[k] -= mean
                    e0 += sig[k] * sig[k]
            e0 /= n
            if e0 <= 1e-9:
                continue
            for lag in range(kmax + 2):
                s = 0.0
                npairs = 0
                for k in range(across - lag):
                    if not (np.isnan(sig[k]) or np.isnan(sig[k + lag])):
                        s += sig[k] * sig[k + lag]
                        npairs += 1
                ac[lag] = s / npairs / e0 if npairs >= 8 else 0.0
            best = -1
            kmin = int(np.floor(pmin))
            for lag in range(max(kmin, 2), kmax + 1):
                if ac[lag] > ac[lag - 1] and ac[lag] >= ac[lag + 1] and ac[lag] > min_peak:
                    best = lag
                    break
            if best < 0:
                continue
            a, b, c = ac[best - 1], ac[best], ac[best + 1]
            den = a - 2 * b + c
            off = 0.0
            if den < 0:
                off = 0.5 * (a - c) / den
                if off > 0.5:
                    off = 0.5
                elif off < -0.5:
                    off = -0.5
            p = best + off
            if p < pmin or p > pmax:
                continue
            out[bi, bj] = p
            conf[bi, bj] = b
    return out, conf


def block_periods(img: np.ndarray, theta: np.ndarray, mask: np.ndarray,
                  block: int = BLOCK) -> tuple[np.ndarray, np.ndarray]:
    """Steps 1-2 on a ``block`` grid: (period px, 0 where invalid; autocorrelation peak strength).

    Segmentation uses the peak strength too, as evidence of parallel ridges.
    """
    f = cv2.GaussianBlur(img.astype(np.float32), (0, 0), 1.0)
    return _block_periods(f, theta.astype(np.float32), mask.astype(np.bool_), block,
                          WINDOW_ACROSS, WINDOW_ALONG, MIN_PERIOD, MAX_PERIOD, MIN_PEAK)


def ridge_period(img: np.ndarray, theta: np.ndarray, mask: np.ndarray,
                 block: int = BLOCK) -> tuple[np.ndarray, float]:
    """Per-pixel ridge period (float32 px) and the image's median period."""
    per, conf = block_periods(img, theta, mask, block)
    valid = per > 0
    median = float(np.median(per[valid])) if valid.sum() >= 3 else DEFAULT_PERIOD
    wgt = conf * valid
    num = cv2.GaussianBlur((per * wgt).astype(np.float32), (0, 0), 1.5, borderType=cv2.BORDER_REPLICATE)
    den = cv2.GaussianBlur(wgt.astype(np.float32), (0, 0), 1.5, borderType=cv2.BORDER_REPLICATE)
    field = np.where(den > 0.05, num / np.maximum(den, 1e-6), median).astype(np.float32)
    field = np.clip(field, MIN_PERIOD, MAX_PERIOD)
    h, w = img.shape
    nh, nw = field.shape
    up = cv2.resize(field, (nw * block, nh * block), interpolation=cv2.INTER_LINEAR)[:h, :w]
    return np.ascontiguousarray(up, dtype=np.float32), median
