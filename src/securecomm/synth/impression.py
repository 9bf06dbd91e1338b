"""Impressions of a master: placement, skin distortion, pressure, noise, contact; with ground truth.

Every impression is a pure function of ``(master, seed, kind)``: one numpy
Generator seeded from them drives every random choice, and the image
operations used (OpenCV remap/resize/blur) compute each output pixel
independently, so the bytes do not depend on thread count.

Geometry. A map G from impression pixels u to master pixels m is built as
``m = c_m + R S (u - c_u) + brake(u) * (T(u) - u)``: a rotation up to about
+-20 degrees and translation, plus Cappelli's plastic distortion (Cappelli,
Maio, Maltoni 2001): inside the close-contact region the skin sticks to the
platen; outside it follows a small rigid slip T, with a smooth brake in
between. Images are drawn by sampling the master through G; ground-truth
minutiae go the other way by solving G(u) = m with a few Newton steps.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from securecomm.engine.template import BIFURCATION, ENDING, Template
from securecomm.synth.master import Master, _check_seed, _smooth_noise

#: Impression canvas (width, height) in pixels at 500 ppi.
SIZES: dict[str, tuple[int, int]] = {
    "plain": (400, 400),  # a single-finger livescan plain impression, 0.8 x 0.8 in
    "rolled": (800, 750),  # the FBI ten-print card's rolled box, 1.6 x 1.5 in
}
_GRID = 8  # the map G is evaluated on a grid of this step and interpolated

#: How hard acquisitions are, as (base, slope x difficulty) pairs where difficulty = 1 - quality.
#: Calibrated so that the engine's EER on a synthetic plain database falls in the range it
#: has on FVC2002 (see docs/benchmarks.md), not near zero.
ACQUISITION: dict[str, tuple[float, float]] = {
    "quality_beta": (3.0, 2.0),  # Beta(a, b) of the per-impression quality when not given
    "rotation_deg": (9.0, 8.0),  # sd of the rotation (clipped to +-20)
    "offset_px": (30.0, 30.0),  # sd of the placement offset on the finger
    "slip_deg": (1.0, 2.5),  # sd of the plastic-distortion rotation
    "slip_px": (2.0, 6.0),  # sd of the plastic-distortion translation
}


@dataclass(frozen=True, eq=False)
class Impression:
    """One rendered impression and its ground truth."""

    pixels: np.ndarray  # uint8 (H, W), 500 ppi, dark ridges on a light background
    minutiae: Template  # ground truth in this image's coordinates
    kind: str  # "plain" or "rolled"
    seed: int
    master_seed: int
    position: int
    unprintable: bool = False
    params: dict = field(default_factory=dict)  # rotation, translation, distortion, moisture, ...

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])


@dataclass(frozen=True)
class _Geometry:
    cu: tuple[float, float]  # impression anchor
    cm: tuple[float, float]  # master point under the anchor
    a: np.ndarray  # 2x2 linear part (impression -> master)
    slip: np.ndarray  # 2x3 affine of the rigid slip T, in impression coords
    contact_c: tuple[float, float]  # centre of the close-contact region
    contact_r: float  # its radius
    brake_k: float  # brake distance scale


def _displacement(g: _Geometry, ux: np.ndarray, uy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Plastic distortion in impression coordinates: (T(u) - u) * brake(dist to contact region)."""
    tx = g.slip[0, 0] * ux + g.slip[0, 1] * uy + g.slip[0, 2] - ux
    ty = g.slip[1, 0] * ux + g.slip[1, 1] * uy + g.slip[1, 2] - uy
    d = np.maximum(np.hypot(ux - g.contact_c[0], uy - g.contact_c[1]) - g.contact_r, 0.0)
    brake = 1.0 - np.exp(-(d / g.brake_k) ** 2)
    return tx * brake, ty * brake


def _to_master(g: _Geometry, ux: np.ndarray, uy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dx, dy = _displacement(g, ux, uy)
    vx, vy = ux + dx - g.cu[0], uy + dy - g.cu[1]
    return (g.cm[0] + g.a[0, 0] * vx + g.a[0, 1] * vy,
            g.cm[1] + g.a[1, 0] * vx + g.a[1, 1] * vy)


def _to_impression(g: _Geometry, mx: np.ndarray, my: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Invert G for a few points: start from the rigid inverse, then Newton-like fixed-point steps."""
    inv = np.linalg.inv(g.a)
    ux = g.cu[0] + inv[0, 0] * (mx - g.cm[0]) + inv[0, 1] * (my - g.cm[1])
    uy = g.cu[1] + inv[1, 0] * (mx - g.cm[0]) + inv[1, 1] * (my - g.cm[1])
    for _ in range(30):
        gx, gy = _to_master(g, ux, uy)
        ex, ey = gx - mx, gy - my
        ux = ux - (inv[0, 0] * ex + inv[0, 1] * ey)
        uy = uy - (inv[1, 0] * ex + inv[1, 1] * ey)
        if max(float(np.max(np.abs(ex), initial=0)), float(np.max(np.abs(ey), initial=0))) < 1e-3:
            break
    return ux, uy


@functools.lru_cache(maxsize=4)
def _grid_sampler(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates, in coarse-grid units, of every pixel (shared, read-only)."""
    sx, sy = np.meshgrid(np.arange(width, dtype=np.float32) / _GRID,
                         np.arange(height, dtype=np.float32) / _GRID)
    sx.setflags(write=False)
    sy.setflags(write=False)
    return sx, sy


def _acq(name: str, hard: float) -> float:
    base, slope = ACQUISITION[name]
    return base + slope * hard


def _check(master: Master | None, seed: int, kind: str) -> None:
    if master is None:
        raise ValueError("master is None: this finger is missing (amputated) and cannot be rendered")
    if not isinstance(master, Master):
        raise ValueError(f"master must be a securecomm.synth.Master, got {type(master).__name__}")
    _check_seed(seed)
    if kind not in SIZES:
        raise ValueError(f"kind must be one of {tuple(SIZES)}, got {kind!r}")


def render(master: Master | None, seed: int, kind: str = "plain", *,
           quality: float | None = None) -> Impression:
    """Render one impression of ``master``; bit-for-bit deterministic from (master, seed, kind).

    ``quality`` in [0, 1] (default: drawn from the seed) scales how hard the
    acquisition is: moisture extremes, noise, distortion and partial contact.
    """
    _check(master, seed, kind)
    if quality is not None and not 0.0 <= float(quality) <= 1.0:
        raise ValueError(f"quality must be in [0, 1], got {quality!r}")
    pat = master.pattern()
    rng = np.random.default_rng([int(master.seed), int(master.position), int(seed),
                                 0x494D50 + (0 if kind == "plain" else 1)])
    width, height = SIZES[kind]
    q = float(rng.beta(*ACQUISITION["quality_beta"])) if quality is None else float(quality)  # 1 = ideal acquisition
    hard = 1.0 - q
    mh, mw = pat.ridges.shape
    mcx, mcy = master.centre

    # -- geometry -------------------------------------------------------------------------------
    if kind == "plain":
        rot = float(np.clip(rng.normal(0.0, _acq("rotation_deg", hard)), -20.0, 20.0))
        off = rng.normal(0.0, _acq("offset_px", hard), 2)
        # plain prints press the pad, around and a little below the core
        anchor_m = (mcx + off[0], mcy + 0.08 * mh + off[1])
        scale = (1.0, 1.0)
    else:
        rot = float(np.clip(rng.normal(0.0, 3.0), -8.0, 8.0))
        off = rng.normal(0.0, 6.0, 2)
        anchor_m = (mcx + off[0], mcy + off[1])
        scale = (1.0 / rng.uniform(1.05, 1.2), 1.0)  # rolling spreads the pad sideways
    r = math.radians(rot)
    # impression -> master linear part: undo the rotation seen on the image, then the scale
    rmat = np.array([[math.cos(r), -math.sin(r)], [math.sin(r), math.cos(r)]])
    a = np.diag(scale) @ rmat
    cu = (width / 2.0 + rng.normal(0, 10), height / 2.0 + rng.normal(0, 10))
    slip_rot = math.radians(rng.normal(0.0, _acq("slip_deg", hard)))
    slip_t = rng.normal(0.0, _acq("slip_px", hard), 2)
    c, s = math.cos(slip_rot), math.sin(slip_rot)
    contact_c = (cu[0] + rng.normal(0, 15), cu[1] + rng.normal(0, 15))
    # rigid slip about the contact centre
    slip = np.array([[c, -s, contact_c[0] - c * contact_c[0] + s * contact_c[1] + slip_t[0]],
                     [s, c, contact_c[1] - s * contact_c[0] - c * contact_c[1] + slip_t[1]]])
    g = _Geometry(cu=cu, cm=anchor_m, a=a, slip=slip, contact_c=contact_c,
                  contact_r=float(rng.uniform(40, 80)), brake_k=float(rng.uniform(60, 120)))

    gx = np.arange(0, width + _GRID, _GRID, dtype=np.float64)
    gy = np.arange(0, height + _GRID, _GRID, dtype=np.float64)
    ggx, ggy = np.meshgrid(gx, gy)
    mx, my = _to_master(g, ggx, ggy)
    # bilinear interpolation of the coarse grid with grid nodes on exact pixels (align corners)
    sx, sy = _grid_sampler(width, height)
    map_x = cv2.remap(mx.astype(np.float32), sx, sy, cv2.INTER_LINEAR)
    map_y = cv2.remap(my.astype(np.float32), sx, sy, cv2.INTER_LINEAR)
    tip_full = cv2.remap(pat.mask.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    # Work only in the finger's bounding box (a rolled box is mostly background).
    rows = np.flatnonzero(tip_full.max(axis=1) > 0)
    cols = np.flatnonzero(tip_full.max(axis=0) > 0)
    if rows.size == 0:
        y0, y1, x0, x1 = 0, 1, 0, 1
    else:
        y0, y1 = max(int(rows[0]) - 8, 0), min(int(rows[-1]) + 9, height)
        x0, x1 = max(int(cols[0]) - 8, 0), min(int(cols[-1]) + 9, width)
    bh, bw = y1 - y0, x1 - x0
    map_x, map_y = map_x[y0:y1, x0:x1], map_y[y0:y1, x0:x1]
    tip = tip_full[y0:y1, x0:x1]
    ridges = cv2.remap(pat.ridges, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                       borderValue=0.0)

    # -- contact area -----------------------------------------------------------------------------
    if kind == "plain":
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        ax_ = rng.uniform(0.30, 0.42) * width * (1.0 - 0.25 * hard * rng.random())
        ay_ = rng.uniform(0.36, 0.46) * height * (1.0 - 0.25 * hard * rng.random())
        ccx = contact_c[0] + rng.normal(0, 10 + 40 * hard * (rng.random() < 0.3))
        ccy = contact_c[1] + rng.normal(0, 10 + 40 * hard * (rng.random() < 0.3))
        ell = ((xx - ccx) / ax_) ** 2 + ((yy - ccy) / ay_) ** 2
        edge = _smooth_noise(rng, (bh, bw), 48) * 0.12
        contact = np.clip((1.0 - ell + edge) * 6.0, 0.0, 1.0)
    else:
        # rolled: the whole fingertip, with occasional gaps where the skin lifted
        edge = _smooth_noise(rng, (bh, bw), 48)
        contact = 1.0 - np.clip(-edge - 1.2, 0.0, 1.0)
    contact = contact * np.clip(tip, 0.0, 1.0)
    contact = cv2.GaussianBlur(contact.astype(np.float32), (0, 0), 2.0)

    # -- moisture and pressure -------------------------------------------------------------------
    moisture = float(np.clip(rng.normal(0.0, 0.10 + 0.22 * hard), -0.6, 0.6))  # <0 dry, >0 wet
    local = moisture + (0.10 + 0.25 * hard) * _smooth_noise(rng, (bh, bw), 40)
    # lighter pressure towards the edge of the contact area thins the ridges
    local = local - 0.35 * (1.0 - contact)
    ink = 0.5 * (1.0 + np.tanh((ridges + local) * 3.0))
    if moisture < 0 or hard > 0.3:
        # dry skin: ridges break into blotches
        blot = _smooth_noise(rng, (bh, bw), 6)
        dry = np.clip(-moisture * 1.2 + hard * 0.3, 0.0, 0.8)
        ink = ink * np.clip(1.0 + (blot - 0.9 + 0.9 * (1.0 - dry)) * 1.5 * dry, 0.0, 1.0)
    if moisture > 0.25:
        ink = cv2.GaussianBlur(ink, (0, 0), 0.6 + 1.5 * (moisture - 0.25))
    ink_box = (ink * contact).astype(np.float32)
    ink = np.zeros((height, width), np.float32)
    ink[y0:y1, x0:x1] = ink_box
    contact_full = np.zeros((height, width), np.float32)
    contact_full[y0:y1, x0:x1] = contact
    contact = contact_full

    # -- sensor ----------------------------------------------------------------------------------
    bg = np.float32(rng.uniform(200, 245)) + np.float32(10.0) * _smooth_noise(rng, (height, width), 128)
    contrast = rng.uniform(130, 200) * (1.0 - 0.35 * hard)
    img = bg - contrast * ink
    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), rng.uniform(0.5, 0.9))
    img = img + np.float32(3.0 + 10.0 * hard) * rng.standard_normal((height, width), dtype=np.float32)
    unprintable = bool(master.unprintable)
    if unprintable:
        # worn or scarred skin: almost no ridge contrast left
        img = bg - 0.08 * contrast * ink + 12.0 * rng.standard_normal((height, width), dtype=np.float32)
        img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), 2.0)
    pixels = np.clip(np.rint(img), 0, 255).astype(np.uint8)

    # -- ground truth ------------------------------------------------------------------------------
    if unprintable:
        truth = Template.empty(width, height)
    else:
        truth = _map_minutiae(g, pat.minutiae, contact, width, height, master.period)
    params = {"rotation_deg": rot, "translation": (float(off[0]), float(off[1])), "quality": q,
              "moisture": moisture, "slip_deg": math.degrees(slip_rot),
              "slip_px": (float(slip_t[0]), float(slip_t[1]))}
    return Impression(pixels=pixels, minutiae=truth, kind=kind, seed=int(seed),
                      master_seed=int(master.seed), position=int(master.position),
                      unprintable=unprintable, params=params)


def _map_minutiae(g: _Geometry, mn: np.ndarray, contact: np.ndarray, width: int, height: int,
                  period: float) -> Template:
    """Carry master minutiae into the impression; keep those well inside the contact area."""
    if mn.shape[0] == 0:
        return Template.empty(width, height)
    mx, my = mn[:, 0].astype(np.float64), mn[:, 1].astype(np.float64)
    ang = mn[:, 2].astype(np.float64)
    ux, uy = _to_impression(g, mx, my)
    step = 6.0
    hx, hy = _to_impression(g, mx + step * np.cos(ang), my - step * np.sin(ang))
    new_ang = np.mod(np.arctan2(-(hy - uy), hx - ux), 2 * np.pi)
    margin = 8.0
    inside = (ux >= margin) & (uy >= margin) & (ux < width - margin) & (uy < height - margin)
    ix = np.clip(np.rint(ux), 0, width - 1).astype(int)
    iy = np.clip(np.rint(uy), 0, height - 1).astype(int)
    # the contact must hold for about a ridge period around the minutia
    solid = cv2.erode((contact > 0.5).astype(np.uint8), np.ones((3, 3), np.uint8),
                      iterations=max(1, int(period)))
    keep = inside & (solid[iy, ix] > 0)
    qual = np.clip(np.rint(100 * contact[iy, ix]), 1, 100).astype(np.uint8)
    kind = np.where(mn[:, 3] == 2, BIFURCATION, ENDING).astype(np.uint8)
    new_ang = np.where(new_ang >= 2 * np.pi, 0.0, new_ang)
    return Template(ux[keep].astype(np.float32), uy[keep].astype(np.float32),
                    new_ang[keep].astype(np.float32), kind[keep], qual[keep], width, height)
