"""Image codecs: WSQ through the isolated worker (survives corrupt data), PNG/JPEG/JPEG 2000 through Pillow."""

from __future__ import annotations

import io
import random

import numpy as np
import pytest
from PIL import Image

from securecomm.interchange import images
from ic_helpers import ridge_image


def test_wsq_round_trip_and_corruption_never_escapes():
    pix = ridge_image(3, 256, 240)
    data = images.encode_wsq(pix)
    out = images.decode(data, "WSQ20", width=240, height=256)
    assert out.shape == (256, 240) and np.abs(out.astype(int) - pix).mean() < 6
    rnd = random.Random(3)
    failures = 0
    for _ in range(80):
        bad = bytearray(data)
        if rnd.random() < 0.5:
            bad = bad[: rnd.randrange(len(bad))]
        else:
            for _ in range(rnd.randint(1, 6)):
                bad[rnd.randrange(len(bad))] = rnd.randrange(256)
        try:
            images.decode(bytes(bad), 1, width=240, height=256)
        except images.ImageDecodeError:
            failures += 1
    assert failures > 10
    # the worker still works (it is restarted after a crash)
    assert images.decode(data, 1, width=240, height=256).shape == (256, 240)


def test_wsq_size_mismatch_and_garbage():
    data = images.encode_wsq(ridge_image(1, 200, 200))
    with pytest.raises(images.ImageDecodeError, match="declares"):
        images.decode(data, "WSQ20", width=201, height=200)
    with pytest.raises(images.ImageDecodeError, match="SOI"):
        images.decode(b"not a wsq", "WSQ20", width=10, height=10)


@pytest.mark.parametrize("fmt, name", [("PNG", "PNG"), ("JPEG", "JPEGB"), ("JPEG2000", "JP2")])
def test_pillow_codecs(fmt, name):
    pix = ridge_image(5, 120, 100)
    buf = io.BytesIO()
    Image.fromarray(pix).save(buf, fmt)
    out = images.decode(buf.getvalue(), name, width=100, height=120)
    assert out.shape == (120, 100) and np.abs(out.astype(int) - pix).mean() < 8
    with pytest.raises(images.ImageDecodeError):
        images.decode(buf.getvalue()[: len(buf.getvalue()) // 3], name, width=100, height=120)


def test_uncompressed_and_unknown():
    pix = ridge_image(2, 40, 30)
    assert (images.decode(pix.tobytes(), 0, width=30, height=40) == pix).all()
    with pytest.raises(images.ImageDecodeError, match="does not match"):
        images.decode(pix.tobytes()[:-1], "NONE", width=30, height=40)
    with pytest.raises(images.ImageDecodeError, match="unknown compression"):
        images.decode(pix.tobytes(), 9, width=30, height=40)
