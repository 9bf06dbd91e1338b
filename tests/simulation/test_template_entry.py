"""workflow.template_entry: a template-level booking enters at criminal_search, or is refused by name."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from securecomm.interchange.ebts import FBI_ORI
from securecomm.domain.records import Biographic, Booking, Charge, FingerImage
from securecomm.jurisdictions import upsert_agency
from securecomm.store.db import open_store
from securecomm.store.workflow_models import BookingTemplate, Job, StageRun, Transaction
from securecomm.synth.templates import impressions
from securecomm.workflow.queue import write_session
from securecomm.workflow.template_entry import submit_templates, submit_templates_many


def _booking(**kw) -> Booking:
    base = dict(ori="MA0130100", tcn="MA0130100-20120601-000001", dai=FBI_ORI, date=dt.date(2012, 6, 1),
                person=Biographic("DOE", "JO", dt.date(1980, 1, 1), "M", "MX"), arrest_date=dt.date(2012, 6, 1),
                charges=(Charge("5404"),), sib_ori="MASIB0000")
    base.update(kw)
    return Booking(**base)


def _store(tmp_path):
    """A store with Boston PD's agency, and the two-finger templates of one synthetic person."""
    engine, Session = open_store(f"sqlite:///{tmp_path / 's.db'}")
    with write_session(engine) as s:
        upsert_agency(s, ori="MA0130100", name="Boston PD", state="MA", county="Suffolk")
    tpl = impressions(20, 3, impression=2)
    return engine, Session, {2: tpl.template(11).to_bytes(), 7: tpl.template(16).to_bytes()}


def test_entry_records_validate_and_extract_and_queues_the_search(tmp_path):
    engine, Session, templates = _store(tmp_path)
    res = submit_templates(engine, _booking(), templates, min_fingers=2)
    assert (res.outcome, res.state) == ("queued", "accepted")
    with Session() as s:
        job = s.scalars(select(Job)).one()
        runs = {r.stage: r for r in s.scalars(select(StageRun))}
        tx = s.scalars(select(Transaction)).one()
        stored = s.scalars(select(BookingTemplate.position)).all()
    assert (job.stage, job.state) == ("criminal_search", "ready")
    assert set(runs) == {"validate", "extract"} and runs["extract"].output["entry"] == "templates"
    assert runs["validate"].output["sib"] == "MASIB0000" and tx.booking_date == dt.date(2012, 6, 1)
    assert sorted(stored) == [2, 7]
    assert submit_templates(engine, _booking(), templates, min_fingers=2).outcome == "duplicate"
    for booking, tpls, text in (
            (_booking(tcn="T-2", ori="MA9999999"), templates, "not a known agency"),
            (_booking(tcn="T-3", charges=(Charge("0000"),)), templates, "not NCIC"),
            (_booking(tcn="T-4"), {2: b"junk"}, "finger 2: unreadable"),
            (_booking(tcn="T-5"), {}, "at least 1"),
            (_booking(tcn="T-6", fingers={2: FingerImage(2, None, 500.0)}), templates, "not finger images")):
        with pytest.raises(ValueError, match=text):
            submit_templates(engine, booking, tpls)
    with Session() as s:
        assert s.scalars(select(Transaction.tcn)).all() == ["MA0130100-20120601-000001"]
    engine.dispose()


def test_a_batch_is_one_insert_per_table_with_the_outcomes_of_one_by_one(tmp_path):
    engine, Session, templates = _store(tmp_path)
    submit_templates(engine, _booking(tcn="T-0"), templates)
    other = _booking(tcn="T-2", charges=(Charge("1313"),))  # another booking under T-2's TCN: a conflict
    batch = [(_booking(tcn="T-1"), templates), (_booking(tcn="T-0"), templates), (_booking(tcn="T-2"), templates),
             (_booking(tcn="T-1"), templates), (other, templates), (_booking(tcn="T-3"), {7: templates[7]})]
    with write_session(engine) as s:
        got = submit_templates_many(s, batch)
    assert [r.outcome for r in got] == ["queued", "duplicate", "queued", "duplicate", "conflict", "queued"]
    with Session() as s:
        jobs = s.scalars(select(Job.tcn).order_by(Job.id)).all()
        positions = s.scalars(select(BookingTemplate.position).where(BookingTemplate.tcn == "T-3")).all()
        runs = s.scalars(select(StageRun).where(StageRun.tcn == "T-1")).all()
    assert jobs == ["T-0", "T-1", "T-2", "T-3"] and positions == [7]  # claimed in submission order
    assert sorted(r.stage for r in runs) == ["extract", "validate"]
    assert next(r for r in runs if r.stage == "validate").output["sib"] == "MASIB0000"
    bad = [(_booking(tcn="T-4"), templates), (_booking(tcn="T-5", ori="MA9999999"), templates)]
    with pytest.raises(ValueError, match="booking T-5: ORI 'MA9999999' is not a known agency"):
        with write_session(engine) as s:
            submit_templates_many(s, bad)
    with Session() as s:  # the whole batch refused: T-4 was not written either
        assert s.scalars(select(Transaction.tcn).order_by(Transaction.tcn)).all() == ["T-0", "T-1", "T-2", "T-3"]
    engine.dispose()


def test_a_booking_made_subject_is_taken_in_with_the_fingers_its_search_prepared():
    """ProbeCache.prepared: the gallery takes in a subject enrolled from the booking just searched with the
    Prepared fingers of that search (the same bytes, so the same cylinders); other bytes are prepared anew."""
    from securecomm.engine.match import prepare
    from securecomm.engine.template import Template
    from securecomm.synth.templates import BLOCK, iter_blocks
    from securecomm.workflow.gallery import ProbeCache

    packed = next(iter_blocks(BLOCK, 7, 2, "plain", start=0))
    probe = {2: packed.template(1), 7: packed.template(6)}
    cache = ProbeCache()
    ready = cache.prepare(probe)
    assert cache.prepared(2, probe[2].to_bytes()) is ready[2]
    assert cache.prepared(7, probe[7].to_bytes()) is ready[7]
    assert cache.prepared(7, probe[2].to_bytes()) is None  # another finger's bytes
    assert cache.prepared(3, probe[2].to_bytes()) is None  # a position the probe does not have
    again = prepare(Template.from_bytes(probe[2].to_bytes()))  # what the gallery would compute itself
    assert (again.cyl.bits == ready[2].cyl.bits).all() and (again.cyl.valid == ready[2].cyl.valid).all()
    # the next booking's fingers prepared (its searches may begin before the last subject is taken in):
    # the probe before is still at hand, the one before that is not
    nxt = {2: packed.template(11), 7: packed.template(16)}
    ready_next = cache.prepare(nxt)
    assert cache.prepared(2, probe[2].to_bytes()) is ready[2] and cache.prepared(7, nxt[7].to_bytes()) is ready_next[7]
    assert cache.prepare(dict(nxt)) is ready_next  # the same bytes again: nothing prepared, nothing forgotten
    cache.prepare({2: packed.template(21)})
    assert cache.prepared(2, probe[2].to_bytes()) is None and cache.prepared(2, nxt[2].to_bytes()) is ready_next[2]
