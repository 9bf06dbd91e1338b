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
