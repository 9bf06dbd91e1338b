"""Demo accounts: one user and token per role, scoped from the store's own data, shown again by serve."""

from __future__ import annotations

import stat

from rich.console import Console

from securecomm.demo.accounts import ACCOUNTS_FILE, issue_accounts, read_accounts
from securecomm.domain.principal import Role
from securecomm.services import tokens

from tests.api.test_api import ORI_A, api  # noqa: F401
from tests.api.test_console import signed_in


def test_every_role_gets_a_working_scoped_account(api, tmp_path):  # noqa: F811
    _, sessions, toks, _ = api
    out = Console(width=200, record=True)
    rows = issue_accounts(sessions, tokens.authenticate(sessions, toks["root"]), tmp_path, "Boston", out)
    assert {r[0] for r in rows} == {r.value for r in Role} - {"system"}
    text = out.export_text()
    assert "securecomm serve" in text and rows[1][3] in text
    path = tmp_path / ACCOUNTS_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and read_accounts(tmp_path) == rows
    by_role = {r[0]: r for r in rows}
    for role, user, scope, token in rows:
        me = tokens.authenticate(sessions, token)
        assert (me.actor, me.role.value) == (user, role)
    agency = tokens.authenticate(sessions, by_role["agency"][3])
    assert agency.ori in (ORI_A, "MA0350000") and by_role["sib"][2] == "state MA"
    assert tokens.authenticate(sessions, by_role["field_supervisor"][3]).area == "Boston"
    # the tokens open the console as each party
    assert signed_in(sessions, by_role["jail"][3]).get("/console/detainers").status_code == 200
    assert signed_in(sessions, by_role["public"][3]).get("/console/statistics").status_code == 200
    again = issue_accounts(sessions, tokens.authenticate(sessions, toks["root"]), tmp_path, "Boston", Console(quiet=True))
    assert [r[:3] for r in again] == [r[:3] for r in rows] and again[1][3] != rows[1][3]  # users kept, new tokens
    assert read_accounts(tmp_path / "nowhere") == []


def test_serve_prints_the_console_url_and_the_demo_accounts(tmp_path, monkeypatch):
    import uvicorn
    from typer.testing import CliRunner

    from securecomm.cli.app import app

    (tmp_path / ACCOUNTS_FILE).parent.mkdir(parents=True)
    (tmp_path / ACCOUNTS_FILE).write_text("# header\njail\tdemo-jail\tori MA0130100\tsc_" + "j" * 43 + "\n")
    called = {}
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: called.update(kw))
    for name in ("SECURECOMM_DATABASE_URL", "SECURECOMM_API_RATE"):  # serve sets them: restored afterwards
        monkeypatch.setenv(name, "")
    r = CliRunner().invoke(app, ["serve", "--data", str(tmp_path), "--port", "18123"])
    assert r.exit_code == 0, r.output
    assert "http://127.0.0.1:18123/console/" in r.output and "sc_" + "j" * 43 in r.output
    assert called["port"] == 18123 and called["server_header"] is False
