"""`securecomm detainers ...`: the operator's view of decisions, answers, the hold clock and timers."""

from __future__ import annotations

import datetime as dt

from typer.testing import CliRunner

from securecomm.cli.app import app
from securecomm.store.db import make_engine, make_sessionmaker

from conftest import AGENCIES, seed_iar

runner = CliRunner()


def _run(*args: str, code: int = 0, actor: str = "root admin"):
    result = runner.invoke(app, list(args), env={"COLUMNS": "250", "SECURECOMM_ACTOR": actor})
    assert result.exit_code == code, (args, result.output, result.exception)
    return " ".join(result.output.split())


def test_detainer_session(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    db = ["--db", url]
    _run("init", *db)
    (tmp_path / "agencies.csv").write_text(AGENCIES)
    _run("agencies", "load", str(tmp_path / "agencies.csv"), *db)
    _run("users", "add", "officer", "--role", "field_officer", "--area", "Boston", *db)
    _run("users", "add", "jailer", "--role", "jail", "--ori", "MA0130100", *db)
    assert _run("detainers", "expiry", "--release", "2013-07-03T17:00", "--ori", "MA0130100", *db) == \
        "2013-07-08 17:00 EDT"
    assert _run("detainers", "expiry", "--release", "2012-12-21T17:00", "--ori", "MA0130100", *db) == \
        "2012-12-26 17:00 EST"
    out = _run("detainers", "expiry", "--release", "July 3", "--ori", "MA0130100", *db, code=1)
    assert "is not an ISO date and time" in out
    engine = make_engine(url)
    with make_sessionmaker(engine)() as s:
        seed_iar(s, "T-CLI", booked=dt.datetime(2013, 7, 1, 13, tzinfo=dt.UTC))
    engine.dispose()
    out = _run("detainers", "decide", "T-CLI", "detainer", "--at", "2013-07-01T11:00", *db, actor="jailer", code=1)
    assert "may not detainer.decide" in out
    out = _run("detainers", "decide", "T-CLI", "detainer", "--probable-cause", "IDENT match",
               "--at", "2013-07-01T11:00", *db, actor="officer")
    assert "detainer 1 (detainer) booking T-CLI at MA0130100: lodged" in out
    out = _run("detainers", "acknowledge", "1", "--release", "2013-07-03T17:00", "--at", "2013-07-01T12:00", *db,
               actor="jailer")
    assert "honoured" in out and "expires 2013-07-08 17:00 EDT" in out
    out = _run("detainers", "acknowledge", "7", "--release", "2013-07-03T17:00", *db, actor="jailer", code=1)
    assert "no such detainer 7" in out
    out = _run("detainers", "release", "1", "--reason", "expiry", "--at", "2013-07-08T18:00", *db, actor="jailer",
               code=1)
    assert "past the hold's expiry" in out and "override" in out
    assert "T-CLI" in _run("detainers", "list", *db, actor="officer")
    assert "warning" in _run("detainers", "timers", *db)
    out = _run("detainers", "release", "1", "--reason", "expiry", "--at", "2013-07-08T17:00", *db, actor="jailer")
    assert "closed, released_at_expiry" in out
    assert "MA" in _run("detainers", "figures", *db)


def test_law_file_check(tmp_path):
    assert "Lunn v. Commonwealth" in _run("detainers", "laws")
    bad = tmp_path / "laws.json"
    bad.write_text('{"laws": [{"scope": "state", "value": "CT", "name": "A", "rule": "honour_all", '
                   '"effective_from": "2013-10-01", "effective_to": "2014-12-31"}, {"scope": "state", "value": "CT", '
                   '"name": "B", "rule": "honour_all", "effective_from": "2014-06-01"}]}')
    out = _run("detainers", "laws", str(bad), code=1)
    assert "state CT: 'A' (from 2013-10-01 to 2014-12-31) overlaps 'B' (from 2014-06-01)" in out
