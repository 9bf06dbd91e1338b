"""The store opens SQLite and PostgreSQL alike, and Alembic builds exactly the models' schema."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from securecomm.store import audit, db
from securecomm.store.base import Base
from securecomm.store.models import DOMAIN_TABLES, Agency, CriminalSubject


def test_default_url_uses_data_folder(tmp_path, monkeypatch):
    monkeypatch.delenv(db.URL_ENV, raising=False)
    folder = tmp_path / "nested" / "data"
    url = db.default_url(folder)
    assert folder.is_dir()
    assert url == f"sqlite:///{folder.resolve() / 'securecomm.db'}"
    monkeypatch.setenv(db.DATA_ENV, str(tmp_path / "env-data"))
    assert db.default_url().endswith("env-data/securecomm.db")


def test_default_url_env_wins_and_postgres_uses_psycopg(monkeypatch):
    monkeypatch.setenv(db.URL_ENV, "postgresql://u:p@h:5432/d")
    assert db.default_url() == "postgresql+psycopg://u:p@h:5432/d"
    assert db.normalise_url("postgres://u@h/d").startswith("postgresql+psycopg://")


def test_unsupported_url_is_refused():
    with pytest.raises(db.StoreError, match="unsupported database 'mysql'"):
        db.normalise_url("mysql://u@h/d")
    with pytest.raises(db.StoreError, match="not a database URL"):
        db.normalise_url("::nonsense::")


def test_sqlite_pragmas(tmp_path):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == db.SQLITE_BUSY_TIMEOUT_MS
    engine.dispose()


def test_migrated_schema_matches_models(db_url):
    engine = db.make_engine(db_url)
    assert db.current_revision(engine) is None
    db.migrate(engine)
    assert db.current_revision(engine) is not None
    names = set(inspect(engine).get_table_names())
    assert set(DOMAIN_TABLES) <= names
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    mine = [d for d in diff if _table_of(d) in DOMAIN_TABLES]
    assert mine == []
    db.migrate(engine)  # idempotent: already at head
    engine.dispose()


def _table_of(diff) -> str | None:
    """The table a compare_metadata entry concerns (entries are tuples or lists of tuples)."""
    item = diff[0] if isinstance(diff, list) else diff
    for part in item[1:]:
        name = getattr(part, "name", None)
        table = getattr(part, "table", None)
        if table is not None and getattr(table, "name", None):
            return table.name
        if isinstance(part, str):
            return part if part in DOMAIN_TABLES else None
        if name:
            return name
    return None


def test_constraints_enforced(db_url):
    engine, factory = db.open_store(db_url)
    with factory() as s:
        s.add(Agency(ori="MA0130100", name="Boston PD", county="Suffolk", state="MA", kind="bogus"))
        with pytest.raises(IntegrityError):
            s.flush()
        s.rollback()
        s.add(CriminalSubject(ucn="X1", last_name="A", first_name="B", dob=dt.date(1990, 1, 1), sex="M"))
        s.add(CriminalSubject(ucn="X1", last_name="C", first_name="D", dob=dt.date(1990, 1, 1), sex="F"))
        with pytest.raises(IntegrityError):
            s.flush()
    engine.dispose()


def test_audit_record_and_trail(db_url):
    engine, factory = db.open_store(db_url)
    before = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=5)
    with db.session_scope(factory) as s:
        audit.record(s, actor="analyst7", role="lesc", action="read", object_type="rap_sheet",
                     object_id="12345678A", detail="IAQ 42")
        audit.record(s, actor="officer1", role="agency", action="read", object_type="response",
                     object_id="TCN1")
    with factory() as s:
        rows = audit.trail(s, "rap_sheet", "12345678A")
        assert [(r.actor, r.role, r.action, r.detail) for r in rows] == [("analyst7", "lesc", "read", "IAQ 42")]
        assert rows[0].at.tzinfo is not None and rows[0].at >= before
        assert len(audit.trail(s)) == 2
        assert [r.object_id for r in audit.trail(s, actor="officer1")] == ["TCN1"]
        with pytest.raises(audit.AuditError, match="actor is required"):
            audit.record(s, actor="", role="lesc", action="read", object_type="x", object_id="1")
    engine.dispose()


def test_migrate_needs_no_alembic_ini_in_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nowhere near the repository
    engine, _ = db.open_store(f"sqlite:///{tmp_path / 'elsewhere.db'}")
    assert db.current_revision(engine) is not None
    assert not (tmp_path / "alembic.ini").exists()
    engine.dispose()


def test_downgrade_to_base_and_back(db_url):
    from alembic import command

    engine = db.make_engine(db_url)
    db.migrate(engine)
    with engine.begin() as conn:
        command.downgrade(db.alembic_config(engine, conn), "base")
    assert not set(DOMAIN_TABLES) & set(inspect(engine).get_table_names())
    db.migrate(engine)
    assert set(DOMAIN_TABLES) <= set(inspect(engine).get_table_names())
    engine.dispose()
