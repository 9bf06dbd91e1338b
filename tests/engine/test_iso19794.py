"""ISO/IEC 19794-2:2005 records: the SDK templates read, round trips hold, bad bytes are named."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from securecomm.engine.errors import TemplateError
from securecomm.engine.iso19794 import read_iso, read_iso_file, read_views, write_iso
from securecomm.engine.template import BIFURCATION, ENDING, Template


def _template(n: int = 5) -> Template:
    rng = np.random.default_rng(3)
    return Template(rng.uniform(0, 299, n).astype(np.float32), rng.uniform(0, 399, n).astype(np.float32),
                    rng.uniform(0, 2 * np.pi - 0.01, n).astype(np.float32),
                    rng.choice([ENDING, BIFURCATION], n).astype(np.uint8),
                    rng.integers(0, 101, n).astype(np.uint8), 300, 400)


def test_every_fvc2002_iso_reads(fvc2002):
    files = sorted(fvc2002.glob("DB*/*.iso"))
    assert len(files) == 320
    for f in files:
        t = read_iso_file(f)
        assert 10 <= len(t) <= 80
        assert t.width == 300 and t.height == 400 and t.ppi == 500
        assert np.all(t.angle >= 0) and np.all(t.angle < 2 * np.pi)


def test_sdk_record_rewrites_byte_for_byte(fvc2002):
    for f in sorted(fvc2002.glob("DB*/101_1.iso")):
        data = f.read_bytes()
        assert write_iso(read_iso(data)) == data


def test_round_trip_quantisation():
    t = _template(40)
    back = read_iso(write_iso(t, finger_position=3))
    assert len(back) == 40
    assert np.max(np.abs(back.x - t.x)) <= 0.5 and np.max(np.abs(back.y - t.y)) <= 0.5
    da = np.abs(np.angle(np.exp(1j * (back.angle.astype(float) - t.angle))))
    assert da.max() <= np.pi / 256 + 1e-6
    assert np.array_equal(back.kind, t.kind) and np.array_equal(back.quality, t.quality)
    assert read_views(write_iso(t, finger_position=3))[0].finger_position == 3


def test_resolution_scales_to_500ppi():
    data = bytearray(write_iso(_template(3)))
    struct.pack_into(">HH", data, 18, 394, 394)  # 1000 ppi: coordinates halve
    t = read_iso(bytes(data))
    assert t.width == 150 and t.ppi == 1001
    assert np.allclose(t.x, np.rint(_template(3).x) * 500 / 1001, atol=1e-3)


def test_empty_template_round_trips():
    t = Template.empty(200, 300)
    assert len(read_iso(write_iso(t))) == 0


@pytest.mark.parametrize("mutate, message", [
    (lambda b: b[:10], "truncated"),
    (lambda b: b[:-3], "truncated"),
    (lambda b: b"XMR\x00" + b[4:], "format identifier"),
    (lambda b: b[:4] + b" 30\x00" + b[8:], "version"),
    (lambda b: b + b"\x00", "trailing"),
    (lambda b: b[:27] + bytes([200]) + b[28:], "minutiae"),
    (lambda b: b[:28] + bytes([0xC0]) + b[29:], "type code 3"),
    (lambda b: b[:14] + struct.pack(">H", 0) + b[16:], "image size"),
    (lambda b: b[:24] + bytes([11]) + b[25:], "finger position"),
])
def test_corrupt_records_raise_named_errors(mutate, message):
    good = write_iso(_template(5))
    bad = bytearray(mutate(good))
    # keep the length field consistent where the test is about another field
    if message not in ("truncated", "trailing") and len(bad) >= 12:
        struct.pack_into(">I", bad, 8, len(bad))
    with pytest.raises(TemplateError, match=message):
        read_iso(bytes(bad))


def test_not_bytes_rejected():
    with pytest.raises(TemplateError):
        read_iso("FMR")  # type: ignore[arg-type]
