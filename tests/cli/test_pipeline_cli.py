"""The pipeline commands end to end through Typer, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import json

from typer.testing import CliRunner

from securecomm.cli.app import app
from securecomm.interchange.ebts import parse_sre

runner = CliRunner()


def _run(*args: str, ok: bool = True):
    result = runner.invoke(app, list(args))
    if ok:
        assert result.exit_code == 0, (args, result.output, result.exception)
    return result


def _files(tmp_path, scenario):
    folder = tmp_path / "in"
    folder.mkdir()
    with (folder / "agencies.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(scenario.agencies[0]))
        w.writeheader()
        w.writerows(scenario.agencies)
    paths = {}
    for i, raw in enumerate(scenario.criminal):
        (folder / f"cna{i}.an2").write_bytes(raw)
    for i, raw in enumerate(scenario.immigration):
        (folder / f"ien{i}.an2").write_bytes(raw)
    for name, raw in scenario.bookings.items():
        paths[name] = folder / f"{name}.an2"
        paths[name].write_bytes(raw)
    return folder, paths


def test_operator_session(tmp_path, db_url, scenario, monkeypatch):
    folder, paths = _files(tmp_path, scenario)
    db = ["--db", db_url]
    from alembic.script import ScriptDirectory

    from securecomm.store.db import alembic_config

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()  # the newest migration, whichever
    out = _run("init", *db).output.replace("\n", "")
    assert f"schema {head}" in out and "first admin:" in out
    assert "7 agencies loaded" in _run("agencies", "load", str(folder / "agencies.csv"), *db).output
    assert "activated ori MA0130100 from 2008-11-12" in _run("activate", "--ori", "MA0130100", "--from", "2008-11-12",
                                                              *db).output
    _run("activate", "--state", "MA", "--from", "2012-05-15", *db)
    bad = _run("activate", "--county", "Suffolk", "--from", "2012-01-01", *db, ok=False)
    assert bad.exit_code == 1 and "needs its state" in bad.output
    out = _run("enroll", "criminal", *map(str, sorted(folder.glob("cna*.an2"))), "--min-fingers", "2", *db).output
    assert "1 enrolled" in out
    out = _run("enroll", "immigration", *map(str, sorted(folder.glob("ien*.an2"))), "--min-fingers", "2", *db).output
    assert "3 enrolled" in out
    again = _run("enroll", "immigration", str(folder / "ien0.an2"), "--min-fingers", "2", *db)
    assert "1 duplicate" in again.output

    out = _run("submit", *map(str, paths.values()), *db).output
    assert "5 queued" in out
    assert "1 duplicate" in _run("submit", str(paths["b1_overstay"]), *db).output
    assert "1 job(s) processed" in _run("work", "--once", "--min-fingers", "2", *db).output
    # through the saved candidate index (issue 7): prepared at start, the same outcome as the exhaustive search
    out = _run("work", "--quiet", "--min-fingers", "2", "--index-dir", str(tmp_path / "index"), *db).output
    assert "1 waiting for review" in out and "0 failed" in out
    assert (tmp_path / "index" / "criminal" / "manifest.json").is_file()

    tcn = scenario.tcns["b1_overstay"]
    status = json.loads(_run("status", tcn, "--json", *db).output)
    assert status["state"] == "done" and [s["stage"] for s in status["stages"]][-1] == "iar"
    assert "IAR" in _run("status", tcn, *db).output
    missing = _run("status", "NO-SUCH-TCN", *db, ok=False)
    assert missing.exit_code == 1 and "no transaction" in missing.output

    doc = json.loads(_run("responses", tcn, "--format", "json", *db).output)
    assert [d["kind"] for d in doc].count("IAQ") == 1
    iar = next(d for d in doc if d["kind"] == "IAR")
    assert iar["message"]["booking_tcn"] == tcn
    out_dir = tmp_path / "out"
    _run("responses", tcn, "--format", "nist", "--out", str(out_dir), *db)
    sre = parse_sre((out_dir / f"{tcn}.SRE.MA0130100.an2").read_bytes())
    assert sre.result == "I"

    with monkeypatch.context() as m:
        m.setenv("SECURECOMM_ACTOR", "examiner 1")
        unknown = _run("review", *db, ok=False)
        assert unknown.exit_code == 1 and "'examiner 1' is not a securecomm user" in unknown.output
    _run("users", "add", "examiner 1", "--role", "examiner", *db)
    with monkeypatch.context() as m:
        m.setenv("SECURECOMM_ACTOR", "examiner 1")
        listing = _run("review", *db).output
    assert scenario.tcns["b4_protected"] in listing and "status" in listing
    from securecomm.store.db import make_engine
    from securecomm.workflow.pipeline import review_items

    engine = make_engine(db_url)
    item = review_items(engine)[0]
    engine.dispose()
    admin_may_not = _run("review", "decide", str(item.id), "notification_request", *db, ok=False)
    assert admin_may_not.exit_code == 1 and "may not review.decide_status" in admin_may_not.output
    _run("users", "add", "analyst 2", "--role", "lesc_analyst", *db)
    with monkeypatch.context() as m:
        m.setenv("SECURECOMM_ACTOR", "analyst 2")
        refused = _run("review", "decide", str(item.id), "deport", *db, ok=False)
        assert refused.exit_code == 1 and "takes one of" in refused.output
        _run("review", "decide", str(item.id), "notification_request", *db)
        assert "may not pipeline.work" in _run("work", "--quiet", *db, ok=False).output
    _run("work", "--quiet", "--min-fingers", "2", *db)
    status = json.loads(_run("status", scenario.tcns["b4_protected"], "--json", *db).output)
    assert status["state"] == "done" and status["reviews"][0]["decision"] == "notification_request"


def test_work_refuses_an_uninitialised_store(tmp_path):
    result = _run("work", "--db", f"sqlite:///{tmp_path / 'empty.db'}", ok=False)
    assert result.exit_code == 1 and "securecomm init" in result.output


def test_operator_reads_are_audited(tmp_path, scenario, monkeypatch):
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from securecomm.store.db import make_engine
    from securecomm.store.models import AuditEntry

    folder, paths = _files(tmp_path, scenario)
    db = ["--db", f"sqlite:///{tmp_path / 'a.db'}"]
    monkeypatch.setenv("SECURECOMM_ACTOR", "clerk 5")
    _run("init", *db)
    _run("agencies", "load", str(folder / "agencies.csv"), *db)
    _run("users", "add", "analyst 1", "--role", "lesc_analyst", *db)
    _run("submit", str(paths["b2_citizen"]), *db)
    tcn = scenario.tcns["b2_citizen"]
    _run("status", tcn, *db)
    _run("responses", tcn, *db)
    monkeypatch.setenv("SECURECOMM_ACTOR", "analyst 1")
    _run("review", *db)
    engine = make_engine(db[1])
    with Session(engine) as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.action == "read")).all()
        changes = s.scalars(select(AuditEntry).where(AuditEntry.action != "read")).all()
    engine.dispose()
    assert [(r.actor, r.object_type, r.object_id, r.purpose) for r in rows] == [
        ("clerk 5", "transaction", tcn, "securecomm status"),
        ("clerk 5", "responses", tcn, "securecomm responses --format json"),
        ("analyst 1", "review_queue", "open", "securecomm review")]
    assert [(r.actor, r.action, r.object_type) for r in changes][:3] == [
        ("clerk 5", "user_add", "user"), ("clerk 5", "agency_upsert", "agency"), ("clerk 5", "agency_upsert", "agency")]
    assert ("clerk 5", "user_add", "analyst 1") in [(r.actor, r.action, r.object_id) for r in changes]


def test_users_are_managed_by_an_admin_and_scopes_are_enforced(tmp_path, scenario, monkeypatch):
    folder, paths = _files(tmp_path, scenario)
    db = ["--db", f"sqlite:///{tmp_path / 'u.db'}"]
    monkeypatch.setenv("SECURECOMM_ACTOR", "root admin")
    assert "first admin: root admin" in _run("init", *db).output
    assert "first admin" not in _run("init", *db).output  # only an empty users table is bootstrapped
    _run("agencies", "load", str(folder / "agencies.csv"), *db)
    bad = _run("users", "add", "clerk", "--role", "agency", *db, ok=False)
    assert bad.exit_code == 1 and "needs its ori scope" in bad.output
    bad = _run("users", "add", "clerk", "--role", "operator", *db, ok=False)
    assert bad.exit_code == 1 and "unknown role 'operator'" in bad.output
    _run("users", "add", "boston clerk", "--role", "agency", "--ori", "MA0130100", *db)
    _run("users", "add", "other clerk", "--role", "agency", "--ori", "MA0000000", *db)
    listing = _run("users", "list", *db).output
    assert "boston clerk" in listing and "MA0130100" in listing
    _run("submit", str(paths["b2_citizen"]), *db)
    tcn = scenario.tcns["b2_citizen"]

    monkeypatch.setenv("SECURECOMM_ACTOR", "boston clerk")
    assert tcn in _run("status", tcn, *db).output
    refused = _run("users", "list", *db, ok=False)
    assert refused.exit_code == 1 and "boston clerk (agency) may not users.list" in refused.output
    monkeypatch.setenv("SECURECOMM_ACTOR", "other clerk")
    hidden = _run("status", tcn, *db, ok=False)  # another agency's booking looks like no booking at all
    assert hidden.exit_code == 1 and "no such transaction" in hidden.output

    monkeypatch.setenv("SECURECOMM_ACTOR", "root admin")
    assert _run("users", "disable", "root admin", "--reason", "leaving", *db, ok=False).exit_code == 1
    _run("users", "disable", "boston clerk", "--reason", "left the department", *db)
    monkeypatch.setenv("SECURECOMM_ACTOR", "boston clerk")
    gone = _run("status", tcn, *db, ok=False)
    assert gone.exit_code == 1 and "user 'boston clerk' is disabled" in gone.output
