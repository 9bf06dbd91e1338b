"""Public matching API: one-to-one scores and bulk one-probe-against-a-gallery scores.

``match(a, b)`` compares two templates. For many comparisons, ``prepare`` each
template once (cylinders are the costly part), ``pack`` a gallery into contiguous
arrays, and call ``match_many(probe, gallery)``: one numba call that walks the
whole gallery, no Python per pair. ``match_many`` and ``match`` give identical
scores (same kernel), and results are deterministic. The score is not exactly
symmetric (the probe's minutiae drive the pair preselection): ``match(a, b)`` and
``match(b, a)`` can differ slightly, so callers keep probe and gallery roles fixed.

Score scale: a float in [0, 1). The LSS-R consolidated MCC similarity (the mean
relaxed similarity of the n_P most consistent minutia pairs, see
:mod:`securecomm.engine.mcc`) is divided by the *chance level of the same
comparison*: the mean local similarity over all matchable cylinder pairs. That
level depends on the sensor and extractor (how densely cylinders are filled), and
is what lifts impostor scores on some sensors; dividing by it made the false match
rate at one fixed threshold about the same on all four FVC2002 sensors (at the
pooled 1 % FMR threshold: 0.1-1.6 % per database instead of 0.03-2.2 %). The ratio
r is reported as r / (1 + r). Typical values: impostors about 0.046 (99.9th
percentile about 0.11), genuine pairs about 0.4, a template against itself about 0.7.
The ten-print layer turns scores into impostor tail probabilities
(:mod:`securecomm.engine.tenprint`).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Sequence

import numpy as np

from securecomm.engine import _mcc_kernels as K
from securecomm.engine.errors import TemplateError
from securecomm.engine.fusion import fuse_scores
from securecomm.engine.mcc import DEFAULT_PARAMS, Cylinders, MCCParams, cylinders
from securecomm.engine.template import Template

__all__ = ["Prepared", "PackedGallery", "prepare", "prepare_many", "pack", "match", "match_prepared", "match_many"]

_PARAMS: MCCParams = DEFAULT_PARAMS
_PVEC = _PARAMS.vector()


@dataclass(frozen=True, eq=False)
class Prepared:
    """A template with its cylinders computed, ready for repeated comparison.

    For a ``fused`` template ``cyl`` holds the classical minutiae and ``learned`` the
    learned ones; two fused templates score :func:`securecomm.engine.fusion.fuse_scores`
    of both comparisons, a fused one against any other template scores on ``cyl`` alone.
    """

    cyl: Cylinders
    template: Template
    learned: Cylinders | None = None

    def __len__(self) -> int:
        return len(self.cyl)


def prepare(t: Template | Prepared) -> Prepared:
    """Compute the cylinders of a template once (about 1-5 ms); pass-through if already prepared."""
    if isinstance(t, Prepared):
        return t
    if not isinstance(t, Template):
        raise TemplateError(f"a Template is required, got {type(t).__name__}")
    if t.extractor == "fused":
        parts = t.parts()
        return Prepared(cylinders(parts["classical"], _PARAMS), t, cylinders(parts["learned"], _PARAMS))
    return Prepared(cylinders(t, _PARAMS), t)


def prepare_many(templates: Sequence[Template | Prepared], threads: int | None = None) -> list[Prepared]:
    """:func:`prepare` for many templates, in order, on ``threads`` threads (default: the CPUs).

    The cylinder kernel releases the GIL, so threads run it in parallel (bulk enrolment).
    """
    items = list(templates)
    threads = (os.cpu_count() or 1) if threads is None else max(1, int(threads))
    if threads == 1 or len(items) < 8:
        return [prepare(t) for t in items]
    from concurrent.futures import ThreadPoolExecutor

    chunk = max(1, -(-len(items) // (4 * threads)))
    parts = [items[i:i + chunk] for i in range(0, len(items), chunk)]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return [p for part in pool.map(lambda ts: [prepare(t) for t in ts], parts) for p in part]


def _score_one(ca: Cylinders, cb: Cylinders) -> float:
    return float(K.score_one(ca.bits, ca.valid, ca.x, ca.y, ca.angle,
                             cb.bits, cb.valid, cb.x, cb.y, cb.angle, _PVEC))


def match_prepared(a: Prepared, b: Prepared) -> float:
    """Score of two prepared templates (see the module docstring for the scale)."""
    s = _score_one(a.cyl, b.cyl)
    if _usable(a.learned) and _usable(b.learned):
        return float(fuse_scores(_score_one(a.learned, b.learned), s))
    return s  # no learned comparison to fuse: the classical score, on its own scale


def _usable(c: Cylinders | None) -> bool:
    """Whether a learned minutiae set can be compared at all (MCCParams.min_cylinders).

    A fused template whose network found too few minutiae (a dry or smudged finger) is
    compared on its classical minutiae alone: averaging in a learned score of 0 would
    push genuine pairs down for no reason, and a learned score over a handful of
    cylinders is no evidence at all.
    """
    return c is not None and len(c) >= _PARAMS.min_cylinders


def match(a: Template | Prepared, b: Template | Prepared) -> float:
    """Similarity of two fingerprints in [0, 1); 0 when either has too few usable minutiae."""
    return match_prepared(prepare(a), prepare(b))


@dataclass(frozen=True, eq=False)
class PackedGallery:
    """Many prepared templates in contiguous arrays; template g owns rows offsets[g]:offsets[g+1]."""

    bits: np.ndarray  # uint64 [N, CW]
    valid: np.ndarray  # uint64 [N, CW]
    x: np.ndarray
    y: np.ndarray
    angle: np.ndarray
    offsets: np.ndarray  # int64 [G + 1]
    #: The learned minutiae of the gallery's fused templates (empty rows for the others), and which
    #: templates have them; None when no template of the gallery is fused.
    learned: "PackedGallery | None" = None
    fused: np.ndarray | None = None  # bool [G]

    def __len__(self) -> int:
        return int(self.offsets.size - 1)

    @property
    def nbytes(self) -> int:
        own = sum(a.nbytes for a in (self.bits, self.valid, self.x, self.y, self.angle, self.offsets))
        return own + (self.learned.nbytes + self.fused.nbytes if self.learned is not None else 0)


def _pack_cylinders(cyls: Sequence[Cylinders | None]) -> PackedGallery:
    counts = np.array([len(c) if c is not None else 0 for c in cyls], np.int64)
    offsets = np.zeros(len(cyls) + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])

    def cat(name: str, shape_tail: Sequence[int], dtype) -> np.ndarray:
        parts = [getattr(c, name) for c in cyls if c is not None]
        if not parts:
            return np.zeros((0, *shape_tail), dtype)
        return np.ascontiguousarray(np.concatenate(parts), dtype=dtype)

    return PackedGallery(cat("bits", (K.CW,), np.uint64), cat("valid", (K.CW,), np.uint64),
                         cat("x", (), np.float64), cat("y", (), np.float64), cat("angle", (), np.float64),
                         offsets)


def pack(templates: Iterable[Template | Prepared]) -> PackedGallery:
    """Pack templates (prepared or not) in order into one gallery."""
    preps = [prepare(t) for t in templates]
    g = _pack_cylinders([p.cyl for p in preps])
    fused = np.array([p.learned is not None for p in preps], bool)
    if fused.any():
        g = dataclasses.replace(g, learned=_pack_cylinders([p.learned for p in preps]), fused=fused)
    return g


#: Galleries at least this large are scored on all of numba's threads when ``parallel`` is left None.
PARALLEL_MIN_GALLERY = 50_000


def match_many(probe: Template | Prepared, gallery: PackedGallery, parallel: bool | None = False) -> np.ndarray:
    """Scores of one probe against every gallery template, float32 in gallery order (one numba call).

    ``parallel=True`` spreads the gallery over numba's threads (``None``: only for galleries of
    PARALLEL_MIN_GALLERY or more); the scores are identical either way. The default stays
    single-threaded so that throughput figures are per core and callers control threading.
    """
    if not isinstance(gallery, PackedGallery):
        raise TemplateError(f"a PackedGallery is required (see pack()), got {type(gallery).__name__}")
    prep = prepare(probe)
    if parallel is None:
        parallel = len(gallery) >= PARALLEL_MIN_GALLERY
    out = _score_many(prep.cyl, gallery, parallel)
    if _usable(prep.learned) and gallery.learned is not None:
        rows = gallery.fused & (np.diff(gallery.learned.offsets) >= _PARAMS.min_cylinders)
        out[rows] = fuse_scores(_score_many(prep.learned, gallery.learned, parallel)[rows], out[rows])
    return out.astype(np.float32)


def match_rows(probe: Template | Prepared, cylinders: tuple[np.ndarray, ...], starts: np.ndarray,
               ends: np.ndarray, params: MCCParams | None = None) -> np.ndarray:
    """Scores of one probe against templates lying at rows ``starts[g]:ends[g]`` of cylinder arrays
    ``(bits, valid, x, y, angle)`` (classical cylinders: what :func:`match_many` gives for templates
    without learned minutiae), scored where they lie, with no packing copy. float32, in order.
    ``params``: other consolidation parameters than the engine's (e.g. raw scores, for measurements)."""
    prep = prepare(probe)
    starts = np.asarray(starts, np.int64)
    out = np.zeros(starts.size, np.float64)
    if starts.size:
        p = prep.cyl
        vec = _PVEC if params is None else _vector(params)
        K.score_rows(p.bits, p.valid, p.x, p.y, p.angle, *cylinders, starts, np.asarray(ends, np.int64), vec, out)
    return out.astype(np.float32)


@lru_cache(maxsize=8)
def _vector(params: MCCParams) -> np.ndarray:
    return params.vector()


def _score_many(p: Cylinders, gallery: PackedGallery, parallel: bool) -> np.ndarray:
    out = np.zeros(len(gallery), np.float64)
    if len(gallery):
        args = (p.bits, p.valid, p.x, p.y, p.angle, gallery.bits, gallery.valid, gallery.x, gallery.y,
                gallery.angle, gallery.offsets, _PVEC, out)
        if parallel:
            import numba

            K.score_many_parallel(*args, max(1, min(len(gallery), 8 * numba.get_num_threads())))
        else:
            K.score_many(*args)
    return out
