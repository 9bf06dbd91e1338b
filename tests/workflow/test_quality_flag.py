"""The extract stage records each finger's image quality and flags fingers too poor to search (issue 8).

The quality (engine/quality.py) predicts a finger's genuine match scores; a finger under
``TOO_POOR_TO_SEARCH`` is still searched, but the stage output names it for re-capture.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
from PIL import Image

from securecomm.engine.extractors import get
from securecomm.engine.quality import TOO_POOR_TO_SEARCH
from securecomm.workflow import stages


def _image(fvc2002: Path, name: str) -> np.ndarray:
    return np.asarray(Image.open(fvc2002 / "DB1_B" / f"{name}.tif").convert("L"))


def test_extract_records_quality_and_flags_a_finger_too_poor_to_search(fvc2002: Path, monkeypatch) -> None:
    monkeypatch.setattr("securecomm.engine.extractors.configured", lambda: get("classical"))
    good = _image(fvc2002, "101_1")
    other = _image(fvc2002, "102_1")
    sliver = good[:, :140]  # a third of the print, its core cut off
    fingers = {pos: SimpleNamespace(pixels=img, ppi=500, amputated=False)
               for pos, img in ((1, good), (2, other), (3, sliver))}
    ctx = SimpleNamespace(booking=lambda: SimpleNamespace(fingers=fingers), outputs={"validate": {"min_fingers": 2}},
                          config=SimpleNamespace(min_fingers=2), tx=None)
    out = stages.extract(ctx).output

    assert set(out["quality"]) == {str(p) for p in out["fingers"]}
    assert all(0 <= q <= 100 for q in out["quality"].values())
    assert out["quality"]["1"] >= TOO_POOR_TO_SEARCH and out["quality"]["2"] >= TOO_POOR_TO_SEARCH
    assert 3 in out["fingers"]  # still searched
    assert out["recapture"] == [3]
    assert out["warnings"] and "finger 3" in out["warnings"][0] and "re-take" in out["warnings"][0]


def test_extract_flags_nothing_when_every_finger_is_good(fvc2002: Path, monkeypatch) -> None:
    monkeypatch.setattr("securecomm.engine.extractors.configured", lambda: get("classical"))
    fingers = {pos: SimpleNamespace(pixels=_image(fvc2002, name), ppi=500, amputated=False)
               for pos, name in ((1, "101_1"), (2, "102_1"))}
    ctx = SimpleNamespace(booking=lambda: SimpleNamespace(fingers=fingers), outputs={"validate": {"min_fingers": 2}},
                          config=SimpleNamespace(min_fingers=2), tx=None)
    out = stages.extract(ctx).output
    assert "recapture" not in out and "warnings" not in out and set(out["quality"]) == {"1", "2"}
