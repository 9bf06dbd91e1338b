"""Step 4 of extraction: contextual enhancement with oriented Gabor filters.

A Gabor filter tuned to the local ridge orientation and period (Hong, Wan &
Jain 1998) averages grey levels *along* the ridges (bridging pores, small
breaks and scratches) and acts as a band-pass *across* them (removing smudges
that join neighbouring ridges and the slow illumination trend). After it,
the sign of the response is a clean ridge/valley map.

1. **Normalisation**: subtract a local mean and divide by a local standard
   deviation (Gaussian windows of :data:`NORM_SIGMA` px), so dark and light,
   dry and wet regions reach the filter with the same contrast.
2. **Filter bank**: kernels for :data:`N_ANGLES` orientations (7.5 degree steps)
   and ridge periods from :data:`MIN_PERIOD` to :data:`MAX_PERIOD` px in
   :data:`PERIOD_STEP` px steps, each ``exp(-u^2/2su^2 - v^2/2sv^2) cos(2 pi u / T)``
   with ``u`` across and ``v`` along the ridge, ``su = ACROSS_RATIO * T`` (0.4 T) and
   ``sv = ALONG_SIGMA`` px, made zero-mean so flat areas give zero response.
   The bank is built once per process.
3. **Per-pixel filtering**: every foreground pixel is convolved with the kernel
   of its own orientation and period (a JIT-compiled loop). Only foreground
   pixels are computed, which is what keeps this -- the costliest step --
   within a few tens of milliseconds.

Dark ridges give a negative response; :func:`enhance` returns the response
negated so that ridges are positive.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
from numba import njit

from securecomm.engine.image import reduced_blur

N_ANGLES = 24
MIN_PERIOD, MAX_PERIOD, PERIOD_STEP = 4.5, 16.0, 0.5
ALONG_SIGMA = 4.0
ACROSS_RATIO = 0.4
RADIUS = 8
NORM_SIGMA = 8.0


@lru_cache(maxsize=4)
def gabor_bank(radius: int = RADIUS) -> tuple[np.ndarray, np.ndarray]:
    """Kernels indexed ``[angle_bin, period_bin, dy, dx]`` and the period of each bin."""
    periods = np.arange(MIN_PERIOD, MAX_PERIOD + 1e-6, PERIOD_STEP, dtype=np.float64)
    size = 2 * radius + 1
    yy, xx = np.mgrid[-radius:radius + 1, -radius:radius + 1].astype(np.float64)
    bank = np.zeros((N_ANGLES, periods.size, size, size), np.float32)
    for i in range(N_ANGLES):
        t = np.pi * i / N_ANGLES
        along = xx * np.cos(t) + yy * np.sin(t)
        across = -xx * np.sin(t) + yy * np.cos(t)
        for j, p in enumerate(periods):
            su = ACROSS_RATIO * p
            env = np.exp(-across ** 2 / (2 * su * su) - along ** 2 / (2 * ALONG_SIGMA ** 2))
            g = env * np.cos(2 * np.pi * across / p)
            g -= env * (g.sum() / env.sum())
            g /= np.abs(g).sum()
            bank[i, j] = g
    bank.setflags(write=False)
    return bank, periods


@njit(cache=True, fastmath=True)
def _filter(padded, theta, period, mask, bank, pmin, pstep, radius):
    h, w = theta.shape
    na = bank.shape[0]
    npb = bank.shape[1]
    size = 2 * radius + 1
    out = np.zeros((h, w), np.float32)
    for y in range(h):
        for x in range(w):
            if not mask[y, x]:
                continue
            a = int(theta[y, x] / np.pi * na + 0.5) % na
            p = int((period[y, x] - pmin) / pstep + 0.5)
            if p < 0:
                p = 0
            elif p >= npb:
                p = npb - 1
            k = bank[a, p]
            s = np.float32(0.0)
            for dy in range(size):
                row = padded[y + dy]
                krow = k[dy]
                for dx in range(size):
                    s += krow[dx] * row[x + dx]
            out[y, x] = s
    return out


def normalise(img: np.ndarray, sigma: float = NORM_SIGMA) -> np.ndarray:
    """Zero local mean, unit local standard deviation (float32)."""
    f = img.astype(np.float32)
    mean = reduced_blur(f, sigma)
    d = f - mean
    std = np.sqrt(np.maximum(reduced_blur(d * d, sigma), 0.0))
    floor = max(float(np.median(std)) * 0.1, 1.0)
    return d / np.maximum(std, floor)


def enhance(img: np.ndarray, theta: np.ndarray, period: np.ndarray, mask: np.ndarray,
            norm: np.ndarray | None = None) -> np.ndarray:
    """Gabor-enhanced image: positive on ridges, negative in valleys, 0 outside ``mask``.

    ``norm`` reuses :func:`normalise` of ``img`` when the caller already has it.
    """
    bank, _ = gabor_bank()
    if norm is None:
        norm = normalise(img)
    padded = cv2.copyMakeBorder(norm, RADIUS, RADIUS, RADIUS, RADIUS, cv2.BORDER_REFLECT)
    resp = _filter(padded, theta.astype(np.float32), period.astype(np.float32),
                   mask.astype(np.bool_), bank, MIN_PERIOD, PERIOD_STEP, RADIUS)
    return -resp
