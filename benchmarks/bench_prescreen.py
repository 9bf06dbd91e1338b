"""The index's pre-screen: what it saves and what it loses, on two-finger searches as `securecomm simulate` makes.

    nice -n 5 .venv/bin/python benchmarks/bench_prescreen.py --subjects 4000 --probes 400 --keep 10 16 20 25

A gallery of ``--subjects`` synthetic subjects (fingers 2 and 7, impression 0 of `synth.templates`, seed
``--seed``) in an `engine.index.IndexedBackend`; ``--probes`` searches, half by another impression of an
enrolled subject (mated), half by subjects not enrolled. Each probe's shortlist is scored in full (the
search without a pre-screen), then pre-screened to each ``--keep`` (`IndexedBackend.prescreened`), and the
pre-screened search is compared with the full one (``--fvc`` adds real fingers, below):

* ``mates_kept``: mated probes whose mate is on the shortlist and survives the pre-screen, of those on it;
  ``hits_lost`` / ``reviews_lost``: mates the full search decided as hit / review that the pre-screen dropped;
* ``decisions_changed``: probes whose decision (hit / review / no hit, of the best candidate) differs;
* ``best_kept``: probes whose best candidate in full is kept (a non-mated probe's best is an impostor);
* CPU ms per search (``time.process_time``; one thread, one BLAS thread): the full verification of the
  shortlist, the pre-score of the shortlist (the first ``--keep``'s), and the verification of the
  ``keep`` subjects kept.

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subjects", type=int, default=4000)
    ap.add_argument("--probes", type=int, default=400)
    ap.add_argument("--keep", type=int, nargs="+", default=[10, 16, 20, 25])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--fvc", default=None, help="a folder of FVC databases (*/NNN_K.iso): each finger's first "
                                                "impression is enrolled too, as one more subject with that one "
                                                "finger (at position 2), and its other impressions are mated "
                                                "probes of one finger (real prints' distortion and noise)")
    args = ap.parse_args()

    from securecomm.engine.threads import blas_threads

    with blas_threads(1):  # as `securecomm simulate`: OpenBLAS's idle threads would spin inside the timings
        run(args)


def run(args) -> None:
    import numpy as np

    from securecomm.engine.index import IndexedBackend
    from securecomm.engine.match import prepare
    from securecomm.engine.tenprint import DEFAULT_THRESHOLDS, fuse
    from securecomm.synth.templates import impressions

    fingers = (2, 7)
    n, half = args.subjects, args.probes // 2
    gallery = impressions(10 * n, args.seed, 0, "plain")
    probe_t = impressions(10 * (n + half), args.seed, 2, "plain")

    def subject(templates, i: int) -> dict:
        return {pos: prepare(templates.template(10 * i + pos - 1)) for pos in fingers}

    backend = IndexedBackend()
    backend.add_many([(f"S{i}", subject(gallery, i)) for i in range(n)], threads=1)
    probes = [(f"S{i}", subject(probe_t, i)) for i in range(half)] + \
             [(None, subject(probe_t, i)) for i in range(n, n + half)]
    real = 0
    if args.fvc:
        from pathlib import Path

        from securecomm.engine.iso19794 import read_iso_file

        fingers_of: dict[str, list[Path]] = {}
        for f in sorted(Path(args.fvc).glob("*/*_*.iso")):
            fingers_of.setdefault(f"{f.parent.name}/{f.stem.split('_')[0]}", []).append(f)
        for name, files in fingers_of.items():
            backend.add(f"F:{name}", {2: prepare(read_iso_file(files[0]))})
            probes += [(f"F:{name}", {2: prepare(read_iso_file(f))}) for f in files[1:]]
            real += len(files) - 1
    th = DEFAULT_THRESHOLDS
    warm = probes[0][1]
    backend._verify(warm, backend.candidates(warm))
    backend.prescreen = min(args.keep)
    backend.prescreened(warm, backend.candidates(warm))

    cpu_full = cpu_pre = 0.0
    cpu_kept = {k: 0.0 for k in args.keep}
    out = {k: {"mates_kept": 0, "hits_lost": 0, "reviews_lost": 0, "decisions_changed": 0, "best_kept": 0}
           for k in args.keep}
    mates_on_shortlist = 0
    for mate, p in probes:
        slots = backend.candidates(p)
        t = time.process_time()
        ids, scores = backend._verify(p, slots)
        cpu_full += time.process_time() - t
        fused = fuse(scores)
        order = sorted(range(len(ids)), key=lambda i: (-fused[i], ids[i]))
        decision = th.decide(fused[order[0]])
        at = ids.index(mate) if mate in ids else None
        mates_on_shortlist += at is not None
        for k in args.keep:
            backend.prescreen = k
            t = time.process_time()
            kept = backend.prescreened(p, slots)
            took = time.process_time() - t
            if k == args.keep[0]:
                cpu_pre += took
            t = time.process_time()
            backend._verify(p, kept)
            cpu_kept[k] += time.process_time() - t
            names = {backend._ids[s] for s in kept.tolist()}
            r = out[k]
            if at is not None:
                if mate in names:
                    r["mates_kept"] += 1
                else:
                    band = th.decide(fused[at])
                    r["hits_lost"] += band == "hit"
                    r["reviews_lost"] += band == "review"
            best_kept = [i for i in order if ids[i] in names]
            r["decisions_changed"] += th.decide(fused[best_kept[0]]) != decision
            r["best_kept"] += ids[order[0]] in names
    m = len(probes)
    print(json.dumps({
        "subjects": n, "probes": m, "mated": half + real, "real_mated": real, "mates_on_shortlist": mates_on_shortlist,
        "shortlist": backend.shortlist,
        "cpu_ms_per_search": {"full": round(1e3 * cpu_full / m, 2), "prescore": round(1e3 * cpu_pre / m, 2),
                              **{f"kept_{k}": round(1e3 * cpu_kept[k] / m, 2) for k in args.keep}},
        "by_keep": {str(k): v for k, v in out.items()},
    }, indent=1))


if __name__ == "__main__":
    main()
