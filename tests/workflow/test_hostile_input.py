"""Hostile input through the pipeline on SQLite and PostgreSQL: answered with an ERRT, never a failed job."""

from __future__ import annotations

from collections import OrderedDict

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from securecomm.interchange.ebts import parse_errt
from securecomm.store.db import make_engine, migrate
from securecomm.store.workflow_models import Job, Transaction
from securecomm.workflow import stages
from securecomm.workflow.pipeline import Worker, responses, submit, transaction_status
from securecomm.workflow.stages import PipelineConfig


def _renamed(raw: bytes, tcn: str, new_tcn: str, patch) -> bytes:
    """Same length: a new TCN and a patched 2.018 NAM, so every record length stays right."""
    out = raw.replace(tcn.encode(), new_tcn.ljust(len(tcn), "0")[: len(tcn)].encode())
    i = out.index(b"\x1d2.018:") + len(b"\x1d2.018:")
    j = out.index(b"\x1d", i)
    name = patch(out[i:j])
    assert len(name) == j - i
    return out[:i] + name + out[j:]


def test_nul_and_escape_in_the_name_get_an_errt_not_a_failed_job(store, scenario, monkeypatch):
    good, tcn = scenario.bookings["b2_citizen"], scenario.tcns["b2_citizen"]
    cases = {
        "NUL": _renamed(good, tcn, "HOSTILE-NUL", lambda n: n[:2] + b"\x00" + n[3:]),
        "ESC": _renamed(good, tcn, "HOSTILE-ESC", lambda n: n[:1] + b"\x1b[2J" + n[5:]),
    }
    tcns = {k: submit(store, raw).tcn for k, raw in cases.items()}
    # a booking the reader accepts (pixels decoded) but validate rejects: its pixels must not stay cached
    unknown = _renamed(good, tcn, "HOSTILE-ORI", lambda n: n).replace(b"MA0130100", b"MA9999999")
    rejected_after_parse = submit(store, unknown).tcn
    monkeypatch.setattr(stages, "_CACHE", OrderedDict())
    Worker(store, PipelineConfig(min_fingers=2), lease_seconds=30).run()
    assert transaction_status(store, rejected_after_parse)["state"] == "rejected"
    assert not [k for k in stages._CACHE if k[0] in (*tcns.values(), rejected_after_parse)]
    for kind, t in tcns.items():
        st = transaction_status(store, t)
        assert st["state"] == "rejected", (kind, st)
        rows = responses(store, t)
        assert [r.kind for r in rows] == ["ERRT"], kind
        errors = parse_errt(rows[0].payload).errors
        assert any(e.field == "2.018 NAM" and e.record.startswith("Type-2") for e in errors), (kind, errors)


def test_an_oversized_transaction_is_refused_before_anything_is_stored(db_url, monkeypatch):
    engine = make_engine(db_url)
    migrate(engine)
    monkeypatch.setenv("SECURECOMM_MAX_TRANSACTION_BYTES", "4096")
    raw = b"1.001:40\x1d1.002:0500\x1d1.009:BIG-1\x1c" + b"\x00" * 5000
    res = submit(engine, raw)
    assert (res.outcome, res.state) == ("refused", "refused") and "maximum transaction size" in res.message
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Transaction)) == 0
        assert s.scalar(select(func.count()).select_from(Job)) == 0
    engine.dispose()


def test_the_parse_cache_is_bounded_in_bytes(monkeypatch):
    import datetime as dt
    import hashlib
    from types import SimpleNamespace

    import numpy as np

    from securecomm.interchange import write_booking
    from securecomm.domain.records import Biographic, Booking, Charge, FingerImage

    def car(n: int) -> SimpleNamespace:
        yy, xx = np.mgrid[0:200, 0:200]
        px = (128 + 90 * np.sin(np.hypot(yy - 90, xx - 100) / 2.6 + n)).astype(np.uint8)
        b = Booking(ori="MA0130100", tcn=f"CACHE-{n}", dai="DCFBIWA0Z", date=dt.date(2012, 3, 2),
                    person=Biographic("TESTER", "ALEX", dt.date(1980, 1, 1), "X", "MA"), arrest_date=dt.date(2012, 3, 1),
                    charges=(Charge("1313"),), fingers={p: FingerImage(p, px, 500.0, 1) for p in (1, 2)})
        raw = write_booking(b)
        return SimpleNamespace(tcn=b.tcn, sha256=hashlib.sha256(raw).hexdigest(), raw=raw)

    monkeypatch.setattr(stages, "_CACHE", OrderedDict())
    monkeypatch.setattr(stages, "CACHE_MAX_BYTES", 3 * 2 * 200 * 200)  # three bookings of two 200x200 fingers
    txs = [car(n) for n in range(5)]
    for tx in txs:
        stages._booking_cache(tx, 2)
    assert [k[0] for k in stages._CACHE] == ["CACHE-2", "CACHE-3", "CACHE-4"]
    assert sum(v[2] for v in stages._CACHE.values()) <= stages.CACHE_MAX_BYTES
    stages.forget_booking(txs[3])
    assert [k[0] for k in stages._CACHE] == ["CACHE-2", "CACHE-4"]
