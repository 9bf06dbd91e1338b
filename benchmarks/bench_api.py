"""Concurrent clients against `securecomm serve` on loopback: submissions and polling (issue 11).

    nice -n 10 .venv/bin/python benchmarks/bench_api.py [--clients 50] [--seconds 300] [--think S] [--db URL]

Makes a fresh store (SQLite in a temporary folder by default, or ``--db``), an
agency user per client with a token, starts ``securecomm serve`` as a child
process, and runs ``--clients`` threads for ``--seconds``: each submits a
header-only CAR (the queue stores it; no worker runs, so this measures the API,
not the matcher) every ``--submit-every`` requests and otherwise polls its own
bookings (``GET /bookings/{tcn}``, ``GET /bookings``, ``GET /bookings/{tcn}/responses``).
``--think S`` makes each client pause S seconds on average between its requests, as an
agency's system polling for answers does (and start at a random point of its first pause, so
the 50 first submissions do not arrive in one burst); without it the clients send back to
back and the run measures the server saturated (latency = queueing behind the other clients).
Reports requests, errors (any status other than the expected), and latency
percentiles of reads and of submissions. Every read writes an audit row, which the
server's batch sealer puts on the hash chain, as in production; the report says how
many rows were left unsealed at the end (0: the sealer kept up and sealed the rest at
shutdown).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
#: (kind, start, seconds) of every request (``--samples``)
SAMPLES: list[tuple[str, float, float]] = []
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def setup(url: str, clients: int, folder: Path) -> list[tuple[str, str]]:
    from securecomm.domain.principal import Role
    from securecomm.services import UnitOfWork, config, tokens, users
    from securecomm.store.db import open_store

    engine, sessions = open_store(url)
    admin = users.bootstrap_admin(sessions, "bench-admin")
    admin = admin.principal() if admin else users.principal_for(sessions(), "bench-admin")
    oris = [f"MA{n:07d}" for n in range(clients)]
    csv = folder / "agencies.csv"
    csv.write_text("ori,name,state,county,field_office\n" + "".join(f"{o},Agency {o},MA,Suffolk,Boston\n"
                                                                     for o in oris))
    out = []
    with UnitOfWork(sessions, admin, write=True) as uow:
        config.load_agencies(uow, csv)
        for o in oris:
            users.add_user(uow, f"bench-{o}", Role.AGENCY, ori=o)
            tok, _ = tokens.issue_token(uow, f"bench-{o}", days=1)
            out.append((o, tok))
    engine.dispose()
    return out


def client(c: httpx.Client, ori: str, until: float, every: int, reads: list, writes: list,
           errors: list, think: float = 0.0, seed: int = 0) -> None:
    """One agency's client: closed loop, pausing ``think`` seconds on average (uniform 0.5-1.5x, seeded)
    between requests; ``think=0`` sends the next request as soon as the answer is in (saturation).

    ``c`` is made before the clock starts: making an ``httpx.Client`` costs tens of milliseconds of CPU
    (an SSL context, even for http), and 50 of them at once would stall the run's first second."""
    rng = random.Random(seed)
    mine: list[str] = []
    n = 0
    with c:
        if think > 0:  # agencies do not start in step: each begins at a random point of its first pause
            time.sleep(think * rng.uniform(0.0, 1.0))
        while time.monotonic() < until:
            n += 1
            t0 = time.perf_counter()
            try:
                if not mine or n % every == 0:
                    tcn = f"B{n:06d}"
                    raw = b"1.001:0\x1d1.004:CAR\x1d1.008:" + ori.encode() + b"\x1d1.009:" + tcn.encode() + b"\x1c"
                    r = c.post("/api/v1/bookings", content=raw, headers={"Content-Type": "application/octet-stream"})
                    ok = r.status_code == 202
                    if ok:
                        mine.append(r.json()["tcn"])
                    writes.append(time.perf_counter() - t0)
                    SAMPLES.append(("submit", t0, writes[-1]))
                else:
                    path = (f"/api/v1/bookings/{mine[n % len(mine)]}", "/api/v1/bookings?limit=20",
                            f"/api/v1/bookings/{mine[-1]}/responses")[n % 3]
                    r = c.get(path)
                    ok = r.status_code == 200
                    reads.append(time.perf_counter() - t0)
                    SAMPLES.append(("read", t0, reads[-1]))
                if not ok:
                    errors.append(f"{r.status_code} {r.text[:120]}")
            except httpx.HTTPError as exc:
                errors.append(repr(exc)[:120])
            if think > 0:
                time.sleep(max(0.0, min(think * rng.uniform(0.5, 1.5), until - time.monotonic())))


def warm_up(base: str, creds: list[tuple[str, str]], workers: int) -> None:
    """One submission and its reads per server process before the clock starts (the first request of a
    process imports the ANSI/NIST readers and opens its connections: ~1 s, not what the run measures)."""
    ori, token = creds[0]
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
        for n in range(4 * max(1, workers)):
            tcn = f"W{n:06d}"
            raw = b"1.001:0\x1d1.004:CAR\x1d1.008:" + ori.encode() + b"\x1d1.009:" + tcn.encode() + b"\x1c"
            c.post("/api/v1/bookings", content=raw, headers={"Content-Type": "application/octet-stream"})
            c.get(f"/api/v1/bookings/{tcn}")
            c.get("/api/v1/bookings?limit=20")
            c.get(f"/api/v1/bookings/{tcn}/responses")


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and its children (uvicorn workers), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == pid or int(fields[1]) == pid:  # fields[1]: the parent's pid
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def audit_pending(url: str) -> int:
    """Audit rows committed but not yet on the hash chain (what the server's sealer has still to do)."""
    from securecomm.store import audit
    from securecomm.store.db import open_store

    engine, sessions = open_store(url, upgrade=False)
    try:
        with sessions() as s:
            return audit.pending(s)
    finally:
        engine.dispose()


def audit_chain(url: str) -> dict:
    """The audit chain after the server stopped (its sealer seals what is left at shutdown)."""
    from securecomm.store import audit
    from securecomm.store.db import open_store

    engine, sessions = open_store(url, upgrade=False)
    try:
        with sessions() as s:
            rep = audit.verify(s)
        return {"audit_rows_sealed": rep.rows, "audit_unsealed_after_shutdown": rep.unsealed, "audit_chain_ok": rep.ok}
    finally:
        engine.dispose()


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000 if len(values) > 1 else values[0] * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--submit-every", type=int, default=10)
    ap.add_argument("--db", default=None)
    ap.add_argument("--out", default=None, help="write the figures as JSON here")
    ap.add_argument("--samples", default=None, help="write every request's kind, start and latency (CSV) here")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes of the server")
    ap.add_argument("--think", type=float, default=0.0,
                    help="mean seconds a client waits between its requests (an agency polling); 0: none")
    args = ap.parse_args()
    load_before = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        folder = Path(tmp)
        url = args.db or f"sqlite:///{folder / 'api.db'}"
        creds = setup(url, args.clients, folder)
        port = free_port()
        env = {**os.environ, "SECURECOMM_ACTOR": "bench-admin"}
        server = subprocess.Popen([str(BIN / "securecomm"), "serve", "--port", str(port), "--db", url,
                                   "--rate", "0", "--workers", str(args.workers)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(100):
                try:
                    if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            warm_up(base, creds, args.workers)
            reads, writes, errors = [], [], []
            conns = [httpx.Client(base_url=base, headers={"Authorization": f"Bearer {t}"}, timeout=30)
                     for _, t in creds]
            until = time.monotonic() + args.seconds
            threads = [threading.Thread(target=client, args=(conns[i], o, until, args.submit_every, reads, writes,
                                                             errors, args.think, i))
                       for i, (o, _) in enumerate(creds)]
            t0 = time.monotonic()
            t0_perf = time.perf_counter()
            cpu0 = tree_cpu(server.pid)
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.monotonic() - t0
            server_cpu = tree_cpu(server.pid) - cpu0
            pending_at_end = audit_pending(url)
        finally:
            server.terminate()
            server.wait(30)
        chain = audit_chain(url)
        figures = {"clients": args.clients, "seconds": round(wall, 1), "store": url.split(":")[0],
                   "requests": len(reads) + len(writes), "errors": len(errors), "first_errors": errors[:5],
                   "requests_per_s": round((len(reads) + len(writes)) / wall, 1),
                   "read_p50_ms": round(pct(reads, 50), 1), "read_p95_ms": round(pct(reads, 95), 1),
                   "submit_p50_ms": round(pct(writes, 50), 1), "submit_p95_ms": round(pct(writes, 95), 1),
                   "server_cpu_s": round(server_cpu, 1),
                   "audit_pending_at_end": pending_at_end, **chain,
                   "server_cpu_ms_per_request": round(1000 * server_cpu / max(1, len(reads) + len(writes)), 2),
                   "workers": args.workers, "think_s": args.think, "cpus": os.cpu_count(), "load_before": load_before,
                   "load_after": [round(x, 2) for x in os.getloadavg()],
                   "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
        print(json.dumps(figures, indent=2))
        if args.samples:
            Path(args.samples).write_text("kind,start_s,latency_ms\n" + "".join(
                f"{k},{t - t0_perf:.4f},{1000 * d:.2f}\n" for k, t, d in sorted(SAMPLES, key=lambda x: x[1])))
        if args.out:
            Path(args.out).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
