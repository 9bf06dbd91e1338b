"""The unit of work: permissions by allow-list, scope refusals look like absence, audit in the same transaction."""

from __future__ import annotations

import datetime as dt

import pytest

from securecomm.domain.clock import FixedClock, NaiveTimeError
from securecomm.domain.principal import Principal, Role
from securecomm.services import NotFound, PermissionDenied, UnitOfWork
from securecomm.store import audit
from securecomm.store.db import open_store


@pytest.fixture
def sessions(tmp_path):
    _engine, factory = open_store(f"sqlite:///{tmp_path / 's.db'}")
    return factory


def test_unknown_role_is_refused_not_defaulted():
    with pytest.raises(ValueError, match="unknown role"):
        Principal("x", "operatr")


def test_clock_is_aware_and_fixed():
    clock = FixedClock(dt.datetime(2012, 12, 21, 22, tzinfo=dt.UTC))
    clock.advance(dt.timedelta(hours=1))
    assert clock.now() == dt.datetime(2012, 12, 21, 23, tzinfo=dt.UTC)
    with pytest.raises(NaiveTimeError):
        FixedClock(dt.datetime(2012, 1, 1))


def test_denied_operation_rolls_back_work_and_audits_the_refusal(sessions):
    public = Principal("citizen", Role.PUBLIC)
    with pytest.raises(PermissionDenied):
        with UnitOfWork(sessions, public, purpose="curiosity") as uow:
            uow.audit("read", "transaction", "T1")  # would-be work, rolled back
            uow.require("booking.responses")
    with sessions() as s:
        rows = audit.trail(s)
    assert [(r.action, r.object_id, r.role) for r in rows] == [("refused", "booking.responses", "public")]


def test_out_of_scope_object_is_not_found_and_audited(sessions):
    agency = Principal("clerk", Role.AGENCY, ori="MA0130100")
    with pytest.raises(NotFound):
        with UnitOfWork(sessions, agency) as uow:
            uow.require("booking.status")
            uow.require_scope("booking.status", ori="CA0190000", what="transaction")
    with sessions() as s:
        assert [r.action for r in audit.trail(s)] == ["refused"]


def test_audit_commits_with_the_work(sessions):
    agency = Principal("clerk", Role.AGENCY, ori="MA0130100")
    with UnitOfWork(sessions, agency, purpose="check answer") as uow:
        uow.require("booking.status")
        uow.require_scope("booking.status", ori="MA0130100")
        uow.audit("read", "transaction", "T1")
    with sessions() as s:
        (row,) = audit.trail(s)
    assert (row.actor, row.role, row.object_id) == ("clerk", "agency", "T1")
    assert row.purpose == "check answer"


def test_activated_today_is_the_agencys_own_date(sessions, tmp_path):
    from securecomm.services import config, users

    admin = users.bootstrap_admin(sessions, "root").principal()
    agencies = tmp_path / "a.csv"
    agencies.write_text("ori,name,state,county\nMA0130100,Harbor City PD,MA,Suffolk\n")
    schedule = tmp_path / "s.csv"
    schedule.write_text("scope,value,effective_from\nstate,MA,2012-05-15\n")
    with UnitOfWork(sessions, admin, write=True) as uow:
        config.load_agencies(uow, agencies)
        assert config.load_activations(uow, schedule) == 1
        assert config.load_activations(uow, schedule) == 0  # a reload adds nothing
    clock = FixedClock(dt.datetime(2012, 5, 15, 3, 30, tzinfo=dt.UTC))  # 23:30 on 14 May in Boston
    with UnitOfWork(sessions, admin, clock=clock) as uow:
        (a,) = config.list_agencies(uow)
    assert (a.time_zone, a.activated) == ("America/New_York", False)
    clock.advance(dt.timedelta(hours=1))  # 00:30 on 15 May in Boston
    with UnitOfWork(sessions, admin, clock=clock) as uow:
        assert config.list_agencies(uow)[0].activated
    with sessions() as s:
        rows = audit.trail(s, "activation")
    assert [(r.action, r.object_id) for r in rows] == [("activate", "state:MA")]


def test_on_commit_runs_after_the_commit_and_never_after_a_rollback(sessions):
    admin = Principal("root", Role.ADMIN)
    seen: list[str] = []
    with UnitOfWork(sessions, admin) as uow:
        uow.audit("read", "transaction", "T1")
        uow.on_commit(lambda: seen.append("committed"))
        assert seen == []  # not while the work is open
    assert seen == ["committed"]
    with pytest.raises(RuntimeError), UnitOfWork(sessions, admin) as uow:
        uow.on_commit(lambda: seen.append("rolled back"))
        raise RuntimeError("the work failed")
    assert seen == ["committed"]
