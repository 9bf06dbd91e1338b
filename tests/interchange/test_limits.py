"""Bounded resources: transaction size and pixel budgets enforced before storing / decoding (issue 13)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from securecomm.interchange import TransactionRejected, images, read_transaction, write_booking
from securecomm.interchange.limits import Limits, check_transaction_size, default_limits
from securecomm.interchange.reader import inspect_transaction

from ic_helpers import booking, fingers

CAR = write_booking(booking(fingers=fingers([1, 2])))
BIG = Limits(max_transaction_bytes=10**9, max_record_pixels=10**9, max_transaction_pixels=10**9)


def _encode(fmt: str, size=(64, 48), **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray((np.arange(size[0] * size[1]) % 251).astype(np.uint8).reshape(size[1], size[0])).save(
        buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("fmt, name, kw", [("PNG", "PNG", {}), ("JPEG", "JPEGB", {}),
                                           ("JPEG2000", "JP2", {}), ("JPEG2000", "JP2L", {"no_jp2": True})])
def test_sizes_are_read_from_the_image_headers(fmt, name, kw):
    assert images.peek_size(_encode(fmt, **kw), name) == (64, 48)


def _jp2_bomb(w: int, h: int) -> bytes:
    """A tiny real JPEG 2000 codestream whose SIZ header is rewritten to declare w x h pixels."""
    data = bytearray(_encode("JPEG2000", size=(64, 64), no_jp2=True))
    p = data.find(b"\xff\x4f\xff\x51") + 8
    data[p:p + 8] = w.to_bytes(4, "big") + h.to_bytes(4, "big")
    return bytes(data)


def _car_with_type14(data: bytes, w: int, h: int, cga: str = "JP2") -> bytes:
    """The CAR's first Type-14 image swapped for ``data`` (record header and lengths fixed up)."""
    tx = read_transaction(CAR)
    rec = next(r for r in tx.records if r.rtype == 14)
    body = CAR[rec.offset:rec.offset + rec.length]
    body = (body.replace(f"\x1d14.006:{rec.value(6)}\x1d".encode(), f"\x1d14.006:{w}\x1d".encode())
            .replace(f"\x1d14.007:{rec.value(7)}\x1d".encode(), f"\x1d14.007:{h}\x1d".encode())
            .replace(b"\x1d14.011:WSQ20\x1d", f"\x1d14.011:{cga}\x1d".encode()))
    head = body[:body.index(b"\x1d14.999:") + len(b"\x1d14.999:")]
    rest = head[head.index(b"\x1d"):] + data + b"\x1c"
    for digits in range(1, 10):
        n = len("14.001:") + digits + len(rest)
        if len(str(n)) == digits:
            break
    return CAR[:rec.offset] + f"14.001:{n}".encode() + rest + CAR[rec.offset + rec.length:]


def test_a_jp2_bomb_is_refused_from_its_header_without_decoding(monkeypatch):
    def no_decoding(*a, **k):
        raise AssertionError("the decoder must not run")

    monkeypatch.setattr(images, "_decode_pillow", no_decoding)
    bomb = _car_with_type14(_jp2_bomb(9000, 9000), 9000, 9000)
    assert len(bomb) < len(CAR) + 2000
    errs = inspect_transaction(bomb).errors
    assert any(e.field == "14.999 DATA" and "per-image budget" in e.reason for e in errs), errs


def test_a_header_that_disagrees_with_the_record_is_not_decoded(monkeypatch):
    monkeypatch.setattr(images, "_decode_pillow", lambda *a, **k: (_ for _ in ()).throw(AssertionError("decoded")))
    lie = _car_with_type14(_jp2_bomb(9000, 9000), 64, 64)  # the record says 64x64, the codestream 9000x9000
    errs = inspect_transaction(lie).errors
    assert any(e.field == "14.999 DATA" and "header says 9000x9000" in e.reason for e in errs), errs


def test_the_transaction_pixel_budget_counts_every_image():
    per_image = 240 * 220
    limits = Limits(max_transaction_bytes=10**9, max_record_pixels=per_image, max_transaction_pixels=per_image + 10)
    errs = inspect_transaction(CAR, limits).errors
    assert len(errs) == 1 and "per-transaction budget" in errs[0].reason and errs[0].field == "14.999 DATA"
    assert inspect_transaction(CAR, BIG).valid


def test_transaction_size_is_bounded_before_reading():
    with pytest.raises(TransactionRejected) as info:
        read_transaction(CAR, Limits(max_transaction_bytes=len(CAR) - 1, max_record_pixels=10**9,
                                     max_transaction_pixels=10**9))
    assert info.value.errors[0].field == "1.001 LEN" and "maximum transaction size" in info.value.errors[0].reason
    check_transaction_size(len(CAR), BIG)


def test_limits_come_from_data_and_the_environment(monkeypatch):
    assert default_limits().max_transaction_bytes == 32 * 1024 * 1024
    monkeypatch.setenv("SECURECOMM_MAX_RECORD_PIXELS", "1234")
    assert default_limits().max_record_pixels == 1234
    monkeypatch.setenv("SECURECOMM_MAX_RECORD_PIXELS", "lots")
    with pytest.raises(ValueError, match="SECURECOMM_MAX_RECORD_PIXELS"):
        default_limits()
