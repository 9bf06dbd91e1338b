"""Identity resolution: concurrent bookings of one new person end in ONE subject.

Two (or three) workers, each with its own galleries, in real threads. The criminal search of every
worker is held at a barrier until all of them have searched, so they all miss each other -- the
interleaving that used to create one subject per booking. Search-then-enrol must then re-search,
under the enrolment lock, what was enrolled since its own search, and identify the later bookings
against the first one's subject. On SQLite and PostgreSQL, repeated.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from securecomm.store.models import ArrestRow, CriminalSubject
from securecomm.store.workflow_models import Job, Response, StageRun
from securecomm.workflow import gallery as gallery_mod
from securecomm.workflow.pipeline import Worker, submit
from securecomm.workflow.stages import PipelineConfig

CONFIG = PipelineConfig(min_fingers=2)


def _same_person(scenario, person: str) -> list[bytes]:
    """Every booking of ``person`` in the scenario (different impressions, different TCNs)."""
    by_tcn = {scenario.tcns[k]: raw for k, raw in scenario.bookings.items()} | dict(scenario.extra_bookings)
    names = {tcn: key.split("_", 1)[1] for key, tcn in scenario.tcns.items()}
    names |= {tcn: ("overstay", "citizen", "ewi")[int(tcn.rsplit("E", 1)[1]) % 3]
              for tcn, _ in scenario.extra_bookings}
    return [raw for tcn, raw in by_tcn.items() if names[tcn] == person]


def _race(store, raws: list[bytes], monkeypatch) -> list[str]:
    """Process ``raws`` with one worker thread each, all criminal searches done before any enrols."""
    barrier = threading.Barrier(len(raws), timeout=60)
    held = threading.local()
    original = gallery_mod.RepositoryGallery.search

    def search(self, session, probe, k=5):
        result = original(self, session, probe, k)
        if self.kind == "criminal" and not getattr(held, "done", False):
            held.done = True
            barrier.wait()  # every worker has searched: none has enrolled yet
        return result

    monkeypatch.setattr(gallery_mod.RepositoryGallery, "search", search)
    tcns = [submit(store, raw).tcn for raw in raws]
    errors: list[BaseException] = []

    def work() -> None:
        try:
            Worker(store, CONFIG, lease_seconds=60).step()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in raws]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    monkeypatch.setattr(gallery_mod.RepositoryGallery, "search", original)
    Worker(store, CONFIG, lease_seconds=60).run()  # anything left (nothing should be)
    return tcns


@pytest.mark.parametrize("workers", [2, 3])
def test_concurrent_bookings_of_one_new_person_make_one_subject(store, scenario, monkeypatch, workers):
    raws = _same_person(scenario, "citizen")[:workers]  # in no repository: every booking misses at first
    assert len(raws) == workers
    tcns = _race(store, raws, monkeypatch)
    with Session(store) as s:
        ucns = {tcn: s.scalar(select(CriminalSubject.ucn).join(ArrestRow).where(ArrestRow.tcn == tcn))
                for tcn in tcns}
        results = {r.tcn: r.output for r in s.scalars(select(StageRun).where(
            StageRun.tcn.in_(tcns), StageRun.stage == "criminal_search"))}
        jobs = dict(s.execute(select(Job.tcn, Job.state).where(Job.tcn.in_(tcns))).all())
        sre = s.scalars(select(Response.tcn).where(Response.tcn.in_(tcns), Response.kind == "SRE")).all()
    assert len(set(ucns.values())) == 1, ucns  # one person, one UCN
    assert sorted(r["result"] for r in results.values()) == ["I"] * (workers - 1) + ["N"], results
    assert all(r.get("resolved_by") for r in results.values() if r["result"] == "I")  # found by the re-search
    assert all(state in ("done", "waiting") for state in jobs.values()), jobs
    assert sorted(sre) == sorted(tcns * 2)  # agency and state bureau, each booking
