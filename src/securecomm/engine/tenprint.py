"""Ten-print 1:N search: up to ten probe fingers against every enrolled subject, fused, in three bands.

Why this shape:

* **Bulk per finger position.** For each probe finger we call ``match_many`` once
  against the packed gallery of that finger position (every subject's right thumb,
  ...), so a search is at most ten numba calls, whatever the gallery size.
* **Fusion that keeps one threshold meaningful.** Each per-finger score ``s`` (the
  :func:`securecomm.engine.match.match` scale) becomes its impostor tail
  probability ``p = P(impostor >= s)`` from a model of the single-finger impostor
  distribution (quantiles for the bulk, exponential pieces for the tail, fitted on
  FVC2002). The fingers both sides have are combined with Fisher's method
  (``-2 sum ln p`` is chi-squared with ``2n`` degrees of freedom for a non-mate) and
  the fused score is ``-log10`` of the combined probability. So the fused score
  reads as "one in 10**score non-mated comparisons scores this high", whether 1 or
  10 fingers could be compared, and one threshold means the same false positive
  identification rate (FPIR) for a full card, a partial card, or a subject enrolled
  with missing fingers. Fingers missing on either side, or unprintable (too few
  usable minutiae), do not count. (Fingers of one person are treated as independent;
  a conservative FPIR target absorbs the small correlation.)
* **Three bands from a target FPIR.** A *hit* threshold (the match may be acted on)
  and a *review* threshold (an examiner must confirm); below review: no hit.
  ``thresholds_for`` derives both from target FPIRs and the gallery size using the
  fused score's meaning; ``calibrate_thresholds`` (or ``TenprintGallery.calibrate``,
  on the gallery's own subjects) derives them from observed non-mated fused scores
  when the prints differ from the FVC2002 model (another extractor, synthetic data).
* **Pluggable search.** :class:`SearchBackend` is the small protocol the gallery
  uses (add, remove, len, subject ids, a subject's fingers, and per-finger scores of
  a probe against every subject); the exhaustive in-memory :class:`ExhaustiveBackend`
  is the default, and an index (MCC locality-sensitive hashing, returning NaN for
  subjects it did not score) or a sharded backend can implement the same methods.
  Not thread-safe: one search at a time per gallery (the kernels release the GIL).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Protocol, runtime_checkable

import numpy as np

from securecomm.engine.errors import TemplateError
from securecomm.engine.match import PackedGallery, Prepared, match_many, pack, prepare, prepare_many
from securecomm.engine.template import Template

FINGER_POSITIONS = tuple(range(1, 11))

#: Single-finger impostor distribution of ``match`` scores (FVC2002, SDK and our own templates,
#: all four databases pooled, every cross-finger pair: 23,040 scores; see docs/benchmarks.md).
#: Quantiles at levels 0.0, 0.1, ..., 0.9 for the bulk, then an exponential tail with scale
#: TAIL_BETA_90 from the 90th percentile to the 99th ((q99 - q90) / ln 10) and TAIL_BETA_99 beyond
#: (the mean excess over q99: the far tail is a little heavier). Refitted 2026-12-03 for the matcher's
#: size normalisation (before it: q99 0.0795, betas 0.00999 and 0.0140). Re-measure with
#: benchmarks/bench_fvc.py (its "impostor_model") if the matcher changes.
IMPOSTOR_QUANTILES = (0.0311, 0.0383, 0.0400, 0.0415, 0.0429, 0.0444, 0.0460, 0.0479, 0.0507, 0.0555)
TAIL_BETA_90 = 0.00787
IMPOSTOR_Q99 = 0.0736
TAIL_BETA_99 = 0.00961

#: Evidence of one finger is capped here (p = 1e-30): far beyond the fitted tail the model says
#: nothing more, and one extreme finger should not swamp what the others say.
MAX_FINGER_EVIDENCE = 30.0

#: No single finger decides an identification: a candidate above the hit threshold is a hit only
#: if its other fingers, with the strongest MIN_CORROBORATING_FINGERS - 1 left out, still reach
#: the review threshold on their own; otherwise an examiner confirms it (review band). One
#: degenerate impression (a dry or smudged finger whose few minutiae resemble everyone's) can
#: otherwise carry a subject past the threshold alone.
MIN_CORROBORATING_FINGERS = 2

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


#: Defaults for a gallery of 1,000,000 subjects: hit at FPIR 0.1 %, examiner review at FPIR 1 %.
#: Because the fused score is -log10 of the per-comparison false match probability, these are
#: -log10(1 - (1 - FPIR) ** (1 / N)): 9.0 and 8.0 (see :func:`thresholds_for`).
DEFAULT_GALLERY_SIZE = 1_000_000


def _check_targets(gallery_size: int, fpir_hit: float, fpir_review: float) -> None:
    if gallery_size < 1:
        raise ValueError(f"gallery size must be at least 1, got {gallery_size}")
    if not (0 < fpir_hit <= fpir_review < 1):
        raise ValueError(f"need 0 < fpir_hit ({fpir_hit}) <= fpir_review ({fpir_review}) < 1")


def _per_comparison_rate(fpir: float, gallery_size: int) -> float:
    """The chance one non-mated comparison may exceed the threshold: ``1 - (1 - FPIR)**(1/N)``.

    A non-mated search is a false positive when any of the N subjects scores above it.
    """
    return -math.expm1(math.log1p(-fpir) / gallery_size)


def thresholds_for(gallery_size: int = DEFAULT_GALLERY_SIZE, fpir_hit: float = 0.001,
                   fpir_review: float = 0.01) -> "Thresholds":
    """Thresholds from the fused score's model meaning (no impostor sample needed)."""
    _check_targets(gallery_size, fpir_hit, fpir_review)

    def t(fpir: float) -> float:
        return -math.log10(_per_comparison_rate(fpir, gallery_size))

    return Thresholds(hit=round(t(fpir_hit), 3), review=round(t(fpir_review), 3))


DEFAULT_THRESHOLDS = Thresholds(hit=9.0, review=8.0)


@dataclass(frozen=True)
class Candidate:
    """One enrolled subject returned by a search, with the per-finger evidence behind its score."""

    subject_id: str
    score: float  # fused: -log10 of the chance that a non-mate scores this high
    finger_scores: dict[int, float] = field(default_factory=dict)  # position -> match() score

    @property
    def finger_evidence(self) -> dict[int, float]:
        """Per finger: -log10 of the chance that a non-mated finger scores this high (for examiners)."""
        return {pos: float(finger_evidence(s)) for pos, s in self.finger_scores.items()}


@dataclass(frozen=True)
class SearchResult:
    decision: str  # "hit" | "review" | "no_hit"
    candidates: list[Candidate]  # best first
    thresholds: Thresholds | None = None  # the bands the decision was made with (for the audit trail)
    #: Why the decision is below the best score's band, if it is ("" otherwise): e.g. a hit-level
    #: score that rests on one finger (see MIN_CORROBORATING_FINGERS) goes to review.
    reason: str = ""

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

    def subject_ids(self) -> list[str]:
        """Every enrolled subject id."""
        ...

    def fingers(self, subject_id: str) -> Mapping[int, Prepared]:
        """The enrolled fingers of one subject (KeyError if not enrolled)."""
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
        self._live: tuple[list[str], np.ndarray] | None = None  # cached (ids, slots) of live subjects

    def __len__(self) -> int:
        return len(self._slot)

    def __contains__(self, subject_id: object) -> bool:
        return subject_id in self._slot

    def add(self, subject_id: str, fingers: Mapping[int, Prepared]) -> None:
        if subject_id in self._slot:
            self.remove(subject_id)
        self._live = None
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
        self._live = None
        fingers = self._fingers[slot] or {}
        self._dead_rows += len(fingers)
        self._ids[slot] = None
        self._fingers[slot] = None
        for pos in fingers:
            self._pending[pos] = [(s, p) for s, p in self._pending[pos] if s != slot]

    def subject_ids(self) -> list[str]:
        return list(self._slot)

    def fingers(self, subject_id: str) -> Mapping[int, Prepared]:
        slot = self._slot.get(subject_id)
        if slot is None:
            raise KeyError(f"subject {subject_id!r} is not enrolled")
        return dict(self._fingers[slot] or {})

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
                scores[slots, pos - 1] = match_many(p, gallery, parallel=None)
        if self._live is None:
            slots = np.array([i for i, sid in enumerate(self._ids) if sid is not None], np.int64)
            self._live = ([self._ids[i] for i in slots], slots)
        ids, slots = self._live
        return list(ids), scores[slots]


def finger_evidence(scores) -> np.ndarray:
    """-log10 P(impostor score >= s) for each single-finger score (NaN stays NaN)."""
    s = np.asarray(scores, np.float64)
    q = np.asarray(IMPOSTOR_QUANTILES)
    levels = np.arange(q.size) / q.size
    # bulk: interpolate the survival function between quantiles (1 below the lowest)
    surv = 1.0 - np.interp(s, q, levels, left=0.0, right=levels[-1])
    log_p = np.log(np.maximum(surv, 1e-300))
    u90 = q[-1]
    mid = s > u90
    log_p = np.where(mid, math.log(0.1) - (np.minimum(s, IMPOSTOR_Q99) - u90) / TAIL_BETA_90, log_p)
    far = s > IMPOSTOR_Q99
    log_p99 = math.log(0.1) - (IMPOSTOR_Q99 - u90) / TAIL_BETA_90
    log_p = np.where(far, log_p99 - (s - IMPOSTOR_Q99) / TAIL_BETA_99, log_p)
    ev = np.clip(-log_p / math.log(10.0), 0.0, MAX_FINGER_EVIDENCE)
    return np.where(np.isnan(s), np.nan, ev)


def fuse(scores: np.ndarray) -> np.ndarray:
    """Fused score per row of a [n, 10] per-finger score matrix (NaN = not compared); 0 with no fingers.

    Fisher's method on the per-finger impostor tail probabilities, returned as -log10 of the
    combined probability: P(chi2_2n >= x) = exp(-x/2) * sum_{k<n} (x/2)**k / k!.
    """
    s = np.atleast_2d(np.asarray(scores, np.float64))
    ev = finger_evidence(s)
    have = ~np.isnan(ev)
    n = have.sum(axis=1)
    half_x = np.where(have, ev, 0.0).sum(axis=1) * math.log(10.0)  # x/2 = -sum ln p
    ok = (n > 0) & (half_x > 0.0)
    hx = np.where(ok, half_x, 1.0)
    k = np.arange(10, dtype=np.float64)
    lgk = np.array([math.lgamma(i + 1.0) for i in range(10)])
    terms = k[None, :] * np.log(hx)[:, None] - lgk[None, :]
    terms = np.where(k[None, :] < np.maximum(n, 1)[:, None], terms, -np.inf)
    m = terms.max(axis=1)
    m = np.where(np.isfinite(m), m, 0.0)
    log_sf = -hx + m + np.log(np.exp(terms - m[:, None]).sum(axis=1))
    out = np.where(ok, np.maximum(0.0, -log_sf / math.log(10.0)), 0.0)
    return out


def calibrate_thresholds(impostor_scores, gallery_size: int, fpir_hit: float = 0.001,
                         fpir_review: float = 0.01) -> Thresholds:
    """Thresholds on the fused score from observed non-mated fused scores (e.g. a new extractor).

    Use this instead of :func:`thresholds_for` when the single-finger model above may not hold.

    A non-mated search is a false positive when any of the N subjects scores above the
    threshold, so each comparison may exceed it with probability ``1 - (1 - FPIR)**(1/N)``.
    Where the sample holds at least 20 impostors beyond that point the empirical quantile is
    used; further out the tail is extrapolated as exponential (peaks over the top 10 %), which
    is conservative for the light, fast-decaying tails that similarity scores have.
    """
    imp = np.sort(np.asarray(impostor_scores, np.float64).ravel())
    if imp.size < 50 or not np.all(np.isfinite(imp)):
        raise ValueError(f"need at least 50 finite impostor scores, got {imp.size}")
    _check_targets(gallery_size, fpir_hit, fpir_review)

    def threshold(fpir: float) -> float:
        p = _per_comparison_rate(fpir, gallery_size)
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

    def add_many(self, subjects: Iterable[tuple[str, Mapping[int, Template | Prepared | None]]],
                 threads: int | None = None) -> int:
        """Enrol many subjects (as :meth:`add`, in order), preparing their cylinders on ``threads`` threads.

        Bulk enrolment: the same result as adding them one by one. Returns how many were added.
        """
        items = list(subjects)
        flat: list[Template | Prepared] = []
        for sid, fingers in items:
            if not isinstance(sid, str) or not sid:
                raise ValueError(f"subject id must be a non-empty string, got {sid!r}")
            _check_fingers({p: None for p in fingers} if isinstance(fingers, Mapping) else fingers,
                           f"subject {sid!r}")  # positions checked before any work is done
            for pos, t in fingers.items():
                if t is not None and not isinstance(t, (Template, Prepared)):
                    raise TemplateError(f"subject {sid!r}: finger {pos} is a {type(t).__name__}, not a Template")
                if t is not None:
                    flat.append(t)
        prepared = iter(prepare_many(flat, threads))
        cards = []
        for sid, fingers in items:
            card = {int(p): next(prepared) for p, t in fingers.items() if t is not None}
            cards.append((sid, _check_fingers(card, f"subject {sid!r}")))
        bulk = getattr(self.backend, "add_many", None)
        if bulk is not None:  # an index computes its codes in bulk, on threads
            bulk(cards)
        else:
            for sid, card in cards:
                self.backend.add(sid, card)
        return len(items)

    def remove(self, subject_id: str) -> None:
        self.backend.remove(subject_id)

    def impostor_scores(self, max_probes: int = 200) -> np.ndarray:
        """Fused scores of enrolled subjects searched against every *other* subject (non-mated).

        Assumes each subject is enrolled once. Probes are the first ``max_probes`` subject ids in
        sorted order, so the sample, and thresholds calibrated from it, are deterministic.
        """
        ids = sorted(self.backend.subject_ids())[:max(1, int(max_probes))]
        out = []
        for sid in ids:
            probe = self.backend.fingers(sid)
            if not probe:
                continue
            # every non-mate, not an index's shortlist (which holds only the top of the tail)
            scorer = getattr(self.backend, "exhaustive_finger_scores", self.backend.finger_scores)
            sids, scores = scorer(probe)
            fused = fuse(scores)
            out.append(fused[np.array([x != sid for x in sids], bool)])
        return np.concatenate(out) if out else np.zeros(0)

    def calibrate(self, gallery_size: int | None = None, fpir_hit: float = 0.001, fpir_review: float = 0.01,
                  max_probes: int = 200) -> Thresholds:
        """Set (and return) thresholds from this gallery's own non-mated scores.

        Use when the enrolled prints come from another extractor or population than the
        FVC2002 model behind the defaults (for example synthetic fingerprints, whose
        impostor scores run higher). ``gallery_size`` defaults to the current size.
        Cost: ``max_probes`` full searches of the gallery (an administrative step, not per booking).
        """
        imp = self.impostor_scores(max_probes)
        n = gallery_size if gallery_size is not None else max(1, len(self))
        self.thresholds = calibrate_thresholds(imp, n, fpir_hit, fpir_review)
        return self.thresholds

    def search(self, probe: Mapping[int, Template | Prepared | None], k: int = 5) -> SearchResult:
        """Top-k subjects by fused score and the decision band of the best one."""
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        p = _check_fingers(probe, "probe")
        if not p or len(self.backend) == 0:
            return SearchResult("no_hit", [], self.thresholds)
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
        decision, reason = decide_corroborated(self.thresholds, scores[top[0]])
        return SearchResult(decision, cands, self.thresholds, reason)


def without_strongest(row: np.ndarray, k: int = 1) -> float:
    """Fused score of one candidate's per-finger scores with its ``k`` strongest fingers left out."""
    r = np.array(row, np.float64)
    ev = np.nan_to_num(finger_evidence(r), nan=-1.0)  # fingers not compared sort last
    r[np.argsort(-ev, kind="stable")[:k]] = np.nan
    return float(fuse(r[None, :])[0])


def decide_corroborated(thresholds: Thresholds, row: np.ndarray) -> tuple[str, str]:
    """The band of a candidate's fused score, a hit only when no single finger carries it.

    Returns (decision, reason); the reason is empty unless a hit-level score was sent to review.
    """
    score = float(fuse(np.atleast_2d(row))[0])
    decision = thresholds.decide(score)
    if decision != "hit":
        return decision, ""
    rest = without_strongest(row, MIN_CORROBORATING_FINGERS - 1)
    if rest < thresholds.review:
        return "review", (f"fused score {score:.1f} rests on one finger: {rest:.1f} without it, "
                          f"below the review threshold {thresholds.review:g}")
    return decision, ""
