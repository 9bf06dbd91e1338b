"""Template-level galleries and the FVC-layout writer."""

from __future__ import annotations

import json

import numpy as np
import pytest

from securecomm.engine.iso19794 import read_iso_file
from securecomm.engine.match import match
from securecomm.synth import templates as T
from securecomm.synth.fvcdb import write_database


def test_packed_templates_have_extracted_template_statistics():
    p = T.impressions(3000, seed=4)
    assert len(p) == 3000
    counts = p.counts
    assert 30 <= counts.mean() <= 60
    assert np.percentile(counts, 5) >= 10 and np.percentile(counts, 95) <= 90
    assert 0.45 <= np.mean(p.kind == 1) <= 0.65
    assert p.x.min() >= 0 and p.x.max() < p.width and p.angle.max() < 2 * np.pi
    t = p.template(17)  # a valid engine Template
    assert len(t) == counts[17]
    # minimum spacing of true minutiae: few pairs closer than 4 px
    d = np.hypot(t.x[:, None] - t.x[None], t.y[:, None] - t.y[None]) + np.eye(len(t)) * 99
    assert (d < 4).sum() <= 4


def test_slices_and_blocks_are_independent_of_how_work_is_split():
    whole = T.impressions(T.BLOCK + 50, seed=9, impression=2)
    part = T.impressions(80, seed=9, impression=2, start=T.BLOCK - 30)
    for i in range(80):
        a, b = whole.template(T.BLOCK - 30 + i), part.template(i)
        assert a.to_bytes() == b.to_bytes()
    again = T.impressions(T.BLOCK + 50, seed=9, impression=2)
    assert np.array_equal(again.x, whole.x) and np.array_equal(again.offsets, whole.offsets)
    parallel = list(T.iter_blocks(T.BLOCK + 50, seed=9, impression=2, workers=2))
    assert np.array_equal(np.concatenate([p.angle for p in parallel]), whole.angle)


def test_mated_template_impressions_match_better_than_non_mated():
    a = T.impressions(40, seed=2, impression=0)
    b = T.impressions(40, seed=2, impression=1)
    genuine = np.array([match(a.template(i), b.template(i)) for i in range(40)])
    impostor = np.array([match(a.template(i), b.template((i + 1) % 40)) for i in range(40)])
    assert np.median(genuine) > 3 * np.median(impostor)
    assert np.mean(genuine > impostor.max()) > 0.7
    # ... but not trivially: some mated pairs score low, as real ones do
    assert genuine.min() < 0.5 * np.median(genuine)


@pytest.mark.parametrize("kw, name", [
    (dict(n_fingers=0, seed=1), "n_fingers"),
    (dict(n_fingers=-3, seed=1), "n_fingers"),
    (dict(n_fingers=5, seed=-1), "seed"),
    (dict(n_fingers=5, seed=1, kind="slap"), "kind"),
    (dict(n_fingers=5, seed=1, impression=-1), "impression"),
    (dict(n_fingers=5, seed=1, start=-1), "start"),
])
def test_template_generator_rejects_bad_parameters(kw, name):
    with pytest.raises(ValueError, match=name):
        T.impressions(**kw)


def test_fvc_database_layout_and_ground_truth(tmp_path):
    db = write_database(tmp_path, fingers=2, impressions=2, seed=3)
    names = sorted(p.name for p in db.iterdir())
    assert names == ["1_1.iso", "1_1.png", "1_2.iso", "1_2.png", "2_1.iso", "2_1.png", "2_2.iso", "2_2.png",
                     "ppi", "synth.json"]
    t = read_iso_file(db / "1_1.iso")
    assert 10 <= len(t) <= 90 and (t.width, t.height) == (400, 400)
    manifest = json.loads((db / "synth.json").read_text())
    assert manifest["seed"] == 3 and len(manifest["masters"]) == 2
    again = write_database(tmp_path / "again", fingers=2, impressions=2, seed=3)
    assert (again / "2_2.png").read_bytes() == (db / "2_2.png").read_bytes()
    assert (again / "2_2.iso").read_bytes() == (db / "2_2.iso").read_bytes()


@pytest.mark.parametrize("kw, name", [
    (dict(fingers=0, impressions=2, seed=1), "fingers"),
    (dict(fingers=2, impressions=-1, seed=1), "impressions"),
    (dict(fingers=2, impressions=2, seed=1, kind="latent"), "kind"),
])
def test_fvc_writer_rejects_bad_parameters(tmp_path, kw, name):
    with pytest.raises(ValueError, match=name):
        write_database(tmp_path, **kw)


def test_cli_writes_a_database_and_names_bad_parameters(tmp_path):
    from typer.testing import CliRunner

    from securecomm.cli.synth import app

    runner = CliRunner()
    ok = runner.invoke(app, ["fvc", str(tmp_path), "--fingers", "1", "--impressions", "2", "--seed", "5"])
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "DB1" / "1_2.png").is_file() and (tmp_path / "DB1" / "1_2.iso").is_file()
    bad = runner.invoke(app, ["fvc", str(tmp_path / "x"), "--fingers", "0"])
    assert bad.exit_code == 2 and "fingers" in bad.output
    gal = runner.invoke(app, ["gallery", "--subjects", "20", "--json"])
    assert gal.exit_code == 0 and json.loads(gal.output.strip().splitlines()[-1])["fingers"] == 200
