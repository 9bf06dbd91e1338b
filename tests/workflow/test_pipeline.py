"""The booking pipeline end to end on the small scenario, on SQLite and PostgreSQL.

Real transactions (synthetic fingerprints), real extraction and search, real
repositories; the assertions follow the programme's message flow.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from securecomm.engine.tenprint import Thresholds
from securecomm.interchange.ebts import parse_errt, parse_sre
from securecomm.store.models import ArrestRow, CriminalSubject
from securecomm.domain.clock import SYSTEM_CLOCK
from securecomm.store.workflow_models import Job, Response, ReviewItem, StageRun, Transaction
from securecomm.workflow.gallery import Galleries
from securecomm.workflow.pipeline import (Worker, resolve_review, responses, review_items, submit,
                                          transaction_status)
from securecomm.workflow.queue import JobQueue, LeaseLost, write_session
from securecomm.workflow.stages import PipelineConfig

CONFIG = PipelineConfig(min_fingers=2)


def _worker(engine, **kw) -> Worker:
    return Worker(engine, CONFIG, lease_seconds=30, **kw)


def _kinds(engine, tcn: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in responses(engine, tcn):
        out.setdefault(r.kind, []).append(r.recipient)
    return out


def _stage(engine, tcn: str, stage: str) -> dict:
    return next(s for s in transaction_status(engine, tcn)["stages"] if s["stage"] == stage)


def test_bookings_flow_to_every_response(store, scenario):
    for raw in scenario.bookings.values():
        assert submit(store, raw).outcome == "queued"
    _worker(store).run()
    t = scenario.tcns

    # activated, in both repositories: SRE I, IDR match, one IAQ, IAR to field office, agency and bureau
    b1 = t["b1_overstay"]
    assert transaction_status(store, b1)["state"] == "done"
    assert _kinds(store, b1) == {"SRE": ["MA0130100", "MASIB0000"], "IDR": ["MA0130100", "MASIB0000"],
                                 "IAQ": ["LESC"], "IAR": ["ERO BOSTON", "MA0130100", "MASIB0000"]}
    sre = parse_sre(responses(store, b1)[0].payload)
    assert sre.result == "I" and sre.ucn == _stage(store, b1, "criminal_search")["output"]["ucn"]
    iaq = json.loads(next(r.payload for r in responses(store, b1) if r.kind == "IAQ"))
    assert iaq["fin"] == _stage(store, b1, "idr")["output"]["fin"] and iaq["most_serious_ncic"] == "1313"
    assert iaq["evidence"]["score"] >= iaq["evidence"]["threshold"] and iaq["evidence"]["fingers"]
    iar = json.loads(next(r.payload for r in responses(store, b1) if r.kind == "IAR"))
    assert iar["iaq_tcn"] == iaq["tcn"] and iar["originating_agency"] == "MA0130100"

    # a citizen in neither repository: SRE N (a new subject), IDR no match, nothing to the LESC
    b2 = t["b2_citizen"]
    assert _kinds(store, b2) == {"SRE": ["MA0130100", "MASIB0000"], "IDR": ["MA0130100", "MASIB0000"]}
    assert parse_sre(responses(store, b2)[0].payload).result == "N"
    assert json.loads(responses(store, b2)[2].payload)["result"] == "no_match"

    # booked where the programme was not yet active: no immigration search at all
    b3 = t["b3_ewi"]
    assert _kinds(store, b3) == {"SRE": ["MA0090100", "MASIB0000"]}
    assert _stage(store, b3, "immigration_search")["status"] == "skipped"

    # the re-arrest is identified against the subject the first booking created
    b5 = t["b5_citizen"]
    assert _stage(store, b5, "criminal_search")["output"]["result"] == "I"
    assert _stage(store, b5, "criminal_search")["output"]["ucn"] == _stage(store, b2, "criminal_search")["output"]["ucn"]

    # a protected person (U visa): IAQ, then the manual queue -- no IAR until a person decides
    b4 = t["b4_protected"]
    assert "IAR" not in _kinds(store, b4) and _kinds(store, b4)["IAQ"] == ["LESC"]
    items = [i for i in review_items(store) if i.tcn == b4]
    assert [i.kind for i in items] == ["status"] and "protected" in items[0].reason
    with Session(store) as s:
        assert s.scalars(select(Job.state).where(Job.tcn == b4)).one() == "waiting"
    with pytest.raises(ValueError):
        resolve_review(store, items[0].id, "deport", reviewer="analyst 7")
    resolve_review(store, items[0].id, "no_action", reviewer="analyst 7")
    _worker(store).run()
    iar4 = json.loads(next(r.payload for r in responses(store, b4) if r.kind == "IAR"))
    assert iar4["manual_review"] and iar4["recommended_action"] == "no_action"
    assert "u_visa" in iar4["protected_flags"]
    assert transaction_status(store, b4)["state"] == "done"
    with Session(store) as s:  # every booking on exactly one rap sheet
        assert s.scalar(select(func.count()).select_from(ArrestRow).where(ArrestRow.tcn.in_(list(t.values())))) == 5


def test_bad_input_is_answered_with_errt_and_changes_nothing_else(store, scenario):
    good = scenario.bookings["b2_citizen"]
    bad = {
        "truncated": good[: len(good) // 2],
        "garbage": b"\x00\x01 not a transaction at all",
        "wrong_tot": good.replace(b"1.004:CAR", b"1.004:CNA", 1),
        "bad_ncic": good.replace(b"2.901:5404", b"2.901:0000", 1),
        "unknown_ori": good.replace(b"MA0130100", b"MA9999999"),
        "missing_name": good.replace(b"\x1d2.018:", b"\x1d2.918:", 1),  # same length: only the field is gone
        "corrupt_wsq": (lambda i: good[:i + 60] + bytes(400) + good[i + 460:])(good.find(b"\xff\xa0")),
    }
    assert all(len(bad[k]) == len(good) and bad[k] != good
               for k in ("wrong_tot", "bad_ncic", "missing_name", "corrupt_wsq"))
    # TCNs must differ from the good booking's for the damaged copies to be new submissions
    for name in ("wrong_tot", "bad_ncic", "unknown_ori", "missing_name", "corrupt_wsq"):
        bad[name] = bad[name].replace(scenario.tcns["b2_citizen"].encode(), f"BAD-{name}".upper().replace("_", "-")
                                      .ljust(len(scenario.tcns["b2_citizen"]), "0").encode())
    tcns = {name: submit(store, raw).tcn for name, raw in bad.items()}
    with Session(store) as s:
        subjects_before = s.scalar(select(func.count()).select_from(CriminalSubject))
    _worker(store).run()
    for name, tcn in tcns.items():
        st = transaction_status(store, tcn)
        assert st["state"] == "rejected", (name, st)
        rows = responses(store, tcn)
        assert [r.kind for r in rows] == ["ERRT"], name
        errt = parse_errt(rows[0].payload)
        assert errt.errors and all(e.record and e.field and e.reason for e in errt.errors), name
        assert [s["stage"] for s in st["stages"]] == ["validate"], name
    fields = {name: " ".join(f"{e.record} {e.field} {e.reason}" for e in parse_errt(responses(store, tcn)[0].payload).errors)
              for name, tcn in tcns.items()}
    assert "TOT" in fields["wrong_tot"] or "1.004" in fields["wrong_tot"]
    assert "0000" in fields["bad_ncic"]
    assert "MA9999999" in fields["unknown_ori"]
    assert "2.018" in fields["missing_name"]
    assert "WSQ" in fields["corrupt_wsq"] and "14.999" in fields["corrupt_wsq"]
    with Session(store) as s:  # nothing else happened: no subject created, no job left
        assert s.scalar(select(func.count()).select_from(CriminalSubject)) == subjects_before
        assert JobQueue(store).outstanding() == 0


def test_resubmitted_tcn_is_recognised_not_processed_twice(store, scenario):
    raw = scenario.bookings["b2_citizen"]
    assert submit(store, raw).outcome == "queued"
    _worker(store).run()
    with Session(store) as s:
        runs = s.scalar(select(func.count()).select_from(StageRun))
    again = submit(store, raw)
    assert again.outcome == "duplicate" and again.state == "done"
    other = submit(store, raw[:-10] + b"0123456789")
    assert other.outcome == "conflict"
    assert _worker(store).run() == 0
    with Session(store) as s:
        assert s.scalar(select(func.count()).select_from(StageRun)) == runs
        assert s.scalar(select(func.count()).select_from(Transaction)) == 5  # 4 enrolments + 1 booking


def test_a_crashed_stage_is_redone_once_and_a_stale_worker_cannot_commit(store, scenario):
    tcn = submit(store, scenario.bookings["b1_overstay"]).tcn
    stale = _worker(store)
    lease = stale.queue.claim()
    # the stale worker runs validate and extract, then computes the criminal search and "hangs"
    lease = stale._run_stage(lease)
    lease = stale._run_stage(lease)
    assert lease.stage == "criminal_search"
    with Session(store) as s:
        ctx = stale._context(s, tcn)
        outcome = stale._outcome(ctx, lease)
    with write_session(store) as s:  # its lease runs out; another worker takes the job over and finishes it
        s.execute(update(Job).where(Job.tcn == tcn).values(lease_expires_at=SYSTEM_CLOCK.now() - dt.timedelta(seconds=1)))
    _worker(store).run()
    with pytest.raises(LeaseLost):
        stale._commit(lease, outcome)
    assert _kinds(store, tcn) == {"SRE": ["MA0130100", "MASIB0000"], "IDR": ["MA0130100", "MASIB0000"],
                                  "IAQ": ["LESC"], "IAR": ["ERO BOSTON", "MA0130100", "MASIB0000"]}
    with Session(store) as s:
        assert s.scalar(select(func.count()).select_from(ArrestRow).where(ArrestRow.tcn == tcn)) == 1
        assert s.scalar(select(func.count()).select_from(StageRun).where(StageRun.tcn == tcn)) == 9


def test_review_band_match_waits_for_an_examiner_and_never_sends_an_iaq_by_itself(store, scenario):
    strict = Galleries(Thresholds(hit=1e6, review=9.0))  # every true match now lands in the review band
    b1 = submit(store, scenario.bookings["b1_overstay"]).tcn
    b4 = submit(store, scenario.bookings["b4_protected"]).tcn
    _worker(store, galleries=strict).run()
    for tcn in (b1, b4):
        assert _stage(store, tcn, "immigration_search")["output"]["decision"] == "review"
        assert "IAQ" not in _kinds(store, tcn) and "IDR" not in _kinds(store, tcn)
    items = {i.tcn: i for i in review_items(store) if i.kind == "biometric"}
    assert set(items) == {b1, b4} and all(i.score is not None for i in items.values())
    resolve_review(store, items[b1].id, "confirm", reviewer="examiner 3")
    resolve_review(store, items[b4].id, "reject", reviewer="examiner 3")
    _worker(store, galleries=strict).run()
    # rejected: an IDR no-match and nothing more
    assert _kinds(store, b4) == {"SRE": ["MA0090100", "MASIB0000"], "IDR": ["MA0090100", "MASIB0000"]}
    # confirmed: IDR and IAQ carry the examiner; status determination still sends it to a person
    iaq = json.loads(next(r.payload for r in responses(store, b1) if r.kind == "IAQ"))
    assert iaq["evidence"]["examiner_confirmed"] and iaq["evidence"]["examiner_id"] == "examiner 3"
    status_items = [i for i in review_items(store) if i.tcn == b1 and i.kind == "status"]
    assert len(status_items) == 1 and "IAR" not in _kinds(store, b1)
    resolve_review(store, status_items[0].id, "notification_request", reviewer="analyst 1")
    _worker(store, galleries=strict).run()
    iar = json.loads(next(r.payload for r in responses(store, b1) if r.kind == "IAR"))
    assert iar["recommended_action"] == "notification_request" and iar["manual_review"]
    with Session(store) as s:
        assert s.scalar(select(func.count()).select_from(Response).where(Response.kind == "IAQ")) == 1
        assert s.scalar(select(func.count()).select_from(ReviewItem).where(ReviewItem.state == "open")) == \
            s.scalar(select(func.count()).select_from(ReviewItem).where(ReviewItem.kind == "criminal_biometric",
                                                                        ReviewItem.state == "open"))


def test_an_internal_error_is_retried_then_parked_and_the_worker_goes_on(store, scenario, monkeypatch):
    from securecomm.workflow import stages

    real_sre = stages.RUNNERS["sre"]
    broken = scenario.tcns["b1_overstay"]

    def flaky_sre(ctx):
        if ctx.tcn == broken:
            raise RuntimeError("rap sheet service down")
        return real_sre(ctx)

    monkeypatch.setitem(stages.RUNNERS, "sre", flaky_sre)
    b1 = submit(store, scenario.bookings["b1_overstay"]).tcn
    b2 = submit(store, scenario.bookings["b2_citizen"]).tcn
    Worker(store, CONFIG, lease_seconds=30, max_attempts=2).run()
    st = transaction_status(store, b1)
    assert st["job"]["state"] == "parked" and "rap sheet service down" in st["job"]["last_error"][0]
    assert "SRE" not in _kinds(store, b1)  # nothing half-done: the failed stage left no trace
    assert [s["stage"] for s in st["stages"]] == ["validate", "extract", "criminal_search"]
    assert transaction_status(store, b2)["state"] == "done"


def test_an_accepted_booking_is_finished_by_any_worker_whatever_its_settings(store, scenario):
    tcn = submit(store, scenario.bookings["b1_overstay"]).tcn
    lenient = _worker(store)  # accepts two-finger bookings
    lease = lenient._run_stage(lenient.queue.claim())  # validate: accepted under min_fingers=2
    lenient.queue.release(lease)
    Worker(store, PipelineConfig(), lease_seconds=30).run()  # a default worker (min_fingers=8) finishes it
    st = transaction_status(store, tcn)
    assert st["state"] == "done" and [s["stage"] for s in st["stages"]][-1] == "iar"
    assert "ERRT" not in _kinds(store, tcn)
    # and a new two-finger booking is still rejected by the strict worker, at validate, with an ERRT
    other = submit(store, scenario.bookings["b2_citizen"]).tcn
    Worker(store, PipelineConfig(), lease_seconds=30).run()
    assert transaction_status(store, other)["state"] == "rejected"
    assert [s["stage"] for s in transaction_status(store, other)["stages"]] == ["validate"]


def test_a_worker_rides_out_a_database_outage(store, scenario, monkeypatch):
    from sqlalchemy.exc import OperationalError

    tcn = submit(store, scenario.bookings["b2_citizen"]).tcn
    worker = _worker(store)
    real_claim = worker.queue.claim
    outages = iter([True, True, False])

    def claim():
        if next(outages, False):
            raise OperationalError("SELECT", {}, Exception("server closed the connection unexpectedly"))
        return real_claim()

    monkeypatch.setattr(worker.queue, "claim", claim)
    worker.database_backoff = (0.0, 0.0)  # no waiting between the outage's errors
    assert worker.run() == 1
    assert transaction_status(store, tcn)["state"] == "done"
    worker.max_database_errors = 0
    monkeypatch.setattr(worker.queue, "claim", lambda: (_ for _ in ()).throw(
        OperationalError("SELECT", {}, Exception("gone"))))
    with pytest.raises(OperationalError):
        worker.run()


def test_workers_see_subjects_other_workers_created(store, scenario):
    a, b = _worker(store), _worker(store)
    with Session(store) as s:  # both galleries loaded before anything was booked
        a.galleries.refresh(s)
        b.galleries.refresh(s)
    before = len(b.galleries.criminal)
    first = submit(store, scenario.bookings["b2_citizen"]).tcn
    assert a.step()  # worker A books the citizen: a new criminal subject
    again = submit(store, scenario.bookings["b5_citizen"]).tcn
    assert b.step()  # worker B, whose gallery predates that subject, must still identify the re-arrest
    ucn = _stage(store, first, "criminal_search")["output"]["ucn"]
    found = _stage(store, again, "criminal_search")["output"]
    assert (found["result"], found["ucn"]) == ("I", ucn)
    assert len(b.galleries.criminal) == before + 1


def test_an_error_while_committing_a_heavy_stage_is_retried_then_parked_and_the_worker_goes_on(
        store, scenario, monkeypatch):
    """The domain writes (``apply``) run in the commit transaction; a bad write fails the job, not the worker."""
    from securecomm.repositories import RepositoryError
    from securecomm.workflow import stages

    real = stages.RUNNERS["criminal_search"]
    broken = scenario.tcns["b1_overstay"]

    def refusing(ctx):
        outcome = real(ctx)
        if ctx.tcn == broken:
            def apply(session):
                raise RepositoryError(f"booking {broken}: refused by the repository")
            outcome.apply = apply
        return outcome

    monkeypatch.setitem(stages.RUNNERS, "criminal_search", refusing)
    b1 = submit(store, scenario.bookings["b1_overstay"]).tcn
    b2 = submit(store, scenario.bookings["b2_citizen"]).tcn
    Worker(store, CONFIG, lease_seconds=30, max_attempts=2).run()
    st = transaction_status(store, b1)
    assert st["job"]["state"] == "parked" and "refused by the repository" in st["job"]["last_error"][0]
    assert [s["stage"] for s in st["stages"]] == ["validate", "extract"]  # the refused commit left no trace
    assert "SRE" not in _kinds(store, b1)
    assert transaction_status(store, b2)["state"] == "done"


def test_a_booking_is_decoded_once_per_worker(store, scenario, monkeypatch):
    """validate's parse (under the finger requirement) serves every later stage: no second WSQ decode."""
    from collections import OrderedDict

    import securecomm.interchange as interchange
    from securecomm.workflow import stages

    calls: list[int] = []
    real = interchange.parse_booking

    def counting(tx, *, min_fingers):
        calls.append(min_fingers)
        return real(tx, min_fingers=min_fingers)

    monkeypatch.setattr(stages, "_CACHE", OrderedDict())
    monkeypatch.setattr(interchange, "parse_booking", counting)
    tcn = submit(store, scenario.bookings["b1_overstay"]).tcn
    _worker(store).run()
    assert transaction_status(store, tcn)["state"] == "done"
    assert calls == [CONFIG.min_fingers]


def test_a_fused_deployment_names_its_extractor_in_the_evidence(store, scenario, monkeypatch):
    from securecomm.engine import extractors
    from securecomm.engine.template import Template
    from securecomm.store.workflow_models import BookingTemplate

    monkeypatch.setenv(extractors.ENV, "fused")
    monkeypatch.setattr(extractors, "_CONFIGURED", None)
    b1 = scenario.tcns["b1_overstay"]
    assert submit(store, scenario.bookings["b1_overstay"]).outcome == "queued"
    _worker(store).run()
    iaq = json.loads(next(r.payload for r in responses(store, b1) if r.kind == "IAQ"))
    # the gallery was enrolled classically: the fused probe compares its classical minutiae and still finds him
    assert iaq["evidence"]["matcher"] == "securecomm-mcc/fused"
    assert iaq["evidence"]["score"] >= iaq["evidence"]["threshold"]
    with Session(store) as s:
        stored = {r.position: Template.from_bytes(r.template)
                  for r in s.scalars(select(BookingTemplate).where(BookingTemplate.tcn == b1))}
    assert stored and all(t.extractor == ("fused" if p in extractors.LEARNED_POSITIONS else "classical")
                          for p, t in stored.items())


def test_indexed_galleries_persist_resume_from_their_watermark_and_rebuild_when_corrupt(store, scenario, tmp_path):
    a = Galleries(index_dir=tmp_path)
    with Session(store) as s:
        a.refresh(s)
    n, wm = len(a.criminal), a.criminal.watermark
    assert n > 0 and wm > 0
    a.save()
    b = Galleries(index_dir=tmp_path)  # a new worker maps the saved index: nothing to re-read
    assert (len(b.criminal), b.criminal.watermark) == (n, wm)
    with Session(store) as s:
        assert b.refresh(s)["criminal"] == 0
    first = submit(store, scenario.bookings["b2_citizen"]).tcn
    assert _worker(store, galleries=b).step()  # a new criminal subject, added to the index
    again = submit(store, scenario.bookings["b5_citizen"]).tcn
    assert _worker(store, galleries=b).step()  # the re-arrest is identified through the index
    ucn = _stage(store, first, "criminal_search")["output"]["ucn"]
    found = _stage(store, again, "criminal_search")["output"]
    assert (found["result"], found["ucn"]) == ("I", ucn) and len(b.criminal) == n + 1
    (tmp_path / "criminal" / "codes.npy").write_bytes(b"not an array")
    c = Galleries(index_dir=tmp_path)  # corrupt: refused, rebuilt from the repository rows
    assert (len(c.criminal), c.criminal.watermark) == (0, 0)
    with Session(store) as s:
        c.refresh(s)
    assert len(c.criminal) == n + 1
