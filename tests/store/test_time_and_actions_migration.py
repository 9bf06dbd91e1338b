"""0005: naive workflow timestamps become aware UTC (same instants), old action words are rewritten, and the
models match the migrated schema for every table, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.orm import Session

from securecomm.domain.clock import NaiveTimeError
from securecomm.store import db
from securecomm.store.base import Base
from securecomm.store.workflow_models import ReviewItem, StageRun, Transaction


def test_every_table_matches_the_models(db_url):
    engine = db.make_engine(db_url)
    db.migrate(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    engine.dispose()
    assert diff == []


def test_upgrade_keeps_instants_and_rewrites_old_action_words(db_url):
    engine = db.make_engine(db_url)
    with engine.begin() as conn:
        command.upgrade(db.alembic_config(engine, conn), "0004_users")
    with engine.begin() as conn:  # what a 0004 store holds: naive UTC timestamps, the policy's word "none"
        conn.execute(text("INSERT INTO transactions (tcn, ori, tot, state, raw, sha256, received_at) "
                          "VALUES ('T-1', 'MA0130100', 'CAR', 'done', :raw, :sha, '2012-06-01 23:30:00')"),
                     {"raw": b"x", "sha": "0" * 64})
        conn.execute(text("INSERT INTO stage_runs (tcn, stage, status, output, attempt, worker, finished_at) "
                          "VALUES ('T-1', 'status_determination', 'review', :o, 1, 'w', '2012-06-01 23:31:00')"),
                     {"o": '{"action": "none", "action_before_safeguards": "detainer", "status": "X"}'})
        conn.execute(text("INSERT INTO review_items (tcn, kind, reason, band, candidate, details, state, created_at) "
                          "VALUES ('T-1', 'status', 'r', '', '', :d, 'open', '2012-06-01 23:31:00')"),
                     {"d": '{"action": "none", "action_before_safeguards": "none"}'})
    db.migrate(engine)
    with Session(engine) as s:
        tx = s.query(Transaction).one()
        assert tx.received_at == dt.datetime(2012, 6, 1, 23, 30, tzinfo=dt.UTC)
        assert tx.arrest_date is None and tx.captured_at is None
        run = s.query(StageRun).one()
        assert run.output == {"action": "no_action", "action_before_safeguards": "detainer", "status": "X"}
        assert run.finished_at.tzinfo is not None
        assert s.query(ReviewItem).one().details == {"action": "no_action", "action_before_safeguards": "no_action"}
        tx.captured_at = dt.datetime(2012, 6, 1, 23, 45)  # naive: refused, never guessed
        with pytest.raises(Exception) as info:
            s.flush()
        assert isinstance(info.value, NaiveTimeError) or isinstance(getattr(info.value, "orig", None), NaiveTimeError)
    with engine.begin() as conn:  # and back down
        command.downgrade(db.alembic_config(engine, conn), "0005_identity_jobs")
        out = conn.execute(text("SELECT output FROM stage_runs")).scalar_one()
    assert '"none"' in (out if isinstance(out, str) else str(out).replace("'", '"'))
    engine.dispose()
