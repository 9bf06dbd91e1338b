"""Ten-print 1:N search: up to ten probe fingers against every enrolled subject, fused, in three bands.

Why this shape:

* **Bulk per finger position.** For each probe finger we call ``match_many`` once
  against the packed gallery of that finger position (every subject's right thumb,
  ...), so a search is at most ten numba calls, whatever the gallery size.
* **Fusion that keeps one threshold meaningful.** A per-finger score ``s`` (the
  :func:`securecomm.engine.match.match` scale) is turned into evidence
  ``z = (s - IMPOSTOR_MEAN) / IMPOSTOR_SD`` using the single-finger impostor
  distribution, and the fingers both sides have are combined as
  ``sum(z) / sqrt(n)`` (Stouffer). For a non-mated subject the fused score then
  has about the same distribution whether 1 or 10 fingers could be compared, so a
  threshold means about the same false positive identification rate (FPIR) for a
  ten-print card, a partial card, or a subject enrolled with missing fingers.
  Fingers missing on either side, or unprintable (no usable minutiae), do not count.
* **Three bands from a target FPIR.** ``calibrate_thresholds`` turns impostor fused
  scores and a gallery size into a *hit* threshold (act automatically) and a
  *review* threshold (an examiner must confirm). Below review: no hit. A match is
  never acted on below the hit threshold.
* **Pluggable search.** :class:`SearchBackend` is the small protocol the gallery
  uses (add, remove, len, per-finger scores of a probe against every subject); the
  exhaustive in-memory :class:`ExhaustiveBackend` is the default, and an index
  (MCC locality-sensitive hashing) or a sharded backend can implement the same four
  methods.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Protocol, runtime_checkable

import numpy as np

from securecomm.engine.errors import TemplateError
from securecomm.engine.match import PackedGallery, Prepared, match_many, pack, prepare
from securecomm.engine.template import Template

FINGER_POSITIONS = tuple(range(1, 11))

#: Single-finger impostor score distribution of ``match`` (FVC2002 SDK templates, all four
#: databases pooled, every cross-finger pair; see docs/benchmarks.md). Re-measure if the matcher changes.
IMPOSTOR_MEAN = 0.0142
IMPOSTOR_SD = 0.0024

#: A probe finger needs this many usable minutiae (valid cylinders) to count as printable.
MIN_USABLE_MINUTIAE = 4


@dataclass(frozen=True)
class Thresholds:
    """Fused-score thresholds: ``>= hit`` is a hit, ``>= review`` needs an examiner, else no hit."""

    hit: float
    review: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.hit) and math.isfinite(self.review)):
            raise ValueError("thresholds must be finite")
        if self.review > self.hit:
            raise ValueError(f"review threshold {self.review} is above the hit threshold {self.hit}")

    def decide(self, score: float) -> str:
        if score >= self.hit:
            return "hit"
        if score >= self.review:
            return "review"
        return "no_hit"


#: Defaults: calibrate_thresholds on FVC2002 ten-print-like impostor fused scores for a gallery of
#: 1,000,000 subjects at FPIR 0.1 % (hit) and 1 % (review); see docs/benchmarks.md.
DEFAULT_THRESHOLDS = Thresholds(hit=12.0, review=9.0)


@dataclass(frozen=True)
class Candidate:
    """One enrolled subject returned by a search, with the per-finger evidence behind its score."""

    subject_id: str
    score: float  # fused
    finger_scores: dict[int, float] = field(default_factory=dict)  # position -> match() score


@dataclass(frozen=True)
class SearchResult:
    decision: str  # "hit" | "review" | "no_hit"
    candidates: list[Candidate]  # best first

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None


@runtime_checkable
class SearchBackend(Protocol):
    """What a ten-print gallery needs from its store; an index or shards can implement it."""

    def add(self, subject_id: str, fingers: Mapping[int, Prepared]) -> None: ...

    def remove(self, subject_id: str) -> None: ...

    def __len__(self) -> int: ...

    def finger_scores(self, probe: Mapping[int, Prepared]) -> tuple[list[str], np.ndarray]:
        """(subject ids, scores[n_subjects, 10]): match() score per finger position, NaN where not compared."""
        ...


class ExhaustiveBackend:
    """Every subject compared, per finger position, by one bulk ``match_many`` call per packed chunk.

    New enrolments collect in a pending list and are packed into a new chunk at the next search;
    removals leave dead rows that are masked out and compacted away when they pile up.
    """

    _MAX_CHUNKS = 8

    def __init__(self) -> None:
        self._slot: dict[str, int] = {}
        self._ids: list[str | None] = []
        self._fingers: list[dict[int, Prepared] | None] = []
        self._chunks: dict[int, list[tuple[PackedGallery, np.ndarray]]] = {f: [] for f in FINGER_POSITIONS}
        self._pending: dict[int, list[tuple[int, Prepared]]] = {f: [] for f in FINGER_POSITIONS}
        self._dead_rows = 0
        self._rows = 0

    def __len__(self) -> int:
        return len(self._slot)

    def __contains__(self, subject_id: object) -> bool:
        return subject_id in self._slot

    def add(self, subject_id: str, fingers: Mapping[int, Prepared]) -> None:
        if subject_id in self._slot:
            self.remove(subject_id)
        slot = len(self._ids)
        self._slot[subject_id] = slot
        self._ids.append(subject_id)
        self._fingers.append(dict(fingers))
        for pos, p in fingers.items():
            self._pending[pos].append((slot, p))
            self._rows += 1

    def remove(self, subject_id: str) -> None:
        slot = self._slot.pop(subject_id, None)
        if slot is None:
            raise KeyError(f"subject {subject_id!r} is not enrolled")
        fingers = self._fingers[slot] or {}
        self._dead_rows += len(fingers)
        self._ids[slot] = None
        self._fingers[slot] = None
        for pos in fingers:
            self._pending[pos] = [(s, p) for s, p in self._pending[pos] if s != slot]

    def _flush(self) -> None:
        if self._rows and self._dead_rows * 4 > self._rows:
            self._compact()
        for pos in FINGER_POSITIONS:
            pend = self._pending[pos]
            if pend:
                slots = np.array([s for s, _ in pend], np.int64)
                self._chunks[pos].append((pack([p for _, p in pend]), slots))
                self._pending[pos] = []
            if len(self._chunks[pos]) > self._MAX_CHUNKS:
                self._merge(pos)

    def _merge(self, pos: int) -> None:
        rows = [(int(s), self._fingers[int(s)][pos]) for _, slots in self._chunks[pos] for s in slots
                if self._fingers[int(s)] is not None]
        self._chunks[pos] = []
        if rows:
            self._chunks[pos].append((pack([p for _, p in rows]), np.array([s for s, _ in rows], np.int64)))

    def _compact(self) -> None:
        """Renumber live subjects densely and repack every position."""
        live = [(sid, self._fingers[slot]) for sid, slot in sorted(self._slot.items(), key=lambda kv: kv[1])]
        self.__init__()
        for sid, fingers in live:
            self.add(sid, fingers)

    def finger_scores(self, probe: Mapping[int, Prepared]) -> tuple[list[str], np.ndarray]:
        self._flush()
        scores = np.full((len(self._ids), 10), np.nan, np.float32)
        for pos, p in probe.items():
            for gallery, slots in self._chunks[pos]:
                scores[slots, pos - 1] = match_many(p, gallery)
        live = np.array([i for i, sid in enumerate(self._ids) if sid is not None], np.int64)
        return [self._ids[i] for i in live], scores[live]


def fuse(scores: np.ndarray) -> np.ndarray:
    """Fused score per row of a [n, 10] per-finger score matrix (NaN = not compared); 0 with no fingers."""
    s = np.asarray(scores, np.float64)
    have = ~np.isnan(s)
    z = np.where(have, (np.nan_to_num(s) - IMPOSTOR_MEAN) / IMPOSTOR_SD, 0.0)
    n = have.sum(axis=1)
    return np.where(n > 0, z.sum(axis=1) / np.sqrt(np.maximum(n, 1)), 0.0)


def calibrate_thresholds(impostor_scores, gallery_size: int, fpir_hit: float = 0.001,
                         fpir_review: float = 0.01) -> Thresholds:
    """Thresholds on the fused score for target FPIRs in a gallery of ``gallery_size`` subjects.

    A non-mated search is a false positive when any of the N subjects scores above the
    threshold, so each comparison may exceed it with probability ``1 - (1 - FPIR)**(1/N)``.
    Where the sample holds at least 20 impostors beyond that point the empirical quantile is
    used; further out the tail is extrapolated as exponential (peaks over the top 10 %), which
    is conservative for the light, fast-decaying tails that similarity scores have.
    """
    imp = np.sort(np.asarray(impostor_scores, np.float64).ravel())
    if imp.size < 100 or not np.all(np.isfinite(imp)):
        raise ValueError(f"need at least 100 finite impostor scores, got {imp.size}")
    if gallery_size < 1:
        raise ValueError(f"gallery size must be at least 1, got {gallery_size}")
    if not (0 < fpir_hit <= fpir_review < 1):
        raise ValueError(f"need 0 < fpir_hit ({fpir_hit}) <= fpir_review ({fpir_review}) < 1")

    def threshold(fpir: float) -> float:
        p = -math.expm1(math.log1p(-fpir) / gallery_size)  # per-comparison exceedance probability
        if p * imp.size >= 20:
            return float(np.quantile(imp, 1.0 - p))
        p_u = 0.10
        u = float(np.quantile(imp, 1.0 - p_u))
        excess = imp[imp > u] - u
        beta = float(excess.mean()) if excess.size else 0.0
        return u + max(beta, 1e-9) * math.log(p_u / p)

    return Thresholds(hit=threshold(fpir_hit), review=threshold(fpir_review))


def _check_fingers(fingers: Mapping[int, Template | Prepared | None], what: str) -> dict[int, Prepared]:
    if not isinstance(fingers, Mapping):
        raise TypeError(f"{what} fingers must be a mapping finger position -> Template, got {type(fingers).__name__}")
    out: dict[int, Prepared] = {}
    for pos, t in fingers.items():
        if isinstance(pos, bool) or not isinstance(pos, (int, np.integer)) or not 1 <= int(pos) <= 10:
            raise ValueError(f"{what}: finger position {pos!r} is not 1..10")
        if t is None:
            continue  # missing or unprintable
        if not isinstance(t, (Template, Prepared)):
            raise TemplateError(f"{what}: finger {pos} is a {type(t).__name__}, not a Template")
        p = prepare(t)
        if len(p) >= MIN_USABLE_MINUTIAE:
            out[int(pos)] = p
    return out


class TenprintGallery:
    """Enrolled subjects' ten-prints, searched exhaustively (or through another SearchBackend)."""

    def __init__(self, thresholds: Thresholds | None = None, backend: SearchBackend | None = None) -> None:
        self.thresholds = thresholds or DEFAULT_THRESHOLDS
        self.backend: SearchBackend = backend if backend is not None else ExhaustiveBackend()

    def __len__(self) -> int:
        return len(self.backend)

    def add(self, subject_id: str, fingers: Mapping[int, Template | Prepared | None]) -> None:
        """Enrol (or re-enrol, replacing) a subject; missing/unprintable fingers are simply absent."""
        if not isinstance(subject_id, str) or not subject_id:
            raise ValueError(f"subject id must be a non-empty string, got {subject_id!r}")
        self.backend.add(subject_id, _check_fingers(fingers, f"subject {subject_id!r}"))

    def remove(self, subject_id: str) -> None:
        self.backend.remove(subject_id)

    def search(self, probe: Mapping[int, Template | Prepared | None], k: int = 5) -> SearchResult:
        """Top-k subjects by fused score and the decision band of the best one."""
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        p = _check_fingers(probe, "probe")
        if not p or len(self.backend) == 0:
            return SearchResult("no_hit", [])
        ids, scores = self.backend.finger_scores(p)
        fused = fuse(scores)
        k = min(k, len(ids))
        top = np.argpartition(-fused, k - 1)[:k] if k < len(ids) else np.arange(len(ids))
        # Best first; ties broken by subject id so results are deterministic.
        top = sorted(top.tolist(), key=lambda i: (-fused[i], ids[i]))
        cands = [Candidate(ids[i], float(fused[i]),
                           {pos: float(scores[i, pos - 1]) for pos in FINGER_POSITIONS
                            if not np.isnan(scores[i, pos - 1])})
                 for i in top]
        return SearchResult(self.thresholds.decide(cands[0].score), cands)
