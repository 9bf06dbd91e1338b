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
