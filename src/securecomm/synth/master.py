"""Master fingerprints: class, orientation, ridge frequency, fingertip shape, ridges, minutiae.

A :class:`Master` is a handful of numbers drawn from a seed; the ridge
pattern (a few hundred kilobytes) is regenerated from those numbers on demand
and kept in a small LRU cache, so people with ten fingers each stay cheap.

Pipeline, after SFinGe (Cappelli, Maio, Maltoni):

1. class from the natural frequencies, singular points placed per class;
2. orientation from the Sherlock-Monro zero-pole model (arches: an explicit
   bump model, since an arch has no singular point);
3. ridge period map around 9 px with smooth random variation;
4. fingertip silhouette (two half ellipses joined by a rectangle);
5. ridges grown from a few random seeds by iterated contextual Gabor
   filtering (frequency-domain filter bank, per-pixel blend by the local
   orientation and period), which creates minutiae where growing fronts meet
   and where the period or orientation forces ridges to split or end;
6. minutiae read off the cleaned binary ridge map (thinning + crossing
   number), so the ground truth is exactly the pattern that is rendered.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np
import scipy.fft as sfft

from securecomm.synth import _skeleton

#: Fingerprint classes and their natural frequencies (NIST / Wilson et al. 1994).
CLASSES: tuple[str, ...] = ("arch", "tented_arch", "left_loop", "right_loop", "whorl")
CLASS_FREQUENCIES: tuple[float, ...] = (0.037, 0.029, 0.338, 0.317, 0.279)

#: Per-hand class priors: ulnar loops dominate (right loops on the right hand,
#: left loops on the left hand); the two hands average to CLASS_FREQUENCIES.
_HAND_PRIORS = {
    "right": (0.037, 0.029, 0.050, 0.605, 0.279),
    "left": (0.037, 0.029, 0.626, 0.029, 0.279),
}

#: Mean ridge period (pixels at 500 ppi) and its spread between fingers.
MEAN_PERIOD = 9.0

_N_ORIENT = 12
_GROW_SCALE = 0.6  # ridges grow on a grid this much smaller, then are upsampled
#: Period bands of the growth filter bank (full-scale px), 1.4 px apart: a blend of two
#: far-apart bands is bimodal rather than in between, so bands must be close.
_BANDS: tuple[float, ...] = (6.0, 7.4, 8.8, 10.2, 11.6, 13.0)
_N_ITER = 7
_SEED_AREA = 800.0  # canvas pixels per growth seed: more seeds, more fronts, more minutiae
_GAIN = 4.0  # saturation of the growth non-linearity: crisp, binary-like ridges
_PERIOD_CELL = 28  # scale of the ridge-period variation, px
_PERIOD_VAR = 0.14  # its amplitude (fraction of the mean period)


@dataclass(frozen=True)
class Master:
    """Parameters of one synthetic finger; the ridge pattern is derived from them."""

    seed: int
    klass: str
    cores: tuple[tuple[float, float], ...]
    deltas: tuple[tuple[float, float], ...]
    arch: tuple[float, float, float, float]  # arch bump: x centre, amplitude, width, y centre
    opening: float  # loops: direction the loop opens to, radians (image frame); 0 otherwise
    period: float  # mean ridge period, px
    tip: tuple[float, float, float, float]  # fingertip: half width, top ellipse, rectangle, bottom ellipse
    size: tuple[int, int]  # canvas (width, height)
    position: int = 0  # finger position 1..10, 0 when not part of a ten-print
    unprintable: bool = False

    @property
    def centre(self) -> tuple[float, float]:
        """Centre of the fingertip silhouette in canvas pixels."""
        w, h = self.size
        return w / 2.0, h / 2.0

    def pattern(self) -> "MasterPattern":
        """The ridge pattern and its minutiae (cached; deterministic from the parameters)."""
        return _pattern(self)


@dataclass(frozen=True, eq=False)
class MasterPattern:
    """Derived arrays of a master, in canvas coordinates (x right, y down)."""

    ridges: np.ndarray  # float32 (H, W) in [-1, 1]; > 0 on ridges
    mask: np.ndarray  # bool (H, W) fingertip silhouette
    orientation: np.ndarray  # float32 (H, W) ridge direction, radians in [0, pi), image frame (y down)
    period: np.ndarray  # float32 (H, W) ridge period map in pixels
    minutiae: np.ndarray  # float32 (N, 4): x, y, ISO angle (CCW as seen, [0, 2pi)), kind (1 ending, 2 bifurcation)


def _check_int(name: str, value: int, minimum: int) -> int:
    """``value`` as an int, or a ValueError naming the parameter (bools and floats refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _check_seed(seed: int) -> int:
    return _check_int("seed", seed, 0)


def make_master(seed: int, position: int = 0, klass: str | None = None) -> Master:
    """Draw a master finger from ``seed`` (class by natural frequency unless ``klass`` is given).

    ``position`` (1..10) sets the fingertip size (thumbs are wider) and, when
    ``klass`` is None, uses per-hand class priors; 0 means "any finger".
    """
    seed = _check_seed(seed)
    if not isinstance(position, (int, np.integer)) or not 0 <= int(position) <= 10:
        raise ValueError(f"position must be 0..10, got {position!r}")
    if klass is not None and klass not in CLASSES:
        raise ValueError(f"klass must be one of {CLASSES}, got {klass!r}")
    rng = np.random.default_rng([seed, 0x4D415354])  # "MAST"
    if klass is None:
        if position == 0:
            probs = CLASS_FREQUENCIES
        else:
            probs = _HAND_PRIORS["right" if position <= 5 else "left"]
        klass = CLASSES[int(rng.choice(len(CLASSES), p=np.asarray(probs) / np.sum(probs)))]
    else:
        rng.random()  # keep the draw sequence aligned with the class draw

    # Fingertip silhouette: thumbs wider, little fingers narrower.
    finger = (position - 1) % 5 if position else int(rng.integers(1, 4))
    half_w = {0: 205.0, 1: 175.0, 2: 180.0, 3: 170.0, 4: 150.0}[finger] * rng.uniform(0.92, 1.08)
    top = half_w * rng.uniform(0.95, 1.15)
    rect = half_w * rng.uniform(0.55, 0.8)
    bottom = half_w * rng.uniform(0.35, 0.55)
    margin = 24
    width = int(2 * half_w + 2 * margin) // 8 * 8 + 8
    height = int(top + rect + bottom + 2 * margin) // 8 * 8 + 8
    cx, cy = width / 2.0, height / 2.0
    # The core sits around the middle of the first phalanx, a bit above the crease.
    top_y = cy - (top + rect + bottom) / 2.0
    ccx = cx + rng.normal(0, 0.08) * half_w
    ccy = top_y + (top + rect * 0.5) * rng.uniform(0.85, 1.1)

    cores: list[tuple[float, float]] = []
    deltas: list[tuple[float, float]] = []
    arch = (cx, 0.0, 1.0, 0.0)
    opening = 0.0
    if klass == "arch":
        arch = (ccx, float(rng.uniform(0.5, 0.9)), float(half_w * rng.uniform(0.45, 0.7)),
                float(ccy + rng.uniform(-20, 30)))
    elif klass == "tented_arch":
        gap = rng.uniform(35, 70)
        cores.append((ccx, ccy))
        deltas.append((ccx + rng.normal(0, 6), ccy + gap))
    elif klass in ("left_loop", "right_loop"):
        side = 1.0 if klass == "left_loop" else -1.0  # left loop: delta to the right of the core
        cores.append((ccx - side * rng.uniform(0, 25), ccy - rng.uniform(0, 20)))
        deltas.append((ccx + side * rng.uniform(90, 150), ccy + rng.uniform(80, 140)))
        # direction the loop opens to (image frame, y down): left or right, tilted downwards
        opening = math.pi - rng.uniform(0.1, 0.45) if side > 0 else rng.uniform(0.1, 0.45)
    else:  # whorl: two cores stacked near the centre, two deltas low left and right
        sep = rng.uniform(12, 35)
        tilt = rng.uniform(-0.6, 0.6)
        cores.append((ccx + sep * math.sin(tilt), ccy - sep * math.cos(tilt)))
        cores.append((ccx - sep * math.sin(tilt), ccy + sep * math.cos(tilt)))
        dy = rng.uniform(90, 140)
        deltas.append((ccx - rng.uniform(100, 150), ccy + dy + rng.normal(0, 12)))
        deltas.append((ccx + rng.uniform(100, 150), ccy + dy + rng.normal(0, 12)))
    period = float(np.clip(rng.normal(MEAN_PERIOD, 0.55), 7.5, 11.0))
    if position in (1, 6):
        period = min(period * 1.04, 11.0)
    unprintable = False
    return Master(seed=seed, klass=klass,
                  cores=tuple((float(x), float(y)) for x, y in cores),
                  deltas=tuple((float(x), float(y)) for x, y in deltas),
                  arch=tuple(float(v) for v in arch),  # type: ignore[arg-type]
                  opening=float(opening), period=period, tip=(float(half_w), float(top), float(rect), float(bottom)),
                  size=(width, height), position=int(position), unprintable=unprintable)


# ---------------------------------------------------------------------------------------------
# Derived fields


def fingertip_mask(m: Master) -> np.ndarray:
    """Silhouette of the first phalanx: a half ellipse on top, a rectangle, a flatter half ellipse."""
    w, h = m.size
    half_w, top, rect, bottom = m.tip
    cx, cy = m.centre
    top_y = cy - (top + rect + bottom) / 2.0
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dx = (xx - cx) / half_w
    y1 = top_y + top  # end of the top ellipse
    y2 = y1 + rect
    upper = (yy < y1) & (dx ** 2 + ((yy - y1) / top) ** 2 <= 1.0)
    middle = (yy >= y1) & (yy <= y2) & (np.abs(dx) <= 1.0)
    lower = (yy > y2) & (dx ** 2 + ((yy - y2) / bottom) ** 2 <= 1.0)
    return upper | middle | lower


def orientation_field(m: Master) -> np.ndarray:
    """Ridge direction in [0, pi) (image frame, y down) from the zero-pole model."""
    w, h = m.size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    z = xx + 1j * yy
    if m.klass == "arch":
        ax, amp, sx, ay = m.arch
        # Ridges y = y0 - A(y0) exp(-(x-ax)^2 / 2 sx^2); slope from the bump, amplitude fading away from ay.
        fade = np.exp(-((yy - ay) / (0.9 * m.tip[0])) ** 2)
        slope = amp * fade * ((xx - ax) / sx) * np.exp(-((xx - ax) ** 2) / (2 * sx ** 2)) * 1.6
        theta = np.arctan(slope)
    else:
        theta = np.zeros_like(xx)
        bend = _loop_bend(m)
        for c in m.cores:
            phi = np.angle(z - complex(*c))
            if bend is not None:  # Vizcaya-Gerhardt-style monotone warp of the core's argument
                phi = phi + bend[0] * np.sin(phi - bend[1])
            theta += 0.5 * phi
        for d in m.deltas:
            theta -= 0.5 * np.angle(z - complex(*d))
    theta = theta + _tip_curvature(m, xx, yy)
    return np.mod(theta, np.pi).astype(np.float32)


def _tip_curvature(m: Master, xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
    """Angle added above the cores so the top ridges follow the rounded fingertip.

    Real top ridges run parallel to the tip's outline; the zero-pole field alone
    leaves them straight. Adding a continuous, single-valued angle field cannot
    create or remove a singular point, so the class is unchanged.
    """
    half_w, top, rect, _ = m.tip
    cx, cy = m.centre
    top_y = cy - (top + rect + m.tip[3]) / 2.0
    y1 = top_y + top  # centre line of the top half ellipse
    # tangent of the ellipse level set through (x, y): slope dy/dx = -(dx/hw^2) / (dy/top^2)
    dx = (xx - cx) / half_w ** 2
    dy = np.minimum(yy - y1, -1.0) / top ** 2
    tangent = np.arctan(-dx / dy)
    core_y = min((c[1] for c in m.cores), default=y1)
    # full effect near the top, none at and below the highest core
    w = np.clip((core_y - 25.0 - yy) / max(core_y - 25.0 - top_y, 1.0), 0.0, 1.0)
    return 0.75 * w * tangent


def _loop_bend(m: Master) -> tuple[float, float] | None:
    """Amplitude and phase of the warp that turns a loop's opening towards ``m.opening``.

    In the bare zero-pole model a loop opens along the mirror image of the
    delta-to-core direction (down-left for a delta down-right), not sideways as
    real loops do. Warping the core's argument phi -> phi + A sin(phi - beta)
    (monotone for |A| < 1) moves the opening axis where it belongs.
    """
    if m.klass not in ("left_loop", "right_loop"):
        return None
    c, d = m.cores[0], m.deltas[0]
    theta0 = -0.5 * math.atan2(c[1] - d[1], c[0] - d[0])
    need = m.opening - 2.0 * theta0
    need = math.atan2(math.sin(need), math.cos(need))
    amp = float(np.clip(need, -0.9, 0.9))
    return amp, m.opening - math.pi / 2.0


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cell: int) -> np.ndarray:
    """Low-frequency noise in about [-1, 1]: a coarse random grid upsampled bicubically."""
    h, w = shape
    gh, gw = h // cell + 3, w // cell + 3
    coarse = rng.standard_normal((gh, gw)).astype(np.float32)
    up = cv2.resize(coarse, (gw * cell, gh * cell), interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(up[cell:cell + h, cell:cell + w])


def period_map(m: Master) -> np.ndarray:
    """Ridge period in pixels: the master's mean with +-14 % variation on a ~30 px scale.

    The fine-scale variation is what makes ridges split and end in the grown
    pattern (a perfectly smooth field needs few minutiae); with it a full
    fingertip carries 70-100 minutiae, as rolled prints do. Periods are a
    little finer around deltas.
    """
    w, h = m.size
    rng = np.random.default_rng([m.seed, 0x50455244])  # "PERD"
    var = _smooth_noise(rng, (h, w), _PERIOD_CELL)
    p = m.period * (1.0 + _PERIOD_VAR * np.clip(var, -1.5, 1.5))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for d in m.deltas:
        r2 = (xx - d[0]) ** 2 + (yy - d[1]) ** 2
        p *= 1.0 - 0.06 * np.exp(-r2 / (2 * 60.0 ** 2))
    return np.clip(p, 6.0, 13.0).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Ridge growth


@functools.lru_cache(maxsize=32)
def _band_bank(shape: tuple[int, int], period: float, scale: float) -> np.ndarray:
    """Even Gabor filters of one period band in the rfft2 domain: (n_orient, H, W//2+1) float32.

    Bands sit on a fixed grid (:data:`_BANDS`) so masters share them through the cache.
    """
    h, w = shape
    fy = sfft.fftfreq(h)[:, None].astype(np.float32)
    fx = sfft.rfftfreq(w)[None, :].astype(np.float32)
    bank = np.empty((_N_ORIENT, h, w // 2 + 1), np.float32)
    sig_n, sig_t = 3.6 * scale, 5.0 * scale  # spatial sigmas across / along ridges, px
    f0 = 1.0 / (period * scale)
    for k in range(_N_ORIENT):
        th = k * np.pi / _N_ORIENT  # ridge direction; frequency along the normal
        nx, ny = -np.sin(th), np.cos(th)
        fn = fx * nx + fy * ny
        ft = fx * ny - fy * nx
        bank[k] = np.exp(-2 * np.pi ** 2 * (sig_t ** 2 * ft ** 2)) * (
            np.exp(-2 * np.pi ** 2 * sig_n ** 2 * (fn - f0) ** 2)
            + np.exp(-2 * np.pi ** 2 * sig_n ** 2 * (fn + f0) ** 2))
    bank.setflags(write=False)
    return bank


def _blend_weights(theta: np.ndarray, period: np.ndarray, periods: tuple[float, ...]) -> list:
    """Per-pixel weights over (period band, orientation) filters: list of (j, k, weight map).

    Orientation: linear between the two nearest of the bank's directions.
    Period: linear between the two nearest bands (piecewise over ``periods``).
    """
    t = theta / (np.pi / _N_ORIENT)
    k0 = np.floor(t).astype(np.int32) % _N_ORIENT
    wk = (t - np.floor(t)).astype(np.float32)
    pos = np.interp(period, periods, np.arange(len(periods))).astype(np.float32)
    out = []
    for j in range(len(periods)):
        wjm = np.clip(1.0 - np.abs(pos - j), 0.0, 1.0)
        if wjm.max() <= 1e-3:
            continue
        for k in range(_N_ORIENT):
            wmap = np.where(k0 == k, 1.0 - wk, 0.0) + np.where((k0 + 1) % _N_ORIENT == k, wk, 0.0)
            wmap = (wmap * wjm).astype(np.float32)
            if wmap.max() > 1e-3:
                out.append((j, k, wmap))
    return out


def grow_ridges(m: Master, theta: np.ndarray, period: np.ndarray) -> np.ndarray:
    """Iterated contextual Gabor filtering from random seeds; result in [-1, 1], full resolution.

    The growth runs on a grid scaled by ``_GROW_SCALE`` (a 9 px period is still
    ~7 samples there) padded to a fast FFT size, then is upsampled bicubically:
    the pattern is smooth, so nothing is lost and the cost drops by half.
    """
    h, w = theta.shape
    sc = _GROW_SCALE
    h0, w0 = int(round(h * sc)), int(round(w * sc))
    hs, ws = sfft.next_fast_len(h0 + 8, real=True), sfft.next_fast_len(w0 + 8, real=True)
    c2 = cv2.resize(np.cos(2 * theta), (w0, h0), interpolation=cv2.INTER_AREA)
    s2 = cv2.resize(np.sin(2 * theta), (w0, h0), interpolation=cv2.INTER_AREA)
    th_s = np.mod(0.5 * np.arctan2(s2, c2), np.pi).astype(np.float32)
    per_s = (cv2.resize(period, (w0, h0), interpolation=cv2.INTER_AREA) * sc).astype(np.float32)
    pad = ((0, hs - h0), (0, ws - w0))
    th_s = np.pad(th_s, pad, mode="edge")
    per_s = np.pad(per_s, pad, mode="edge")
    rng = np.random.default_rng([m.seed, 0x47524F57])  # "GROW"
    # period bands about 1.6 px (full scale) apart span the map: a blend of far-apart bands is
    # bimodal, not in between
    periods = tuple(float(v) * sc for v in _BANDS)
    weights = _blend_weights(th_s, per_s, periods)
    img = np.zeros((hs, ws), np.float32)
    n_seeds = max(6, int(h * w / _SEED_AREA))
    ys = rng.integers(0, h0, n_seeds)
    xs = rng.integers(0, w0, n_seeds)
    img[ys, xs] = rng.choice([-1.0, 1.0], n_seeds).astype(np.float32)
    for _ in range(_N_ITER):
        spec = sfft.rfft2(img, workers=1)
        acc = np.zeros((hs, ws), np.float32)
        for j, k, wmap in weights:
            filt = _band_bank((hs, ws), _BANDS[j], sc)[k]
            acc += wmap * sfft.irfft2(spec * filt, s=(hs, ws), workers=1).astype(np.float32)
        scale = np.percentile(np.abs(acc[:h0, :w0]), 90) + 1e-12
        img = np.clip(acc * (_GAIN / scale), -1.0, 1.0)
    full = cv2.resize(np.ascontiguousarray(img[:h0, :w0]), (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(full, -1.0, 1.0)


# ---------------------------------------------------------------------------------------------
# Minutiae of the grown pattern


def clean_binary(ridges: np.ndarray, period: float) -> np.ndarray:
    """Ridge map with dots and pinholes smaller than 1.5 squared ridge periods flipped."""
    b = (ridges > 0).astype(np.uint8)
    min_area = int(1.5 * period * period)
    for value in (1, 0):
        src = (b == value).astype(np.uint8)
        _, lab, stats, _ = cv2.connectedComponentsWithStats(src, connectivity=4)
        small = np.flatnonzero(stats[:, cv2.CC_STAT_AREA] < min_area)
        small = small[small != 0]  # label 0 is the other phase
        if small.size:
            b[np.isin(lab, small) & (src == 1)] = 1 - value
    return b.astype(bool)


def _pattern_uncached(m: Master) -> MasterPattern:
    theta = orientation_field(m)
    per = period_map(m)
    mask = fingertip_mask(m)
    grown = grow_ridges(m, theta, per)
    binary = clean_binary(grown, m.period)
    ridges = np.where(binary, np.abs(grown), -np.abs(grown)).astype(np.float32)
    inner = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=int(1.5 * m.period)) > 0
    minutiae = _skeleton.minutiae_from_binary(binary, inner, m.period)
    return MasterPattern(ridges=ridges, mask=mask, orientation=theta, period=per, minutiae=minutiae)


@functools.lru_cache(maxsize=24)  # ~2.5 MB each; a ten-print person needs 10
def _pattern(m: Master) -> MasterPattern:
    pat = _pattern_uncached(m)
    for arr in (pat.ridges, pat.mask, pat.orientation, pat.period, pat.minutiae):
        arr.setflags(write=False)
    return pat
