"""Extraction: input checks, determinism, plausibility on FVC2002 and agreement with the SDK templates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from securecomm.engine import ImageError, Template
from securecomm.engine.extract import analyse, extract
from securecomm.engine.image import prepare
from securecomm.engine.iso19794 import read_iso_file
from securecomm.engine.match import match
from securecomm.engine.quality import TOO_POOR_TO_SEARCH, assess
from securecomm.engine.template import BIFURCATION, ENDING

#: Resolution of each FVC2002 database (DB2 is 569 ppi; the others 500).
PPI = {"DB1_B": 500, "DB2_B": 569, "DB3_B": 500, "DB4_B": 500}


def load(root: Path, db: str, name: str) -> np.ndarray:
    return np.array(Image.open(root / db / f"{name}.tif"))


@pytest.fixture(scope="module")
def db1_101_1(fvc2002: Path) -> np.ndarray:
    return load(fvc2002, "DB1_B", "101_1")


# ---------------------------------------------------------------- bad input

def ridges(shape=(200, 200)) -> np.ndarray:
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    return (128 + 60 * np.cos(2 * np.pi * (xx + 0.3 * yy) / 9)).astype(np.uint8)


@pytest.mark.parametrize("bad, words", [
    (np.zeros((0, 0), np.uint8), "empty"),
    (np.zeros((0, 300), np.uint8), "empty"),
    (np.full((300, 300), 128, np.uint8), "flat"),
    (np.full((300, 300), 0, np.uint8), "flat"),
    (ridges((40, 300)), "too small"),
    (ridges((300, 50)), "too small"),
    (ridges().astype(bool), "dtype bool"),
    (ridges().astype(np.complex64), "complex"),
    (ridges().astype(object), "object"),
    (np.where(ridges() > 128, np.nan, 100.0), "NaN"),
    (ridges().astype(np.float64) * 2.0, "0..255"),
    (ridges().astype(np.float64) - 200.0, "0..255"),
    (ridges().astype(np.int16) - 100, "negative"),
    (np.zeros((4, 200, 200), np.uint8), "2-D"),
    (np.zeros(500, np.uint8), "2-D"),
    (None, "None"),
    ("not an image", "dtype"),
])
def test_bad_images_raise_image_error_naming_the_problem(bad, words: str) -> None:
    with pytest.raises(ImageError, match=words):
        extract(bad)


@pytest.mark.parametrize("ppi", [0, -500, float("nan"), 50, 100000, "abc"])
def test_bad_resolution_raises(ppi) -> None:
    with pytest.raises(ImageError, match="resolution"):
        extract(ridges(), ppi=ppi)


def test_absurdly_large_image_is_refused() -> None:
    row = (np.arange(7000) % 9 * 20).astype(np.uint8)[None, :]
    with pytest.raises(ImageError, match="larger than"):
        prepare(np.broadcast_to(row[:, :5000], (5000, 5000)))
    with pytest.raises(ImageError, match="absurdly large"):
        prepare(np.broadcast_to(row, (7000, 7000)))


def test_convertible_inputs_give_the_same_template(db1_101_1: np.ndarray) -> None:
    ref = extract(db1_101_1)
    for alt in (db1_101_1.astype(np.float32), db1_101_1[:, :, None], db1_101_1.astype(np.int32),
                np.repeat(db1_101_1[:, :, None], 3, axis=2)):
        t = extract(alt)
        assert np.array_equal(t.x, ref.x) and np.array_equal(t.angle, ref.angle)


def test_noise_and_blank_gradients_give_no_minutiae_and_too_poor_quality() -> None:
    rng = np.random.default_rng(0)
    noise = extract(rng.integers(0, 256, (300, 300), dtype=np.uint8))
    assert len(noise) <= 3 and noise.image_quality < TOO_POOR_TO_SEARCH
    yy, xx = np.mgrid[0:300, 0:300]
    ramp = extract((xx / 300 * 200 + 20).astype(np.uint8))
    assert len(ramp) == 0 and ramp.image_quality < TOO_POOR_TO_SEARCH


# ---------------------------------------------------------------- behaviour on real prints

def test_deterministic(db1_101_1: np.ndarray) -> None:
    a, b = extract(db1_101_1), extract(db1_101_1.copy())
    assert a.to_bytes() == b.to_bytes()


@pytest.mark.parametrize("db", sorted(PPI))
def test_fvc_templates_are_plausible(fvc2002: Path, db: str) -> None:
    for name in ("101_1", "106_4"):
        img = load(fvc2002, db, name)
        t = extract(img, PPI[db])
        assert isinstance(t, Template)
        assert 15 <= len(t) <= 120, f"{db}/{name}: {len(t)} minutiae"
        assert TOO_POOR_TO_SEARCH <= t.image_quality <= 100
        assert set(np.unique(t.kind)) <= {ENDING, BIFURCATION}
        assert t.angle.min() >= 0 and t.angle.max() < 2 * np.pi
        scale = 500 / PPI[db]
        assert abs(t.width - img.shape[1] * scale) <= 1 and abs(t.height - img.shape[0] * scale) <= 1
        assert 0.2 < t.meta["foreground_fraction"] < 1.0


def agreement(t: Template, sdk: Template, dist: float = 10.0, ang: float = np.pi / 6) -> tuple[float, float]:
    """Precision and recall of ``t`` against ``sdk`` (whose frame is stretched to 300x400)."""
    sx = sdk.x * t.width / sdk.width
    sy = sdk.y * t.height / sdk.height
    d = np.hypot(t.x[:, None] - sx[None], t.y[:, None] - sy[None])
    da = np.abs(np.mod(t.angle[:, None] - sdk.angle[None] + np.pi, 2 * np.pi) - np.pi)
    ok = (d < dist) & (da < ang)
    return float(ok.any(1).mean()), float(ok.any(0).mean())


@pytest.mark.parametrize("db", sorted(PPI))
def test_minutiae_agree_with_the_commercial_sdk(fvc2002: Path, db: str) -> None:
    """Same places and the same direction convention as the SDK (measured ~0.8 / ~0.75 on all 320)."""
    precisions, recalls = [], []
    for name in ("102_1", "104_3", "107_6"):
        t = extract(load(fvc2002, db, name), PPI[db])
        sdk = read_iso_file(fvc2002 / db / f"{name}.iso")
        p, r = agreement(t, sdk)
        precisions.append(p)
        recalls.append(r)
    assert np.mean(precisions) > 0.6, precisions
    assert np.mean(recalls) > 0.5, recalls
    # with the opposite direction convention almost nothing would agree
    flipped = Template(t.x, t.y, np.mod(t.angle + np.pi, 2 * np.pi), t.kind, t.quality, t.width, t.height)
    assert agreement(flipped, sdk)[0] < 0.3


def test_same_finger_outscores_different_fingers(fvc2002: Path) -> None:
    t = {n: extract(load(fvc2002, "DB1_B", n)) for n in ("101_1", "101_2", "102_1", "103_1")}
    genuine = match(t["101_1"], t["101_2"])
    for other in ("102_1", "103_1"):
        assert genuine > match(t["101_1"], t[other])


def test_quality_report_and_analysis(db1_101_1: np.ndarray) -> None:
    rep = assess(db1_101_1)
    assert TOO_POOR_TO_SEARCH < rep.score <= 100 and not rep.too_poor
    for v in (rep.orientation_certainty, rep.clarity, rep.uniformity, rep.area, rep.minutiae,
              rep.ridge_fraction, rep.local_clarity_p10, rep.core_distance):
        assert 0.0 <= v <= 1.0
    assert 0 <= rep.legacy_score <= 100 and rep.as_dict()["score"] == rep.score
    a = analyse(db1_101_1)
    assert a.mask.shape == a.image.shape == a.enhanced.shape
    # ridges (dark) come out positive in the enhanced image
    inside = a.mask
    assert np.corrcoef(a.image[inside].astype(float), a.enhanced[inside])[0, 1] < -0.3
    assert 6.5 < float(np.median(a.period[inside])) < 12.5


def test_quality_features_mean_what_they_say() -> None:
    from securecomm.engine import quality

    yy, xx = np.mgrid[0:160, 0:160].astype(np.float64)
    mask = np.ones((160, 160), bool)
    # ridges (dark) a third of each 9 px period, then two thirds: the fraction of dark pixels follows
    phase = (xx % 9) / 9
    thin = np.where(phase < 0.33, 60, 200).astype(np.uint8)
    thick = np.where(phase < 0.67, 60, 200).astype(np.uint8)
    assert quality.ridge_fraction(thin, mask) < 0.45 < quality.ridge_fraction(thick, mask)
    # a whorl-like field (orientation turning around the centre) has its core at the centroid
    whorl = np.mod(np.arctan2(yy - 80, xx - 80) + np.pi / 2, np.pi)
    assert quality.core_distance(whorl, mask) < 0.1
    off = np.mod(np.arctan2(yy - 80, xx - 20) + np.pi / 2, np.pi)
    assert quality.core_distance(whorl, mask) < quality.core_distance(off, mask)
    assert quality.core_distance(np.full((160, 160), 0.3), mask) == 1.0  # parallel ridges: no core
    base = {"minutiae": 0.6, "ridge_fraction": 0.4, "orientation_certainty": 0.8, "local_clarity_p10": 0.7,
            "core_distance": 0.2}
    s0 = quality.model_score(base)
    assert quality.model_score(dict(base, minutiae=0.9)) > s0 > quality.model_score(dict(base, minutiae=0.2))
    assert quality.model_score(dict(base, ridge_fraction=0.5)) < s0  # smeared ridges
    assert quality.model_score(dict(base, core_distance=1.0)) < s0  # no core in sight
    assert 0 <= quality.model_score(dict(base, minutiae=0.0, orientation_certainty=0.0)) <= s0


def test_blurred_and_cropped_image_scores_lower_quality(db1_101_1: np.ndarray) -> None:
    import cv2

    good = assess(db1_101_1).score
    blurred = cv2.GaussianBlur(db1_101_1, (0, 0), 3.0)
    assert assess(blurred).score < good
    sliver = assess(db1_101_1[:, :140])  # a third of the print, its core cut off
    assert sliver.score < good and sliver.too_poor


def test_other_resolutions_are_resampled_to_the_same_frame(fvc2002: Path) -> None:
    """A print scanned at 1000 or 400 ppi gives (nearly) the template of the 500 ppi scan."""
    import cv2

    a = load(fvc2002, "DB1_B", "101_1")
    b = load(fvc2002, "DB1_B", "101_2")
    ta, tb = extract(a), extract(b)
    other = extract(load(fvc2002, "DB1_B", "102_1"))
    for ppi in (400, 1000):
        s = ppi / 500
        scan = cv2.resize(b, None, fx=s, fy=s, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
        t = extract(scan, ppi)
        assert abs(t.width - tb.width) <= 1 and abs(t.height - tb.height) <= 1
        assert match(ta, t) > 0.5 * match(ta, tb)
        assert match(ta, t) > 3 * match(other, t)


def test_print_filling_the_frame_keeps_its_edges(fvc2002: Path) -> None:
    """A small sensor sees only the middle of a finger: ridges reach every image edge."""
    b = load(fvc2002, "DB1_B", "101_2")
    h, w = b.shape
    crop = b[h // 2 - 100:h // 2 + 100, w // 2 - 100:w // 2 + 100]
    a = analyse(crop)
    assert a.mask.mean() > 0.75
    assert a.mask[:12].mean() > 0.7 and a.mask[:, :12].mean() > 0.5  # top and left edges are all ridges
    t = extract(crop)
    assert len(t) >= 8
    mate = extract(load(fvc2002, "DB1_B", "101_1"))
    other = extract(load(fvc2002, "DB1_B", "102_1"))
    assert match(mate, t) > 3 * match(other, t)
