"""Ten-print 1:N search: mates found among distractors, non-enrolled probes get no hit, bands calibrated."""

from __future__ import annotations

import numpy as np
import pytest

from securecomm.engine.errors import TemplateError
from securecomm.engine.iso19794 import read_iso_file
from securecomm.engine.template import Template
from securecomm.engine.tenprint import (Candidate, ExhaustiveBackend, SearchBackend, SearchResult, TenprintGallery,
                                        Thresholds, calibrate_thresholds, fuse, thresholds_for)

DBS = ("DB1_B", "DB2_B", "DB3_B", "DB4_B")


@pytest.fixture(scope="module")
def cards(fvc2002):
    """Ten synthetic 'subjects': subject s has finger 101+s of DB1..DB4 at positions 1..4 (and 6..9)."""
    def card(s: int, impression: int) -> dict[int, Template]:
        out = {}
        for k, db in enumerate(DBS):
            out[1 + k] = read_iso_file(fvc2002 / db / f"{101 + s}_{impression}.iso")
            out[6 + k] = read_iso_file(fvc2002 / db / f"{101 + s}_{impression + 4}.iso")
        return out
    return {s: (card(s, 1), card(s, 2)) for s in range(10)}


@pytest.fixture(scope="module")
def gallery(cards):
    g = TenprintGallery()
    for s, (enrol, _) in cards.items():
        g.add(f"S{s}", enrol)
    return g


def test_finds_mate_among_distractors(gallery, cards):
    assert len(gallery) == 10
    for s in (0, 3, 7):
        res = gallery.search(cards[s][1], k=5)
        assert isinstance(res, SearchResult) and res.decision == "hit"
        assert res.candidates[0].subject_id == f"S{s}"
        assert len(res.candidates) == 5
        assert [c.score for c in res.candidates] == sorted((c.score for c in res.candidates), reverse=True)
        assert set(res.candidates[0].finger_scores) == {1, 2, 3, 4, 6, 7, 8, 9}
        assert res.candidates[0].score > 3 * res.candidates[1].score
        ev = res.candidates[0].finger_evidence
        assert set(ev) == set(res.candidates[0].finger_scores) and max(ev.values()) > 5
        assert res.thresholds == gallery.thresholds


def test_partial_probe_and_missing_fingers(gallery, cards):
    probe = {2: cards[5][1][2], 7: cards[5][1][7], 10: None}
    res = gallery.search(probe, k=3)
    assert res.candidates[0].subject_id == "S5"
    assert set(res.candidates[0].finger_scores) == {2, 7}
    # unprintable probe finger (no minutiae) counts as missing
    res2 = gallery.search({1: Template.empty(300, 400), 3: cards[5][1][3]}, k=1)
    assert res2.candidates[0].subject_id == "S5" and set(res2.candidates[0].finger_scores) == {3}


def test_not_enrolled_probe_is_no_hit(cards):
    g = TenprintGallery()
    for s, (enrol, _) in cards.items():
        g.add(f"S{s}", enrol)
    g.remove("S4")
    assert len(g) == 9
    res = g.search(cards[4][1], k=5)
    assert res.decision == "no_hit"
    assert all(c.subject_id != "S4" for c in res.candidates)
    with pytest.raises(KeyError):
        g.remove("S4")
    # re-enrol and find again (the backend compacts/repacks behind the scenes)
    g.add("S4", cards[4][0])
    assert g.search(cards[4][1], k=1).candidates[0].subject_id == "S4"


def test_calibrate_from_gallery(cards):
    g = TenprintGallery()
    for s, (enrol, _) in cards.items():
        g.add(f"S{s}", enrol)
    imp = g.impostor_scores()
    assert imp.size == 10 * 9 and np.all(imp >= 0)
    th = g.calibrate(gallery_size=1000)
    assert g.thresholds == th and th.hit >= th.review > 0
    # mates still clear the calibrated hit threshold, the remaining subjects fall below review
    assert g.search(cards[2][1]).decision == "hit"


def test_empty_gallery_and_empty_probe(cards):
    g = TenprintGallery()
    assert g.search(cards[0][1]).decision == "no_hit"
    g.add("S0", cards[0][0])
    assert g.search({}).candidates == []


def test_bad_input():
    g = TenprintGallery()
    with pytest.raises(ValueError, match="finger position"):
        g.add("A", {11: Template.empty(10, 10)})
    with pytest.raises(TemplateError, match="not a Template"):
        g.add("A", {1: "minutiae"})
    with pytest.raises(ValueError, match="subject id"):
        g.add("", {})
    with pytest.raises(ValueError, match="k must be"):
        g.search({}, k=0)
    with pytest.raises(ValueError):
        Thresholds(hit=1.0, review=2.0)


@pytest.fixture(scope="module")
def impostor_scores(fvc2002):
    """Every cross-finger match() score of DB1_B and DB3_B (SDK templates)."""
    from securecomm.engine.match import match_many, pack

    out = []
    for db in ("DB1_B", "DB3_B"):
        files = sorted((fvc2002 / db).glob("*.iso"))
        temps = [read_iso_file(f) for f in files]
        fingers = np.array([f.name.split("_")[0] for f in files])
        gallery = pack(temps)
        for i, t in enumerate(temps):
            s = match_many(t, gallery)
            out.append(s[i + 1:][fingers[i + 1:] != fingers[i]])
    return np.concatenate(out)


def test_fusion_is_count_normalised(impostor_scores):
    """Non-mated fused scores mean the same (P(F >= f) ~ 10**-f) whether 1 or 6 fingers are compared."""
    rng = np.random.default_rng(0)
    for n in (1, 3, 6):
        m = np.full((20_000, 10), np.nan, np.float32)
        m[:, :n] = rng.choice(impostor_scores, (20_000, n))
        f = fuse(m)
        assert 0.004 <= np.mean(f >= 2) <= 0.025, n
        assert np.mean(f >= 1) == pytest.approx(0.1, abs=0.04), n
    assert np.all(fuse(np.full((2, 10), np.nan)) == 0)
    strong = np.full((1, 10), np.nan)
    strong[0, 0] = 0.5
    assert fuse(strong)[0] > thresholds_for().hit


def test_calibrate_thresholds():
    rng = np.random.default_rng(1)
    imp = rng.normal(0, 1, 200_000)
    th = calibrate_thresholds(imp, gallery_size=1, fpir_hit=0.001, fpir_review=0.01)
    assert th.hit == pytest.approx(3.09, abs=0.1) and th.review == pytest.approx(2.33, abs=0.05)
    big = calibrate_thresholds(imp, gallery_size=1_000_000)
    assert big.hit > th.hit and big.review > th.review and big.hit >= big.review
    with pytest.raises(ValueError):
        calibrate_thresholds(imp[:40], 100)
    assert thresholds_for(1_000_000).hit == pytest.approx(9.0, abs=0.01)
    assert thresholds_for(1000, 0.001, 0.01).review == pytest.approx(5.0, abs=0.01)
    assert th.decide(th.hit) == "hit" and th.decide(th.review) == "review" and th.decide(th.review - 1) == "no_hit"


def test_backend_protocol():
    assert isinstance(ExhaustiveBackend(), SearchBackend)
    c = Candidate("x", 1.0, {1: 0.5})
    assert c.subject_id == "x"


def test_one_finger_alone_never_makes_a_hit(gallery, cards):
    """A hit must survive leaving out its strongest finger; one finger alone goes to an examiner."""
    from securecomm.engine.tenprint import decide_corroborated, without_strongest

    # the mate's right thumb among non-mated fingers (other fingers, each at a position it does not hold)
    shift = {2: 3, 3: 4, 4: 2, 6: 7, 7: 8, 8: 9, 9: 6}
    probe = {pos: cards[4][1][shift[pos]] for pos in shift}
    probe[1] = cards[4][1][1]
    res = gallery.search(probe, k=3)
    best = res.candidates[0]
    assert best.subject_id == "S4" and best.score >= gallery.thresholds.hit  # the score alone says hit
    assert res.decision == "review" and "rests on one finger" in res.reason
    # a partial card of two mated fingers is a hit: either finger alone reaches the review band
    res2 = gallery.search({1: cards[4][1][1], 2: cards[4][1][2]}, k=3)
    assert res2.candidates[0].subject_id == "S4" and res2.decision == "hit" and res2.reason == ""
    # the rule on scores: one strong finger among weak ones, and two strong ones
    row = np.full(10, np.nan)
    row[:5] = [0.6, 0.05, 0.04, 0.05, 0.06]
    t = Thresholds(hit=9.0, review=8.0)
    assert fuse(row[None, :])[0] >= 9.0 and without_strongest(row) < 8.0
    assert decide_corroborated(t, row)[0] == "review"
    row[1] = 0.5
    assert decide_corroborated(t, row) == ("hit", "")
    assert decide_corroborated(t, np.full(10, 0.04))[0] == "no_hit"


def test_add_many_equals_adding_one_by_one():
    from securecomm.engine.match import prepare_many
    from securecomm.synth import templates as T

    p = T.impressions(60, 3, 0, "plain")
    cards = [(f"S{s}", {pos: p.template(s * 10 + pos - 1) for pos in range(1, 11)}) for s in range(6)]
    cards[2][1][4] = None  # a missing finger
    one, many = TenprintGallery(), TenprintGallery()
    for sid, card in cards:
        one.add(sid, card)
    assert many.add_many(cards, threads=2) == 6
    probe = {pos: p.template(10 + pos - 1) for pos in range(1, 11)}
    a, b = one.search(probe, k=6), many.search(probe, k=6)
    assert [(c.subject_id, c.score) for c in a.candidates] == [(c.subject_id, c.score) for c in b.candidates]
    assert sorted(many.backend.fingers("S2")) == [1, 2, 3, 5, 6, 7, 8, 9, 10]
    ts = [p.template(i) for i in range(20)]
    for x, y in zip(prepare_many(ts, threads=2), prepare_many(ts, threads=1)):
        assert np.array_equal(x.cyl.bits, y.cyl.bits) and np.array_equal(x.cyl.x, y.cyl.x)
    with pytest.raises(ValueError, match="position"):
        many.add_many([("X", {11: p.template(0)})])
    with pytest.raises(TemplateError):
        many.add_many([("X", {1: "not a template"})])
    assert len(many) == 6
