"""Detainer operations through the service layer: decisions, answers under law, holds, outcomes, bad input."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from securecomm.domain.clock import FixedClock
from securecomm.domain.detainers import DetainerError
from securecomm.domain.principal import Principal, Role
from securecomm.services import NotFound, PermissionDenied, UnitOfWork, detainers
from securecomm.store.db import open_store
from securecomm.store.detainer_models import DetainerNotice, DetainerRow, DetainerTimer
from securecomm.store.models import AuditEntry

from conftest import ADMIN, jail, load_agencies, officer, seed_iar

NY = ZoneInfo("America/New_York")
LA = ZoneInfo("America/Los_Angeles")
CHI = ZoneInfo("America/Chicago")
PC = {"probable_cause": "biometric match and immigration record"}


def t(s: str, zone=NY) -> dt.datetime:
    return dt.datetime.fromisoformat(s).replace(tzinfo=zone)


@pytest.fixture
def store(tmp_path):
    engine, sessions = open_store(f"sqlite:///{tmp_path / 'd.db'}")
    load_agencies(sessions, tmp_path)
    yield engine, sessions
    engine.dispose()


def run(sessions, principal, fn, at: dt.datetime | None = None):
    clock = FixedClock(at or t("2013-07-01T12:00"))
    with UnitOfWork(sessions, principal, clock=clock, purpose="test", write=True) as uow:
        return fn(uow)


def counts(sessions) -> tuple[int, int, int, int]:
    with sessions() as s:
        return tuple(s.scalar(select(func.count()).select_from(m)) for m in
                     (DetainerRow, DetainerNotice, DetainerTimer, AuditEntry))


def lodge(sessions, tcn, *, ori="MA0130100", booked=None, at=None, basis=PC, kind="detainer", **seed):
    booked = booked or t("2013-07-01T09:00")
    with sessions() as s:
        seed_iar(s, tcn, ori=ori, booked=booked, **seed)
    return run(sessions, officer(ori[:2]), lambda u: detainers.decide(u, tcn, kind, basis=basis).id,
               at or booked + dt.timedelta(hours=2))


def test_honoured_detainer_in_boston_then_transfer(store):
    engine, sessions = store
    d = lodge(sessions, "T-1")
    row = run(sessions, jail(), lambda u: detainers.acknowledge(u, d, release_at=t("2013-07-03T17:00")))
    assert row.answer == "honoured" and row.state == "honoured"
    doc = run(sessions, officer(), lambda u: detainers.show(u, d))
    assert doc["hold"]["expires_local"] == "2013-07-08 17:00 EDT"
    assert doc["form"] == {"form": "I-247", "revision": "12/12"}
    with sessions() as s:
        timers = {x.kind: x for x in s.scalars(select(DetainerTimer))}
        assert set(timers) == {"warning", "expiry"}
        assert timers["warning"].due_at == timers["expiry"].due_at - dt.timedelta(hours=4)
    row = run(sessions, officer(), lambda u: detainers.transfer(u, d, at=t("2013-07-08T10:00")),
              t("2013-07-08T10:05"))
    assert row.outcome == "transferred" and not row.over_held
    with sessions() as s:
        assert {x.state for x in s.scalars(select(DetainerTimer))} == {"cancelled"}
        assert [n.kind for n in s.scalars(select(DetainerNotice).order_by(DetainerNotice.id))] == \
            ["detainer", "acknowledgment"]


def test_california_trust_act_declines_a_level_3(store):
    _, sessions = store
    booked = t("2015-03-02T09:00", LA)
    low = lodge(sessions, "T-CA-3", ori="CA0190000", booked=booked, level="L3")
    high = lodge(sessions, "T-CA-1", ori="CA0190000", booked=booked, level="L1")
    a = run(sessions, jail("CA0190000"), lambda u: detainers.acknowledge(u, low, release_at=t("2015-03-03T10:00", LA)))
    b = run(sessions, jail("CA0190000"), lambda u: detainers.acknowledge(u, high, release_at=t("2015-03-03T10:00", LA)))
    assert (a.outcome, a.law_rule) == ("declined_by_law", "listed_convictions")
    assert "California TRUST Act" in a.law_name and b.answer == "honoured"


def test_cook_county_declines_unless_reimbursed(store):
    _, sessions = store
    booked = t("2012-03-01T09:00", CHI)
    plain = lodge(sessions, "T-IL-1", ori="IL0160000", booked=booked, basis={})
    paid = lodge(sessions, "T-IL-2", ori="IL0160000", booked=booked, basis={"reimbursement": "agreement 7"})
    release = t("2012-03-02T10:00", CHI)
    a = run(sessions, jail("IL0160000"), lambda u: detainers.acknowledge(u, plain, release_at=release))
    b = run(sessions, jail("IL0160000"), lambda u: detainers.acknowledge(u, paid, release_at=release))
    assert a.outcome == "declined_by_law" and b.answer == "honoured"


def test_massachusetts_after_lunn_needs_a_judicial_warrant_and_i247a_an_administrative_one(store):
    _, sessions = store
    booked = t("2017-09-05T09:00")
    with pytest.raises(DetainerError, match=r"I-247A \(3/17\) .* requires warrant"):
        lodge(sessions, "T-MA-17", booked=booked, basis=PC)
    d = run(sessions, officer(), lambda u: detainers.decide(u, "T-MA-17", "detainer",
                                                           basis={**PC, "warrant": "I-200"}), booked)
    row = run(sessions, jail(), lambda u: detainers.acknowledge(u, d.id, release_at=t("2017-09-06T10:00")))
    assert row.outcome == "declined_by_law" and row.law_name == "Lunn v. Commonwealth"


def test_notification_request_gets_a_release_notice(store):
    engine, sessions = store
    d = lodge(sessions, "T-N", kind="notification_request", action="notification_request")
    run(sessions, jail(), lambda u: detainers.acknowledge(u, d, release_at=t("2013-07-02T10:00")))
    fired = detainers.fire_timers(sessions, ADMIN, engine, clock=FixedClock(t("2013-07-02T10:00")))
    assert [f.kind for f in fired] == ["release_notice"]
    row = run(sessions, jail(), lambda u: detainers.release(u, d, at=t("2013-07-02T10:00"), reason="bail"))
    assert row.outcome == "released_notified"


def test_timers_fire_once_each_at_their_time(store):
    engine, sessions = store
    d = lodge(sessions, "T-TIMER")
    run(sessions, jail(), lambda u: detainers.acknowledge(u, d, release_at=t("2013-07-03T17:00")))
    fire = lambda at: [f.kind for f in detainers.fire_timers(sessions, ADMIN, engine, clock=FixedClock(at))]
    assert fire(t("2013-07-08T12:59")) == []
    assert fire(t("2013-07-08T13:00")) == ["warning"]
    assert fire(t("2013-07-08T16:00")) == []
    assert fire(t("2013-07-08T17:00")) == ["expiry"]
    assert fire(t("2013-07-09T17:00")) == []
    notices = run(sessions, officer(), lambda u: [(n.kind, n.recipient) for n in detainers.notices(u, d)])
    assert notices == [("detainer", "MA0130100"), ("acknowledgment", "Boston"), ("expiry_warning", "Boston"),
                       ("expiry_notice", "MA0130100")]
    row = run(sessions, jail(), lambda u: detainers.release(u, d, at=t("2013-07-08T17:00"), reason="expiry"))
    assert row.outcome == "released_at_expiry"


def test_hold_past_expiry_needs_an_audited_counted_override(store):
    _, sessions = store
    d = lodge(sessions, "T-OVER")
    run(sessions, jail(), lambda u: detainers.acknowledge(u, d, release_at=t("2013-07-03T17:00")))
    before = counts(sessions)
    with pytest.raises(DetainerError, match="past the hold's expiry"):
        run(sessions, jail(), lambda u: detainers.release(u, d, at=t("2013-07-08T19:00"), reason="expiry"))
    assert counts(sessions) == before
    with pytest.raises(PermissionDenied):  # a field officer may not record an over-hold
        run(sessions, officer(), lambda u: detainers.transfer(u, d, at=t("2013-07-08T19:00"),
                                                             override="officer arrived two hours late"))
    row = run(sessions, jail(), lambda u: detainers.transfer(u, d, at=t("2013-07-08T19:00"),
                                                             override="officer arrived two hours late"))
    assert row.over_held and row.outcome == "transferred"
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "detainer:override")) == 1
    figs = run(sessions, Principal("auditor", Role.OVERSIGHT), lambda u: detainers.figures(u, by="state"))
    assert figs[0]["jurisdiction"] == "MA" and figs[0]["over_held"] == 1 and figs[0]["transferred"] == 1


def test_protected_person_needs_a_recorded_review(store):
    _, sessions = store
    with sessions() as s:
        seed_iar(s, "T-PROT", booked=t("2013-07-01T09:00"), protected=("u_visa",))
        seed_iar(s, "T-PROT-R", booked=t("2013-07-01T09:00"), protected=("u_visa",), review_decision="detainer")
    before = counts(sessions)
    with pytest.raises(DetainerError, match="protected person needs a recorded human review"):
        run(sessions, officer(), lambda u: detainers.decide(u, "T-PROT", "detainer", basis=PC))
    assert counts(sessions) == before
    sup = officer(role=Role.FIELD_SUPERVISOR)
    row = run(sessions, sup, lambda u: detainers.decide(u, "T-PROT", "detainer", basis=PC,
                                                        review_note="reviewed the U visa file: application denied"))
    assert row.reviewed_by == sup.actor
    row = run(sessions, officer(), lambda u: detainers.decide(u, "T-PROT-R", "detainer", basis=PC))
    assert row.reviewed_by == "analyst-1"


def test_bad_input_changes_nothing(store):
    _, sessions = store
    d = lodge(sessions, "T-BAD")
    before = counts(sessions)
    with pytest.raises(NotFound, match="no such detainer 4242"):
        run(sessions, jail(), lambda u: detainers.acknowledge(u, 4242, release_at=t("2013-07-03T17:00")))
    with pytest.raises(DetainerError, match="before the booking"):
        run(sessions, jail(), lambda u: detainers.acknowledge(u, d, release_at=t("2013-06-30T17:00")))
    with pytest.raises(NotFound):  # another jail's detainer looks like no detainer
        run(sessions, jail("MA0090000"), lambda u: detainers.acknowledge(u, d, release_at=t("2013-07-03T17:00")))
    with pytest.raises(PermissionDenied):  # a jail may not decide
        run(sessions, jail(), lambda u: detainers.decide(u, "T-BAD", "detainer", basis=PC))
    with pytest.raises(DetainerError, match="already has an open detainer"):
        run(sessions, officer(), lambda u: detainers.decide(u, "T-BAD", "detainer", basis=PC))
    with pytest.raises(DetainerError, match="requires probable_cause"):
        lodge(sessions, "T-BAD-2", basis={})
    with pytest.raises(DetainerError, match="basis field 'colour'"):
        run(sessions, officer(), lambda u: detainers.decide(u, "T-BAD-2", "detainer", basis={"colour": "red"}))
    with pytest.raises(DetainerError, match="decision 'deport'"):
        run(sessions, officer(), lambda u: detainers.decide(u, "T-BAD-2", "deport"))
    with sessions() as s:
        audit_rows = s.scalar(select(func.count()).select_from(AuditEntry))
    assert counts(sessions)[:3] == (before[0] + 0, before[1], before[2])  # no detainer, notice or timer added
    assert audit_rows >= before[3]  # refusals are audited, nothing else
    run(sessions, officer(), lambda u: detainers.cancel(u, d, reason="wrong person: citizen"))
    with pytest.raises(DetainerError, match=r"closed \(cancelled\)"):
        run(sessions, jail(), lambda u: detainers.acknowledge(u, d, release_at=t("2013-07-03T17:00")))


def test_lists_are_scoped(store):
    _, sessions = store
    lodge(sessions, "T-L-MA")
    lodge(sessions, "T-L-CA", ori="CA0190000", booked=t("2013-07-01T09:00", LA))
    ids = lambda p: {r.tcn for r in run(sessions, p, lambda u: detainers.list_detainers(u))}
    assert ids(officer("MA")) == {"T-L-MA"}
    assert ids(officer("CA")) == {"T-L-CA"}
    assert ids(jail("MA0090000")) == set()
    assert ids(Principal("sib", Role.SIB, state="CA")) == {"T-L-CA"}
    assert ids(Principal("auditor", Role.OVERSIGHT)) == {"T-L-MA", "T-L-CA"}


def test_expiry_for_an_ori(store):
    _, sessions = store
    out = run(sessions, jail(), lambda u: detainers.expiry(u, ori="MA0130100",
                                                           release_at=dt.datetime(2013, 7, 3, 17)))
    assert out["expires_local"] == "2013-07-08 17:00 EDT"
    assert out["skipped_days"] == ["2013-07-04", "2013-07-06", "2013-07-07"]
