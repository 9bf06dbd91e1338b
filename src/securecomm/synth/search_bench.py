"""Ten-print 1:N search benchmark on synthetic template galleries (``securecomm bench search``).

Subject ``s`` of a gallery of N is fingers ``10 s .. 10 s + 9`` of a :mod:`securecomm.synth.templates`
run (seed ``seed``): the gallery holds impression 0 of one kind (plain or rolled), mated probes
are impression 1 of the other kind (rolled probes against a plain gallery, or the reverse), and
non-mated probes are fingers of another seed. The indexed search
(:class:`securecomm.engine.index.IndexedBackend`) answers every probe; the exhaustive search
(every subject scored) answers a sample, which gives

* agreement: the same decision as exhaustive (bands calibrated as below), and the same subject
  where that decision is a hit or review, on the sample;
* the mate's rank in the candidate index (what sizes the shortlist), for every mated probe;
* the hit threshold at FPIR 0.1 % for this gallery size, calibrated on the sample's non-mated
  fused scores (every subject against every non-mated sample probe: thousands of scores), and
  FNIR there: the share of mated probes whose mate is not rank 1 at or above the threshold,
  for the indexed search (all mated probes) and the exhaustive one (the sample).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

import numpy as np

from securecomm.engine.index import IndexedBackend
from securecomm.engine.match import prepare
from securecomm.engine.tenprint import FINGER_POSITIONS, TenprintGallery, calibrate_thresholds, fuse
from securecomm.synth import templates as T

KINDS = ("plain", "rolled")


def _rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def _cards(n: int, seed: int, impression: int, kind: str, start: int = 0):
    """Ten-print cards (position -> prepared template) of subjects start .. start + n - 1."""
    pending: list = []  # a card can straddle two blocks (BLOCK is not a multiple of ten)
    for block in T.iter_blocks(n * 10, seed, impression, kind, start=start * 10):
        pending.extend(block)
        while len(pending) >= 10:
            card, pending = pending[:10], pending[10:]
            yield {pos: prepare(card[pos - 1]) for pos in FINGER_POSITIONS}


def gallery_probe(card: dict) -> dict:
    """A card as the gallery checks it (unprintable fingers dropped), for the candidate index."""
    from securecomm.engine.tenprint import MIN_USABLE_MINUTIAE

    return {pos: p for pos, p in card.items() if len(p) >= MIN_USABLE_MINUTIAE}


def _dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def run(subjects: int, probes: int, gallery_kind: str = "plain", seed: int = 7, shortlist: int | None = None,
        exhaustive_sample: int = 20, store: Path | None = None,
        progress: Callable[[str], None] | None = None) -> dict:
    """The benchmark's JSON object (see the module docstring)."""
    if gallery_kind not in KINDS:
        raise ValueError(f"gallery kind must be one of {KINDS}, got {gallery_kind!r}")
    if subjects < 2 or probes < 1:
        raise ValueError("need at least 2 subjects and 1 probe")
    probe_kind = "rolled" if gallery_kind == "plain" else "plain"
    say = progress or (lambda _msg: None)
    rss0 = _rss_mb()
    backend = IndexedBackend() if shortlist is None else IndexedBackend(shortlist=shortlist)
    gallery = TenprintGallery(backend=backend)
    t0 = time.perf_counter()
    for s, card in enumerate(_cards(subjects, seed, 0, gallery_kind)):
        gallery.add(f"S{s}", card)
        if s and s % 2000 == 0:
            say(f"enrolled {s}/{subjects}")
    build_s = time.perf_counter() - t0
    rss_built = _rss_mb()
    disk_bytes = load_s = None
    if store is not None and hasattr(backend, "save"):
        backend.save(store)
        disk_bytes = _dir_bytes(store)
        t0 = time.perf_counter()
        backend = type(backend).load(store)
        load_s = time.perf_counter() - t0
        gallery = TenprintGallery(backend=backend)

    rng = np.random.default_rng(seed)
    n_mated = max(1, probes // 2)
    n_non = max(1, probes - n_mated)
    mated_ids = np.sort(rng.choice(subjects, size=min(n_mated, subjects), replace=False))
    mated = []
    for sid in mated_ids.tolist():
        mated.append((f"S{sid}", next(_cards(1, seed, 1, probe_kind, start=sid))))
    non_mated = [(None, c) for c in _cards(n_non, seed + 1, 1, probe_kind)]

    lat, idx_results = [], []
    for mate, card in mated + non_mated:
        t0 = time.perf_counter()
        r = gallery.search(card, k=1)
        lat.append((time.perf_counter() - t0) * 1000.0)
        idx_results.append((mate, r))
    say(f"searched {len(lat)} probes")

    # exhaustive sample: half mated, half non-mated
    k = max(0, min(exhaustive_sample, len(mated) + len(non_mated)))
    sample = mated[: (k + 1) // 2] + non_mated[: k // 2]
    sample_pos = list(range((k + 1) // 2)) + [len(mated) + i for i in range(k // 2)]
    agree, imp, ex_best = 0, [], {}
    for (mate, card), i in zip(sample, sample_pos):
        ids, scores = backend.exhaustive_finger_scores(card)
        fused = fuse(scores)
        top = int(np.lexsort((np.array(ids), -fused))[0])
        ex_best[i] = (ids[top], float(fused[top]))
        imp.append(fused[np.array([x != mate for x in ids], bool)])
    say(f"exhaustive sample of {len(sample)} done")
    imp_all = np.concatenate(imp) if imp else np.zeros(0)
    thresholds = calibrate_thresholds(imp_all, subjects, 0.001, 0.01) if imp_all.size >= 50 else None
    for i in sample_pos:
        r = idx_results[i][1]
        best_id, best_score = ex_best[i]
        if thresholds is None or r.best is None:
            continue
        same_decision = thresholds.decide(r.best.score) == thresholds.decide(best_score)
        # a decision other than no-hit names a subject: it must be the same one
        if same_decision and (thresholds.decide(best_score) == "no_hit" or r.best.subject_id == best_id):
            agree += 1
    ranks = []
    for mate, card in mated:
        cand = [backend._ids[s] for s in backend.candidates(gallery_probe(card), n=min(subjects, 1000))]
        ranks.append(cand.index(mate) if mate in cand else 1000)

    out = {
        "subjects": subjects, "gallery": gallery_kind, "probes_kind": probe_kind,
        "mated_probes": len(mated), "non_mated_probes": len(non_mated),
        "shortlist": backend.shortlist,
        "penetration_pct": round(100.0 * min(backend.shortlist, subjects) / subjects, 3),
        "build_s": round(build_s, 2), "enrol_per_s": round(subjects / build_s, 1),
        "on_disk_mb": None if disk_bytes is None else round(disk_bytes / 2**20, 1),
        "load_s": None if load_s is None else round(load_s, 3),
        "resident_mb": round(_rss_mb(), 1), "resident_gallery_mb": round(rss_built - rss0, 1),
        "search_ms_p50": round(float(np.percentile(lat, 50)), 1),
        "search_ms_p95": round(float(np.percentile(lat, 95)), 1),
        "exhaustive_sample": len(sample),
        "exhaustive_agreement_pct": (round(100.0 * agree / len(sample), 2)
                                     if sample and thresholds is not None else None),
        "mate_index_rank_p50": float(np.percentile(ranks, 50)),
        "mate_index_rank_p99": float(np.percentile(ranks, 99)),
        "mate_index_rank_max": int(max(ranks)),
        "fnir_pct": None, "fnir_exhaustive_pct": None, "hit_threshold": None,
        "cpus": os.cpu_count(),
    }
    if thresholds is not None:
        thr = thresholds.hit
        out["hit_threshold"] = round(thr, 3)
        miss = [r.best is None or r.best.subject_id != mate or r.best.score < thr
                for mate, r in idx_results[: len(mated)]]
        out["fnir_pct"] = round(100.0 * float(np.mean(miss)), 2)
        ex_miss = [ex_best[i][0] != sample[j][0] or ex_best[i][1] < thr
                   for j, i in enumerate(sample_pos) if sample[j][0] is not None]
        if ex_miss:
            out["fnir_exhaustive_pct"] = round(100.0 * float(np.mean(ex_miss)), 2)
    return out
