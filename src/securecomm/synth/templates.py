"""Template-level synthesis: minutiae sets and their mated impressions, without images.

For search benchmarks at repository scale (10^6 subjects, 10^7 fingers) no
image needs rendering: what the matcher sees is a minutiae set. This module
draws *master minutiae sets* with the statistics of extracted templates and
makes *impressions* of them, one compiled (numba) pass per block of fingers,
with every random number drawn from numpy Generators seeded per block:

* positions: a jittered grid thinned at random (so minutiae keep a minimum
  spacing of about 5 px, as real ones do), inside a fingertip ellipse; six in
  ten get a partner 8-18 px ahead along the flow, facing back (short ridges,
  enclosures): such motifs recur between fingers and give impostor scores
  their real tail;
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

import math
from dataclasses import dataclass
from typing import Iterator, Sequence

import numba
import numpy as np

from securecomm.engine.template import BIFURCATION, ENDING, MAX_MINUTIAE, Template
from securecomm.synth.impression import SIZES
from securecomm.synth.master import CLASS_FREQUENCIES, _check_int, _check_seed

#: Fingers per independently seeded block.
BLOCK = 4096

#: Master frame (a rolled-size fingertip), pixels at 500 ppi; impressions use the rendered images' frames.
MASTER_SIZE = (480, 560)
IMPRESSION_SIZES = SIZES

_CELL = 14.0  # jittered-grid cell, px: minimum spacing ~ (1 - _JITTER) * _CELL
_JITTER = 0.65
_TIP = (190.0, 235.0)  # fingertip ellipse semi-axes in the master frame
_DENSITY = 0.08  # fraction of grid cells seeding a minutia (with partners: mean plain impression ~ 41)

#: Acquisition noise of a template-level impression (calibrated against the engine on rendered images).
NOISE = {
    "pos_px": 0.8,  # position noise, px (sd)
    "angle_rad": 0.05,  # direction noise, rad (sd)
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


#: Chance that a minutia has a partner (short ridge, enclosure) 8-18 px ahead along the flow,
#: facing it. Such motifs recur from finger to finger, which is what gives real impostor
#: scores their tail: without them impostor q99 is 0.058, with them 0.083 (FVC2002: 0.068-0.086).
_PAIR = 0.6
_PAIR_LEN = (8.0, 18.0)
_CLASS_CDF = np.cumsum(np.asarray(CLASS_FREQUENCIES) / sum(CLASS_FREQUENCIES))


@numba.njit(cache=True)
def _orient(x: float, y: float, sp: np.ndarray) -> float:  # pragma: no cover - compiled
    """Zero-pole orientation (image frame, [0, pi)) from a finger's singular-point record ``sp``.

    sp = [core0 x, y, w, core1 x, y, w, delta0 x, y, w, delta1 x, y, w, arch amp, arch x, arch y].
    """
    th = 0.0
    for k in range(2):
        if sp[3 * k + 2] != 0.0:
            th += 0.5 * math.atan2(y - sp[3 * k + 1], x - sp[3 * k])
        if sp[6 + 3 * k + 2] != 0.0:
            th -= 0.5 * math.atan2(y - sp[6 + 3 * k + 1], x - sp[6 + 3 * k])
    if sp[12] != 0.0:
        dx = (x - sp[13]) / (0.55 * _TIP[0])
        dy = (y - sp[14]) / (0.9 * _TIP[0])
        th += math.atan(1.6 * sp[12] * math.exp(-dy * dy - 0.5 * dx * dx) * dx)
    return th % math.pi


@numba.njit(cache=True)
def _synth_block(mrng, irng, n, cells, want_impression, rolled, width, height, class_cdf, noise,
                 out_x, out_y, out_a, out_k, out_q, counts):  # pragma: no cover - compiled
    """Masters (and, if asked, one impression each) of ``n`` fingers, written to the out arrays.

    ``mrng`` drives the masters, ``irng`` the acquisitions, both sequentially finger by
    finger, so a finger's master is the same whatever impression is drawn.
    """
    mw, mh = MASTER_SIZE
    two_pi = 2.0 * math.pi
    n_cells = cells.shape[0]
    sx_ = np.empty(2 * n_cells)
    sy_ = np.empty(2 * n_cells)
    sa_ = np.empty(2 * n_cells)
    sk_ = np.empty(2 * n_cells, np.uint8)
    sq_ = np.empty(2 * n_cells, np.uint8)
    sp = np.zeros(15)
    total = 0
    for f in range(n):
        # ---- master: class and singular points
        u = mrng.random()
        klass = 0
        while klass < 4 and u >= class_cdf[klass]:
            klass += 1
        ccx = mw / 2 + 20.0 * mrng.standard_normal()
        ccy = mh / 2 - 20.0 + 25.0 * mrng.standard_normal()
        u0, u1, u2, u3 = mrng.random(), mrng.random(), mrng.random(), mrng.random()
        amp = 0.5 + 0.4 * mrng.random()
        sp[:] = 0.0
        if klass != 0:
            sp[0], sp[1], sp[2] = ccx, ccy, 1.0
            sp[8] = 1.0
            if klass == 2 or klass == 3:
                side = 1.0 if klass == 2 else -1.0  # left loop: delta to the right
                sp[6], sp[7] = ccx + side * (90 + 60 * u0), ccy + 80 + 60 * u1
            else:
                sp[6], sp[7] = ccx, ccy + 35 + 35 * u0
            if klass == 4:
                sep = 12 + 23 * u2
                sp[1] = ccy - sep
                sp[3], sp[4], sp[5] = ccx, ccy + sep, 1.0
                dy = 90 + 50 * u3
                sp[6], sp[7] = ccx - 100 - 50 * u0, ccy + dy
                sp[9], sp[10], sp[11] = ccx + 100 + 50 * u1, ccy + dy, 1.0
        else:
            sp[12], sp[13], sp[14] = amp, ccx, ccy + 20
        dens = _DENSITY * math.exp(0.22 * mrng.standard_normal())
        scale = 0.85 + 0.23 * mrng.random()
        # ---- master minutiae: a thinned jittered grid, directions along the flow
        # Bernoulli(dens) per cell, drawn as geometric gaps between chosen cells
        m = 0
        c = mrng.geometric(dens) - 1
        while c < n_cells:
            jx = (mrng.random() - 0.5) * (_JITTER * _CELL)
            jy = (mrng.random() - 0.5) * (_JITTER * _CELL)
            sx_[m] = mw / 2 + (cells[c, 0] + jx - mw / 2) * scale
            sy_[m] = mh / 2 + (cells[c, 1] + jy - mh / 2) * scale
            sa_[m] = math.pi if mrng.random() < 0.5 else 0.0  # sense; the flow is added when needed
            sk_[m] = ENDING if mrng.random() < 0.55 else BIFURCATION
            sq_[m] = 30 + int(mrng.random() * 71)
            m += 1
            if mrng.random() < _PAIR:
                # a short ridge or an enclosure: a partner ahead along the flow, facing back
                th = _orient(sx_[m - 1], sy_[m - 1], sp) - sa_[m - 1]
                ln = _PAIR_LEN[0] + (_PAIR_LEN[1] - _PAIR_LEN[0]) * mrng.random()
                sx_[m] = sx_[m - 1] + ln * math.cos(th)
                sy_[m] = sy_[m - 1] + ln * math.sin(th)
                sa_[m] = math.pi - sa_[m - 1]
                sk_[m] = sk_[m - 1]
                sq_[m] = sq_[m - 1]
                m += 1
            c += mrng.geometric(dens)
        count = 0
        if not want_impression:
            for i in range(min(m, MAX_MINUTIAE)):
                sa_[i] = (sa_[i] - _orient(sx_[i], sy_[i], sp)) % two_pi
                out_x[total + count], out_y[total + count], out_a[total + count] = sx_[i], sy_[i], sa_[i]
                out_k[total + count], out_q[total + count] = sk_[i], sq_[i]
                count += 1
            counts[f] = count
            total += count
            continue
        # ---- impression: window, pose, distortion, noise, misses, spurious minutiae
        hard = 1.0 - irng.beta(noise[9], noise[10])
        if not rolled:
            off = noise[11] + noise[12] * hard
            wcx = mw / 2 + off * irng.standard_normal()
            wcy = mh / 2 + 0.08 * mh + off * irng.standard_normal()
            wa = (0.30 + 0.12 * irng.random()) * width * (1 - 0.25 * hard * irng.random())
            wb = (0.36 + 0.10 * irng.random()) * height * (1 - 0.25 * hard * irng.random())
            rot = min(max(irng.standard_normal() * (noise[13] + noise[14] * hard), -20.0), 20.0)
        else:
            wcx = mw / 2 + 6.0 * irng.standard_normal()
            wcy = mh / 2 + 6.0 * irng.standard_normal()
            wa = 1e4
            wb = 1e4
            rot = min(max(3.0 * irng.standard_normal(), -8.0), 8.0)
        dsd = noise[6] + noise[7] * hard
        d0, d1 = dsd * irng.standard_normal(), dsd * irng.standard_normal()
        d2, d3 = dsd * irng.standard_normal(), dsd * irng.standard_normal()
        tx = width / 2 + 10.0 * irng.standard_normal()
        ty = height / 2 + 10.0 * irng.standard_normal()
        r = math.radians(rot)
        cr, sr = math.cos(r), math.sin(r)
        p_miss = noise[2] + noise[3] * hard
        qdrop = int(30 * hard)
        kept = 0
        for i in range(m):
            x, y = sx_[i], sy_[i]
            if ((x - wcx) / wa) ** 2 + ((y - wcy) / wb) ** 2 > 1.0:
                continue
            if irng.random() < p_miss:
                continue
            uu, vv = (x - wcx) / 150.0, (y - wcy) / 150.0
            x += d0 * uu * uu + d1 * uu * vv + noise[0] * irng.standard_normal()
            y += d2 * vv * vv + d3 * uu * vv + noise[0] * irng.standard_normal()
            a = sa_[i] - _orient(sx_[i], sy_[i], sp) + noise[1] * irng.standard_normal()
            k = sk_[i]
            if irng.random() < noise[8]:
                k = BIFURCATION if k == ENDING else ENDING
            dx, dy = x - wcx, y - wcy
            ix = tx + cr * dx + sr * dy  # a CCW rotation as seen on a y-down image
            iy = ty - sr * dx + cr * dy
            if ix < 4 or iy < 4 or ix >= width - 4 or iy >= height - 4:
                continue
            kept += 1
            if count < MAX_MINUTIAE:
                j = total + count
                out_x[j], out_y[j], out_a[j] = ix, iy, (a + r) % two_pi
                out_k[j], out_q[j] = k, max(1, min(100, int(sq_[i]) - qdrop))
                count += 1
        n_sp = irng.poisson((noise[4] + noise[5] * hard) * kept)
        for _ in range(n_sp):
            rad = math.sqrt(irng.random()) * 0.9
            phi = irng.random() * two_pi
            ra, rb = (wa, wb) if not rolled else (200.0, 240.0)
            x = wcx + rad * ra * math.cos(phi)
            y = wcy + rad * rb * math.sin(phi)
            a = -_orient(x, y, sp) + (math.pi if irng.random() < 0.5 else 0.0) + 0.15 * irng.standard_normal()
            k = ENDING if irng.random() < 0.5 else BIFURCATION
            q = 10 + int(irng.random() * 50)
            dx, dy = x - wcx, y - wcy
            ix = tx + cr * dx + sr * dy
            iy = ty - sr * dx + cr * dy
            if ix < 4 or iy < 4 or ix >= width - 4 or iy >= height - 4 or count >= MAX_MINUTIAE:
                continue
            j = total + count
            out_x[j], out_y[j], out_a[j] = ix, iy, (a + r) % two_pi
            out_k[j], out_q[j] = k, q
            count += 1
        counts[f] = count
        total += count
    return total


def _noise_vector() -> np.ndarray:
    return np.array([NOISE["pos_px"], NOISE["angle_rad"], *NOISE["miss"], *NOISE["spurious"],
                     *NOISE["distortion_px"], NOISE["type_flip"], *NOISE["quality_beta"],
                     *NOISE["offset_px"], *NOISE["rotation_deg"]], np.float64)


def _run_block(seed: int, block: int, impression: int | None, kind: str) -> PackedTemplates:
    """One block of BLOCK fingers: masters (impression None) or one impression of each."""
    mrng = np.random.default_rng([seed, block, 0x544D504C])  # "TMPL"
    irng = np.random.default_rng([seed, block, 0 if impression is None else impression,
                                  0x494D5052 + (kind == "rolled")])  # "IMPR" (unused for masters)
    n = BLOCK
    cap = n * MAX_MINUTIAE
    out_x = np.empty(cap, np.float64)
    out_y = np.empty(cap, np.float64)
    out_a = np.empty(cap, np.float64)
    out_k = np.empty(cap, np.uint8)
    out_q = np.empty(cap, np.uint8)
    counts = np.zeros(n, np.int64)
    if impression is None:
        width, height = MASTER_SIZE
    else:
        width, height = IMPRESSION_SIZES[kind]
    total = _synth_block(mrng, irng, n, _CELLS.astype(np.float64), impression is not None, kind == "rolled",
                         float(width), float(height), _CLASS_CDF, _noise_vector(),
                         out_x, out_y, out_a, out_k, out_q, counts)
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    angle = out_a[:total].astype(np.float32)
    angle[angle >= np.float32(2 * np.pi)] = 0.0
    return PackedTemplates(offsets, out_x[:total].astype(np.float32), out_y[:total].astype(np.float32), angle,
                           out_k[:total].copy(), out_q[:total].copy(), int(width), int(height),
                           first=block * BLOCK)


def _slice(p: PackedTemplates, a: int, b: int) -> PackedTemplates:
    lo, hi = int(p.offsets[a]), int(p.offsets[b])
    return PackedTemplates(p.offsets[a:b + 1] - lo, p.x[lo:hi], p.y[lo:hi], p.angle[lo:hi], p.kind[lo:hi],
                           p.quality[lo:hi], p.width, p.height, first=p.first + a)


def _block_job(args: tuple[int, int, int, str]) -> PackedTemplates:
    return _run_block(*args)


def iter_blocks(n_fingers: int, seed: int, impression: int = 0, kind: str = "plain",
                start: int = 0, workers: int = 1) -> Iterator[PackedTemplates]:
    """Impression ``impression`` of fingers ``start .. start + n_fingers - 1``, block by block.

    Two calls with the same ``seed`` and different ``impression`` give mated
    templates (same masters, independent acquisitions). ``workers`` > 1 builds
    blocks in that many processes; blocks come back in order and are identical.
    """
    n_fingers = _check_int("n_fingers", n_fingers, 1)
    start = _check_int("start", start, 0)
    impression = _check_int("impression", impression, 0)
    workers = _check_int("workers", workers, 1)
    seed = _check_seed(seed)
    if kind not in IMPRESSION_SIZES:
        raise ValueError(f"kind must be one of {tuple(IMPRESSION_SIZES)}, got {kind!r}")
    stop = start + n_fingers
    blocks = range(start // BLOCK, (stop - 1) // BLOCK + 1)
    jobs = [(seed, b, impression, kind) for b in blocks]
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


def concat(parts: Sequence[PackedTemplates]) -> PackedTemplates:
    """Consecutive slices of one run (as :func:`iter_blocks` yields them) as one :class:`PackedTemplates`."""
    if len(parts) == 1:
        return parts[0]
    counts = np.concatenate([p.counts for p in parts])
    offsets = np.zeros(counts.size + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    cat = {k: np.concatenate([getattr(p, k) for p in parts]) for k in ("x", "y", "angle", "kind", "quality")}
    return PackedTemplates(offsets, width=parts[0].width, height=parts[0].height, first=parts[0].first, **cat)


def impressions(n_fingers: int, seed: int, impression: int = 0, kind: str = "plain",
                start: int = 0) -> PackedTemplates:
    """Like :func:`iter_blocks`, concatenated into one :class:`PackedTemplates`."""
    return concat(list(iter_blocks(n_fingers, seed, impression, kind, start)))


def masters(n_fingers: int, seed: int, start: int = 0) -> PackedTemplates:
    """The master minutiae sets themselves (whole fingertip, master frame), for inspection and tests."""
    n_fingers = _check_int("n_fingers", n_fingers, 1)
    start = _check_int("start", start, 0)
    seed = _check_seed(seed)
    stop = start + n_fingers
    blocks = range(start // BLOCK, (stop - 1) // BLOCK + 1)
    return concat(list(_trim((_run_block(seed, b, None, "plain") for b in blocks), blocks, start, stop)))
