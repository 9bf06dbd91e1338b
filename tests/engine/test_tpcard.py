"""A scanned ink ten-print card: rolled and plain thumbs of one person must find each other.

``pass-type-4-tpcard.an2`` (NIST BioCTS sample) holds 14 Type-4 records:
rolled impressions of fingers 1-10, plain thumbs (11 right, 12 left) and two
four-finger slaps (13, 14). The crops include the card's printed box lines,
typed captions and handwriting, which segmentation must keep out.
"""

from __future__ import annotations

import io
import re
import struct
from itertools import combinations
from pathlib import Path

import nistitl
import numpy as np
import pytest
import wsq  # noqa: F401  (registers the WSQ decoder with Pillow)
from PIL import Image

from securecomm.engine.extract import extract
from securecomm.engine.match import match

CARD = "pass/pass-type-4-tpcard.an2"
#: Type-4 fixed header after LEN (4) and IDC (1): IMP, FGP (6), ISR, HLL, VLL, GCA.
TYPE4 = "!B6sBHHB"
#: ANSI/NIST minimum scanning resolution (ISR = 0), pixels per millimetre.
MIN_SCANNING_PPMM = 19.69


def read_type4(path: Path) -> dict[int, tuple[np.ndarray, float, bytes]]:
    """Finger position -> (pixels, ppi, WSQ bytes) for every Type-4 record of a transaction."""
    msg = nistitl.Message()
    msg.parse(path.read_bytes())
    header = next(msg.iter(1))
    native_ppmm = float(header.NSR)
    out = {}
    for rec in msg.iter(4):
        imp, fgp, isr, hll, vll, gca, data = rec.unpack(TYPE4)
        assert gca == 1, f"record {rec.IDC}: compression {gca} is not WSQ"
        ppmm = MIN_SCANNING_PPMM if isr == 0 else native_ppmm
        pixels = np.array(Image.open(io.BytesIO(data)))
        assert pixels.shape == (vll, hll), f"record {rec.IDC}: image {pixels.shape} vs header {vll}x{hll}"
        out[fgp[0]] = (pixels, ppmm * 25.4, data)
    return out


def wsq_frame(data: bytes) -> tuple[int, int]:
    """(height, width) from the WSQ start-of-frame marker (FFA2)."""
    i = data.find(b"\xff\xa2")
    assert i >= 0, "no WSQ frame header"
    height, width = struct.unpack(">HH", data[i + 6:i + 10])
    return height, width


@pytest.fixture(scope="module")
def card(ansi_nist: Path) -> dict[int, tuple[np.ndarray, float, bytes]]:
    return read_type4(ansi_nist / CARD)


@pytest.fixture(scope="module")
def templates(card):
    return {fgp: extract(px, ppi) for fgp, (px, ppi, _) in card.items() if fgp <= 12}


def test_card_resolution_and_wsq_headers(card) -> None:
    assert set(card) == set(range(1, 15))
    for fgp, (pixels, ppi, data) in card.items():
        assert abs(ppi - 500) < 1.0, f"finger {fgp}: {ppi} ppi"
        assert wsq_frame(data) == pixels.shape
        # the WSQ NIST_COM comment says "PPI 500" on most records but "PPI 255" (a placeholder)
        # on some: the record's scanning resolution, not the codec comment, is authoritative
        comment = re.search(rb"PPI (-?\d+)", data[:400])
        assert comment is None or int(comment.group(1)) in (500, 255, -1)


def test_segmentation_keeps_card_print_and_handwriting_out(templates) -> None:
    for fgp, t in templates.items():
        # a rolled crop is ~800x750 px with the print in the middle; minutiae stay in a sane number
        assert 20 <= len(t) <= 200, f"finger {fgp}: {len(t)} minutiae"
        assert t.meta["foreground_fraction"] < 0.7, f"finger {fgp}: mask too large"


def test_rolled_and_plain_thumbs_outscore_every_pair_of_different_fingers(templates) -> None:
    same = {(1, 11), (6, 12)}
    scores = {(a, b): match(templates[a], templates[b]) for a, b in combinations(sorted(templates), 2)}
    impostor = max(v for k, v in scores.items() if k not in same)
    for pair in sorted(same):
        assert scores[pair] > impostor, f"thumb pair {pair}: {scores[pair]:.4f} <= impostor {impostor:.4f}"
