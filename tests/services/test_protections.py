"""Protections through the service layer: who may set and clear them, with what reason, and the audit."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from securecomm.domain.principal import Principal, Role
from securecomm.domain.protections import ProtectionError
from securecomm.domain.records import Biographic, Encounter, ImmigrationEnrolment
from securecomm.engine.template import Template
from securecomm.repositories import ImmigrationRepository
from securecomm.services import NotFound, PermissionDenied, UnitOfWork, protections
from securecomm.store import audit
from securecomm.store.db import open_store


def _template(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    return Template(rng.uniform(0, 300, 20), rng.uniform(0, 400, 20), rng.uniform(0, 6.28, 20),
                    rng.integers(1, 3, 20), rng.integers(40, 100, 20), 320, 420, image_quality=70).to_bytes()


@pytest.fixture
def store(tmp_path):
    _engine, sessions = open_store(f"sqlite:///{tmp_path / 'p.db'}")
    with sessions() as s:
        fin = ImmigrationRepository(s).enroll(ImmigrationEnrolment(
            "IEN-1", Biographic("DOE", "ANA", dt.date(1990, 1, 1), "F", "MX"),
            (Encounter("admission", dt.date(2010, 1, 1)),)), {2: _template(2)})
        s.commit()
    return sessions, fin


def _flags(sessions, fin):
    with sessions() as s:
        return ImmigrationRepository(s).identity(fin, actor="t", role="lesc_analyst").protected_flags


def test_set_then_clear_only_by_a_supervisor_with_a_reason(store):
    sessions, fin = store
    officer = Principal("officer 1", Role.FIELD_OFFICER, area="Boston")
    supervisor = Principal("supervisor 1", Role.FIELD_SUPERVISOR, area="Boston")
    with UnitOfWork(sessions, officer, purpose="witness report", write=True) as uow:
        protections.flag_victim_witness(uow, fin, basis="witness in case 2012-77")
    assert "victim_witness" in _flags(sessions, fin)
    with pytest.raises(PermissionDenied):
        with UnitOfWork(sessions, officer, write=True) as uow:
            protections.clear_victim_witness(uow, fin, reason="the case was closed in 2013")
    with pytest.raises(ProtectionError, match="needs a reason"):
        with UnitOfWork(sessions, supervisor, write=True) as uow:
            protections.clear_victim_witness(uow, fin, reason="ok")
    assert "victim_witness" in _flags(sessions, fin)
    with UnitOfWork(sessions, supervisor, purpose="case review", write=True) as uow:
        protections.clear_victim_witness(uow, fin, reason="the case was closed in 2013")
    assert "victim_witness" not in _flags(sessions, fin)
    with pytest.raises(NotFound):
        with UnitOfWork(sessions, supervisor, write=True) as uow:
            protections.clear_victim_witness(uow, "9999999999", reason="the case was closed in 2013")
    with sessions() as s:
        rows = [(r.actor, r.action, r.purpose) for r in audit.trail(s) if r.action != "read"]
    assert rows == [("officer 1", "protection_set", "witness report"), ("officer 1", "refused", ""),
                    ("supervisor 1", "protection_clear", "case review")]
