"""Template-level synthesis: minutiae sets and their mated impressions, without images.

For search benchmarks at repository scale (10^6 subjects, 10^7 fingers) no
image needs rendering: what the matcher sees is a minutiae set. This module
draws *master minutiae sets* with the statistics of extracted templates and
makes *impressions* of them, all vectorised over blocks of fingers:

* positions: a jittered grid thinned at random (so minutiae keep a minimum
  spacing of about 5 px, as real ones do), inside a fingertip ellipse;
* directions: along a per-finger zero-pole orientation field (class drawn at
  the natural frequencies), so neighbouring minutiae flow together as on a
  real finger -- independent random angles would make impostor scores too low;
* types: about 55 % endings, 45 % bifurcations; qualities 30..100;
* an impression: a contact window (partial overlap), rotation (about +-20
  degrees at most), translation, a smooth nonlinear distortion, position and
  direction noise, missed minutiae, spurious ones, and type flips.

Finger ``i`` of a run depends only on (seed, i): blocks of :data:`BLOCK`
fingers are seeded by (seed, block index), so any slice can be regenerated
on its own and results do not depend on how the work is split.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Iterator

import numba
import numpy as np

from securecomm.engine.template import BIFURCATION, ENDING, MAX_MINUTIAE, Template
from securecomm.synth.master import CLASS_FREQUENCIES

#: Fingers per independently seeded block.
BLOCK = 4096

#: Master frame (a rolled-size fingertip) and impression frames, pixels at 500 ppi.
MASTER_SIZE = (480, 560)
IMPRESSION_SIZES = {"plain": (400, 400), "rolled": (800, 750)}

_CELL = 14.0  # jittered-grid cell, px: minimum spacing ~ (1 - _JITTER) * _CELL
_JITTER = 0.65
_TIP = (190.0, 235.0)  # fingertip ellipse semi-axes in the master frame
_DENSITY = 0.13  # fraction of grid cells holding a minutia (mean plain impression ~ 46)

#: Acquisition noise of a template-level impression (calibrated against the engine on rendered images).
NOISE = {
    "pos_px": 1.0,  # position noise, px (sd)
    "angle_rad": 0.06,  # direction noise, rad (sd)
    "miss": (0.08, 0.25),  # missed minutiae: base + slope * difficulty
    "spurious": (0.05, 0.20),  # spurious minutiae per true one: base + slope * difficulty
    "distortion_px": (2.0, 6.0),  # quadratic distortion coefficient sd: base + slope * difficulty
    "type_flip": 0.10,
    "quality_beta": (3.0, 2.0),  # per-impression quality ~ Beta(a, b); difficulty = 1 - quality
    "offset_px": (30.0, 30.0),  # sd of the contact window's offset on the finger: base + slope * difficulty
    "rotation_deg": (9.0, 8.0),  # sd of the rotation: base + slope * difficulty (clipped to +-20)
}


def _cells() -> np.ndarray:
    w, h = MASTER_SIZE
    cx, cy = w / 2.0, h / 2.0
    gx, gy = np.meshgrid(np.arange(_CELL / 2, w, _CELL), np.arange(_CELL / 2, h, _CELL))
    inside = ((gx - cx) / _TIP[0]) ** 2 + ((gy - cy) / _TIP[1]) ** 2 <= 1.0
    return np.stack([gx[inside], gy[inside]], axis=1).astype(np.float32)


_CELLS = _cells()


@dataclass(frozen=True, eq=False)
class PackedTemplates:
    """Many templates as flat columns; template ``i`` is rows ``offsets[i]:offsets[i+1]``."""

    offsets: np.ndarray  # int64 (n + 1,)
    x: np.ndarray  # float32 (m,)
    y: np.ndarray
    angle: np.ndarray  # ISO radians [0, 2 pi)
    kind: np.ndarray  # uint8
    quality: np.ndarray  # uint8
    width: int
    height: int
    first: int = 0  # index of the first finger (for slices of a larger run)

    def __len__(self) -> int:
        return int(self.offsets.size - 1)

    @property
    def counts(self) -> np.ndarray:
        return np.diff(self.offsets)

    def template(self, i: int) -> Template:
        if not 0 <= i < len(self):
            raise IndexError(f"template index {i} outside 0..{len(self) - 1}")
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        return Template(self.x[a:b], self.y[a:b], self.angle[a:b], self.kind[a:b], self.quality[a:b],
                        self.width, self.height)

    def __iter__(self) -> Iterator[Template]:
        return (self.template(i) for i in range(len(self)))

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.offsets, self.x, self.y, self.angle, self.kind, self.quality))


def _check_count(name: str, n: int, minimum: int = 1) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise ValueError(f"{name} must be an int, got {type(n).__name__}")
    if n < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {n}")
    return int(n)


def _finger_fields(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Per-finger orientation model: up to two cores and two deltas with on/off weights, arch bump."""
    w, h = MASTER_SIZE
    klass = rng.choice(5, size=n, p=np.asarray(CLASS_FREQUENCIES) / sum(CLASS_FREQUENCIES))
    ccx = w / 2 + rng.normal(0, 20, n)
    ccy = h / 2 - 20 + rng.normal(0, 25, n)
    side = np.where(klass == 2, 1.0, -1.0)  # left loop: delta to the right
    cores = np.zeros((n, 2), np.complex128)
    deltas = np.zeros((n, 2), np.complex128)
    wc = np.zeros((n, 2))
    wd = np.zeros((n, 2))
    loop = (klass == 2) | (klass == 3)
    tent = klass == 1
    whorl = klass == 4
    u = rng.uniform(size=(n, 4))
    cores[:, 0] = ccx + 1j * ccy
    wc[:, 0] = (klass != 0).astype(float)
    deltas[:, 0] = np.where(loop, ccx + side * (90 + 60 * u[:, 0]) + 1j * (ccy + 80 + 60 * u[:, 1]),
                            ccx + 1j * (ccy + 35 + 35 * u[:, 0]))
    wd[:, 0] = (klass != 0).astype(float)
    sep = 12 + 23 * u[:, 2]
    cores[whorl, 0] = ccx[whorl] + 1j * (ccy[whorl] - sep[whorl])
    cores[whorl, 1] = ccx[whorl] + 1j * (ccy[whorl] + sep[whorl])
    wc[whorl, 1] = 1.0
    dy = 90 + 50 * u[:, 3]
    deltas[whorl, 0] = ccx[whorl] - 100 - 50 * u[whorl, 0] + 1j * (ccy[whorl] + dy[whorl])
    deltas[whorl, 1] = ccx[whorl] + 100 + 50 * u[whorl, 1] + 1j * (ccy[whorl] + dy[whorl])
    wd[whorl, 1] = 1.0
    del tent
    arch_amp = np.where(klass == 0, rng.uniform(0.5, 0.9, n), 0.0)
    return {"klass": klass, "cores": cores, "deltas": deltas, "wc": wc, "wd": wd,
            "arch_amp": arch_amp, "arch_x": ccx, "arch_y": ccy + 20}


@numba.njit(cache=True)
def _orientation_kernel(idx, x, y, core_x, core_y, wc, delta_x, delta_y, wd, amp, arch_x, arch_y,
                        sx, sy):  # pragma: no cover - compiled
    n = x.size
    out = np.empty(n, np.float32)
    for i in range(n):
        f = idx[i]
        th = 0.0
        for k in range(2):
            if wc[f, k] != 0.0:
                th += 0.5 * wc[f, k] * math.atan2(y[i] - core_y[f, k], x[i] - core_x[f, k])
            if wd[f, k] != 0.0:
                th -= 0.5 * wd[f, k] * math.atan2(y[i] - delta_y[f, k], x[i] - delta_x[f, k])
        if amp[f] != 0.0:
            dx = (x[i] - arch_x[f]) / sx
            dy = (y[i] - arch_y[f]) / sy
            th += math.atan(1.6 * amp[f] * math.exp(-dy * dy - 0.5 * dx * dx) * dx)
        th = th % math.pi
        out[i] = th
    return out


def _orientation(f: dict[str, np.ndarray], idx: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Ridge direction (image frame, y down, [0, pi)) of finger ``idx`` at (x, y), float32."""
    return _orientation_kernel(np.ascontiguousarray(idx, np.int64), np.ascontiguousarray(x, np.float64),
                               np.ascontiguousarray(y, np.float64),
                               np.ascontiguousarray(f["cores"].real), np.ascontiguousarray(f["cores"].imag),
                               f["wc"], np.ascontiguousarray(f["deltas"].real),
                               np.ascontiguousarray(f["deltas"].imag), f["wd"],
                               f["arch_amp"], f["arch_x"], f["arch_y"], 0.55 * _TIP[0], 0.9 * _TIP[0])


def _block_masters(seed: int, block: int) -> tuple[PackedTemplates, dict[str, np.ndarray]]:
    """All BLOCK master minutiae sets of one block (deterministic from seed and block index)."""
    rng = np.random.default_rng([seed, block, 0x544D504C])  # "TMPL"
    n = BLOCK
    fields = _finger_fields(rng, n)
    density = _DENSITY * np.exp(rng.normal(0.0, 0.22, n))
    # Bernoulli(density_i) over every (finger, cell): draw at the top density by geometric gaps
    # over the flattened index space (a tenth of the draws of a dense mask), then thin per finger.
    n_cells = _CELLS.shape[0]
    top = float(density.max())
    gaps = rng.geometric(top, size=int(n * n_cells * top * 1.05) + 64)
    flat = np.cumsum(gaps) - 1
    flat = flat[flat < n * n_cells]
    fi, ci = np.divmod(flat, n_cells)
    sel = rng.random(fi.size, dtype=np.float32) < (density / top).astype(np.float32)[fi]
    fi, ci = fi[sel], ci[sel]
    m = fi.size
    jit = (rng.random((m, 2), dtype=np.float32) - 0.5) * (_JITTER * _CELL)
    scale = rng.uniform(0.85, 1.08, n)  # finger size
    w, h = MASTER_SIZE
    x = w / 2 + (_CELLS[ci, 0] + jit[:, 0] - w / 2) * scale[fi]
    y = h / 2 + (_CELLS[ci, 1] + jit[:, 1] - h / 2) * scale[fi]
    theta = _orientation(fields, fi, x, y)
    flip = rng.random(m, dtype=np.float32) < 0.5
    angle = np.mod(-theta + np.pi * flip, 2 * np.pi)
    kind = np.where(rng.random(m, dtype=np.float32) < 0.55, ENDING, BIFURCATION).astype(np.uint8)
    quality = rng.integers(30, 101, m, dtype=np.uint8)
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(fi, minlength=n), out=offsets[1:])
    fields["scale"] = scale
    packed = PackedTemplates(offsets, x.astype(np.float32), y.astype(np.float32),
                             angle.astype(np.float32), kind, quality, w, h, first=block * BLOCK)
    return packed, fields


def _block_impressions(seed: int, block: int, impression: int, kind: str) -> PackedTemplates:
    masters, fields = _block_masters(seed, block)
    rng = np.random.default_rng([seed, block, impression, 0x494D5052 + (kind == "rolled")])  # "IMPR"
    n = len(masters)
    W, H = IMPRESSION_SIZES[kind]
    mw, mh = MASTER_SIZE
    counts = masters.counts
    fi = np.repeat(np.arange(n), counts)
    x, y, ang = masters.x, masters.y, masters.angle
    hard = 1.0 - rng.beta(*NOISE["quality_beta"], n)  # acquisition difficulty, as in the image renderer
    if kind == "plain":
        wcx = mw / 2 + rng.normal(0, 1, n) * (NOISE["offset_px"][0] + NOISE["offset_px"][1] * hard)
        wcy = mh / 2 + 0.08 * mh + rng.normal(0, 1, n) * (NOISE["offset_px"][0] + NOISE["offset_px"][1] * hard)
        wa = rng.uniform(0.30, 0.42, n) * W * (1 - 0.25 * hard * rng.random(n))
        wb = rng.uniform(0.36, 0.46, n) * H * (1 - 0.25 * hard * rng.random(n))
        rot = np.clip(rng.normal(0, 1, n) * (NOISE["rotation_deg"][0] + NOISE["rotation_deg"][1] * hard), -20, 20)
    else:
        wcx = mw / 2 + rng.normal(0, 6, n)
        wcy = mh / 2 + rng.normal(0, 6, n)
        wa = np.full(n, 1e4)
        wb = np.full(n, 1e4)
        rot = np.clip(rng.normal(0, 3, n), -8, 8)
    f32 = np.float32
    wcx, wcy, wa, wb, rot, hard = (np.asarray(v, f32) for v in (wcx, wcy, wa, wb, rot, hard))
    # contact window in the master frame
    inside = ((x - wcx[fi]) / wa[fi]) ** 2 + ((y - wcy[fi]) / wb[fi]) ** 2 <= 1.0
    # missed minutiae: more when the acquisition is hard
    p_miss = NOISE["miss"][0] + NOISE["miss"][1] * hard
    inside &= rng.random(x.size, dtype=np.float32) >= p_miss[fi]
    # smooth nonlinear distortion: a quadratic displacement field, ~ 0..10 px at the window edge
    dcoef = rng.standard_normal((n, 4), dtype=f32) * (NOISE["distortion_px"][0] + NOISE["distortion_px"][1] * hard)[:, None]
    u = (x - wcx[fi]) / f32(150.0)
    v = (y - wcy[fi]) / f32(150.0)
    x = x + dcoef[fi, 0] * u * u + dcoef[fi, 1] * u * v
    y = y + dcoef[fi, 2] * v * v + dcoef[fi, 3] * u * v
    # position and direction noise
    x = x + NOISE["pos_px"] * rng.standard_normal(x.size, dtype=np.float32)
    y = y + NOISE["pos_px"] * rng.standard_normal(y.size, dtype=np.float32)
    ang = ang + NOISE["angle_rad"] * rng.standard_normal(ang.size, dtype=np.float32)
    # rigid placement: master window centre -> impression centre, rotated by rot (CCW as seen)
    r = np.radians(rot)[fi]
    tx = (W / 2 + rng.normal(0, 10, n)).astype(f32)
    ty = (H / 2 + rng.normal(0, 10, n)).astype(f32)
    dx, dy = x - wcx[fi], y - wcy[fi]
    c, s = np.cos(r), np.sin(r)
    # a CCW rotation as seen on a y-down image: x' = c dx + s dy, y' = -s dx + c dy
    ix = tx[fi] + c * dx + s * dy
    iy = ty[fi] - s * dx + c * dy
    ang = np.mod(ang + r, f32(2 * np.pi))
    typ = masters.kind.copy()
    flip = rng.random(typ.size, dtype=np.float32) < NOISE["type_flip"]
    typ[flip] = np.where(typ[flip] == ENDING, BIFURCATION, ENDING)
    qual = np.clip(masters.quality.astype(np.int16) - (30 * hard[fi]).astype(np.int16), 1, 100)
    keep = inside & (ix >= 4) & (iy >= 4) & (ix < W - 4) & (iy < H - 4)
    # spurious minutiae: a fraction of the true count, inside the placed window
    n_kept = np.bincount(fi[keep], minlength=n)
    n_sp = rng.poisson((NOISE["spurious"][0] + NOISE["spurious"][1] * hard) * n_kept)
    si = np.repeat(np.arange(n), n_sp)
    rad = np.sqrt(rng.random(si.size)) * 0.9
    phi = rng.random(si.size) * 2 * np.pi
    sx = wcx[si] + rad * wa[si] * np.cos(phi) * (kind == "plain") + rad * 200 * np.cos(phi) * (kind != "plain")
    sy = wcy[si] + rad * wb[si] * np.sin(phi) * (kind == "plain") + rad * 240 * np.sin(phi) * (kind != "plain")
    sth = _orientation(fields, si, sx, sy)
    sang = np.mod(-sth + np.pi * (rng.random(si.size) < 0.5) + rng.normal(0, 0.15, si.size), 2 * np.pi)
    sr = np.radians(rot)[si]
    sdx, sdy = sx - wcx[si], sy - wcy[si]
    six = tx[si] + np.cos(sr) * sdx + np.sin(sr) * sdy
    siy = ty[si] - np.sin(sr) * sdx + np.cos(sr) * sdy
    sang = np.mod(sang + sr, 2 * np.pi)
    sok = (six >= 4) & (siy >= 4) & (six < W - 4) & (siy < H - 4)
    # merge true and spurious, grouped by finger (stable sort keeps true minutiae first)
    all_f = np.concatenate([fi[keep], si[sok]])
    order = np.argsort(all_f, kind="stable")
    all_f = all_f[order]
    cols = [np.concatenate([a[keep], b[sok]])[order] for a, b in
            ((ix, six), (iy, siy), (ang, sang))]
    k_all = np.concatenate([typ[keep], rng.choice([ENDING, BIFURCATION], si.size)[sok]])[order]
    q_all = np.concatenate([qual[keep], rng.integers(10, 60, si.size)[sok]])[order]
    cnt = np.bincount(all_f, minlength=n)
    if cnt.max(initial=0) > MAX_MINUTIAE:  # never in practice; keep templates valid regardless
        rank = np.arange(all_f.size) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        ok = rank < MAX_MINUTIAE
        all_f, cols, k_all, q_all = all_f[ok], [c_[ok] for c_ in cols], k_all[ok], q_all[ok]
        cnt = np.bincount(all_f, minlength=n)
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(cnt, out=offsets[1:])
    angle = cols[2].astype(np.float32)
    angle[angle >= np.float32(2 * np.pi)] = 0.0
    return PackedTemplates(offsets, cols[0].astype(np.float32), cols[1].astype(np.float32), angle,
                           k_all.astype(np.uint8), q_all.astype(np.uint8), W, H, first=block * BLOCK)


def _slice(p: PackedTemplates, a: int, b: int) -> PackedTemplates:
    lo, hi = int(p.offsets[a]), int(p.offsets[b])
    return PackedTemplates(p.offsets[a:b + 1] - lo, p.x[lo:hi], p.y[lo:hi], p.angle[lo:hi], p.kind[lo:hi],
                           p.quality[lo:hi], p.width, p.height, first=p.first + a)


def _block_job(args: tuple[int, int, int, str]) -> PackedTemplates:
    return _block_impressions(*args)


def iter_blocks(n_fingers: int, seed: int, impression: int = 0, kind: str = "plain",
                start: int = 0, workers: int = 1) -> Iterator[PackedTemplates]:
    """Impression ``impression`` of fingers ``start .. start + n_fingers - 1``, block by block.

    Two calls with the same ``seed`` and different ``impression`` give mated
    templates (same masters, independent acquisitions). ``workers`` > 1 builds
    blocks in that many processes; blocks come back in order and are identical.
    """
    n_fingers = _check_count("n_fingers", n_fingers)
    start = _check_count("start", start, 0)
    impression = _check_count("impression", impression, 0)
    workers = _check_count("workers", workers)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    if kind not in IMPRESSION_SIZES:
        raise ValueError(f"kind must be one of {tuple(IMPRESSION_SIZES)}, got {kind!r}")
    stop = start + n_fingers
    blocks = range(start // BLOCK, (stop - 1) // BLOCK + 1)
    jobs = [(int(seed), b, impression, kind) for b in blocks]
    if workers > 1 and len(jobs) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers) as pool:
            results: Iterator[PackedTemplates] = pool.map(_block_job, jobs, chunksize=1)
            yield from _trim(results, blocks, start, stop)
    else:
        yield from _trim(map(_block_job, jobs), blocks, start, stop)


def _trim(results: Iterator[PackedTemplates], blocks: range, start: int, stop: int) -> Iterator[PackedTemplates]:
    for block, packed in zip(blocks, results):
        a = max(start - block * BLOCK, 0)
        b = min(stop - block * BLOCK, BLOCK)
        yield packed if (a, b) == (0, BLOCK) else _slice(packed, a, b)


def impressions(n_fingers: int, seed: int, impression: int = 0, kind: str = "plain",
                start: int = 0) -> PackedTemplates:
    """Like :func:`iter_blocks`, concatenated into one :class:`PackedTemplates`."""
    parts = list(iter_blocks(n_fingers, seed, impression, kind, start))
    if len(parts) == 1:
        return parts[0]
    counts = np.concatenate([p.counts for p in parts])
    offsets = np.zeros(counts.size + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    cat = {k: np.concatenate([getattr(p, k) for p in parts]) for k in ("x", "y", "angle", "kind", "quality")}
    return PackedTemplates(offsets, width=parts[0].width, height=parts[0].height, first=start, **cat)


def masters(n_fingers: int, seed: int, start: int = 0) -> PackedTemplates:
    """The master minutiae sets themselves (whole fingertip, master frame), for inspection and tests."""
    n_fingers = _check_count("n_fingers", n_fingers)
    start = _check_count("start", start, 0)
    parts = []
    stop = start + n_fingers
    for block in range(start // BLOCK, (stop - 1) // BLOCK + 1):
        packed, _ = _block_masters(int(seed), block)
        parts.append(_slice(packed, max(start - block * BLOCK, 0), min(stop - block * BLOCK, BLOCK)))
    counts = np.concatenate([p.counts for p in parts])
    offsets = np.zeros(counts.size + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    cat = {k: np.concatenate([getattr(p, k) for p in parts]) for k in ("x", "y", "angle", "kind", "quality")}
    return PackedTemplates(offsets, width=parts[0].width, height=parts[0].height, first=start, **cat)
