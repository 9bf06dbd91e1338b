"""``securecomm bench search``: one JSON object with the documented keys; bad options refused."""

import json

from typer.testing import CliRunner

from securecomm.cli.app import app


def test_bench_search_json():
    r = CliRunner().invoke(app, ["bench", "search", "--subjects", "30", "--probes", "4", "--shortlist", "5",
                                 "--exhaustive-sample", "2", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    for key in ("subjects", "search_ms_p50", "search_ms_p95", "resident_mb", "load_s", "fnir_pct",
                "exhaustive_agreement_pct", "penetration_pct", "build_s"):
        assert key in out
    assert out["subjects"] == 30 and out["penetration_pct"] == round(100 * 5 / 30, 3)
    assert out["mate_index_rank_max"] < 5  # every mate made the shortlist


def test_bench_search_bad_gallery():
    r = CliRunner().invoke(app, ["bench", "search", "--gallery", "latent"])
    assert r.exit_code != 0 and "gallery" in r.output


def test_bench_search_threshold_from_non_mated_searches():
    r = CliRunner().invoke(app, ["bench", "search", "--subjects", "30", "--probes", "4", "--non-mated", "12",
                                 "--shortlist", "5", "--exhaustive-sample", "6", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["mated_probes"] == 4 and out["non_mated_probes"] == 12
    assert out["threshold_non_mated_searches"] == 12
    # with fewer than 1,000 non-mated searches the threshold is above the best of them
    assert out["hit_threshold"] >= out["non_mated_best_max"]
    assert out["exhaustive_mated"] == 3 and out["exhaustive_non_mated"] == 3
    assert out["exhaustive_hit_threshold"] is not None and out["fnir_exhaustive_pct"] is not None


def test_empirical_threshold():
    import pytest

    from securecomm.synth.search_bench import empirical_threshold

    scores = list(range(1000))  # 0 .. 999: one search in 1,000 may reach the threshold
    t = empirical_threshold(scores, 0.001)
    assert 998 < t <= 998.0001 and sum(s >= t for s in scores) == 1
    assert empirical_threshold(scores, 0.01) > 989 and sum(s >= empirical_threshold(scores, 0.01) for s in scores) == 10
    assert empirical_threshold([3.0, 1.0], 0.001) > 3.0  # at most 1/n
    with pytest.raises(ValueError):
        empirical_threshold([], 0.001)


def test_bench_search_index_dir_builds_resumes_and_reuses(tmp_path):
    """--index-dir: the build is saved in steps and resumable; a finished one is reused by later runs."""
    import numpy as np

    from securecomm.engine.index import IndexedBackend

    def bench(*args):
        r = CliRunner().invoke(app, ["bench", "search", "--probes", "4", "--shortlist", "5", "--json", *args])
        assert r.exit_code == 0, r.output
        return json.loads(r.stdout)

    one = tmp_path / "one"
    out = bench("--subjects", "12", "--index-dir", str(one), "--save-every", "5", "--build-only")
    assert out["built_now"] and out["on_disk_mb"] > 0
    out = bench("--subjects", "24", "--index-dir", str(one), "--save-every", "5", "--exhaustive-sample", "2")
    assert out["built_in_this_run"] and out["load_s"] is not None and out["exhaustive_agreement_pct"] is not None
    assert out["exhaustive_rank1_agreement_mated_pct"] == 100.0  # the mate, found either way
    again = bench("--subjects", "24", "--index-dir", str(one), "--exhaustive-sample", "0")
    assert not again["built_in_this_run"] and again["build_s"] == out["build_s"]  # reused, not rebuilt
    assert again["fnir_pct"] == out["fnir_pct"] and again["hit_threshold"] == out["hit_threshold"]
    bench("--subjects", "24", "--index-dir", str(tmp_path / "two"), "--build-only")  # in one go
    a, b = IndexedBackend.load(one), IndexedBackend.load(tmp_path / "two")
    assert a.subject_ids() == b.subject_ids() == [f"S{i}" for i in range(24)]
    assert np.array_equal(a._bcodes, b._bcodes)
    r = CliRunner().invoke(app, ["bench", "search", "--subjects", "24", "--seed", "8", "--index-dir", str(one)])
    assert r.exit_code == 2 and "seed 8" in r.output  # another gallery's folder is not overwritten


def test_bench_search_index_dir_reuses_finished_segments(tmp_path):
    """An interrupted segmented build keeps its finished segments: the next run builds only the others
    (the finished one's recorded timings are carried into the build's figures) and merges them all."""
    import numpy as np

    from securecomm.engine.index import IndexedBackend
    from securecomm.synth import search_bench

    one = tmp_path / "one"
    parts = tmp_path / "one.parts"
    parts.mkdir()
    first = parts / "7-plain-000000000-000000005"
    search_bench._segment((0, 5, 7, "plain", str(first)))  # as if the run had stopped after it
    (first.parent / (first.name + ".json")).write_text(json.dumps({"synth_s": 0, "build_s": 1000.0,
                                                                   "build_cpu_s": 0}))
    r = CliRunner().invoke(app, ["bench", "search", "--subjects", "12", "--index-dir", str(one), "--save-every",
                                 "5", "--threads", "1", "--build-only", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["build_s"] > 1000.0 and not parts.exists()  # reused, then merged and cleaned up
    r = CliRunner().invoke(app, ["bench", "search", "--subjects", "12", "--index-dir", str(tmp_path / "two"),
                                 "--build-only", "--json"])
    assert r.exit_code == 0, r.output
    a, b = IndexedBackend.load(one), IndexedBackend.load(tmp_path / "two")
    assert a.subject_ids() == b.subject_ids() == [f"S{i}" for i in range(12)]
    assert np.array_equal(a._bcodes, b._bcodes)


def test_bench_search_re_codes_a_stale_index(tmp_path):
    """An index built with older code parameters is re-coded (and reported), not rebuilt."""
    one = tmp_path / "one"
    args = ["bench", "search", "--subjects", "6", "--index-dir", str(one), "--threads", "1", "--build-only", "--json"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0 and json.loads(r.stdout)["recode_s"] is None, r.output
    m = json.loads((one / "manifest.json").read_text())
    m["code_id"] = "an-older-code"
    (one / "manifest.json").write_text(json.dumps(m))
    r = CliRunner().invoke(app, args)
    out = json.loads(r.stdout)
    assert r.exit_code == 0 and out["recode_s"] is not None and not out["built_now"], r.output


def test_bench_search_rank_probes_and_exhaustive_bands():
    """--rank-probes adds mated probes ranked by code alone; the exhaustive sample also gives agreement
    at the exhaustive search's own bands, and the indexed FNIR at the exhaustive threshold."""
    from securecomm.synth.search_bench import _upper95

    r = CliRunner().invoke(app, ["bench", "search", "--subjects", "40", "--probes", "4", "--non-mated", "6",
                                 "--shortlist", "3", "--exhaustive-sample", "10", "--rank-probes", "30", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["mate_rank_probes"] == 34
    assert 0 <= out["mates_beyond_shortlist"] <= 34
    assert out["lost_mate_pct"] == round(100 * out["mates_beyond_shortlist"] / 34, 3)
    assert out["lost_mate_upper95_pct"] > out["lost_mate_pct"]
    assert out["exhaustive_review_threshold"] <= out["exhaustive_hit_threshold"]
    assert out["exhaustive_agreement_at_exhaustive_bands_pct"] is not None
    split = out["disagreements_at_exhaustive_bands"]
    n = out["exhaustive_sample"]
    assert sum(split.values()) == round(n * (100.0 - out["exhaustive_agreement_at_exhaustive_bands_pct"]) / 100.0)
    # the index verifies a subset with the same matcher: it can never find a non-mated score the exhaustive
    # search did not (its best is at most the exhaustive best)
    assert split["non_mated_indexed_false_positive_only"] == 0
    assert out["fnir_indexed_at_exhaustive_threshold_pct"] is not None
    assert abs(_upper95(0, 3000) - 0.000998) < 1e-5 and abs(_upper95(1, 100) - 0.0466) < 1e-3
