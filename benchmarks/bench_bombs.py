"""Memory bombs against the worker: peak memory and time per hostile input (issue 13).

    nice -n 10 .venv/bin/python benchmarks/bench_bombs.py [--out benchmarks/results] [--src DIR]

Builds the hostile inputs of issue 13 (synthetic data, nothing real), submits
each set to a fresh SQLite store and runs one pipeline worker
(``Worker(...).run()``, what ``securecomm work`` runs) in a child process, which
reports its peak resident memory (``VmHWM``: ``ru_maxrss`` would carry over the
parent's peak across fork+exec) and CPU time. The bombs are JPEG 2000, decoded in
the worker process itself.

* ``jp2-40x81MP``: one CAR with 40 Type-14 JPEG 2000 records of 9000 x 9000
  pixels each (real codestreams of a flat image, about 1 KB each).
* ``many-7KB``: ``--many`` (30) CARs of about 7 KB, each with 10 such records.
* ``rejected-in-budget``: 5 CARs whose 10 JPEG 2000 images (3000 x 3000) are
  within the pixel budget but whose ORI is unknown: decoded, then rejected by
  ``validate`` (the parse cache must not keep them).
* ``200MB``: one CAR of 200 MB (a Type-14 whose data is 200 MB): measured in the
  submitting process; it must be refused before being stored.

``--src DIR`` runs the children against another source tree (e.g. a checkout of
an older commit) to measure the same inputs before a fix. Results go to
``OUT/bombs.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _flat_j2k(side: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (side, side), 200).save(buf, format="JPEG2000", no_jp2=True, tile_size=(side, side),
                                           num_resolutions=6)
    return buf.getvalue()


def _tagged(rtype: int, fields: list[tuple[int, bytes]]) -> bytes:
    body = b"".join(b"\x1d" + f"{rtype}.{n:03d}:".encode() + v for n, v in fields) + b"\x1c"
    for digits in range(1, 12):
        total = len(f"{rtype}.001:") + digits + len(body)
        if len(str(total)) == digits:
            return f"{rtype}.001:{total}".encode() + body
    raise ValueError("record too long")


def _car(tcn: str, images: list[tuple[int, int, int, str, bytes]], *, ori: str = "MA0130100") -> bytes:
    """A CAR: the Type-1/Type-2 securecomm writes, plus the given Type-14 (fgp, w, h, cga, data) records."""
    from securecomm.interchange import write_booking
    from securecomm.domain.records import Biographic, Booking, Charge
    from securecomm.interchange.tokenizer import tokenize

    text_only = write_booking(Booking(
        ori=ori, tcn=tcn, dai="DCFBIWA0Z", date=dt.date(2012, 6, 1),
        person=Biographic("BOMB", "TEST", dt.date(1980, 1, 1), "X", "MA"), arrest_date=dt.date(2012, 6, 1),
        charges=(Charge("1313"),)))
    recs = tokenize(text_only)[0]
    t1, t2 = recs[0], recs[1]
    cnt = b"\x1e".join([f"1\x1f{1 + len(images)}".encode(), b"2\x1f0"] +
                       [f"14\x1f{i}".encode() for i in range(1, len(images) + 1)])
    t1_fields = [(n, cnt if n == 3 else t1.fields[n].raw) for n in t1.field_order if n != 1]
    out = [_tagged(1, t1_fields), text_only[t2.offset:t2.offset + t2.length]]
    for i, (fgp, w, h, cga, data) in enumerate(images, start=1):
        out.append(_tagged(14, [(2, str(i).encode()), (3, b"1"), (4, ori.encode()), (5, b"20120601"),
                                (6, str(w).encode()), (7, str(h).encode()), (8, b"1"), (9, b"500"), (10, b"500"),
                                (11, cga.encode()), (12, b"8"), (13, str(fgp).encode()), (999, data)]))
    return b"".join(out)


def build(folder: Path, many: int = 30) -> dict[str, list[Path]]:
    folder.mkdir(parents=True, exist_ok=True)
    big, mid = _flat_j2k(9000), _flat_j2k(3000)
    sets: dict[str, list[Path]] = {}

    def save(name: str, files: list[bytes]) -> None:
        paths = []
        for k, data in enumerate(files):
            p = folder / f"{name}-{k:03d}.an2"
            p.write_bytes(data)
            paths.append(p)
        sets[name] = paths

    save("jp2-40x81MP", [_car("BOMB-40", [(1 + i % 10, 9000, 9000, "JP2", big) for i in range(40)])])
    save("many-7KB", [_car(f"BOMB-7K-{k:03d}", [(p, 9000, 9000, "JP2", big) for p in range(1, 11)])
                      for k in range(many)])
    save("rejected-in-budget", [_car(f"BOMB-ORI-{k}", [(p, 3000, 3000, "JP2", mid) for p in range(1, 11)],
                                     ori="ZZ9999999") for k in range(5)])
    huge = _car("BOMB-200MB", [(1, 3000, 3000, "JP2", mid + bytes(200 * 1024 * 1024 - 2000))])
    save("200MB", [huge])
    return sets


_CHILD = r"""
import resource, sys, time
from securecomm.store.db import make_engine, migrate
from securecomm.workflow.pipeline import Worker, submit, transaction_status
from securecomm.workflow.stages import PipelineConfig
url, mode, files = sys.argv[1], sys.argv[2], sys.argv[3:]
engine = make_engine(url)
t0, c0 = time.perf_counter(), time.process_time()
outcomes = {}
if mode == "submit":
    for f in files:
        res = submit(engine, open(f, "rb").read())
        outcomes[res.outcome] = outcomes.get(res.outcome, 0) + 1
else:
    Worker(engine, PipelineConfig(min_fingers=2), lease_seconds=120).run()
    from sqlalchemy import text
    with engine.connect() as c:
        for state, n in c.execute(text("select state, count(*) from transactions group by state")):
            outcomes[state] = n
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print({"peak_mb": hwm / 1024, "wall_s": time.perf_counter() - t0,
       "cpu_s": time.process_time() - c0, "outcomes": outcomes})
"""


def _child(url: str, mode: str, files: list[Path], src: str | None) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    if src:
        env["PYTHONPATH"] = src
    proc = subprocess.run([sys.executable, "-c", _CHILD, url, mode, *map(str, files)], env=env,
                          capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        return {"error": proc.stderr[-2000:], "returncode": proc.returncode}
    out = eval(proc.stdout.strip().splitlines()[-1])  # noqa: S307 - our own child's dict literal
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--src", help="PYTHONPATH for the measured children (another checkout's src)")
    ap.add_argument("--only", nargs="*", help="run only these sets")
    ap.add_argument("--many", type=int, default=30, help="number of ~7 KB files in the many-7KB set")
    args = ap.parse_args()
    results: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} cores (shared)",
                     "python": platform.python_version(), "src": args.src or "this checkout", "sets": {}}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        sets = build(Path(tmp) / "bombs", args.many)
        results["build_s"] = round(time.perf_counter() - t0, 1)
        for name, files in sets.items():
            if args.only and name not in args.only:
                continue
            url = f"sqlite:///{tmp}/{name}.db"
            from securecomm.store.db import make_engine, migrate

            engine = make_engine(url)
            migrate(engine)
            _seed_agency(engine)
            engine.dispose()
            sub = _child(url, "submit", files, args.src)
            work = _child(url, "work", [], args.src)
            size = sum(p.stat().st_size for p in files)
            results["sets"][name] = {"files": len(files), "bytes": size, "submit": sub, "work": work}
            print(f"{name}: {len(files)} file(s), {size / 1e6:.2f} MB; submit {sub}; work {work}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bombs.json").write_text(json.dumps(results, indent=2, default=str))
    print(f"wrote {args.out / 'bombs.json'}")


def _seed_agency(engine) -> None:
    """The booking agency MA0130100 known to the store (the bombs must get past nothing but the reader)."""
    from sqlalchemy.orm import Session

    from securecomm.jurisdictions import load_agencies

    with Session(engine) as s:
        load_agencies(s, ROOT / "src" / "securecomm" / "data" / "agencies_example.csv")
        s.commit()


if __name__ == "__main__":
    main()
