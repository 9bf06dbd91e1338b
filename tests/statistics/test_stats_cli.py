"""`securecomm stats` and `securecomm report` on the hand-built store."""

from __future__ import annotations

import csv
import io
import json

import pytest
from stats_store import build
from typer.testing import CliRunner

from securecomm.cli.app import app


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "s.db"
    engine, Session = build(f"sqlite:///{path}")
    from securecomm.domain.principal import Role
    from securecomm.services import UnitOfWork, users

    admin = users.bootstrap_admin(Session, "root").principal()
    with UnitOfWork(Session, admin, write=True) as uow:
        users.add_user(uow, "auditor", Role.OVERSIGHT)
    engine.dispose()
    return f"sqlite:///{path}"


def run(*args):
    return CliRunner().invoke(app, list(args), env={"SECURECOMM_ACTOR": "auditor"})


def test_json_and_csv(store):
    res = run("stats", "--db", store, "--level", "state", "--period", "fy", "--format", "json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    got = {(r["state"], r["period"]): r["submissions"] for r in doc["rows"]}
    assert got == {("MA", "FY2012"): 7, ("MA", "FY2013"): 1, ("TX", "FY2012"): 1}
    assert doc["truth"] is True and "share_no_conviction" in doc["figures"]
    res = run("stats", "--db", store, "--format", "csv", "--public")
    rows = list(csv.DictReader(io.StringIO(res.output)))
    assert rows[0]["submissions"] == "9" and rows[0]["examiner_open"] == ""  # suppressed for the public


def test_table_and_bad_input(store):
    res = run("stats", "--db", store)
    assert res.exit_code == 0 and "IDENT matches" in res.output
    for args, text in ((("--level", "planet"), "level must be one of"), (("--from", "2012-13-01"), "YYYY-MM-DD"),
                       (("--format", "xml"), "one of table"), (("--format", "parquet"), "--out")):
        res = run("stats", "--db", store, *args)
        assert res.exit_code == 1 and text in res.output, res.output


def test_parquet_without_pyarrow_names_the_extra(store, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if not installed
    res = run("stats", "--db", store, "--format", "parquet", "--out", str(tmp_path / "s.parquet"))
    assert res.exit_code == 1 and "securecomm[parquet]" in res.output.replace("\n", ""), res.output


def test_report_writes_html_pdf_and_charts(store, tmp_path):
    res = run("report", "--db", store, "--state", "MA", "--month", "2012-06", "--out", str(tmp_path))
    assert res.exit_code == 0, res.output
    page = (tmp_path / "report.html").read_text()
    assert "MA, 2012-06" in page and "data:image/png;base64," in page
    assert (tmp_path / "report.pdf").read_bytes()[:5] == b"%PDF-"
    assert all((tmp_path / n).stat().st_size > 1000 for n in ("by_month.png", "by_level.png", "vs_nation.png"))
    res = run("report", "--db", store, "--state", "MA", "--month", "June", "--out", str(tmp_path))
    assert res.exit_code == 1 and "2012-06" in res.output


def test_docs_define_every_figure():
    from pathlib import Path

    from securecomm.statistics import FIGURES

    text = (Path(__file__).resolve().parents[2] / "docs" / "statistics.md").read_text()
    assert [f.name for f in FIGURES if f"`{f.name}`" not in text] == []


def test_docs_chart_every_figure_group():
    """One committed chart per figure group, referenced by docs/statistics.md and kept small."""
    from pathlib import Path

    from securecomm.statistics.figures import FIGURES, GROUPS

    docs = Path(__file__).resolve().parents[2] / "docs"
    text = (docs / "statistics.md").read_text()
    groups = [g for g in GROUPS if any(f.group == g for f in FIGURES)]
    for g in groups:
        image = docs / "img" / "statistics" / f"{g}.png"
        assert f"img/statistics/{g}.png" in text, g
        assert image.is_file() and 0 < image.stat().st_size < 100_000, image
