"""Hostile input through the pipeline on SQLite and PostgreSQL: answered with an ERRT, never a failed job."""

from __future__ import annotations

from securecomm.interchange.ebts import parse_errt
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


def test_nul_and_escape_in_the_name_get_an_errt_not_a_failed_job(store, scenario):
    good, tcn = scenario.bookings["b2_citizen"], scenario.tcns["b2_citizen"]
    cases = {
        "NUL": _renamed(good, tcn, "HOSTILE-NUL", lambda n: n[:2] + b"\x00" + n[3:]),
        "ESC": _renamed(good, tcn, "HOSTILE-ESC", lambda n: n[:1] + b"\x1b[2J" + n[5:]),
    }
    tcns = {k: submit(store, raw).tcn for k, raw in cases.items()}
    Worker(store, PipelineConfig(min_fingers=2), lease_seconds=30).run()
    for kind, t in tcns.items():
        st = transaction_status(store, t)
        assert st["state"] == "rejected", (kind, st)
        rows = responses(store, t)
        assert [r.kind for r in rows] == ["ERRT"], kind
        errors = parse_errt(rows[0].payload).errors
        assert any(e.field == "2.018 NAM" and e.record.startswith("Type-2") for e in errors), (kind, errors)
