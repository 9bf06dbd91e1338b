"""FVC-layout synthetic databases: ``OUT/DB1/F_I.png`` plus ground truth ``F_I.iso``.

The layout is the one ``securecomm bench fvc`` reads (fingers 1..N,
impressions 1..K, a ``ppi`` file); the ground-truth minutiae of each image
are an ISO/IEC 19794-2 record next to it, so ``--templates iso`` measures the
matcher on perfect templates and ``--templates extract`` the whole engine.
``synth.json`` records the seed, the generator version and each finger's
master parameters, so a database can be regenerated instead of shipped.
"""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Iterator

from PIL import Image

from securecomm.engine.iso19794 import write_iso
from securecomm.synth.impression import SIZES, render
from securecomm.synth.master import _check_int, make_master
from securecomm.synth.persons import finger_seed

GENERATOR_VERSION = "securecomm.synth 1"


def _check(fingers: int, impressions: int, seed: int, kind: str, workers: int) -> None:
    for name, v, lo in (("fingers", fingers, 1), ("impressions", impressions, 1), ("seed", seed, 0),
                        ("workers", workers, 1)):
        _check_int(name, v, lo)
    if kind not in SIZES:
        raise ValueError(f"kind must be one of {tuple(SIZES)}, got {kind!r}")


def _write_finger(args: tuple[Path, int, int, int, str]) -> dict:
    """Render and write every impression of one finger; returns its manifest entry."""
    db, finger, impressions, seed, kind = args
    master = make_master(finger_seed(seed, finger))
    counts = []
    for i in range(1, impressions + 1):
        imp = render(master, i, kind)
        Image.fromarray(imp.pixels).save(db / f"{finger}_{i}.png", optimize=False, compress_level=3)
        (db / f"{finger}_{i}.iso").write_bytes(write_iso(imp.minutiae))
        counts.append(len(imp.minutiae))
    entry = asdict(master)
    entry["minutiae"] = counts
    return entry


def write_database(out: Path, fingers: int, impressions: int, seed: int, kind: str = "plain",
                   workers: int = 1, name: str = "DB1",
                   progress: Callable[[int, int], None] | None = None) -> Path:
    """Write ``out/name`` with ``fingers`` x ``impressions`` images; returns the database folder.

    Output bytes depend only on (fingers, impressions, seed, kind), never on ``workers``.
    """
    _check(fingers, impressions, seed, kind, workers)
    db = Path(out) / name
    db.mkdir(parents=True, exist_ok=True)
    (db / "ppi").write_text("500\n")
    jobs = [(db, f, impressions, int(seed), kind) for f in range(1, fingers + 1)]
    entries: list[dict] = []
    results: Iterator[dict]
    pool = ProcessPoolExecutor(max_workers=workers) if workers > 1 else None
    try:
        results = pool.map(_write_finger, jobs) if pool else map(_write_finger, jobs)
        for done, entry in enumerate(results, 1):
            entries.append(entry)
            if progress:
                progress(done, fingers)
    finally:
        if pool:
            pool.shutdown()
    manifest = {"generator": GENERATOR_VERSION, "seed": int(seed), "fingers": fingers,
                "impressions": impressions, "kind": kind, "image_size": list(SIZES[kind]),
                "masters": entries}
    (db / "synth.json").write_text(json.dumps(manifest, indent=1))
    return db
