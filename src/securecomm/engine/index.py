"""Indexed ten-print 1:N search: a compact candidate index, then MCC verification of a shortlist.

Why this shape (measurements in docs/benchmarks.md, "Indexed search (issue 7)"):

* **A fixed-length code per finger.** Every ordered pair of minutiae (i, j) at a
  distance of :data:`D_RANGE` px votes, with linear (soft) weights, into a 3-D
  histogram of (distance, direction of the segment i->j relative to i's direction,
  direction of j relative to i's direction): 4 x 16 x 16 = 1024 bins. The three
  quantities do not change when the finger is moved or rotated, so no alignment is
  needed. The histogram is square-rooted (Hellinger), L2-normalised, centred on a
  fixed reference mean (``data/index_reference.json``: synthetic plain and rolled
  impressions), projected to :data:`CODE_DIMS` dimensions by a fixed *learned* linear
  projection (``data/index_projection.npy``: a linear discriminant fitted on synthetic
  impressions only, keeping what differs between fingers and dropping what differs between
  impressions of one finger) and L2-normalised again. Against the seeded random projection
  it replaced, one finger's mate is in the top 1 % 87 % of the time instead of 43 %
  (synthetic, 2,000 fingers), and on the real FVC2002 templates, never seen by the fit, at
  rank 0 of 40 fingers 78 % of the time instead of 68 %.
* **Fused across fingers by one inner product.** A subject's code is the ten finger
  codes side by side (zeros where a finger is missing), so the probe's concatenated
  code times the gallery matrix is the *sum* of the per-finger cosine similarities
  over the fingers both sides have: one matrix-vector product per search. Two fingers
  summed put the mate at rank 0 of 2,000 94 % of the time, ten fingers all the time
  (the fingers are independent evidence).
* **Shortlist, then the real matcher.** The :data:`SHORTLIST` best subjects by code
  similarity are scored by the MCC matcher (one :func:`securecomm.engine.match.match_many`
  per probe finger over those subjects' fingers: the very scores the exhaustive search computes), and only they are returned. So a
  subject on the shortlist gets exactly its exhaustive fused score; the decision
  bands and the fused score's meaning are unchanged; the index can only *miss* a
  mate (it never invents a score).

:class:`IndexedBackend` implements :class:`securecomm.engine.tenprint.SearchBackend`;
``TenprintGallery(backend=IndexedBackend())`` is the whole change for a caller.
Calibration (``TenprintGallery.calibrate``) needs *all* non-mated scores, not the
shortlist's, and uses :meth:`IndexedBackend.exhaustive_finger_scores`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import mmap
import os
import shutil
import threading
import zlib
from pathlib import Path
from typing import Mapping

import numba
import numpy as np

from securecomm.engine import _mcc_kernels as K
from securecomm.engine.match import PackedGallery, Prepared, match_many, match_rows, pack
from securecomm.engine.mcc import Cylinders
from securecomm.engine.template import Template

#: Histogram bins: distance x segment direction x relative direction.
N_DIST, N_ALPHA, N_BETA = 4, 16, 16
RAW_DIMS = N_DIST * N_ALPHA * N_BETA
#: Pairs of minutiae this far apart (px at 500 ppi) vote.
D_RANGE = (10.0, 120.0)
#: Dimensions of one finger's code after the random projection.
CODE_DIMS = 128
#: Subjects verified by the matcher per search.
SHORTLIST = 100


@numba.njit(cache=True, nogil=True)
def _histograms(offsets, x, y, a, nd, na, nb, dmin, dmax, out):  # pragma: no cover - compiled
    two_pi = 2.0 * math.pi
    for t in range(offsets.size - 1):
        s, e = offsets[t], offsets[t + 1]
        for i in range(s, e):
            for j in range(s, e):
                if i == j:
                    continue
                dx = x[j] - x[i]
                dy = -(y[j] - y[i])  # y up: the template's angles are counter-clockwise on the image
                d = math.sqrt(dx * dx + dy * dy)
                if d < dmin or d >= dmax:
                    continue
                al = (math.atan2(dy, dx) - a[i]) % two_pi
                be = (a[j] - a[i]) % two_pi
                fd = (d - dmin) / (dmax - dmin) * nd - 0.5
                fa = al / two_pi * na - 0.5
                fb = be / two_pi * nb - 0.5
                d0 = int(math.floor(fd))
                a0 = int(math.floor(fa))
                b0 = int(math.floor(fb))
                wd, wa, wb = fd - d0, fa - a0, fb - b0
                for ddi in range(2):
                    di = d0 + ddi
                    if di < 0 or di >= nd:
                        continue
                    w1 = wd if ddi else 1.0 - wd
                    for dai in range(2):
                        ai = (a0 + dai) % na
                        w2 = w1 * (wa if dai else 1.0 - wa)
                        for dbi in range(2):
                            bi = (b0 + dbi) % nb
                            out[t, (di * na + ai) * nb + bi] += w2 * (wb if dbi else 1.0 - wb)


@numba.njit(cache=True, nogil=True)
def _project(raw, proj):  # pragma: no cover - compiled
    """raw [n, RAW_DIMS] @ proj [RAW_DIMS, CODE_DIMS] in a fixed order.

    Not BLAS: for a few rows OpenBLAS's threads cost ~100x the arithmetic on a loaded machine
    (30 ms instead of 0.2 ms per ten-print, measured), and a fixed summation order gives the
    same code bits in every process (the sharded index merges shards by code similarity).
    """
    n, d = raw.shape
    k = proj.shape[1]
    out = np.zeros((n, k), np.float32)
    for t in range(n):
        for j in range(d):
            r = raw[t, j]
            if r != 0.0:
                for c in range(k):
                    out[t, c] += r * proj[j, c]
    return out


def _raw(offsets: np.ndarray, x: np.ndarray, y: np.ndarray, a: np.ndarray) -> np.ndarray:
    out = np.zeros((offsets.size - 1, RAW_DIMS), np.float32)
    if offsets.size > 1:
        _histograms(np.asarray(offsets, np.int64), np.asarray(x, np.float64), np.asarray(y, np.float64),
                    np.asarray(a, np.float64), N_DIST, N_ALPHA, N_BETA, D_RANGE[0], D_RANGE[1], out)
    np.sqrt(out, out=out)
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)
    return out


_REFERENCE: tuple[np.ndarray, np.ndarray, str] | None = None


def _reference() -> tuple[np.ndarray, np.ndarray, str]:
    """(mean raw code, projection, code id): fixed, the same in every process.

    Both come from ``engine/data`` (fitted on synthetic impressions only; see
    benchmarks/make_index_reference.py): the mean from index_reference.json, the learned projection
    [RAW_DIMS, CODE_DIMS] from index_projection.npy. The code id (a digest of both) is saved with an
    index: codes made with other parameters are stale (:class:`IndexStale`), re-coded from the
    index's own templates by :func:`recode_saved`.
    """
    global _REFERENCE
    if _REFERENCE is None:
        data = Path(__file__).parent / "data"
        ref = json.loads((data / "index_reference.json").read_text())
        if ref["bins"] != [N_DIST, N_ALPHA, N_BETA] or tuple(ref["d_range"]) != D_RANGE:
            raise RuntimeError("engine/data/index_reference.json does not match the code layout; "
                               "run benchmarks/make_index_reference.py")
        mean = np.asarray(ref["mean"], np.float32)
        proj = np.load(data / "index_projection.npy", allow_pickle=False)
        if proj.shape != (RAW_DIMS, CODE_DIMS):
            raise RuntimeError("engine/data/index_projection.npy does not match the code layout; "
                               "run benchmarks/make_index_reference.py")
        proj = np.ascontiguousarray(proj, np.float32)
        digest = hashlib.sha256(mean.tobytes() + proj.tobytes()).hexdigest()[:16]
        _REFERENCE = (mean, proj, digest)
    return _REFERENCE


def code_id() -> str:
    """The id of the code parameters this process computes codes with (saved in an index's manifest)."""
    return _reference()[2]


def finger_codes_packed(offsets: np.ndarray, x: np.ndarray, y: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Codes [n, CODE_DIMS] float32 of n templates given as flat columns (rows offsets[i]:offsets[i+1])."""
    mean, proj, _ = _reference()
    raw = _raw(offsets, x, y, a) - mean
    raw /= np.maximum(np.linalg.norm(raw, axis=1, keepdims=True), 1e-9)
    code = _project(np.ascontiguousarray(raw, np.float32), proj)
    code /= np.maximum(np.linalg.norm(code, axis=1, keepdims=True), 1e-9)
    return code.astype(np.float32)


def finger_codes(templates: list[Template | Prepared]) -> np.ndarray:
    """Codes of templates (prepared or not): [len(templates), CODE_DIMS] float32."""
    ts = [t.template if isinstance(t, Prepared) else t for t in templates]
    counts = np.array([len(t) for t in ts], np.int64)
    offsets = np.zeros(len(ts) + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    cat = (lambda name: np.concatenate([getattr(t, name) for t in ts]) if ts else np.zeros(0))
    return finger_codes_packed(offsets, cat("x"), cat("y"), cat("angle"))


def subject_code(fingers: Mapping[int, Template | Prepared]) -> np.ndarray:
    """One subject's code: ten finger codes side by side, zeros for absent positions: [10 * CODE_DIMS].

    The codes of the last few sets of prepared fingers are remembered (by the objects themselves, held):
    a booking's probe is coded by its criminal search, by its immigration search and, when it becomes a
    new subject, by its enrolment, all with the same Prepared fingers -- coded once. A code is a function
    of the fingers' templates, so a remembered one is the one computing it again gives."""
    items = tuple(sorted(fingers.items(), key=lambda kv: kv[0]))
    with _CODE_LOCK:
        for key, code in _RECENT_CODES:
            if len(key) == len(items) and all(p == q and a is b for (p, a), (q, b) in zip(key, items)):
                return code.copy()
    code = subject_codes([fingers], threads=1)[0]
    if items and all(isinstance(f, Prepared) for _, f in items):
        with _CODE_LOCK:
            _RECENT_CODES.insert(0, (items, code.copy()))
            del _RECENT_CODES[_RECENT:]
    return code


#: How many prepared probes' codes :func:`subject_code` remembers (a booking's, and the next one's).
_RECENT = 4
_RECENT_CODES: list[tuple[tuple, np.ndarray]] = []
_CODE_LOCK = threading.Lock()


def _code_blocks(q: np.ndarray) -> list[int]:
    """The finger positions (0-based blocks of :data:`CODE_DIMS`) where a subject code is not all zeros."""
    return [b for b in range(10) if q[b * CODE_DIMS:(b + 1) * CODE_DIMS].any()]


def _similarity(codes: np.ndarray, q: np.ndarray, blocks: list[int]) -> np.ndarray:
    """``codes @ q``, summed over the probe's finger ``blocks`` only: the other blocks of ``q`` are zeros
    and add exactly nothing. A two-finger probe (a booking's index fingers) then reads a fifth of the
    code matrix: at 130,000 subjects 9-11 ms instead of 24-30 ms of CPU (the block products run on
    strided rows; measured 2026-12-02, one BLAS thread). Every subject's similarity to one probe is
    computed the same way, so rankings (and a sharded index's merge by similarity) are consistent."""
    if len(blocks) == 10 or codes.shape[0] == 0:
        return codes @ q
    out = np.zeros(codes.shape[0], np.float32)
    for b in blocks:
        cols = slice(b * CODE_DIMS, (b + 1) * CODE_DIMS)
        out += codes[:, cols] @ q[cols]
    return out


#: A subject code's int8 copy, which the first pass of :meth:`IndexedBackend.ranked` scans: a finger code is
#: L2-normalised, so every value lies in [-1, 1] and ``round(value * CODE_SCALE)`` never clips.
CODE_SCALE = 127.0
#: The first pass keeps this many times the subjects asked for (at least :data:`RERANK_MIN` more),
#: which the float32 codes then rank exactly (docs/engine.md, "Two-pass code scan").
RERANK_FACTOR = 4
RERANK_MIN = 200


def quantised(codes: np.ndarray) -> np.ndarray:
    """int8 copies of codes (any shape): ``round(code * CODE_SCALE)``."""
    return np.rint(np.asarray(codes, np.float32) * np.float32(CODE_SCALE)).astype(np.int8)


def by_block(codes8: np.ndarray) -> np.ndarray:
    """int8 codes [rows, 10 * CODE_DIMS] laid out finger block first, [10, rows, CODE_DIMS] (what
    :func:`_scan8` reads)."""
    rows = codes8.shape[0]
    return codes8.reshape(rows, 10, CODE_DIMS).transpose(1, 0, 2)


@numba.njit(cache=True, nogil=True, fastmath=True)
def _scan8(codes8, live, blocks, q, out, lo, hi):  # pragma: no cover - compiled
    """out[r] = sum over ``blocks`` of codes8[block, r] . q[block] for the live rows ``lo`` .. ``hi`` - 1,
    -inf for the dead ones.

    The first pass of the code scan: int8 codes (a quarter of the float32 codes' bytes), laid out finger
    block first ([10, rows, CODE_DIMS]: a search reads only its probe's blocks, and reads them end to end --
    with the rows' ten blocks side by side, the same scan ran 5-6 times slower, reading a fifth of each row),
    against the float32 probe code; ``fastmath`` lets the sum be vectorised in any order, so the value is
    approximate, and only the choice of which subjects the exact pass ranks depends on it."""
    d = CODE_DIMS
    for r in range(lo, hi):
        acc = np.float32(0.0)
        for b in blocks:  # one block's row, summed on its own: the form LLVM vectorises (15x faster)
            row = codes8[b, r]
            qb = q[b * d:(b + 1) * d]
            s = np.float32(0.0)
            for k in range(d):
                s += np.float32(row[k]) * qb[k]
            acc += s
        out[r] = acc if live[r] else -np.inf


#: Rows from which the first pass is split across :data:`VERIFY_THREADS` (below it, a thread's start costs
#: about what the split saves: at 20,000 two-finger rows the scan takes 0.8 ms either way, docs/benchmarks.md).
SCAN_SPLIT_MIN = 65536


#: Probe cylinders a pre-score compares (:meth:`IndexedBackend.prescreened`).
PRESCREEN_CYLINDERS = 12


def _thinned(p: Prepared) -> Prepared:
    """The probe finger with :data:`PRESCREEN_CYLINDERS` of its cylinders, evenly spaced in its order (all of
    them when it has no more), classical only: what a pre-score compares."""
    c = p.cyl
    if len(c) <= PRESCREEN_CYLINDERS and p.learned is None:
        return p
    at = np.unique(np.linspace(0, len(c) - 1, min(len(c), PRESCREEN_CYLINDERS)).round().astype(np.int64))
    return Prepared(Cylinders(np.ascontiguousarray(c.bits[at]), np.ascontiguousarray(c.valid[at]),
                              np.ascontiguousarray(c.x[at]), np.ascontiguousarray(c.y[at]),
                              np.ascontiguousarray(c.angle[at]), c.n_minutiae), p.template)


class IndexCorrupt(RuntimeError):
    """An index folder that cannot be used as it is (missing, truncated, altered): rebuild it."""


class IndexStale(IndexCorrupt):
    """A whole index whose codes were made with other code parameters: :func:`recode_saved` re-codes it
    from its own templates (no cylinder is prepared again); refused as it is, like a corrupt one."""


#: Files of a saved index, and the version of their layout.
#:
#: Version 2 (compact): a finger row's cylinders are stored as one zlib stream of their bit
#: cylinders (CW words each) followed by their spatial validity masks (SW words each, not the ND
#: copies the kernels take); the minutiae of the cylinders as float32 when that is exact (float64
#: otherwise: the dtype is the file's); nothing is padded. Decoding gives the very arrays
#: :func:`securecomm.engine.mcc.cylinders` built (a test compares the scores).
FORMAT_VERSION = 2
_ARRAYS = ("codes", "live", "subject_rows", "row_pos", "cyl_off", "z_off", "z", "cx", "cy", "ca", "n_min",
           "lcyl_off", "lz_off", "lz", "lx", "ly", "la", "ln_min", "tpl_off", "tpl")
#: zlib level of the cylinder streams. Measured on 3,000 synthetic plain subjects (one core):
#: level 1 0.93 ms and 24.1 KB per subject, level 3 1.54 ms and 22.7 KB, level 6 2.80 ms and
#: 20.9 KB; 3 keeps enrolment above 200 subjects/s for 9 % more disk than 6. Any level decodes.
ZLIB_LEVEL = 3
#: Threads that encode cylinder streams and compute codes in bulk (zlib and the numba kernels
#: release the GIL); None: the CPUs.
BULK_THREADS: int | None = None
_COLS = {"": ("cx", "cy", "ca"), "l": ("lx", "ly", "la")}


#: Threads that verify one search's finger positions at once (the MCC kernels release the GIL; each
#: position's scores are written by one thread, so they are the same). 1 (the default) for machines
#: that run one worker per core; ``securecomm simulate``, one worker alone on the machine, uses the
#: cores (:class:`verify_threads`).
VERIFY_THREADS = 1
_VERIFY_POOL: tuple[int, object] | None = None


def _verify_pool():
    global _VERIFY_POOL
    if _VERIFY_POOL is None or _VERIFY_POOL[0] != VERIFY_THREADS:
        from concurrent.futures import ThreadPoolExecutor

        if _VERIFY_POOL is not None:  # another thread count: the old pool's threads are let go
            _VERIFY_POOL[1].shutdown(wait=False)
        _VERIFY_POOL = (VERIFY_THREADS, ThreadPoolExecutor(max_workers=VERIFY_THREADS, thread_name_prefix="verify"))
    return _VERIFY_POOL[1]


_SERIAL = threading.local()


class serial_verify:
    """Verify on the calling thread alone while the block runs (a search made on a thread of its own, beside
    one that uses :data:`VERIFY_THREADS`: it must not queue on their pool). The same scores."""

    def __enter__(self) -> "serial_verify":
        self._saved = getattr(_SERIAL, "on", False)
        _SERIAL.on = True
        return self

    def __exit__(self, *exc: object) -> None:
        _SERIAL.on = self._saved


class verify_threads:
    """Set :data:`VERIFY_THREADS` while a block runs (``None``: this process's cores), then restore it."""

    def __init__(self, threads: int | None = None) -> None:
        from securecomm.engine.threads import cores

        self.threads = max(1, int(threads if threads is not None else cores()))
        self._saved = 1

    def __enter__(self) -> "verify_threads":
        global VERIFY_THREADS
        self._saved, VERIFY_THREADS = VERIFY_THREADS, self.threads
        return self

    def __exit__(self, *exc: object) -> None:
        global VERIFY_THREADS
        VERIFY_THREADS = self._saved


def _threads(threads: int | None) -> int:
    return max(1, int(threads if threads is not None else (BULK_THREADS or os.cpu_count() or 1)))


def _map_chunks(fn, items: list, threads: int | None, chunk: int) -> list:
    """``[y for part in chunks(items) for y in fn(part)]``, the chunks run on a thread pool (in order)."""
    n = _threads(threads)
    parts = [items[i:i + chunk] for i in range(0, len(items), chunk)]
    if n == 1 or len(parts) < 2:
        return [y for part in parts for y in fn(part)]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=n) as pool:
        return [y for got in pool.map(fn, parts) for y in got]


def subject_codes(subjects: list[Mapping[int, Template | Prepared]], threads: int | None = None) -> np.ndarray:
    """The codes of many subjects, [len(subjects), 10 * CODE_DIMS], computed on ``threads`` threads: each
    row ten finger codes side by side, zeros for absent positions (each row's arithmetic is independent of
    the others, so a subject gets the same row alone or in a batch)."""
    def part(group: list) -> list[np.ndarray]:
        flat = [f[p] for f in group for p in sorted(f)]
        codes = finger_codes(flat) if flat else np.zeros((0, CODE_DIMS), np.float32)
        out, at = [], 0
        for f in group:
            row = np.zeros((10, CODE_DIMS), np.float32)
            pos = sorted(f)
            if pos:
                row[np.array(pos) - 1] = codes[at:at + len(pos)]
            at += len(pos)
            out.append(row.ravel())
        return out

    rows = _map_chunks(part, list(subjects), threads, 64)
    return np.stack(rows) if rows else np.zeros((0, 10 * CODE_DIMS), np.float32)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _encode(c: Cylinders) -> bytes:
    """One row's cylinders as stored: zlib(bits [n, CW] then spatial masks [n, SW]), little-endian words."""
    body = np.concatenate([np.ascontiguousarray(c.bits, "<u8").ravel(),
                           np.ascontiguousarray(c.valid[:, :K.SW], "<u8").ravel()])
    return zlib.compress(body.tobytes(), ZLIB_LEVEL)


def _decode_into(blob, n: int, bits: np.ndarray, valid: np.ndarray, at: int) -> None:
    """Inverse of :func:`_encode`: write a row's n cylinders into bits[at:at+n], valid[at:at+n, :SW]."""
    if n == 0:
        return
    try:  # a zlib stream carries its own Adler-32: a damaged row is refused where it is read
        raw = np.frombuffer(zlib.decompress(blob), "<u8")
    except zlib.error as exc:
        raise IndexCorrupt(f"a cylinder stream does not decode ({exc}); rebuild the index") from None
    if raw.size != n * (K.CW + K.SW):
        raise IndexCorrupt(f"a cylinder stream holds {raw.size} words, not {n * (K.CW + K.SW)}; rebuild the index")
    bits[at:at + n] = raw[:n * K.CW].reshape(n, K.CW)
    valid[at:at + n, :K.SW] = raw[n * K.CW:].reshape(n, K.SW)


class _Base:
    """Subjects loaded from a saved index: flat arrays, memory-mapped (shared by the processes of one
    machine through the page cache); a subject's fingers are rebuilt only when it is verified."""

    def __init__(self, arrays: dict[str, np.ndarray], ids: list[str]) -> None:
        self.a = arrays
        self.ids = ids

    def fingers(self, slot: int) -> dict[int, Prepared]:
        a = self.a
        r0, r1 = int(a["subject_rows"][slot]), int(a["subject_rows"][slot + 1])
        out: dict[int, Prepared] = {}
        for r in range(r0, r1):
            tpl = Template.from_bytes(bytes(a["tpl"][int(a["tpl_off"][r]):int(a["tpl_off"][r + 1])]))
            cyl = self._cyl(r, "")
            learned = self._cyl(r, "l") if tpl.extractor == "fused" else None
            out[int(a["row_pos"][r])] = Prepared(cyl, tpl, learned)
        return out

    def _part(self, rows: np.ndarray, pre: str) -> PackedGallery:
        """The cylinders of saved rows (``pre``: "" classical, "l" learned), decoded, as one packed gallery."""
        a = self.a
        off, zoff, z = np.asarray(a[pre + "cyl_off"]), a[pre + "z_off"], a[pre + "z"]
        c0, c1 = off[rows], off[rows + 1]
        counts = c1 - c0
        offsets = np.zeros(rows.size + 1, np.int64)
        np.cumsum(counts, out=offsets[1:])
        total = int(offsets[-1])
        bits = np.empty((total, K.CW), np.uint64)
        valid = np.empty((total, K.CW), np.uint64)
        if total:
            mv = memoryview(z)  # slices of a memoryview: no array object per row
            for s, e, n, at in zip(zoff[rows].tolist(), zoff[rows + 1].tolist(), counts.tolist(),
                                   offsets[:-1].tolist()):
                _decode_into(mv[s:e], n, bits, valid, at)
        for k in range(1, K.ND):  # the spatial mask repeated per layer, as the kernels take it
            valid[:, k * K.SW:(k + 1) * K.SW] = valid[:, :K.SW]
        idx = np.repeat(c0 - offsets[:-1], counts) + np.arange(total, dtype=np.int64)
        xs, ys, as_ = (np.ascontiguousarray(a[name][idx], np.float64) for name in _COLS[pre])
        return PackedGallery(bits, valid, xs, ys, as_, offsets)

    def pack_rows(self, rows: np.ndarray) -> PackedGallery:
        """The fingers of saved rows as one packed gallery (for one bulk ``match_many`` per position).

        Decoded straight from the mapped arrays (no template is decoded). A row whose template
        is fused carries its learned cylinders; :func:`match_many` fuses exactly when
        :func:`match_prepared` would (both need ``min_cylinders`` learned cylinders on each side).
        """
        rows = np.asarray(rows, np.int64)
        g = self._part(rows, "")
        loff = np.asarray(self.a["lcyl_off"])
        fused = (loff[rows + 1] - loff[rows]) > 0
        if fused.any():
            g = dataclasses.replace(g, learned=self._part(rows, "l"), fused=fused)
        return g

    def _cyl(self, r: int, pre: str) -> Cylinders:
        g = self._part(np.array([r], np.int64), pre)
        return Cylinders(g.bits, g.valid, g.x, g.y, g.angle, int(self.a[pre + "n_min"][r]))


class _Arena:
    """The cylinders of subjects enrolled since the load, copied into fixed blocks of rows.

    A block is never moved or grown, so an enrolled finger's :class:`Prepared` holds views into it (no
    second copy), and a shortlist's fingers are scored where they lie (:func:`match_rows` with each
    finger's first and end row, block by block) instead of being packed into one gallery first: that
    packing copied every shortlisted cylinder and cost about a quarter of a two-finger search's CPU
    (5 of 18 ms, profiled on 3,000 in-memory subjects, 2026-12-02). A removed subject's rows are not
    reused (enrolment is what galleries mostly do; a saved and reloaded index holds only the live ones).
    """

    #: Rows of the first block; each next block is as large as all before it, up to MAX_ROWS (~400 MB of
    #: address space, paged in only as it fills), so a large gallery has few blocks: a shortlist is
    #: scored in one kernel call per block it touches.
    FIRST_ROWS, MAX_ROWS = 1 << 12, 1 << 20

    def __init__(self) -> None:
        self.blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self.fill = 0

    def put(self, c: Cylinders) -> tuple[tuple[int, int, int], Cylinders] | None:
        """Copy one finger's cylinders in: (block, first row, end row) and the same cylinders as views."""
        n = len(c)
        if n > self.MAX_ROWS:
            return None
        if not self.blocks or self.fill + n > self.blocks[-1][2].size:
            r = min(self.MAX_ROWS, max(self.FIRST_ROWS, n, sum(b[2].size for b in self.blocks)))
            self.blocks.append((np.zeros((r, K.CW), np.uint64), np.zeros((r, K.CW), np.uint64),
                                np.zeros(r), np.zeros(r), np.zeros(r)))
            self.fill = 0
        b, s = len(self.blocks) - 1, self.fill
        e = s + n
        views = tuple(arr[s:e] for arr in self.blocks[b])
        for dst, src in zip(views, (c.bits, c.valid, c.x, c.y, c.angle)):
            dst[...] = src
        self.fill = e
        return (b, s, e), Cylinders(*views, c.n_minutiae)

    def by_block(self, where: list[tuple[int, int, int]]):
        """Yield (block arrays, indices into ``where``, first rows, end rows) for each block ``where`` uses."""
        loc = np.asarray(where, np.int64).reshape(-1, 3)
        for b in np.unique(loc[:, 0]).tolist():
            sel = np.flatnonzero(loc[:, 0] == b)
            yield self.blocks[b], sel, loc[sel, 1], loc[sel, 2]


def _flatten(subjects: list[dict[int, Prepared]]) -> dict[str, np.ndarray]:
    """The flat arrays of a list of in-memory subjects' fingers (rows of a subject contiguous, by position);
    the cylinder minutiae columns are float64 here (:meth:`IndexedBackend.save` narrows them)."""
    rows: list[tuple[int, Prepared]] = []
    subject_rows = np.zeros(len(subjects) + 1, np.int64)
    for i, fingers in enumerate(subjects):
        for pos in sorted(fingers):
            rows.append((pos, fingers[pos]))
        subject_rows[i + 1] = len(rows)
    out: dict[str, np.ndarray] = {"subject_rows": subject_rows,
                                  "row_pos": np.array([p for p, _ in rows], np.int8)}
    for pre, get in (("", lambda p: p.cyl), ("l", lambda p: p.learned)):
        cyls = [get(p) for _, p in rows]
        counts = np.array([len(c) if c is not None else 0 for c in cyls], np.int64)
        off = np.zeros(len(cyls) + 1, np.int64)
        np.cumsum(counts, out=off[1:])
        live = [c for c in cyls if c is not None and len(c)]
        blobs = _map_chunks(lambda cs: [_encode(c) if c is not None and len(c) else b"" for c in cs], cyls,
                            None, 256)
        zoff = np.zeros(len(cyls) + 1, np.int64)
        np.cumsum([len(b) for b in blobs], out=zoff[1:])
        out[pre + "cyl_off"] = off
        out[pre + "z_off"] = zoff
        out[pre + "z"] = np.frombuffer(b"".join(blobs), np.uint8).copy()
        for name, col in zip(_COLS[pre], ("x", "y", "angle")):
            parts = [np.asarray(getattr(c, col), np.float64) for c in live]
            out[name] = np.concatenate(parts) if parts else np.zeros(0, np.float64)
        out[pre + "n_min"] = np.array([c.n_minutiae if c is not None else 0 for c in cyls], np.int32)
    blobs = [p.template.to_bytes() for _, p in rows]
    toff = np.zeros(len(blobs) + 1, np.int64)
    np.cumsum([len(b) for b in blobs], out=toff[1:])
    out["tpl_off"] = toff
    out["tpl"] = np.frombuffer(b"".join(blobs), np.uint8).copy()
    return out


#: How each saved array is indexed: by subject, by row, or through an offsets array (its data).
_BY_SUBJECT = ("codes", "live")
_BY_ROW = ("row_pos", "n_min", "ln_min")
_OFFSETS = {"subject_rows": None, "cyl_off": ("cx", "cy", "ca"), "z_off": ("z",), "lcyl_off": ("lx", "ly", "la"),
            "lz_off": ("lz",), "tpl_off": ("tpl",)}
_DATA_OF = {d: o for o, ds in _OFFSETS.items() if ds for d in ds}
_COPY_BLOCK = 1 << 22  # elements copied at a time from a mapped file (bounded memory)


def _random_access(arr: np.ndarray) -> None:
    """Tell the kernel a mapped array is read at random (a shortlist's rows): no read-ahead around each
    row, so a worker maps (and reads from disk) the pages it uses, not ~128 KB around each."""
    m = getattr(arr, "_mmap", None)
    if m is not None and hasattr(mmap, "MADV_RANDOM"):
        try:
            m.madvise(mmap.MADV_RANDOM)
        except OSError:  # advice only
            pass


def _runs(keep: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs [start, stop) of True in a boolean vector."""
    k = np.concatenate([[False], np.asarray(keep, bool), [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(k))
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist()))


def _write_npy(path: Path, dtype, tail: tuple, pieces: list[np.ndarray]) -> None:
    """Write the concatenation of ``pieces`` (arrays or mapped slices) as one .npy, block by block."""
    total = sum(int(p.shape[0]) for p in pieces)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(total, *tail))
    at = 0
    for p in pieces:
        n = int(p.shape[0])
        step = max(1, _COPY_BLOCK // max(1, int(np.prod(tail)) if tail else 1))
        for s in range(0, n, step):
            e = min(n, s + step)
            out[at + s:at + e] = p[s:e]
        at += n
    out.flush()
    del out


@dataclasses.dataclass
class _Part:
    """Subjects copied as they are from saved arrays: runs [s0, s1) of subjects and their rows."""

    a: dict[str, np.ndarray]
    sruns: list[tuple[int, int]]
    rruns: list[tuple[int, int]]
    codes: np.ndarray

    @classmethod
    def of(cls, a: dict[str, np.ndarray], sruns: list[tuple[int, int]], codes: np.ndarray) -> "_Part":
        sr = np.asarray(a["subject_rows"])
        return cls(a, sruns, [(int(sr[s0]), int(sr[s1])) for s0, s1 in sruns], codes)

    def pieces(self, name: str) -> list[np.ndarray]:
        """This part's slices of the array ``name`` (an offsets array: the lengths it encodes)."""
        a = self.a
        if name in _OFFSETS:
            runs = self.sruns if name == "subject_rows" else self.rruns
            return [np.diff(np.asarray(a[name][x0:x1 + 1])) for x0, x1 in runs]
        if name == "codes":
            return [self.codes[s0:s1] for s0, s1 in self.sruns]
        if name in _BY_ROW:
            return [a[name][r0:r1] for r0, r1 in self.rruns]
        off = a[_DATA_OF[name]]
        return [a[name][int(off[r0]):int(off[r1])] for r0, r1 in self.rruns]


def _write_index(folder: Path, parts: list[_Part], mem: dict[str, np.ndarray], ids: list[str],
                 watermark: int, on_written=None) -> None:
    """Write an index folder (atomically: a new folder, then a rename): the subjects of ``parts``, in
    order, copied as they are (no decoding, no recompression, block by block: memory stays bounded),
    then those of ``mem`` (:func:`_flatten`'s arrays plus "codes"). ``on_written(name)`` is called
    once each array is written (a merge may then drop its sources' copies)."""
    dtypes: dict[str, object] = {}
    for pre, names in _COLS.items():  # the minutiae columns: float32 where that is exact
        narrow = all(np.array_equal(mem[n].astype(np.float32).astype(np.float64), mem[n]) for n in names)
        narrow = narrow and all(p.a[n].dtype == np.float32 for p in parts for n in names)
        for n in names:
            dtypes[n] = np.float32 if narrow else np.float64
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    sums = {}
    for name in _ARRAYS:
        path = tmp / f"{name}.npy"
        if name == "live":
            np.save(path, np.ones(len(ids), bool), allow_pickle=False)
        elif name in _OFFSETS:
            lengths = [x for p in parts for x in p.pieces(name)] + [np.diff(mem[name])]
            off = np.zeros(sum(x.size for x in lengths) + 1, np.int64)
            np.cumsum(np.concatenate(lengths), out=off[1:])
            np.save(path, off, allow_pickle=False)
        else:
            pieces = [x for p in parts for x in p.pieces(name)] + [mem[name]]
            dtype = dtypes.get(name, mem[name].dtype)
            if sum(int(x.shape[0]) for x in pieces) == 0:
                np.save(path, np.zeros((0, *mem[name].shape[1:]), dtype), allow_pickle=False)
            else:
                _write_npy(path, dtype, tuple(mem[name].shape[1:]), pieces)
            del pieces
        sums[name] = _sha256(path)
        if on_written is not None:
            on_written(name)
    (tmp / "ids.json").write_text(json.dumps(ids))
    sums["ids"] = _sha256(tmp / "ids.json")
    sizes = {name: (tmp / (f"{name}.npy" if name != "ids" else "ids.json")).stat().st_size for name in sums}
    manifest = {"format": FORMAT_VERSION, "subjects": len(ids), "watermark": int(watermark),
                "code_dims": CODE_DIMS, "bins": [N_DIST, N_ALPHA, N_BETA], "d_range": list(D_RANGE),
                "code_id": code_id(), "sha256": sums, "bytes": sizes}
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
    old = folder.with_name(f".{folder.name}.{os.getpid()}.old")
    if folder.exists():
        folder.rename(old)
    tmp.rename(folder)
    if old.exists():
        shutil.rmtree(old)


def merge_saved(sources: list[Path | str], dest: Path | str, verify: bool = True, consume: bool = False) -> int:
    """Write the saved indexes ``sources``, one after the other, as one index at ``dest``; returns its subjects.

    How an index is built in pieces (segments built apart, in parallel processes or on several
    machines, then merged once): the rows are copied as they are, so the result searches exactly as
    one index built in one go. A subject id in two sources is refused (ValueError). The watermark is
    the highest of the sources'. ``consume`` deletes each source array once it is copied (bounded
    disk: the merge needs room for the largest array, not for a second copy) and then the sources;
    an interrupted consuming merge leaves sources that :meth:`IndexedBackend.load` refuses.
    """
    dest = Path(dest)
    srcs = [Path(x) for x in sources]
    if dest.resolve() in {x.resolve() for x in srcs}:
        raise ValueError("merge_saved: the destination is one of the sources")
    loaded = [IndexedBackend.load(x, verify=verify) for x in srcs]
    ids: list[str] = []
    for b in loaded:
        ids.extend(b._base.ids if b._base is not None else [])  # type: ignore[union-attr]
    if len(set(ids)) != len(ids):
        raise ValueError("merge_saved: a subject id is in more than one source")
    parts = [_Part.of(b._base.a, [(0, b._n_base)], b._bcodes) for b in loaded if b._n_base]  # type: ignore[union-attr]
    watermark = max((b.watermark for b in loaded), default=0)
    del loaded

    def drop(name: str) -> None:
        if consume:
            for p in parts:
                if name not in _OFFSETS:  # offsets stay mapped until their data is copied (they are small)
                    p.a.pop(name, None)  # the mapping goes with the last reference: the space is freed
                if name == "codes":
                    p.codes = np.zeros((0, 10 * CODE_DIMS), np.float32)
            for x in srcs:
                (x / f"{name}.npy").unlink(missing_ok=True)

    _write_index(dest, parts, _flatten([]) | {"codes": np.zeros((0, 10 * CODE_DIMS), np.float32)}, ids,
                 watermark, on_written=drop)
    if consume:
        for x in srcs:
            shutil.rmtree(x, ignore_errors=True)
    return len(ids)


#: Subjects re-coded at a time by :func:`recode_saved` (bounds its memory).
RECODE_CHUNK = 20_000


def load_or_recode(folder: Path | str, shortlist: int = SHORTLIST, verify: bool = True, recode: bool = True,
                   threads: int | None = None, on_recode=None) -> tuple["IndexedBackend", float | None]:
    """Map a saved index (:meth:`IndexedBackend.load`); one whose codes were made with other code parameters
    (:class:`IndexStale`) is first re-coded in place from its stored templates (:func:`recode_saved`, which
    checks every file) when ``recode``, else refused. ``on_recode(exc)`` is told before a re-code. Returns
    the index and the re-code's wall seconds (None when none was needed). A machine's start re-codes; a
    worker's unverified load does not (it treats a stale index as damaged)."""
    import time

    try:
        return IndexedBackend.load(folder, shortlist=shortlist, verify=verify), None
    except IndexStale as exc:
        if not recode:
            raise
        if on_recode is not None:
            on_recode(exc)
        t0 = time.perf_counter()
        recode_saved(folder, threads)
        took = time.perf_counter() - t0
        return IndexedBackend.load(folder, shortlist=shortlist, verify=False), took


def _template_columns(tpl: np.ndarray, toff: np.ndarray, rows: np.ndarray):
    """The minutiae columns (offsets, x, y, angle) of stored template rows, straight from their bytes.

    The layout of :meth:`Template.to_bytes` (a header of 19 bytes, or 13 for the first version, with the
    count at byte 12; then x, y and angle as little-endian float32, then
    types and qualities), read for many rows at once instead of one ``Template`` each (that costs 26 us
    a row: 4 minutes of one core at 10^7 rows). A row that is not such a template raises IndexCorrupt.
    """
    s, e = np.asarray(toff[rows], np.int64), np.asarray(toff[rows + 1], np.int64)
    if s.size and (e - s).min() < 13:
        raise IndexCorrupt("a stored template is truncated; rebuild the index")
    sct = (tpl[s] == ord("S")) & (tpl[s + 1] == ord("C")) & (tpl[s + 2] == ord("T"))
    head = np.where(sct & (tpl[s + 3] == ord("2")), 19, np.where(sct & (tpl[s + 3] == ord("1")), 13, -1))
    n = tpl[s + 12].astype(np.int64) + np.where(head == 19, tpl[s + 13].astype(np.int64) << 8, 0)
    if (head < 0).any() or (e - s != head + 14 * n).any():
        raise IndexCorrupt("a stored template does not decode; rebuild the index")
    offsets = np.zeros(rows.size + 1, np.int64)
    np.cumsum(n, out=offsets[1:])
    i = np.arange(int(offsets[-1]), dtype=np.int64) - np.repeat(offsets[:-1], n)
    base, nn = np.repeat(s + head, n), np.repeat(n, n)
    cols = []
    for k in range(3):  # x, y, angle: float32 arrays of n each, one after the other
        at = base + 4 * (k * nn + i)
        cols.append(np.ascontiguousarray(tpl[at[:, None] + np.arange(4)]).view("<f4").ravel())
    return offsets, cols[0], cols[1], cols[2]


def recode_saved(folder: Path | str, threads: int | None = None) -> int:
    """Recompute the codes of a saved index (an :class:`IndexStale` one) from its stored templates, in place.

    Only ``codes.npy`` and the manifest are rewritten (each through a new file and a rename); the
    cylinders, the most costly part of enrolment, are kept. The index is checked (sizes and
    SHA-256) first, so a corrupt index still raises :class:`IndexCorrupt`. Returns the subjects
    re-coded. The codes are those :func:`subject_code` gives (the same arithmetic, row by row).
    """
    folder = Path(folder)
    b = IndexedBackend.load(folder, verify=True, _stale_ok=True)
    a, n = b._base.a if b._base is not None else None, b._n_base
    tmp = folder / ".codes.npy.tmp"
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, 10 * CODE_DIMS))
    if a is not None:
        sr, rp, toff, tpl = (np.asarray(a[k]) for k in ("subject_rows", "row_pos", "tpl_off", "tpl"))

        def rows_codes(rows: list[int]) -> list[np.ndarray]:
            r = np.asarray(rows, np.int64)
            return list(finger_codes_packed(*_template_columns(tpl, toff, r))) if r.size else []

        for s0 in range(0, n, RECODE_CHUNK):
            s1 = min(n, s0 + RECODE_CHUNK)
            r0, r1 = int(sr[s0]), int(sr[s1])
            codes = np.zeros((r1 - r0, CODE_DIMS), np.float32)
            if r1 > r0:
                codes[:] = np.stack(_map_chunks(rows_codes, list(range(r0, r1)), threads, 4096))
            chunk = np.zeros((s1 - s0, 10, CODE_DIMS), np.float32)
            subj = np.repeat(np.arange(s1 - s0), np.diff(sr[s0:s1 + 1]))
            chunk[subj, rp[r0:r1].astype(np.int64) - 1] = codes
            out[s0:s1] = chunk.reshape(s1 - s0, -1)
    out.flush()
    del out, a, b
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["sha256"]["codes"] = _sha256(tmp)
    manifest["bytes"]["codes"] = tmp.stat().st_size
    manifest["code_id"] = code_id()
    os.replace(tmp, folder / "codes.npy")
    mtmp = folder / ".manifest.json.tmp"
    mtmp.write_text(json.dumps(manifest, indent=1))
    os.replace(mtmp, folder / "manifest.json")
    return n


class IndexedBackend:
    """Candidate index (codes in one matrix) + MCC verification of the shortlisted subjects.

    Enrolment, removal and re-enrolment take effect at once (a row of the code matrix is
    written or masked); no rebuild. ``shortlist`` subjects are verified per search.
    :meth:`save` writes the index to a folder and :meth:`load` maps it back (seconds; checked
    against the SHA-256 sums in its manifest); subjects enrolled after a load are kept in memory
    until the next save. ``watermark`` is saved with it: the last repository row it holds.
    """

    def __init__(self, shortlist: int = SHORTLIST) -> None:
        if isinstance(shortlist, bool) or not isinstance(shortlist, int) or shortlist < 1:
            raise ValueError(f"shortlist must be a positive integer, got {shortlist!r}")
        self.shortlist = shortlist
        self._prescreen: int | None = None
        self.watermark = 0
        self._slot: dict[str, int] = {}
        self._ids: list[str | None] = []
        self._fingers: list[dict[int, Prepared] | None] = []  # subjects enrolled since the load
        self._arena = _Arena()  # their cylinders (the Prepared in _fingers hold views into it)
        self._where: list[dict[int, tuple[int, int, int]] | None] = []  # their fingers' rows in the arena
        self._base: _Base | None = None  # subjects 0 .. len(base.ids) - 1 live in the saved arrays
        self._n_base = 0
        self._bcodes = np.zeros((0, 10 * CODE_DIMS), np.float32)  # the loaded subjects' (mapped)
        self._bq = np.zeros((10, 0, CODE_DIMS), np.int8)  # ... their int8 copies, by block (in memory)
        self._blive = np.zeros(0, bool)
        self._codes = np.zeros((0, 10 * CODE_DIMS), np.float32)  # subjects enrolled since (in memory)
        self._q = np.zeros((10, 0, CODE_DIMS), np.int8)  # ... and theirs, by block (:func:`by_block`)
        self._live = np.zeros(0, bool)

    def __len__(self) -> int:
        return len(self._slot)

    @property
    def prescreen(self) -> int | None:
        """Shortlisted subjects the matcher scores per search, chosen by pre-score (:meth:`prescreened`);
        None (the default): all of them. docs/engine.md."""
        return self._prescreen

    @prescreen.setter
    def prescreen(self, n: int | None) -> None:
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise ValueError(f"prescreen must be a positive integer or None, got {n!r}")
        self._prescreen = n

    def __contains__(self, subject_id: object) -> bool:
        return subject_id in self._slot

    def _grow(self, need: int) -> None:
        if need <= self._codes.shape[0]:
            return
        cap = max(need, 2 * self._codes.shape[0], 64)
        codes = np.zeros((cap, self._codes.shape[1]), np.float32)
        codes[: self._codes.shape[0]] = self._codes
        q = np.zeros((10, cap, CODE_DIMS), np.int8)
        q[:, : self._q.shape[1]] = self._q
        live = np.zeros(cap, bool)
        live[: self._live.size] = self._live
        self._codes, self._q, self._live = codes, q, live

    def add(self, subject_id: str, fingers: Mapping[int, Prepared], code: np.ndarray | None = None) -> None:
        """Enrol (or replace) a subject; ``code`` may carry a precomputed :func:`subject_code`."""
        if subject_id in self._slot:
            self.remove(subject_id)
        slot = len(self._ids)
        self._grow(slot - self._n_base + 1)
        self._codes[slot - self._n_base] = subject_code(fingers) if code is None else code
        self._q[:, slot - self._n_base] = quantised(self._codes[slot - self._n_base]).reshape(10, CODE_DIMS)
        self._live[slot - self._n_base] = True
        self._slot[subject_id] = slot
        self._ids.append(subject_id)
        stored: dict[int, Prepared] = {}
        where: dict[int, tuple[int, int, int]] = {}
        for pos, p in fingers.items():
            put = self._arena.put(p.cyl) if isinstance(p, Prepared) and p.learned is None else None
            if put is None:  # a fused template (two cylinder sets) is packed as before
                stored[pos] = p
            else:
                where[pos], cyl = put
                stored[pos] = Prepared(cyl, p.template)
        self._fingers.append(stored)
        self._where.append(where)

    def add_many(self, items: list[tuple[str, Mapping[int, Prepared]]], threads: int | None = None) -> int:
        """:meth:`add` each (subject id, fingers) in order, their codes computed in bulk on ``threads`` threads."""
        items = list(items)
        codes = subject_codes([f for _, f in items], threads)
        for (sid, fingers), code in zip(items, codes):
            self.add(sid, fingers, code)
        return len(items)

    def remove(self, subject_id: str) -> None:
        slot = self._slot.pop(subject_id, None)
        if slot is None:
            raise KeyError(f"subject {subject_id!r} is not enrolled")
        if slot < self._n_base:
            self._blive[slot] = False
        else:
            self._live[slot - self._n_base] = False
            self._codes[slot - self._n_base] = 0.0
            self._q[:, slot - self._n_base] = 0
        self._ids[slot] = None
        self._fingers[slot] = None
        self._where[slot] = None

    def subject_ids(self) -> list[str]:
        return list(self._slot)

    def _subject(self, slot: int) -> dict[int, Prepared]:
        if slot < self._n_base:
            return self._base.fingers(slot) if self._ids[slot] is not None else {}  # type: ignore[union-attr]
        return self._fingers[slot] or {}

    def fingers(self, subject_id: str) -> Mapping[int, Prepared]:
        slot = self._slot.get(subject_id)
        if slot is None:
            raise KeyError(f"subject {subject_id!r} is not enrolled")
        return dict(self._subject(slot))

    def candidates(self, probe: Mapping[int, Prepared], n: int | None = None) -> np.ndarray:
        """Slots of the ``n`` (default: shortlist) live subjects whose codes are closest to the probe's."""
        if not probe:
            return np.zeros(0, np.int64)
        return self.ranked(subject_code(probe), n)[0]

    def ranked(self, q: np.ndarray, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(slots, similarities) of the ``n`` live subjects closest to the subject code ``q``, best first
        (ties: the lower slot first).

        The similarity is the code inner product (a float32 per subject): a sharded index merges
        its shards' lists by it (:mod:`securecomm.engine.sharded`). A gallery of more live subjects
        than :meth:`rerank_pool` is scanned in two passes: the int8 codes choose that many subjects
        (:func:`_scan8`), and their float32 codes rank them; a smaller gallery is ranked exactly at once.
        """
        n = self.shortlist if n is None else n
        rows = len(self._ids)
        empty = (np.zeros(0, np.int64), np.zeros(0, np.float32))
        if rows == 0:
            return empty
        q = np.asarray(q, np.float32)
        extra = rows - self._n_base
        blocks = _code_blocks(q)
        live = len(self._slot)
        n = min(n, live)
        if n <= 0:
            return empty
        pool = self.rerank_pool(n)
        if pool >= live:
            sim = np.concatenate([_similarity(self._bcodes, q, blocks),
                                  _similarity(self._codes[:extra], q, blocks)])
            sim[~np.concatenate([self._blive, self._live[:extra]])] = -np.inf
            top = np.argpartition(-sim, n - 1)[:n] if n < rows else np.arange(rows)
            top = np.sort(top[np.isfinite(sim[top])])
            sim = sim[top]
        else:
            approx = self._scan_int8(np.asarray(blocks, np.int64), q, extra)
            top = np.sort(np.argpartition(-approx, pool - 1)[:pool])
            top = top[np.isfinite(approx[top])]
            sim = self._exact(top, q, blocks)
        order = np.argsort(-sim, kind="stable")[:n]
        return top[order], sim[order].astype(np.float32)

    def _scan_int8(self, blocks: np.ndarray, q: np.ndarray, extra: int) -> np.ndarray:
        """The first pass's approximate similarity of every row (:func:`_scan8`; -inf for the dead), the
        saved rows then the in-memory ones. A gallery of :data:`SCAN_SPLIT_MIN` rows or more is scanned in
        :data:`VERIFY_THREADS` equal ranges at once, on the verify threads (the kernel releases the GIL; each
        row's value is computed as alone, so the same values); on one thread otherwise, or under
        :class:`serial_verify`."""
        rows = self._n_base + extra
        approx = np.empty(rows, np.float32)
        # (first row, rows, int8 codes by block, live flags, where their values go) of the saved and the new
        parts = ((0, self._n_base, self._bq, self._blive, approx[: self._n_base]),
                 (self._n_base, extra, self._q, self._live, approx[self._n_base:]))
        threads = 1 if getattr(_SERIAL, "on", False) else VERIFY_THREADS
        if threads < 2 or rows < SCAN_SPLIT_MIN:
            for _, n, codes8, live, out in parts:
                _scan8(codes8, live, blocks, q, out, 0, n)
            return approx
        step = -(-rows // threads)
        pieces = []  # (codes8, live, out, lo, hi) of each range's rows in each part
        for lo in range(0, rows, step):
            hi = min(rows, lo + step)
            for at, n, codes8, live, out in parts:
                a, b = max(lo, at) - at, min(hi, at + n) - at
                if a < b:
                    pieces.append((codes8, live, out, a, b))
        list(_verify_pool().map(lambda p: _scan8(p[0], p[1], blocks, q, p[2], p[3], p[4]), pieces))
        return approx

    def rerank_pool(self, n: int) -> int:
        """Subjects the first pass of :meth:`ranked` keeps for ``n`` asked for."""
        return max(RERANK_FACTOR * n, n + RERANK_MIN)

    def _exact(self, slots: np.ndarray, q: np.ndarray, blocks: list[int]) -> np.ndarray:
        """The float32 code similarities of ``slots`` (sorted) to ``q``, as :func:`_similarity` sums them."""
        cut = int(np.searchsorted(slots, self._n_base))
        base, extra = slots[:cut], slots[cut:] - self._n_base
        sub = np.empty((slots.size, len(blocks) * CODE_DIMS), np.float32)
        for j, b in enumerate(blocks):  # a row index and a column slice: contiguous copies (np.ix_ is 8x slower)
            cols, into = slice(b * CODE_DIMS, (b + 1) * CODE_DIMS), slice(j * CODE_DIMS, (j + 1) * CODE_DIMS)
            sub[:cut, into] = self._bcodes[base, cols]
            sub[cut:, into] = self._codes[extra, cols]
        qb = np.concatenate([q[b * CODE_DIMS:(b + 1) * CODE_DIMS] for b in blocks]) if blocks \
            else np.zeros(0, np.float32)
        return _similarity(sub, qb, list(range(len(blocks))))

    def slots_of(self, subject_ids: list[str]) -> np.ndarray:
        """The slots of enrolled subjects (KeyError for one that is not)."""
        try:
            return np.array([self._slot[s] for s in subject_ids], np.int64)
        except KeyError as exc:
            raise KeyError(f"subject {exc.args[0]!r} is not enrolled") from None

    def verify(self, probe: Mapping[int, Prepared], subject_ids: list[str]) -> np.ndarray:
        """Matcher scores [len(subject_ids), 10] of the probe against the named subjects (NaN: not compared)."""
        return self._verify(probe, self.slots_of(subject_ids))[1]

    def _verify(self, probe: Mapping[int, Prepared], slots: np.ndarray) -> tuple[list[str], np.ndarray]:
        """Matcher scores of the subjects in ``slots``: per probe finger, one bulk ``match_many`` over
        those subjects' fingers at that position (the scores ``match_prepared`` gives, pair by pair)."""
        ids, (scores,) = self._verify_many([probe], slots)
        return ids, scores

    def _verify_many(self, probes: list[Mapping[int, Prepared]], slots: np.ndarray,
                     parallel: bool | None = False) -> tuple[list[str], list[np.ndarray]]:
        """:meth:`_verify` of several probes against the same subjects: each position's saved rows are
        decoded once and scored against every probe with a finger there (the same scores; ``parallel``
        as :func:`securecomm.engine.match.match_many`'s, identical scores either way)."""
        slots = np.asarray(slots, np.int64)
        out = [np.full((slots.size, 10), np.nan, np.float32) for _ in probes]
        ids = [self._ids[s] for s in slots.tolist()]
        # where each subject's finger at each position is: a saved row, or an in-memory Prepared
        base_at: dict[int, tuple[list[int], list[int]]] = {}
        mem_at: dict[int, tuple[list[int], list[Prepared], list]] = {}
        if self._base is not None:
            sr, rp = self._base.a["subject_rows"], self._base.a["row_pos"]
        for i, slot in enumerate(slots.tolist()):
            if self._ids[slot] is None:
                continue
            if slot < self._n_base:
                for r in range(int(sr[slot]), int(sr[slot + 1])):
                    got = base_at.setdefault(int(rp[r]), ([], []))
                    got[0].append(i)
                    got[1].append(r)
            else:
                where = self._where[slot] or {}
                for pos, g in (self._fingers[slot] or {}).items():
                    got2 = mem_at.setdefault(pos, ([], [], []))
                    got2[0].append(i)
                    got2[1].append(g)
                    got2[2].append(where.get(pos))

        def score(pos: int) -> None:  # one position's column of every probe's scores (disjoint writes)
            users = [(k, pr[pos]) for k, pr in enumerate(probes) if pos in pr]
            if not users:
                return
            if pos in base_at:
                at, rows = base_at[pos]
                packed = self._base.pack_rows(np.array(rows, np.int64))  # type: ignore[union-attr]
                for k, p in users:
                    out[k][at, pos - 1] = match_many(p, packed, parallel)
            if pos in mem_at:
                at, preps, where = mem_at[pos]
                if all(w is not None for w in where):  # in the arena: scored where they lie
                    at_ = np.asarray(at, np.int64)
                    for block, sel, starts, ends in self._arena.by_block(where):
                        for k, p in users:
                            out[k][at_[sel], pos - 1] = match_rows(p, block, starts, ends)
                    return
                packed = pack(preps)
                for k, p in users:
                    out[k][at, pos - 1] = match_many(p, packed, parallel)

        positions = sorted(set(base_at) | set(mem_at))
        if VERIFY_THREADS > 1 and len(positions) > 1 and not parallel and not getattr(_SERIAL, "on", False):
            list(_verify_pool().map(score, positions))  # the kernels release the GIL
        else:
            for pos in positions:
                score(pos)
        return ids, out  # type: ignore[return-value]

    def finger_scores(self, probe: Mapping[int, Prepared]) -> tuple[list[str], np.ndarray]:
        """Matcher scores of the shortlisted subjects only (the others are not returned); with a
        :attr:`prescreen`, of the shortlisted subjects it keeps."""
        slots = self.candidates(probe)
        if self.prescreen is not None and slots.size > self.prescreen:
            slots = self.prescreened(probe, slots)
        return self._verify(probe, slots)

    def prescreened(self, probe: Mapping[int, Prepared], slots: np.ndarray) -> np.ndarray:
        """The :attr:`prescreen` subjects of ``slots`` (a shortlist) whose pre-scores, summed over the probe's
        fingers, are highest (ties: the earlier in ``slots``), in the order of ``slots``.

        A pre-score is the matcher's own score of the subject's finger against :data:`PRESCREEN_CYLINDERS`
        of the probe finger's cylinders (:func:`_thinned`): the matcher's work grows with the probe's
        cylinders, so about 40 % of the cost (12 of ~42), and a mate, whose minutiae pair up all over the
        print, still ranks among the first few (docs/engine.md, "Pre-screen")."""
        slots = np.asarray(slots, np.int64)
        keep = self.prescreen if self.prescreen is not None else slots.size
        if slots.size <= keep:
            return slots
        _, estimates = self._verify({pos: _thinned(p) for pos, p in probe.items()}, slots)
        total = np.zeros(slots.size)
        for col in sorted(probe):  # one order of addition
            have = ~np.isnan(estimates[:, col - 1])
            total[have] += estimates[have, col - 1]
        return slots[np.sort(np.argsort(-total, kind="stable")[:keep])]

    #: Subjects decoded at a time by :meth:`exhaustive_finger_scores` (bounds its memory).
    EXHAUSTIVE_CHUNK = 4096

    def exhaustive_finger_scores(self, probe: Mapping[int, Prepared]) -> tuple[list[str], np.ndarray]:
        """Matcher scores of every live subject (calibration, agreement checks): slow."""
        ids, (scores,) = self.exhaustive_finger_scores_many([probe])
        return ids, scores

    def exhaustive_finger_scores_many(self, probes: list[Mapping[int, Prepared]],
                                      parallel: bool | None = False) -> tuple[list[str], list[np.ndarray]]:
        """:meth:`exhaustive_finger_scores` of several probes in one pass over the gallery: each chunk of
        saved subjects is decoded once for all of them (decoding is about 40 % of a one-probe pass).
        ``parallel=True`` scores each chunk on numba's threads (the same scores)."""
        slots = np.sort(np.array([s for s in self._slot.values()], np.int64))
        ids: list[str] = []
        parts: list[list[np.ndarray]] = [[np.zeros((0, 10), np.float32)] for _ in probes]
        for at in range(0, slots.size, self.EXHAUSTIVE_CHUNK):
            got_ids, got = self._verify_many(probes, slots[at:at + self.EXHAUSTIVE_CHUNK], parallel)
            ids.extend(got_ids)
            for k, g in enumerate(got):
                parts[k].append(g)
        return ids, [np.concatenate(p) for p in parts]

    # -- persistence ---------------------------------------------------------------------------

    def save(self, folder: Path | str) -> None:
        """Write every live subject to ``folder`` (replaced atomically: a new folder, then a rename).

        Subjects of the loaded index are copied from its files as they are (no decoding, no
        recompression, block by block: memory stays bounded); only those enrolled since are encoded.
        """
        folder = Path(folder)
        order = sorted(self._slot.items(), key=lambda kv: kv[1])
        ids = [sid for sid, _ in order]
        slots = np.array([s for _, s in order], np.int64)
        nb = int(np.count_nonzero(slots < self._n_base))  # the loaded subjects come first, by slot
        mem_slots = slots[nb:]
        mem = _flatten([self._fingers[int(s)] or {} for s in mem_slots.tolist()])
        mem["codes"] = np.ascontiguousarray(self._codes[mem_slots - self._n_base], np.float32) if mem_slots.size \
            else np.zeros((0, 10 * CODE_DIMS), np.float32)
        parts: list[_Part] = []
        if self._base is not None and nb:
            keep = np.zeros(self._n_base, bool)
            keep[slots[:nb]] = True
            parts.append(_Part.of(self._base.a, _runs(keep), self._bcodes))
        _write_index(folder, parts, mem, ids, self.watermark)

    @classmethod
    def load(cls, folder: Path | str, shortlist: int = SHORTLIST, verify: bool = True,
             _stale_ok: bool = False) -> "IndexedBackend":
        """Map a saved index back; :class:`IndexCorrupt` (never a half-read index) if it is not whole.

        Every file's size is checked against the manifest; ``verify`` also checks every file's
        SHA-256 (reading the whole index: ~1 s per GB). Without it, a damaged cylinder stream is
        still refused when it is read (zlib's own Adler-32), with :class:`IndexCorrupt`. A whole
        index with codes of other code parameters is refused with :class:`IndexStale`.
        """
        folder = Path(folder)
        try:
            manifest = json.loads((folder / "manifest.json").read_text())
        except (OSError, ValueError) as exc:
            raise IndexCorrupt(f"index {folder}: no readable manifest.json ({exc.__class__.__name__})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION \
                or manifest.get("code_dims") != CODE_DIMS or manifest.get("bins") != [N_DIST, N_ALPHA, N_BETA] \
                or tuple(manifest.get("d_range") or ()) != D_RANGE:
            raise IndexCorrupt(f"index {folder}: another format or code layout; rebuild it")
        sums = manifest.get("sha256") or {}
        sizes = manifest.get("bytes") or {}
        arrays: dict[str, np.ndarray] = {}
        try:
            for name in (*_ARRAYS, "ids"):
                path = folder / (f"{name}.npy" if name != "ids" else "ids.json")
                if path.stat().st_size != sizes.get(name):  # cheap, always: a truncated or grown file
                    raise IndexCorrupt(f"index {folder}: {path.name} is not the size its manifest records; "
                                       "rebuild it")
                if verify and _sha256(path) != sums.get(name):
                    raise IndexCorrupt(f"index {folder}: {path.name} does not match its checksum; rebuild it")
                if name != "ids":
                    # copy-on-write: removals and re-enrolments change this process's view only
                    arrays[name] = np.load(path, mmap_mode="c" if name in ("codes", "live") else "r",
                                           allow_pickle=False)
                    if name in _DATA_OF:
                        _random_access(arrays[name])
            ids = json.loads((folder / "ids.json").read_text())
        except OSError as exc:
            raise IndexCorrupt(f"index {folder}: {exc.__class__.__name__} reading it; rebuild it") from None
        except ValueError:
            raise IndexCorrupt(f"index {folder}: a file is truncated or not an array; rebuild it") from None
        n = len(ids) if isinstance(ids, list) else -1
        if n != manifest.get("subjects") or arrays["codes"].shape != (n, 10 * CODE_DIMS) \
                or arrays["subject_rows"].shape != (n + 1,) or arrays["live"].shape != (n,):
            raise IndexCorrupt(f"index {folder}: its files disagree on the number of subjects; rebuild it")
        rows = int(arrays["subject_rows"][-1]) if n else 0
        for off, data in _OFFSETS.items():
            if off == "subject_rows":
                continue
            o = arrays[off]
            if o.shape != (rows + 1,) or any(int(o[-1]) != arrays[d].shape[0] for d in data):
                raise IndexCorrupt(f"index {folder}: {off}.npy disagrees with its data; rebuild it")
        if any(arrays[r].shape != (rows,) for r in _BY_ROW):
            raise IndexCorrupt(f"index {folder}: its files disagree on the number of fingers; rebuild it")
        if manifest.get("code_id") != code_id() and not _stale_ok:
            raise IndexStale(f"index {folder}: its codes were made with other code parameters "
                             f"({manifest.get('code_id') or 'before code ids'}, now {code_id()}); re-code it")
        self = cls(shortlist)
        self.watermark = int(manifest.get("watermark", 0))
        self._base = _Base(arrays, ids)
        self._n_base = n
        self._bcodes = arrays["codes"]
        self._bq = np.empty((10, n, CODE_DIMS), np.int8)
        for at in range(0, n, 1 << 16):  # bounded memory: a block of float32 rows at a time
            self._bq[:, at:at + (1 << 16)] = by_block(quantised(self._bcodes[at:at + (1 << 16)]))
        self._blive = arrays["live"]
        self._ids = list(ids)
        self._fingers = [None] * n
        self._where = [None] * n
        self._slot = {sid: i for i, sid in enumerate(ids)}
        return self
