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
