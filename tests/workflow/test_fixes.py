"""Fixes to identity keys and routing: TCNs scoped to their sender, copies only to real state bureaus,
one response per recipient, a clear duplicate for a concurrent enrolment."""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from securecomm.demo import scenario as scen
from securecomm.interchange import read_transaction, write_booking
from securecomm.interchange.ebts import parse_booking
from securecomm.store.workflow_models import Job, Response, Transaction
from securecomm.workflow.pipeline import Worker, submit, transaction_status
from securecomm.workflow.stages import PipelineConfig

CONFIG = PipelineConfig(min_fingers=2)
GS, FS = b"\x1d", b"\x1c"


def _rewrite(raw: bytes, **changes) -> bytes:
    """The same booking (same fingers) with other Type-1/Type-2 values."""
    booking = parse_booking(read_transaction(raw), min_fingers=0)
    return write_booking(dataclasses.replace(booking, **changes))


def _run(store) -> None:
    Worker(store, CONFIG, lease_seconds=30).run()


def _responses(store, tcn: str) -> Counter:
    with Session(store) as s:
        return Counter(s.execute(select(Response.kind, Response.recipient).where(Response.tcn == tcn)).all())


def test_a_tcn_is_scoped_to_its_sender_and_unreadable_files_reserve_nothing(store, scenario):
    raw = scenario.bookings["b2_citizen"]
    tcn = scenario.tcns["b2_citizen"]
    # the booking cut short in transmission (the header whole): rejected, and reserving nothing
    cut = submit(store, raw[:700])
    assert cut.tcn == tcn
    _run(store)
    assert transaction_status(store, cut.tcn)["state"] == "rejected"
    assert submit(store, raw[:700]).outcome == "duplicate"  # the same bad bytes again: not reprocessed
    # a 41-byte file carrying only that TCN: answered, but under a server-made key
    junk = b"1.001:41" + GS + b"1.009:" + tcn.encode() + FS
    held = submit(store, junk)
    assert held.outcome == "queued" and held.tcn.startswith("UNREAD-")
    real = submit(store, raw)
    assert real.outcome == "queued" and real.tcn == f"{tcn}@{scen.PILOT_ORI}"  # not blocked by either
    with Session(store) as s:
        assert s.scalar(select(Transaction.sender_tcn).where(Transaction.tcn == real.tcn)) == tcn
    # another agency using the same TCN: a different transaction, under its own key
    other = _rewrite(raw, ori=scen.OTHER_ORI)
    theirs = submit(store, other)
    assert theirs.outcome == "queued" and theirs.tcn == f"{tcn}@{scen.OTHER_ORI}"  # its own key
    assert submit(store, other).outcome == "duplicate"
    assert submit(store, _rewrite(other, dai="DCFBIWA01")).outcome == "conflict"  # same sender, same TCN
    _run(store)
    assert transaction_status(store, held.tcn)["state"] == "rejected"
    assert transaction_status(store, real.tcn)["state"] == "done"
    mine = transaction_status(store, theirs.tcn)
    assert mine["state"] == "done" and mine["ori"] == scen.OTHER_ORI
    sre = [r for r in mine["responses"] if r["kind"] == "SRE"]
    assert sorted(r["recipient"] for r in sre) == [scen.OTHER_ORI, scen.SIB_ORI]


def test_copies_go_once_to_each_recipient_and_only_to_real_bureaus_of_the_senders_state(store, scenario):
    from securecomm.jurisdictions import agency, upsert_agency

    office = "ERO BOSTON FIELD OFFICE - HARBOR CITY SUB-OFFICE, SUFFOLK COUNTY DETAIL"  # 71 characters
    with Session(store) as s, s.begin():
        upsert_agency(s, ori="NY0000000", name="NY bureau", state="NY", kind="SIB")  # a bureau, another state
        row = agency(s, scen.PILOT_ORI)
        upsert_agency(s, ori=row.ori, name=row.name, state=row.state, county=row.county, kind=row.kind,
                      sib_ori=row.sib_ori, field_office=office)
    citizen = scenario.bookings["b2_citizen"]
    # the state bureau books someone itself and names itself in SCO: one SRE, not a broken constraint
    own = submit(store, _rewrite(citizen, ori=scen.SIB_ORI, tcn="MASIB0000-SELF-1", sib_ori=scen.SIB_ORI)).tcn
    # SCO naming a police agency, a bureau of another state, an unknown ORI: no copy there
    asked = {sco: submit(store, _rewrite(citizen, tcn=f"MA0130100-SCO-{i}", sib_ori=sco)).tcn
             for i, sco in enumerate((scen.OTHER_ORI, "NY0000000", "ZZ9999999"))}
    overstay = submit(store, scenario.bookings["b1_overstay"]).tcn  # matched: an IAR to the long-named office
    _run(store)
    sent = _responses(store, own)
    assert transaction_status(store, own)["state"] == "done"
    assert sent[("SRE", scen.SIB_ORI)] == 1 and max(sent.values()) == 1
    for sco, tcn in asked.items():
        assert {r for kind, r in _responses(store, tcn) if kind == "SRE"} == {scen.PILOT_ORI, scen.SIB_ORI}, sco
        validate = next(st for st in transaction_status(store, tcn)["stages"] if st["stage"] == "validate")
        assert "2.007 SCO" in validate["output"]["warnings"][0]
    assert _responses(store, overstay)[("IAR", office)] == 1


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_a_concurrent_enrolment_of_the_same_tcn_is_a_clear_duplicate(store, prepared, monkeypatch):
    from securecomm.repositories import CriminalRepository
    from securecomm.workflow import enrolment

    item = prepared["criminal"][0]
    item = dataclasses.replace(item, tcn="CNA-RACE-0001",
                               record=dataclasses.replace(item.record, tcn="CNA-RACE-0001", arrests=()))
    barrier = threading.Barrier(2, timeout=20)
    real = CriminalRepository.enroll

    def enroll(self, record, templates):  # both have checked the TCN is new before either enrols
        barrier.wait()
        return real(self, record, templates)

    monkeypatch.setattr(CriminalRepository, "enroll", enroll)
    results, errors = [], []

    def go():
        try:
            results.append(enrolment.commit(store, item))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert sorted(r.outcome for r in results) == ["duplicate", "enrolled"], results
