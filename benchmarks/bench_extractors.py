"""Extractors compared where the issue asks: rolled vs plain, and a booking's CPU cost.

    .venv/bin/python benchmarks/bench_extractors.py [--fingers 30] [--bookings 4] [--seed 11]

Writes benchmarks/results/extractors.json. For each extractor (classical, learned, fused;
the fused extractor with the network on every finger here, since both impressions of a
finger are then fused):

1. **Ten-print card** (``ansi-nist/pass/pass-type-4-tpcard.an2``, 500 ppi ink card, WSQ):
   rolled thumb vs plain thumb of the same hand (1 vs 11, 6 vs 12) against the best
   score of any pair of different fingers on the card (rolled and plain, 12 records).
2. **Rolled vs plain on synthetic persons** (``securecomm.synth``): one rolled (800 x 750)
   and two plain (400 x 400) impressions of each finger of ``--fingers`` masters; genuine
   pairs rolled vs each plain of the same finger, impostor pairs rolled vs every plain of
   the other fingers; EER, FMR100, FMR1000 (``engine.fvc.error_rates``).
3. **Calibration of fused scores** (with ``--fvc-cache DIR``, the template cache of
   ``securecomm bench fvc --extractor fused --cache DIR``): the FVC2002 impostor scores of
   fused templates through the ten-print model; P(finger evidence >= k) should stay near
   10**-k, as for classical scores, and fused ten-print scores of 1, 4 and 10 random
   non-mated fingers should exceed f with probability about 10**-f.
4. **CPU per ten-print booking on the demo's mix**: ``--bookings`` synthetic persons, ten
   plain impressions each, WSQ-encoded as in a booking; decode + extraction CPU time
   (``time.process_time``), for each extractor and for the fused extractor with its default
   budget (network on index fingers only).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import sys
import time
from itertools import combinations
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SECURECOMM_SHARED", ROOT.parent / "shared"))


def card_scores(ex, match) -> dict:
    sys.path.insert(0, str(ROOT / "tests" / "engine"))
    from test_tpcard import read_type4

    card = read_type4(SHARED / "data" / "ansi-nist" / "pass" / "pass-type-4-tpcard.an2")
    fgps = [f for f in sorted(card) if f <= 12]
    temps = dict(zip(fgps, ex.extract_many([(card[f][0], card[f][1]) for f in fgps])))
    same = {(1, 11), (6, 12)}
    scores = {(a, b): match(temps[a], temps[b]) for a, b in combinations(fgps, 2)}
    impostor = max(v for k, v in scores.items() if k not in same)
    return {"right_thumb_rolled_vs_plain": round(scores[(1, 11)], 4),
            "left_thumb_rolled_vs_plain": round(scores[(6, 12)], 4),
            "best_impostor": round(impostor, 4),
            "margin": round(min(scores[(1, 11)], scores[(6, 12)]) - impostor, 4)}


def synthetic_rolled_vs_plain(ex, fingers: int, seed: int, cache: dict) -> dict:
    from securecomm.engine.fvc import error_rates
    from securecomm.engine.match import match_many, pack, prepare
    from securecomm.synth import make_master, render

    if "images" not in cache:
        rolled, plain = [], []
        for k in range(fingers):
            m = make_master(seed * 1000 + k)
            rolled.append(render(m, 1, "rolled").pixels)
            plain.append([render(m, s, "plain").pixels for s in (2, 3)])
        cache["images"] = (rolled, plain)
    rolled, plain = cache["images"]
    t0 = time.process_time()
    r_t = ex.extract_many([(p, 500.0) for p in rolled])
    p_t = ex.extract_many([(p, 500.0) for ps in plain for p in ps])
    cpu = time.process_time() - t0
    gallery = pack(p_t)
    owner = np.repeat(np.arange(fingers), 2)
    gen, imp = [], []
    for i, t in enumerate(r_t):
        s = match_many(prepare(t), gallery)
        gen.extend(s[owner == i])
        imp.extend(s[owner != i])
    r = error_rates(np.array(gen), np.array(imp))
    return {"fingers": fingers, "genuine": len(gen), "impostor": len(imp), "eer_pct": round(r.eer_pct, 3),
            "fmr100_pct": round(r.fmr100_pct, 3), "fmr1000_pct": round(r.fmr1000_pct, 3),
            "genuine_min_q05_median": [round(float(np.quantile(gen, q)), 4) for q in (0.0, 0.05, 0.5)],
            "impostor_max": round(float(np.max(imp)), 4),
            "extraction_cpu_s": round(cpu, 1)}


def booking_cost(ex, bookings: int, seed: int, positions: bool) -> dict:
    import wsq  # noqa: F401  (registers the WSQ codec with Pillow)
    from PIL import Image

    from securecomm.synth import make_person, render

    books = []
    for k in range(bookings):
        person = make_person(seed + k)
        fingers = []
        for pos, m in sorted(person.fingers.items()):
            if m is None:
                continue
            buf = io.BytesIO()
            Image.fromarray(render(m, 7000 + k, "plain").pixels).save(buf, "WSQ")
            fingers.append((pos, buf.getvalue()))
        books.append(fingers)
    cpu = []
    for fingers in books:
        t0 = time.process_time()
        imgs = [np.asarray(Image.open(io.BytesIO(b))) for _, b in fingers]
        t1 = time.process_time()
        ex.extract_many([(i, 500.0) for i in imgs], positions=[p for p, _ in fingers] if positions else None)
        cpu.append((t1 - t0, time.process_time() - t1, len(fingers)))
    c = np.array(cpu)
    return {"bookings": bookings, "fingers_per_booking": round(float(c[:, 2].mean()), 1),
            "decode_cpu_s": round(float(c[:, 0].mean()), 3), "extract_cpu_s": round(float(c[:, 1].mean()), 3),
            "total_cpu_s": round(float(c[:, :2].sum(axis=1).mean()), 3)}


def fused_calibration(cache_dir: Path) -> dict:
    from securecomm.engine import fvc
    from securecomm.engine.tenprint import finger_evidence, fuse

    data = SHARED / "data" / "fvc2002"
    store = fvc.TemplateCache(cache_dir, "fused")
    imps = []
    for db in fvc.find_databases(data):
        ppi = fvc.database_ppi(db)
        samples = fvc.list_samples(db)
        temps = []
        for smp in samples:
            hit = store.get(fvc.TemplateCache.key(smp.image, ppi))
            if hit is None:
                raise SystemExit(f"{smp.image} is not in the cache {cache_dir}: run securecomm bench fvc first")
            temps.append(hit[0])
        _, imp, _ = fvc.all_pairs_scores(temps, np.array([smp.finger for smp in samples]))
        imps.append(imp)
    pooled = np.concatenate(imps)
    raw = _raw_average_model(store, data)
    ev = finger_evidence(pooled)
    rng = np.random.default_rng(0)
    ten = {}
    for n in (1, 4, 10):
        m = np.full((200_000, 10), np.nan)
        m[:, :n] = rng.choice(pooled, (200_000, n))
        f = fuse(m)
        ten[f"{n}_fingers"] = {f"P(F>={k})": float(np.mean(f >= k)) for k in (1, 2, 3)}
    return {"impostor_scores": int(pooled.size),
            "P(evidence>=k)": {str(k): float(np.mean(ev >= k)) for k in (1, 2, 3)},
            "impostor_q50_q99_max": [round(float(np.quantile(pooled, q)), 4) for q in (0.5, 0.99, 1.0)],
            "tenprint": ten, "raw_average_model": raw}


def _raw_average_model(store, data: Path) -> dict:
    """engine.fusion.FUSED_IMPOSTOR from the same pairs: the impostor model of the raw averages
    (deciles, 99th percentile, mean excess beyond it), scored with the map to the classical scale off."""
    from securecomm.engine import fusion, fvc

    saved = fusion._KNOTS
    grid = np.linspace(0.01, 0.5, 8)
    fusion._KNOTS = (grid, grid, 1.0)  # the identity map: scores are the raw averages
    try:
        imps = []
        for db in fvc.find_databases(data):
            ppi = fvc.database_ppi(db)
            samples = fvc.list_samples(db)
            temps = [store.get(fvc.TemplateCache.key(smp.image, ppi))[0] for smp in samples]
            imps.append(fvc.all_pairs_scores(temps, np.array([smp.finger for smp in samples]))[1])
    finally:
        fusion._KNOTS = saved
    from bench_fvc import impostor_model  # the same fit as the classical model's

    m = impostor_model(np.concatenate(imps))
    return {"quantiles": m["IMPOSTOR_QUANTILES"], "q99": m["IMPOSTOR_Q99"], "tail_beta_99": m["TAIL_BETA_99"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fingers", type=int, default=30)
    ap.add_argument("--bookings", type=int, default=4)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--only", default="card,synthetic,booking")
    ap.add_argument("--fvc-cache", type=Path, default=None)
    args = ap.parse_args()
    from securecomm.engine import extractors
    from securecomm.engine.match import match

    only = set(args.only.split(","))
    out = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                       "load_average_at_start": os.getloadavg()}, "date": time.strftime("%Y-%m-%d %H:%M")}
    cache: dict = {}
    if args.fvc_cache is not None:
        out["fused_calibration_fvc2002"] = fused_calibration(args.fvc_cache)
        print("calibration", json.dumps(out["fused_calibration_fvc2002"]), flush=True)
    for name in extractors.NAMES:
        ex = extractors.get(name)
        ex.learned_positions = None  # every finger through the network: both sides of each pair fused
        res = {}
        if "card" in only:
            res["tenprint_card"] = card_scores(ex, match)
        if "synthetic" in only:
            res["synthetic_rolled_vs_plain"] = synthetic_rolled_vs_plain(ex, args.fingers, args.seed, cache)
        if "booking" in only:
            res["booking_all_fingers"] = booking_cost(ex, args.bookings, args.seed, positions=False)
            if name == "fused":
                ex.learned_positions = extractors.LEARNED_POSITIONS
                res["booking_default_budget"] = booking_cost(ex, args.bookings, args.seed, positions=True)
        out[name] = res
        print(name, json.dumps(res), flush=True)
    out["machine"]["load_average_at_end"] = os.getloadavg()
    dest = ROOT / "benchmarks" / "results"
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "extractors.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
