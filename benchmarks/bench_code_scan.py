"""The index's code scan at repository scale: the two-pass scan (int8 first pass, exact re-rank) against
the exact one, on two-finger codes as `securecomm simulate` searches them.

    nice -n 5 .venv/bin/python benchmarks/bench_code_scan.py --subjects 100000 --probes 200

A gallery of ``--subjects`` synthetic subjects, each the codes of two fingers (positions 2 and 7; impression
0 of `synth.templates`, seed ``--seed``), enrolled by code alone in an `engine.index.IndexedBackend` (the
scan reads codes only); ``--probes`` searches, half by impression 1 of an enrolled subject's fingers (mated),
half by subjects not enrolled. Each probe's shortlist (``--shortlist``) is taken both ways:

* ``exact``: every live subject's float32 code similarity, then the best ``shortlist`` (the one-pass scan,
  which galleries no larger than the re-rank pool still use);
* ``two_pass``: the int8 codes' similarity chooses the re-rank pool
  (`IndexedBackend.rerank_pool`, or ``--pool``), whose float32 similarities then rank it.

Reported: CPU ms per search each way (``time.process_time``, one BLAS thread), shortlists identical
(same subjects in the same order), exact-shortlist subjects the two-pass one misses, and mated probes whose
mate is on each shortlist. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subjects", type=int, default=100_000)
    ap.add_argument("--probes", type=int, default=200)
    ap.add_argument("--shortlist", type=int, default=100)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1, help="also the two-pass scan with its first pass split "
                                                          "across this many verify threads (wall ms too)")
    ap.add_argument("--pool", type=int, default=None, help="the two-pass scan's re-rank pool instead of the "
                                                           "engine's (IndexedBackend.rerank_pool): its margin")
    args = ap.parse_args()

    from securecomm.engine.threads import blas_threads

    with blas_threads(1):
        run(args)


def codes_of(n_subjects: int, seed: int, impression: int, start: int = 0):
    """Subject codes [n, 10 * CODE_DIMS] of subjects start .. start + n - 1 (fingers 2i, 2i + 1 of the run at
    positions 2 and 7)."""
    import numpy as np

    from securecomm.engine.index import CODE_DIMS, finger_codes_packed
    from securecomm.synth.templates import iter_blocks

    out = np.zeros((n_subjects, 10 * CODE_DIMS), np.float32)
    at = 0
    for part in iter_blocks(2 * n_subjects, seed, impression, "plain", start=2 * start):
        c = finger_codes_packed(part.offsets, part.x, part.y, part.angle)
        k = c.shape[0] // 2
        out[at:at + k, 1 * CODE_DIMS:2 * CODE_DIMS] = c[0::2]
        out[at:at + k, 6 * CODE_DIMS:7 * CODE_DIMS] = c[1::2]
        at += k
    return out


def run(args) -> None:
    import numpy as np

    from securecomm.engine.index import IndexedBackend

    n, half = args.subjects, args.probes // 2
    t0 = time.perf_counter()
    gallery = codes_of(n, args.seed, 0)
    mated = codes_of(half, args.seed, 1)
    other = codes_of(half, args.seed, 1, start=n)
    build_s = time.perf_counter() - t0
    b = IndexedBackend(args.shortlist)
    for i in range(n):
        b.add(f"S{i}", {}, gallery[i])
    probes = [(q, i) for i, q in enumerate(mated)] + [(q, None) for q in other]

    def timed(fn):
        """(shortlists, CPU ms a search, wall ms a search)."""
        out, t, w = [], time.process_time(), time.perf_counter()
        for q, _ in probes:
            out.append(fn(q)[0])
        return out, 1000 * (time.process_time() - t) / len(probes), 1000 * (time.perf_counter() - w) / len(probes)

    if args.pool is not None:
        b.rerank_pool = lambda k: max(args.pool, k)
    pool = b.rerank_pool(args.shortlist)
    b.ranked(probes[0][0])  # compiled (or loaded from numba's cache) before the clock starts
    two, two_ms, two_wall = timed(lambda q: b.ranked(q))
    split = {}
    if args.threads > 1:
        from securecomm.engine.index import verify_threads

        with verify_threads(args.threads):
            b.ranked(probes[0][0])
            lists, cpu, wall = timed(lambda q: b.ranked(q))
        split = {"threads": args.threads, "cpu_ms": round(cpu, 2), "wall_ms": round(wall, 2),
                 "identical_to_one_thread": sum(np.array_equal(a, c) for a, c in zip(two, lists))}
    b.rerank_pool = lambda k: 1 << 62  # every live subject: the one-pass, exact scan
    exact, exact_ms, _ = timed(lambda q: b.ranked(q))
    identical = sum(np.array_equal(a, e) for a, e in zip(two, exact))
    missed = sum(int(np.setdiff1d(e, a).size) for a, e in zip(two, exact))
    mate_on = {k: sum(1 for (q, i), s in zip(probes, lists) if i is not None and i in set(s.tolist()))
               for k, lists in (("exact", exact), ("two_pass", two))}
    print(json.dumps({
        "subjects": n, "probes": len(probes), "shortlist": args.shortlist,
        "rerank_pool": pool, "codes_s": round(build_s, 1),
        "ms_per_search": {"exact": round(exact_ms, 2), "two_pass": round(two_ms, 2),
                          "two_pass_wall": round(two_wall, 2)},
        **({"split_first_pass": split} if split else {}),
        "shortlists_identical": identical, "exact_subjects_missed": missed,
        "mated_probes": half, "mate_on_shortlist": mate_on,
    }))


if __name__ == "__main__":
    main()
