"""Operator commands: a batch with an empty file goes on; parked work is listed, resumed and parked
by hand (`securecomm jobs`); two subjects merged (`securecomm subjects merge`)."""

from __future__ import annotations

from typer.testing import CliRunner

from securecomm.cli.app import app

runner = CliRunner()


def _run(*args: str, code: int = 0, env: dict | None = None):
    result = runner.invoke(app, list(args), env={"COLUMNS": "250", **(env or {})})
    assert result.exit_code == code, (args, result.output, result.exception)
    return " ".join(result.output.split())  # rich wraps long lines


def test_submit_batch_jobs_and_merge(tmp_path, scenario):
    db = ["--db", f"sqlite:///{tmp_path / 's.db'}"]
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a-empty.an2").write_bytes(b"")
    (folder / "b-citizen.an2").write_bytes(scenario.bookings["b2_citizen"])
    admin = {"SECURECOMM_ACTOR": "root admin"}
    _run("init", *db, env=admin)  # the first user is the store's admin
    _run("users", "add", "pat", "--role", "public", *db, env=admin)
    _run("users", "add", "examiner 1", "--role", "examiner", *db, env=admin)
    out = _run("submit", str(folder / "a-empty.an2"), str(folder / "b-citizen.an2"), *db, env=admin, code=2)
    assert "a-empty.an2: empty file" in out and "1 queued" in out and "1 error" in out  # the batch went on
    tcn = scenario.tcns["b2_citizen"]
    assert f"{tcn}: parked" in _run("jobs", "park", tcn, "--reason", "hold", *db, env=admin)
    assert tcn in _run("jobs", "list", *db, env=admin)
    out = _run("jobs", "retry", tcn, *db, env={"SECURECOMM_ACTOR": "pat"}, code=1)
    assert "may not jobs.retry" in out
    assert f"{tcn}: ready" in _run("jobs", "retry", tcn, *db, env=admin)
    assert "no jobs" in _run("jobs", "list", *db, env=admin)
    out = _run("subjects", "merge", "00000001J", "00000002S", "--reason", "x", *db,
               env={"SECURECOMM_ACTOR": "examiner 1"}, code=1)
    assert "no criminal subject" in out


def test_work_survives_a_database_that_does_not_answer_its_progress_queries(tmp_path, scenario, monkeypatch):
    """The supervising `work` (one worker here, or `--workers N`) reports, and exits cleanly, when its own
    queue-count queries fail; only the workers' database work decides the outcome (before: a traceback)."""
    from sqlalchemy.exc import OperationalError

    from securecomm.workflow.queue import JobQueue

    db = ["--db", f"sqlite:///{tmp_path / 's.db'}"]
    admin = {"SECURECOMM_ACTOR": "root admin"}
    _run("init", *db, env=admin)

    def down(self):
        raise OperationalError("SELECT jobs.state", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(JobQueue, "counts", down)
    for extra in ([], ["--workers", "2", "--quiet"]):
        result = runner.invoke(app, ["work", *extra, *db], env={"COLUMNS": "250", **admin})
        assert result.exit_code == 0, (extra, result.output, result.exception)
        assert "queue counts unavailable (OperationalError)" in " ".join(result.output.split())


def test_audit_seal_and_verify_with_and_without_sealing_first(tmp_path):
    """Rows a crashed server left off the chain: `audit verify --no-seal` reports them as pending, not checked;
    `audit seal` chains them; `audit verify` seals what is pending first, then checks."""
    from sqlalchemy import update

    from securecomm.store.db import open_store
    from securecomm.store.models import AuditEntry

    url = f"sqlite:///{tmp_path / 's.db'}"
    db = ["--db", url]
    admin = {"SECURECOMM_ACTOR": "root admin"}
    _run("init", *db, env=admin)
    _run("users", "add", "auditor", "--role", "oversight", *db, env=admin)
    _run("users", "add", "pat", "--role", "public", *db, env=admin)
    engine, sessions = open_store(url)

    def unseal() -> int:  # as if a server had died before its sealer ran
        with sessions() as s:
            n = s.execute(update(AuditEntry).values(chain_seq=None, prev_hash=None, row_hash=None)).rowcount
            s.commit()
        return n

    n = unseal()
    assert n >= 2
    auditor = {"SECURECOMM_ACTOR": "auditor"}
    out = _run("audit", "verify", "--no-seal", *db, env=auditor)
    assert f"0 rows on the chain (0 sealed just now), {n} not yet sealed" in out
    assert unseal() == n + 1  # (the command's own unit of work sealed everything after it committed)
    out = _run("audit", "seal", *db, env=auditor)
    assert f"{n + 1} rows sealed" in out and "0 pending" in out
    unseal()
    out = _run("audit", "verify", *db, env=auditor)
    assert f"{n + 1} rows on the chain ({n + 1} sealed just now), 0 not yet sealed" in out and "intact" in out
    out = _run("audit", "verify", *db, env=auditor)
    assert f"{n + 2} rows on the chain (0 sealed just now), 0 not yet sealed" in out and "intact" in out
    assert "may not audit.verify" in _run("audit", "seal", *db, env={"SECURECOMM_ACTOR": "pat"}, code=1)
    engine.dispose()
