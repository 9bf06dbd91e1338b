"""Ten-print 1:N search benchmark on synthetic template galleries (``securecomm bench search``).

Subject ``s`` of a gallery of N is fingers ``10 s .. 10 s + 9`` of a :mod:`securecomm.synth.templates`
run (seed ``seed``): the gallery holds impression 0 of one kind (plain or rolled), mated probes
are impression 1 of the other kind (rolled probes against a plain gallery, or the reverse), and
non-mated probes are fingers of another seed. Enrolment is timed from templates (the synthesis
is timed apart) through :meth:`TenprintGallery.add_many` (in memory, on threads) or, with an index
folder, in segments built by parallel processes and merged once into one saved index. The indexed search
(:class:`securecomm.engine.index.IndexedBackend`) answers every probe; the exhaustive search
(every subject scored) answers a sample. Then:

* **the threshold at FPIR 0.1 % is empirical**: the best fused score of each non-mated
  ten-print search is what a false positive needs, so the threshold is set just above the
  score that ``floor(0.001 n)`` of the ``n`` non-mated searches reach (with fewer than 1,000
  searches that is above the best one: FPIR at most ``1/n``, reported as ``fpir_resolution``).
  It is set separately for the indexed search (every non-mated probe) and the exhaustive one
  (the non-mated probes of the sample), and FNIR is the share of mated probes whose rank-1
  candidate is not the mate or scores below that threshold;
* agreement: the same decision as exhaustive at the same bands (hit at the indexed FPIR 0.1 %
  threshold, review at FPIR 1 %), and the same subject where that decision is not no-hit; and
  rank-1 agreement (the same best subject with the same fused score), mated and non-mated apart;
* the mate's rank in the candidate index (what sizes the shortlist), for every mated probe, and for
  ``rank_probes`` more mated probes ranked by code alone (cheap: no verification).

**What the index can lose, bounded without searching exhaustively.** The index verifies a subset of
the gallery with the exhaustive search's own matcher, so for every probe its best score is at most
the exhaustive best, and a shortlisted subject has exactly its exhaustive score. Hence (i) its
non-mated best scores are never higher, so its FPIR 0.1 % threshold is never higher than the
exhaustive one; and (ii) a mated probe the index gets wrong at its threshold is one whose mate was
beyond the shortlist, or one the exhaustive search gets wrong too (the mate below a threshold at least
as high, or outranked by an impostor that was shortlisted and so scored the same). So
FNIR(indexed) <= FNIR(exhaustive) + the share of mates beyond the shortlist, which the code ranks
measure (``lost_mate_pct``, with its exact one-sided 95 % upper bound ``lost_mate_upper95_pct``). The
converse can differ: the exhaustive search also finds the synthetic galleries' high-scoring impostors
that the index never shortlists, so its own FNIR and FPIR at one threshold can be worse.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path
from typing import Callable

import numpy as np

from securecomm.engine.index import SHORTLIST, IndexedBackend
from securecomm.engine.match import prepare
from securecomm.engine.tenprint import FINGER_POSITIONS, TenprintGallery, Thresholds, fuse
from securecomm.synth import templates as T

KINDS = ("plain", "rolled")
#: Probes searched exhaustively together (each gallery chunk decoded once for all of them).
EXHAUSTIVE_BATCH = 32
#: Code ranks are measured up to this (a mate further down counts as this rank).
RANK_CAP = 1000


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


def _cards_of(sids: list[int], seed: int, impression: int, kind: str):
    """Cards of the subjects ``sids`` (ascending), synthesising each block of :data:`T.BLOCK` fingers once
    (the same templates :func:`_cards` gives one subject at a time)."""
    cache: dict[int, object] = {}
    for sid in sids:
        fingers = []
        for f in range(10 * sid, 10 * sid + 10):
            b = f // T.BLOCK
            if b not in cache:
                cache = {k: v for k, v in cache.items() if k >= b - 1}  # sids ascend: older blocks are done
                cache[b] = next(T.iter_blocks(T.BLOCK, seed, impression, kind, start=b * T.BLOCK))
            fingers.append(cache[b].template(f - b * T.BLOCK))
        yield {pos: prepare(fingers[pos - 1]) for pos in FINGER_POSITIONS}


def _upper95(k: int, n: int) -> float:
    """One-sided 95 % upper bound of a proportion seen k times in n (exact binomial, Clopper-Pearson)."""
    if n <= 0 or k >= n:
        return 1.0
    lo, hi = k / n, 1.0
    for _ in range(60):  # P(X <= k | p) = 0.05, by bisection on p
        mid = (lo + hi) / 2
        cdf = sum(math.comb(n, i) * mid ** i * (1 - mid) ** (n - i) for i in range(k + 1))
        lo, hi = (mid, hi) if cdf > 0.05 else (lo, mid)
    return hi


def gallery_probe(card: dict) -> dict:
    """A card as the gallery checks it (unprintable fingers dropped), for the candidate index."""
    from securecomm.engine.tenprint import MIN_USABLE_MINUTIAE

    return {pos: p for pos, p in card.items() if len(p) >= MIN_USABLE_MINUTIAE}


def _dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def empirical_threshold(best_scores, fpir: float) -> float:
    """The lowest threshold that at most ``floor(fpir n)`` of ``n`` non-mated searches reach (score >= it)."""
    best = np.sort(np.asarray(best_scores, np.float64))[::-1]
    if best.size == 0:
        raise ValueError("need at least one non-mated search")
    allowed = int(math.floor(fpir * best.size + 1e-9))
    if allowed >= best.size:
        return float(best[-1])
    return float(np.nextafter(best[allowed], np.inf))


def _best(ids: list[str], scores: np.ndarray) -> tuple[str | None, float]:
    if not ids:
        return None, 0.0
    fused = fuse(scores)
    top = int(np.lexsort((np.array(ids), -fused))[0])
    return ids[top], float(fused[top])


def _meta_path(index_dir: Path) -> Path:
    return index_dir.with_name(index_dir.name + ".bench.json")


def _enrol(gallery: TenprintGallery, n: int, start: int, seed: int, kind: str, threads: int | None,
           say: Callable[[str], None] = lambda _m: None) -> tuple[float, float, float]:
    """Enrol subjects S{start} .. S{start + n - 1} (from templates); (synth_s, enrol_s, enrol_cpu_s)."""
    synth_s = build_s = build_cpu = 0.0
    done, pending = start, []
    blocks = T.iter_blocks(n * 10, seed, 0, kind, start=start * 10)
    while done < start + n:
        t0 = time.perf_counter()
        block = next(blocks, None)
        synth_s += time.perf_counter() - t0
        if block is not None:
            pending.extend(block.template(i) for i in range(len(block)))
        batch = []
        while len(pending) >= 10 and done + len(batch) < start + n:
            card, pending = pending[:10], pending[10:]
            batch.append((f"S{done + len(batch)}", {pos: card[pos - 1] for pos in FINGER_POSITIONS}))
        if not batch and block is None:
            break
        t0, c0 = time.perf_counter(), time.process_time()
        gallery.add_many(batch, threads=threads)
        build_s += time.perf_counter() - t0
        build_cpu += time.process_time() - c0
        done += len(batch)
        if (done - start) % 2000 < len(batch):
            say(f"enrolled {done - start}/{n}")
    return synth_s, build_s, build_cpu


def _segment(job: tuple[int, int, int, str, str]) -> dict:
    """Build subjects [s0, s1) into a saved index ``folder`` (in a worker process, on one core)."""
    from securecomm.engine import index as index_mod

    s0, s1, seed, kind, folder = job
    index_mod.BULK_THREADS = 1  # the parallelism is the processes'
    backend = IndexedBackend()
    synth_s, enrol_s, enrol_cpu = _enrol(TenprintGallery(backend=backend), s1 - s0, s0, seed, kind, threads=1)
    t0, c0 = time.perf_counter(), time.process_time()
    backend.save(folder)  # atomic: a folder with a manifest is a finished segment
    got = {"synth_s": synth_s, "build_s": enrol_s + time.perf_counter() - t0,
           "build_cpu_s": enrol_cpu + time.process_time() - c0}
    Path(folder + ".json").write_text(json.dumps(got))
    return got


def _build_segmented(subjects: int, gallery_kind: str, seed: int, say: Callable[[str], None], index_dir: Path,
                     segment: int, jobs: int) -> dict:
    """Build into the saved index ``index_dir`` in segments of ``segment`` subjects, ``jobs`` processes at a time.

    Each segment is enrolled and saved on its own (``<index_dir>.parts/``), then all are merged once
    (:func:`securecomm.engine.index.merge_saved`, rows copied as they are: the same files as one
    build in one go). Resumable: finished segments are kept; an index_dir that already holds the
    first k subjects of the same gallery (seed and kind, in ``<index_dir>.bench.json``) is extended
    from subject k, and one that holds all of them is reused as it is.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from securecomm.engine.index import merge_saved

    meta = {"seed": seed, "gallery": gallery_kind, "subjects": 0, "synth_s": 0.0, "build_s": 0.0,
            "build_cpu_s": 0.0, "build_wall_s": 0.0, "jobs": jobs}
    start = 0
    if (index_dir / "manifest.json").exists():
        try:
            old = json.loads(_meta_path(index_dir).read_text())
        except (OSError, ValueError):
            old = None
        if not isinstance(old, dict) or old.get("seed") != seed or old.get("gallery") != gallery_kind:
            raise ValueError(f"{index_dir} holds no bench gallery of seed {seed} ({gallery_kind}); "
                             "give another --index-dir")
        if old["subjects"] > subjects:
            raise ValueError(f"{index_dir} holds {old['subjects']} subjects, more than --subjects {subjects}")
        meta, start = {**meta, **old}, int(old["subjects"])
    if start >= subjects:
        return {"meta": meta, "built_now": False}
    parts_dir = index_dir.with_name(index_dir.name + ".parts")
    parts_dir.mkdir(parents=True, exist_ok=True)
    bounds = [(a, min(subjects, a + segment)) for a in range(start, subjects, segment)]
    folders = [parts_dir / f"{seed}-{gallery_kind}-{a:09d}-{b:09d}" for a, b in bounds]
    todo = [(a, b, seed, gallery_kind, str(f)) for (a, b), f in zip(bounds, folders)
            if not ((f / "manifest.json").exists() and Path(str(f) + ".json").exists())]
    say(f"building {len(todo)} of {len(bounds)} segments of up to {segment} subjects, {jobs} at a time")
    t_start = time.perf_counter()
    done = len(bounds) - len(todo)
    if todo:
        ctx = multiprocessing.get_context("spawn")  # no thread or lock state inherited from this process
        with ProcessPoolExecutor(max_workers=max(1, jobs), mp_context=ctx) as pool:
            for _ in pool.map(_segment, todo):
                done += 1
                say(f"segments {done}/{len(bounds)}")
    sums = {"synth_s": 0.0, "build_s": 0.0, "build_cpu_s": 0.0}
    for f in folders:
        got = json.loads(Path(str(f) + ".json").read_text())
        for key in sums:
            sums[key] += float(got[key])
    say(f"merging {len(folders)} segments into {index_dir}")
    sources = ([index_dir] if start else []) + folders
    merged = index_dir.with_name(index_dir.name + ".merging")
    # the segments are consumed as they are copied (bounded disk); a grown index_dir is kept until the end
    merge_saved(sources, merged, verify=False, consume=not start)
    if start:
        shutil.rmtree(index_dir)
        for f in folders:
            shutil.rmtree(f, ignore_errors=True)
    merged.rename(index_dir)
    for f in folders:
        Path(str(f) + ".json").unlink(missing_ok=True)
    shutil.rmtree(parts_dir, ignore_errors=True)
    wall = time.perf_counter() - t_start
    meta.update(subjects=subjects, jobs=jobs, synth_s=round(meta["synth_s"] + sums["synth_s"], 3),
                build_s=round(meta["build_s"] + sums["build_s"], 3),
                build_cpu_s=round(meta["build_cpu_s"] + sums["build_cpu_s"], 3),
                build_wall_s=round(meta.get("build_wall_s", 0.0) + wall, 3))
    _meta_path(index_dir).write_text(json.dumps(meta))
    return {"meta": meta, "built_now": True}


def _build(subjects: int, gallery_kind: str, seed: int, shortlist: int | None, threads: int | None,
           say: Callable[[str], None], index_dir: Path | None, save_every: int) -> dict:
    """Enrol subjects S0 .. S{subjects-1} (from templates), in this process on ``threads`` threads.

    With ``index_dir``: :func:`_build_segmented` (segments of ``save_every`` subjects in ``threads``
    processes), then the saved index is loaded. Returns the build's figures and the backend.
    """
    if index_dir is not None:
        from securecomm.engine.index import load_or_recode

        got = _build_segmented(subjects, gallery_kind, seed, say, index_dir, save_every,
                               threads or os.cpu_count() or 1)
        # built with older code parameters: re-coded, as a machine start would
        backend, took = load_or_recode(index_dir, shortlist or SHORTLIST, verify=False, threads=threads,
                                       on_recode=lambda exc: say(f"{exc}: re-coding"))
        recode_s = None if took is None else round(took, 1)
        return {"backend": backend, "gallery": TenprintGallery(backend=backend), "meta": got["meta"],
                "built_now": got["built_now"], "resident_gallery_mb": None, "recode_s": recode_s}
    backend = IndexedBackend() if shortlist is None else IndexedBackend(shortlist=shortlist)
    gallery = TenprintGallery(backend=backend)
    rss0 = _rss_mb()
    synth_s, build_s, build_cpu = _enrol(gallery, subjects, 0, seed, gallery_kind, threads, say)
    meta = {"seed": seed, "gallery": gallery_kind, "subjects": subjects, "synth_s": synth_s, "build_s": build_s,
            "build_cpu_s": build_cpu, "build_wall_s": None, "jobs": 1}
    return {"backend": backend, "gallery": gallery, "meta": meta, "built_now": True,
            "resident_gallery_mb": round(_rss_mb() - rss0, 1), "recode_s": None}


def _build_figures(meta: dict, subjects: int) -> dict:
    """The build's figures. ``enrol_per_s``: subjects over the enrolment's wall time (synthesis
    excluded); with ``jobs`` processes enrolling at once, over their summed enrolment time / jobs."""
    jobs = max(1, int(meta.get("jobs") or 1))
    build_s = float(meta["build_s"])
    wall = meta.get("build_wall_s")
    return {"synth_s": round(float(meta["synth_s"]), 2), "build_s": round(build_s, 2), "build_jobs": jobs,
            "enrol_per_s": round(subjects * jobs / build_s, 1) if build_s else None,
            "enrol_cpu_ms_per_subject": round(1000.0 * float(meta["build_cpu_s"]) / subjects, 2),
            "build_wall_s": None if wall is None else round(float(wall), 1),
            "build_per_s_with_synthesis": round(subjects / float(wall), 1) if wall else None}


def run(subjects: int, probes: int, gallery_kind: str = "plain", seed: int = 7, shortlist: int | None = None,
        exhaustive_sample: int = 20, store: Path | None = None,
        progress: Callable[[str], None] | None = None, non_mated: int | None = None,
        threads: int | None = None, index_dir: Path | None = None, save_every: int = 10_000,
        build_only: bool = False, rank_probes: int = 0) -> dict:
    """The benchmark's JSON object (see the module docstring).

    ``probes`` mated and non-mated probes half and half, unless ``non_mated`` gives the
    number of non-mated ones (then ``probes`` is the number of mated ones).
    ``exhaustive_sample``: probes also searched exhaustively, half mated, half non-mated.
    ``store``: save the built index there, then load and search the loaded one. ``index_dir``:
    build into (or reuse, or resume) a saved index there, saved every ``save_every`` subjects
    (see :func:`_build`), then load it back and search it; ``build_only`` stops after the build
    (a long build apart from short timed search runs). ``rank_probes``: more mated probes whose mate's
    rank by code alone is measured (no verification): the share beyond the shortlist bounds what the
    index can lose against the exhaustive search (see the module docstring).
    """
    if gallery_kind not in KINDS:
        raise ValueError(f"gallery kind must be one of {KINDS}, got {gallery_kind!r}")
    if subjects < 2 or probes < 1 or (non_mated is not None and non_mated < 1):
        raise ValueError("need at least 2 subjects, 1 probe and 1 non-mated probe")
    if store is not None and index_dir is not None:
        raise ValueError("give --store or --index-dir, not both")
    probe_kind = "rolled" if gallery_kind == "plain" else "plain"
    say = progress or (lambda _msg: None)
    built = _build(subjects, gallery_kind, seed, shortlist, threads, say, index_dir, max(1, save_every))
    backend, gallery, meta = built["backend"], built["gallery"], built["meta"]
    disk_bytes = load_s = load_unverified_s = None
    if build_only:
        return {"subjects": subjects, "gallery": gallery_kind, "built_now": built["built_now"],
                **_build_figures(meta, subjects), "recode_s": built["recode_s"],
                "on_disk_mb": round(_dir_bytes(index_dir) / 2**20, 1) if index_dir is not None else None,
                "resident_gallery_mb": built["resident_gallery_mb"]}
    target = store if store is not None else index_dir
    if store is not None:
        backend.save(store)
    built_now, resident_gallery_mb, recode_s = built["built_now"], built["resident_gallery_mb"], built["recode_s"]
    if target is not None:
        del backend, gallery, built
        disk_bytes = _dir_bytes(target)
        t0 = time.perf_counter()  # a worker's start: sizes checked, files mapped, nothing hashed
        IndexedBackend.load(target, shortlist=shortlist or SHORTLIST, verify=False)
        load_unverified_s = time.perf_counter() - t0
        t0 = time.perf_counter()  # the machine's start (prepare_index): every file's SHA-256 too
        backend = IndexedBackend.load(target, shortlist=shortlist or SHORTLIST)
        load_s = time.perf_counter() - t0
        gallery = TenprintGallery(backend=backend)
    rss_loaded = _rss_mb()

    rng = np.random.default_rng(seed)
    if non_mated is None:
        n_mated = max(1, probes // 2)
        n_non = max(1, probes - n_mated)
    else:
        n_mated, n_non = probes, non_mated
    mated_ids = np.sort(rng.choice(subjects, size=min(n_mated, subjects), replace=False))
    mated = list(zip([f"S{sid}" for sid in mated_ids.tolist()], _cards_of(mated_ids.tolist(), seed, 1, probe_kind)))
    non_mated_cards = [(None, c) for c in _cards(n_non, seed + 1, 1, probe_kind)]

    lat, idx_best = [], []
    for i, (mate, card) in enumerate(mated + non_mated_cards):
        t0 = time.perf_counter()
        r = gallery.search(card, k=1)
        lat.append((time.perf_counter() - t0) * 1000.0)
        idx_best.append((r.best.subject_id, r.best.score) if r.best is not None else (None, 0.0))
        if (i + 1) % 200 == 0:
            say(f"searched {i + 1}/{len(mated) + len(non_mated_cards)} probes")

    rss_searched = _rss_mb()  # a worker's footprint (with the build's memory when it built in this process)

    # exhaustive sample: half mated, half non-mated
    k = max(0, min(exhaustive_sample, len(mated) + len(non_mated_cards)))
    k_m = min(len(mated), (k + 1) // 2)
    k_n = min(len(non_mated_cards), k - k_m)
    sample_pos = list(range(k_m)) + [len(mated) + i for i in range(k_n)]
    ex_best = {}
    for j in range(0, len(sample_pos), EXHAUSTIVE_BATCH):  # every subject scored, straight from the index:
        batch = sample_pos[j:j + EXHAUSTIVE_BATCH]       # each chunk decoded once for the batch's probes
        ids, many = backend.exhaustive_finger_scores_many(
            [gallery_probe((mated + non_mated_cards)[i][1]) for i in batch], parallel=True)
        for i, sc in zip(batch, many):
            ex_best[i] = _best(ids, sc)
        say(f"exhaustive {j + len(batch)}/{len(sample_pos)}")

    def code_rank(mate: str, card: dict) -> int:
        cand = [backend._ids[s] for s in backend.candidates(gallery_probe(card), n=min(subjects, RANK_CAP))]
        return cand.index(mate) if mate in cand else RANK_CAP

    ranks = [code_rank(mate, card) for mate, card in mated]
    # more mated probes for the code rank alone (cheap: no verification): how often the shortlist loses a mate
    extra_ids = np.sort(np.random.default_rng(seed + 2).choice(subjects, size=min(rank_probes, subjects), replace=False))
    extra_ranks = []
    for j, card in enumerate(_cards_of(extra_ids.tolist(), seed, 1, probe_kind)):
        extra_ranks.append(code_rank(f"S{int(extra_ids[j])}", card))
        if (j + 1) % 500 == 0:
            say(f"code ranks {j + 1}/{extra_ids.size}")
    all_ranks = ranks + extra_ranks
    lost = int(sum(r >= backend.shortlist for r in all_ranks))

    def fnir(bests: list[tuple[str | None, float]], mates: list[str], thr: float) -> float:
        return round(100.0 * float(np.mean([b[0] != m or b[1] < thr for b, m in zip(bests, mates)])), 2)

    non_best = [s for _, s in idx_best[len(mated):]]
    t_hit = empirical_threshold(non_best, 0.001)
    t_review = min(t_hit, empirical_threshold(non_best, 0.01))
    bands = Thresholds(hit=t_hit, review=t_review)
    mates = [m for m, _ in mated]
    out = {
        "subjects": subjects, "gallery": gallery_kind, "probes_kind": probe_kind,
        "mated_probes": len(mated), "non_mated_probes": len(non_mated_cards),
        "shortlist": backend.shortlist,
        "penetration_pct": round(100.0 * min(backend.shortlist, subjects) / subjects, 3),
        **_build_figures(meta, subjects), "recode_s": recode_s,
        "on_disk_mb": None if disk_bytes is None else round(disk_bytes / 2**20, 1),
        "load_s": None if load_s is None else round(load_s, 3),
        "load_unverified_s": None if load_unverified_s is None else round(load_unverified_s, 3),
        "resident_mb": round(rss_searched, 1), "resident_gallery_mb": resident_gallery_mb,
        "resident_after_load_mb": round(rss_loaded, 1), "built_in_this_run": built_now,
        "resident_with_exhaustive_mb": round(_rss_mb(), 1),
        "search_ms_p50": round(float(np.percentile(lat, 50)), 1),
        "search_ms_p95": round(float(np.percentile(lat, 95)), 1),
        "mate_index_rank_p50": float(np.percentile(ranks, 50)),
        "mate_index_rank_p99": float(np.percentile(ranks, 99)),
        "mate_index_rank_max": int(max(ranks)),
        "hit_threshold": round(t_hit, 3), "review_threshold": round(t_review, 3),
        "threshold_non_mated_searches": len(non_best),
        "fpir_resolution_pct": round(100.0 / len(non_best), 3),
        "non_mated_best_p50": round(float(np.median(non_best)), 3),
        "non_mated_best_max": round(float(np.max(non_best)), 3),
        "fnir_pct": fnir(idx_best[:len(mated)], mates, t_hit),
        "mate_rank_probes": len(all_ranks), "mates_beyond_shortlist": lost,
        "lost_mate_pct": round(100.0 * lost / len(all_ranks), 3),
        "lost_mate_upper95_pct": round(100.0 * _upper95(lost, len(all_ranks)), 3),
        "exhaustive_sample": len(sample_pos), "exhaustive_mated": k_m, "exhaustive_non_mated": k_n,
        "exhaustive_hit_threshold": None, "fnir_exhaustive_pct": None, "fnir_indexed_on_sample_pct": None,
        "exhaustive_agreement_pct": None, "exhaustive_rank1_agreement_mated_pct": None,
        "exhaustive_rank1_agreement_non_mated_pct": None,
        "exhaustive_review_threshold": None, "exhaustive_agreement_at_exhaustive_bands_pct": None,
        "disagreements_at_exhaustive_bands": None,
        "fnir_indexed_at_exhaustive_threshold_pct": None,
        "cpus": os.cpu_count(),
    }
    def disagreements(at: Thresholds) -> dict:
        """Where the two decisions differ, by who was wrong: on a non-mated probe any hit or review is a
        false positive, so a difference there is one search's false positive that the other did not make."""
        got = {"mated": 0, "non_mated_exhaustive_false_positive_only": 0,
               "non_mated_indexed_false_positive_only": 0, "non_mated_both_false_positive": 0}
        for i in sample_pos:
            (a_id, a_s), (b_id, b_s) = idx_best[i], ex_best[i]
            da, db = at.decide(a_s), at.decide(b_s)
            if da == db and (db == "no_hit" or a_id == b_id):
                continue
            if i < len(mated):
                got["mated"] += 1
            elif da == "no_hit":
                got["non_mated_exhaustive_false_positive_only"] += 1
            elif db == "no_hit":
                got["non_mated_indexed_false_positive_only"] += 1
            else:
                got["non_mated_both_false_positive"] += 1
        return got

    def agreement(at: Thresholds) -> float:
        return round(100.0 * (len(sample_pos) - sum(disagreements(at).values())) / len(sample_pos), 2)

    if k_n:
        ex_non = [ex_best[len(mated) + i][1] for i in range(k_n)]
        t_ex = empirical_threshold(ex_non, 0.001)
        out["exhaustive_hit_threshold"] = round(t_ex, 3)
        t_ex_review = min(t_ex, empirical_threshold(ex_non, 0.01))
        out["exhaustive_review_threshold"] = round(t_ex_review, 3)
        ex_bands = Thresholds(hit=t_ex, review=t_ex_review)
        out["exhaustive_agreement_at_exhaustive_bands_pct"] = agreement(ex_bands)
        out["disagreements_at_exhaustive_bands"] = disagreements(ex_bands)
        if k_m:
            out["fnir_exhaustive_pct"] = fnir([ex_best[i] for i in range(k_m)], mates[:k_m], t_ex)
            out["fnir_indexed_on_sample_pct"] = fnir(idx_best[:k_m], mates[:k_m], t_hit)
            out["fnir_indexed_at_exhaustive_threshold_pct"] = fnir(idx_best[:k_m], mates[:k_m], t_ex)
    if sample_pos:
        out["exhaustive_agreement_pct"] = agreement(bands)
        # rank 1 as such: the same best subject with the same fused score (mated probes: the mate found
        # either way; non-mated ones: whether the exhaustive search's best impostor made the shortlist)
        same = [idx_best[i][0] == ex_best[i][0] and abs(idx_best[i][1] - ex_best[i][1]) < 1e-9 for i in sample_pos]
        if k_m:
            out["exhaustive_rank1_agreement_mated_pct"] = round(100.0 * float(np.mean(same[:k_m])), 2)
        if k_n:
            out["exhaustive_rank1_agreement_non_mated_pct"] = round(100.0 * float(np.mean(same[k_m:])), 2)
    return out
