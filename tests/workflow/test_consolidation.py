"""The consolidation queue and merges, through the service layer (permissions, audit), and the
operators' job commands (list, park, retry) on the same footing."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from securecomm.domain.principal import Principal, Role
from securecomm.repositories import CriminalRepository
from securecomm.services import PermissionDenied, UnitOfWork
from securecomm.services.identity import consolidation_queue, decide_consolidation, merge_subjects
from securecomm.services.jobs import list_jobs, park_job, retry_job
from securecomm.store import audit
from securecomm.store.db import make_sessionmaker
from securecomm.domain.clock import SYSTEM_CLOCK
from securecomm.store.workflow_models import Job, ReviewItem
from securecomm.workflow.pipeline import Worker, resolve_review, submit, transaction_status
from securecomm.workflow.stages import PipelineConfig

CONFIG = PipelineConfig(min_fingers=2)
EXAMINER = Principal("examiner 7", Role.EXAMINER)
ADMIN = Principal("operator 1", Role.ADMIN)


def _uow(store, principal, purpose="test"):
    return UnitOfWork(make_sessionmaker(store), principal, purpose=purpose, write=True)


def _ewi_twice(store, scenario) -> tuple[str, str, str, str]:
    """The ewi person booked twice; the two plain impressions miss each other: two subjects."""
    first = submit(store, scenario.bookings["b3_ewi"]).tcn
    second = submit(store, dict(scenario.extra_bookings)[next(t for t, _ in scenario.extra_bookings
                                                              if t.endswith("E002"))]).tcn
    Worker(store, CONFIG, lease_seconds=30).run()
    ucn = {t: transaction_status(store, t)["stages"][2]["output"]["ucn"] for t in (first, second)}
    assert ucn[first] != ucn[second]  # a missed match: the remedy is consolidation
    return first, second, ucn[first], ucn[second]


def _candidate(store, tcn: str, candidate: str, booking_ucn: str) -> int:
    """The consolidation candidate criminal_search opened for a review-band match of the two bookings (the
    matcher finds the other impression at review level since its size normalisation); one is made as
    criminal_search would make it where the search missed."""
    with Session(store) as s, s.begin():
        opened = s.scalars(select(ReviewItem).where(ReviewItem.tcn == tcn,
                                                    ReviewItem.kind == "criminal_biometric")).first()
        if opened is not None:
            assert (opened.candidate, opened.details["ucn"], opened.band) == (candidate, booking_ucn, "review")
            return opened.id
        item = ReviewItem(tcn=tcn, kind="criminal_biometric", reason="review band", band="review", score=8.4,
                          candidate=candidate, details={"ucn": booking_ucn}, state="open", created_at=SYSTEM_CLOCK.now())
        s.add(item)
        s.flush()
        return item.id


def test_a_confirmed_candidate_merges_the_subjects_through_the_service(store, scenario):
    first, second, keep, gone = _ewi_twice(store, scenario)
    item = _candidate(store, second, keep, gone)
    with pytest.raises(PermissionDenied):  # a field officer may not touch the criminal record
        with _uow(store, Principal("officer", Role.FIELD_OFFICER)) as uow:
            decide_consolidation(uow, item, "confirm", "same person")
    with _uow(store, EXAMINER) as uow:
        queue = consolidation_queue(uow)
    assert [(c.item_id, c.booking_ucn, c.candidate_ucn) for c in queue] == [(item, gone, keep)]
    with _uow(store, EXAMINER, "consolidation") as uow:
        merged = decide_consolidation(uow, item, "confirm", "ridge detail compared by hand")
    assert (merged.survivor, merged.merged, merged.arrests_moved) == (keep, gone, 1)
    with Session(store) as s:
        repo = CriminalRepository(s)
        sheet = repo.rap_sheet(gone, actor="t", role="examiner")  # the old UCN still finds the person
        assert sheet.ucn == keep and {a.tcn for a in sheet.arrests} == {first, second}
        trail = [(r.action, r.actor, r.object_id) for r in audit.trail(s)]
        assert ("merge", "examiner 7", keep) in trail and ("review:confirm", "examiner 7", second) in trail
        assert s.get(ReviewItem, item).state == "confirmed"
    with _uow(store, EXAMINER) as uow:
        assert consolidation_queue(uow) == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_merge_needs_an_examiner_and_a_reason_and_review_decide_merges_too(store, scenario):
    _, second, keep, gone = _ewi_twice(store, scenario)
    with pytest.raises(PermissionDenied):
        with _uow(store, Principal("clerk", Role.AGENCY, ori="MA0130100")) as uow:
            merge_subjects(uow, keep, gone, "looks alike")
    with pytest.raises(ValueError, match="reason"):
        with _uow(store, EXAMINER) as uow:
            merge_subjects(uow, keep, gone, " ")
    item = _candidate(store, second, keep, gone)
    resolve_review(store, item, "confirm", reviewer="examiner 9")  # `securecomm review decide ID confirm`
    with Session(store) as s:
        assert CriminalRepository(s).resolve(gone) == keep
    with pytest.raises(ValueError, match="already one subject"):
        with _uow(store, ADMIN) as uow:
            merge_subjects(uow, keep, gone, "again")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_operators_list_park_and_retry_jobs(store, scenario):
    tcn = submit(store, scenario.bookings["b2_citizen"]).tcn
    with pytest.raises(PermissionDenied):
        with _uow(store, EXAMINER) as uow:
            park_job(uow, tcn, "hold")
    with _uow(store, ADMIN) as uow:
        assert park_job(uow, tcn, "agency asked to hold it").state == "parked"
    Worker(store, CONFIG, lease_seconds=30).run()  # a parked job is not run
    assert transaction_status(store, tcn)["state"] == "received"
    with _uow(store, ADMIN) as uow:
        listed = list_jobs(uow)
    assert [(j.tcn, j.state, j.stage) for j in listed] == [(tcn, "parked", "validate")]
    assert "agency asked to hold it" in listed[0].error
    with _uow(store, ADMIN) as uow:
        assert retry_job(uow, tcn, "agency released it").state == "ready"
    Worker(store, CONFIG, lease_seconds=30).run()
    assert transaction_status(store, tcn)["state"] == "done"
    with _uow(store, ADMIN) as uow, pytest.raises(ValueError, match="only parked or failed"):
        retry_job(uow, tcn)
    with Session(store) as s:
        actions = [r.action for r in audit.trail(s) if r.object_type == "job"]
        assert s.scalar(select(Job.state).where(Job.tcn == tcn)) == "done"
    assert actions.count("jobs.park") == 1 and actions.count("jobs.retry") == 1
