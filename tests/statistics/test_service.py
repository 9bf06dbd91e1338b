"""securecomm.services.statistics: permissions, scopes, public suppression, audit."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from securecomm.domain.principal import Principal
from securecomm.services.permissions import PermissionDenied
from securecomm.services.statistics import statistics
from securecomm.services.unit_of_work import NotFound
from securecomm.statistics.suppress import suppress
from securecomm.store.models import AuditEntry

from stats_store import build


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    engine, Session = build(f"sqlite:///{tmp_path_factory.mktemp('svc') / 's.db'}")
    yield Session
    engine.dispose()


def test_oversight_sees_everything_and_is_audited(sessions):
    p = Principal(actor="auditor 3", role="oversight")
    stats = statistics(sessions, p, level="state")
    assert {r.jurisdiction["state"]: r.figures["submissions"] for r in stats.rows} == {"MA": 8, "TX": 1}
    assert stats.suppressed_below is None
    with sessions() as s:
        row = s.scalars(select(AuditEntry).where(AuditEntry.object_type == "statistics")).all()[-1]
    assert (row.actor, row.action, row.object_id) == ("auditor 3", "read", "state/all")


def test_state_scope_narrows_and_hides_other_states(sessions):
    p = Principal(actor="MA auditor", role="oversight", state="MA")
    stats = statistics(sessions, p, level="state")
    assert [r.jurisdiction["state"] for r in stats.rows] == ["MA"]
    with pytest.raises(NotFound):
        statistics(sessions, p, state="TX")


def test_public_gets_small_cells_suppressed(sessions):
    stats = statistics(sessions, Principal(actor="anyone", role="public"))
    f = stats.rows[0].figures
    assert stats.suppressed_below == 5
    assert f["submissions"] == 9 and f["examiner_open"] is None and f["matches_l2"] == 0
    assert f["share_no_conviction"] is None  # rests on 3 matched people
    assert f["booking_to_iar_median_s"] is None


@pytest.mark.parametrize("role", ["agency", "field_officer", "examiner", "jail", "system"])
def test_other_roles_refused(sessions, role):
    with pytest.raises(PermissionDenied):
        statistics(sessions, Principal(actor="x", role=role))


def test_suppress_keeps_large_counts_and_zeros(sessions):
    with sessions() as s:
        from securecomm.statistics import compute
        stats = compute(s)
    hidden = suppress(stats, k=4)
    f = hidden.rows[0].figures
    assert (f["submissions"], f["ident_matches"], f["iars"], f["matches_l2"], f["matches_l1"]) == (9, 4, 4, 0, None)
    with pytest.raises(ValueError):
        suppress(stats, k=1)
