"""Keying a submission by its Type-1 header before the full reader runs."""

from __future__ import annotations

from securecomm.workflow.header import peek_header
from securecomm.workflow.stages import response_tcn, safe_tcn

GS, FS = b"\x1d", b"\x1c"


def _type1(*fields: bytes) -> bytes:
    return GS.join(fields) + FS + b"2.001:20" + GS + b"2.002:00" + FS


def test_reads_tcn_ori_and_tot():
    h = peek_header(_type1(b"1.001:99", b"1.002:0500", b"1.004:CAR", b"1.008:MA0130100", b"1.009:MA-0001"))
    assert (h.tcn, h.ori, h.tot, h.readable) == ("MA-0001", "MA0130100", "CAR", True)
    assert len(h.sha256) == 64


def test_damaged_header_is_keyed_by_content_hash():
    for raw in (b"", b"garbage without separators", _type1(b"1.001:9", b"1.004:CAR"),
                _type1(b"1.009:A B"), b"\x1c" * 10,
                # a TCN alone (no sender, no type): it must not reserve that TCN
                _type1(b"1.001:41", b"1.009:MA0130100-20120601-0001"),
                _type1(b"1.001:99", b"1.002:0500", b"1.004:CAR", b"1.008:NOTANORI", b"1.009:MA-0001")):
        h = peek_header(raw)
        assert not h.readable and h.tcn.startswith("UNREAD-") and len(h.tcn) <= 40
    assert peek_header(b"x").tcn != peek_header(b"y").tcn  # different damage, different keys


def test_response_tcns_are_writable_and_bounded():
    assert safe_tcn("MA/01.7") == "MA-01-7"
    long = "X" * 40
    for kind in ("SRE", "ERRT", "IAR"):
        t = response_tcn(long, kind)
        assert len(t) <= 40 and t.endswith("-" + kind)
