"""How one simulated booking's 1:N search grows with the gallery: exhaustive against indexed, two fingers.

    nice -n 10 .venv/bin/python benchmarks/bench_simulation_search.py --sizes 1000 4000 --probes 20

Builds galleries of synthetic subjects (fingers 2 and 7, as `securecomm simulate` books them) from
`synth.templates`, then searches probes that are other impressions of enrolled subjects, with the
exhaustive backend and with the candidate index (`engine.index.IndexedBackend`). Prints one JSON object:
CPU ms per search (`time.process_time`, this process) and how often the mate came first, per size. A
state-year of 10^5 bookings grows the criminal gallery to tens of thousands of subjects, so this is the
term that decides whether the 10^5 target is reachable.
"""

from __future__ import annotations

import argparse
import json
import os
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000])
    ap.add_argument("--probes", type=int, default=20)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--ranks", action="store_true",
                    help="also: where each probe's mate ranks by index code among the largest gallery (how long a "
                         "shortlist would have to be), by the summed code and by each finger's code")
    args = ap.parse_args()

    from securecomm.engine.index import IndexedBackend
    from securecomm.engine.tenprint import TenprintGallery
    from securecomm.synth.templates import BLOCK, iter_blocks

    fingers = (2, 7)
    biggest = max(args.sizes)

    def templates(impression: int, people: int) -> list[dict[int, object]]:
        out = [dict() for _ in range(people)]
        need = people * 10
        for packed in iter_blocks(BLOCK * ((need + BLOCK - 1) // BLOCK), args.seed, impression, "plain"):
            for f in range(packed.first, min(packed.first + BLOCK, need)):
                person, pos = divmod(f, 10)
                if pos + 1 in fingers:
                    out[person][pos + 1] = packed.template(f - packed.first)
        return out

    t0 = time.process_time()
    enrolled, probes = templates(0, biggest), templates(2, args.probes)
    made = time.process_time() - t0
    result = {"fingers": list(fingers), "probes": args.probes, "template_cpu_s": round(made, 1), "sizes": {},
              "load_average": os.getloadavg()}
    for size in sorted(args.sizes):
        row = {}
        for name in ("exhaustive", "indexed"):
            g = TenprintGallery(backend=IndexedBackend() if name == "indexed" else None)
            t = time.process_time()
            for i in range(size):
                g.add(f"S{i:07d}", enrolled[i])
            add = time.process_time() - t
            g.search(probes[0])  # compile / warm
            t, first = time.process_time(), 0
            for i in range(args.probes):
                res = g.search(probes[i])
                first += bool(res.candidates) and res.candidates[0].subject_id == f"S{i:07d}"
            row[name] = {"cpu_ms_per_search": round(1000 * (time.process_time() - t) / args.probes, 1),
                         "mate_first": f"{first}/{args.probes}", "add_cpu_s": round(add, 1)}
        result["sizes"][size] = row
        print(json.dumps({size: row}), flush=True)
    if args.ranks:
        result["code_ranks"] = code_ranks(enrolled[:biggest], probes)
    print(json.dumps(result, indent=1))


def code_ranks(enrolled: list, probes: list) -> dict:
    """How many probes' mates rank within the first L subjects by index code (engine.index.subject_code), for
    several L: by the summed code (what IndexedBackend shortlists) and by the union of each finger's own
    ranking (L/2 per finger). Also the sorted ranks by the summed code."""
    import numpy as np

    from securecomm.engine.index import CODE_DIMS, subject_code

    codes = np.stack([subject_code(e) for e in enrolled])
    summed, per_finger = [], []
    for i, probe in enumerate(probes):
        q = subject_code(probe)
        sim = codes @ q
        summed.append(int((sim > sim[i]).sum()))
        ranks = []
        for pos in probe:
            part = slice((pos - 1) * CODE_DIMS, pos * CODE_DIMS)
            s = codes[:, part] @ q[part]
            ranks.append(int((s > s[i]).sum()))
        per_finger.append(ranks)
    out = {"subjects": len(enrolled), "probes": len(probes), "within": {}}
    for n in (100, 200, 400, 800, 1600):
        out["within"][n] = {"summed": sum(r < n for r in summed),
                            "per_finger_union": sum(any(x < n // 2 for x in r) for r in per_finger)}
    out["summed_ranks"] = sorted(summed)
    return out


if __name__ == "__main__":
    main()
