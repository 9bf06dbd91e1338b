"""FVC runner: error rates on known distributions, the protocol on a small folder, the CLI's JSON."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from securecomm.cli.app import app
from securecomm.engine.fvc import (database_ppi, error_rates, find_databases, list_samples, quality_spearman, run,
                                  spearman)


def test_error_rates_separable():
    r = error_rates(np.array([0.8, 0.9, 1.0]), np.array([0.1, 0.2, 0.3, 0.4]))
    assert r.eer_pct == 0.0 and r.fmr100_pct == 0.0 and r.zerofmr_pct == 0.0


def test_error_rates_known_overlap():
    # 10 genuine, 10 impostor; one genuine (0.15) below one impostor (0.55)
    gen = np.array([0.15, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0])
    imp = np.array([0.0, 0.05, 0.1, 0.12, 0.2, 0.25, 0.3, 0.35, 0.4, 0.55])
    r = error_rates(gen, imp)
    assert r.eer_pct == pytest.approx(10.0)
    # FMR <= 1 % means accepting nothing above the top impostor: threshold just above 0.55
    assert r.fmr100_pct == pytest.approx(10.0) and r.zerofmr_pct == pytest.approx(10.0)
    # all genuine below all impostors: everything is wrong
    assert error_rates(np.array([0.0, 0.1]), np.array([0.5, 0.6])).eer_pct == pytest.approx(100.0)
    with pytest.raises(ValueError):
        error_rates(np.array([]), imp)


@pytest.fixture()
def small_fvc(tmp_path, fvc2002):
    """Two databases x 3 fingers x 4 impressions of ISO templates, plus one image pair."""
    for db in ("DB1_B", "DB3_B"):
        d = tmp_path / "set" / db
        d.mkdir(parents=True)
        for f in (101, 102, 103):
            for i in (1, 2, 3, 4):
                shutil.copy(fvc2002 / db / f"{f}_{i}.iso", d / f"{f}_{i}.iso")
    (tmp_path / "set" / "DB3_B" / "ppi").write_text("500\n")
    (tmp_path / "set" / "DB1_B" / "notes.txt").write_text("ignored")
    return tmp_path / "set"


def test_layout_discovery(small_fvc):
    dbs = find_databases(small_fvc)
    assert [d.name for d in dbs] == ["DB1_B", "DB3_B"]
    samples = list_samples(dbs[0])
    assert len(samples) == 12 and samples[0].finger == 101 and samples[0].iso is not None
    assert database_ppi(dbs[1]) == 500.0 and database_ppi(dbs[0], 569) == 569.0
    with pytest.raises(FileNotFoundError):
        find_databases(small_fvc / "DB1_B" / "nothing")


def test_protocol_counts_and_accuracy(small_fvc):
    res = run(small_fvc, templates="iso")
    db1 = res["databases"]["DB1_B"]
    assert db1["genuine"] == 3 * 6 and db1["impostor"] == 12 * 11 // 2 - 18
    assert db1["eer_pct"] <= 10.0 and db1["match_pairs_per_s"] > 0
    assert db1["quality_spearman"] is None  # ISO templates carry no image quality of ours
    assert res["mean_eer_pct"] == pytest.approx(np.mean([d["eer_pct"] for d in res["databases"].values()]), abs=1e-3)
    limited = run(small_fvc, templates="iso", limit_fingers=2)
    assert limited["databases"]["DB1_B"]["genuine"] == 12


def test_cli_json(small_fvc):
    out = CliRunner().invoke(app, ["bench", "fvc", str(small_fvc), "--json", "--templates", "iso"])
    assert out.exit_code == 0, out.output
    obj = json.loads(out.stdout)
    assert set(obj["databases"]) == {"DB1_B", "DB3_B"}
    for d in obj["databases"].values():
        for key in ("eer_pct", "fmr100_pct", "fmr1000_pct", "zerofmr_pct", "genuine", "impostor",
                    "extract_ms_median", "match_pairs_per_s"):
            assert key in d
    bad = CliRunner().invoke(app, ["bench", "fvc", str(small_fvc), "--templates", "magic"])
    assert bad.exit_code != 0


def test_extraction_path(tmp_path, fvc2002):
    d = tmp_path / "DB9"
    d.mkdir()
    for f in (101, 102):
        for i in (1, 2):
            shutil.copy(fvc2002 / "DB1_B" / f"{f}_{i}.tif", d / f"{f}_{i}.tif")
    res = run(tmp_path, templates="extract")
    r = res["databases"]["DB9"]
    assert r["genuine"] == 2 and r["impostor"] == 4 and r["extract_ms_median"] > 0
    assert r["quality_spearman"] is None or -1 <= r["quality_spearman"] <= 1


def test_quality_spearman_definition():
    """Per image: quality vs the image's mean genuine score; per pair: min(quality) vs the pair's score."""
    fingers = np.array([1, 1, 1, 2, 2, 2])
    # a pair's score is the product of its two images' "goodness"; impostor pairs score high (ignored)
    good = np.array([0.9, 0.5, 0.2, 0.8, 0.4, 0.3])
    m = np.outer(good, good)
    m[fingers[:, None] != fingers[None, :]] = 0.99
    per_image, per_pair = quality_spearman(good * 100, m, fingers)
    assert per_image == pytest.approx(1.0)
    assert 0.5 < per_pair <= 1.0
    assert quality_spearman(100 - good * 100, m, fingers)[0] == pytest.approx(-1.0)
    # unknown quality (negative) is left out; constant quality has no rank correlation
    q = good * 100
    q[0] = -1
    assert quality_spearman(q, m, fingers)[0] == pytest.approx(1.0)
    assert spearman(np.ones(6), good) is None
    assert spearman(np.array([1.0, 2, 2, 3]), np.array([1.0, 2, 3, 4])) == pytest.approx(0.9487, abs=1e-3)


def test_cli_extractor_choice_and_cache(tmp_path, fvc2002):
    d = tmp_path / "set" / "DB1_B"
    d.mkdir(parents=True)
    for f in (101, 102, 103):
        for i in (1, 2):
            shutil.copy(fvc2002 / "DB1_B" / f"{f}_{i}.tif", d / f"{f}_{i}.tif")
    cache = tmp_path / "cache"
    args = ["bench", "fvc", str(tmp_path / "set"), "--extractor", "fused", "--cache", str(cache), "--json"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    res = json.loads(first.stdout)
    assert res["extractor"] == "fused" and res["databases"]["DB1_B"]["genuine"] == 3
    assert len(list((cache / "fused").glob("*.sct"))) == 6
    again = json.loads(CliRunner().invoke(app, args).stdout)  # from the cache: same scores
    assert again["databases"]["DB1_B"]["eer_pct"] == res["databases"]["DB1_B"]["eer_pct"]
    bad = CliRunner().invoke(app, ["bench", "fvc", str(tmp_path / "set"), "--extractor", "neural"])
    assert bad.exit_code != 0 and "extractor" in bad.output
