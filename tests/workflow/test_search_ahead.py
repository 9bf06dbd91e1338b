"""A booking's immigration search made ahead on a thread of its own (``Galleries(ahead=True)``, which
``securecomm simulate`` uses): the result is the one the stage's own search gives, and a search ahead of
another gallery state, probe or ``k`` is dropped, never used."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session

from securecomm.domain.records import Biographic, Encounter, ImmigrationEnrolment
from securecomm.engine.template import Template
from securecomm.repositories import ImmigrationRepository
from securecomm.workflow.gallery import Galleries, _rows


def _identities(store) -> list[tuple[str, dict[int, Template]]]:
    with Session(store) as s:
        return [(key, {p: Template.from_bytes(b) for p, b in tpl.items()})
                for _row, key, tpl in _rows("immigration", s, 0)]


def _same(a, b) -> None:
    assert a.decision == b.decision and a.reason == b.reason and a.thresholds == b.thresholds
    assert [(c.subject_id, c.score, c.finger_scores) for c in a.candidates] == \
        [(c.subject_id, c.score, c.finger_scores) for c in b.candidates]


@pytest.fixture
def galleries():
    g = Galleries(ahead=True)
    yield g
    g.close()


def test_the_search_made_ahead_is_the_search(store, galleries) -> None:
    ids = _identities(store)
    fin, probe = ids[0]
    with Session(store) as s:
        galleries.immigration_ahead(probe, 5)  # of the gallery as last topped up: empty, so stale at once
        galleries.immigration.search(s, probe, k=5)
        assert (galleries.immigration.ahead_used, galleries.immigration.ahead_dropped) == (0, 1)
        galleries.immigration_ahead(probe, 5)  # now of the gallery the search will find
        got = galleries.immigration.search(s, probe, k=5)
        plain = Galleries().immigration.search(s, probe, k=5)
    assert galleries.immigration.ahead_used == 1 and galleries.immigration.ahead_dropped == 1
    _same(got, plain)
    assert got.best.subject_id == fin and got.decision == "hit"  # the identity's own prints: a mate


def test_a_search_ahead_of_another_gallery_probe_or_k_is_dropped(store, galleries) -> None:
    ids = _identities(store)
    (_, probe), (_, other) = ids[0], ids[1]
    g = galleries.immigration
    with Session(store) as s:
        g.refresh(s)
        galleries.immigration_ahead(probe, 5)  # another probe searched: the search ahead is not it
        _same(g.search(s, other, k=5), Galleries().immigration.search(s, other, k=5))
        assert (g.ahead_used, g.ahead_dropped) == (0, 1)
        galleries.immigration_ahead(probe, 5)  # another k
        assert len(g.search(s, probe, k=2).candidates) == 2
        assert (g.ahead_used, g.ahead_dropped) == (0, 2)

        # a new identity enrolled after the search ahead began (here: with the probe's very prints) -- the
        # search tops up first, sees the gallery changed, and searches again: the newcomer is found
        galleries.immigration_ahead(probe, 5)
        g._ahead[2].result()  # the search ahead has run, on the gallery as it was
        person = Biographic("ZZTEST", "AHEAD", dt.date(1980, 1, 1), "M", "MX")
        fin = ImmigrationRepository(s).enroll(
            ImmigrationEnrolment("AHEAD-1", person, (Encounter("admission", dt.date(2010, 1, 1)),)),
            {p: t.to_bytes() for p, t in probe.items()})
        got = g.search(s, probe, k=5)
        assert (g.ahead_used, g.ahead_dropped) == (0, 3)
        assert fin in [c.subject_id for c in got.candidates]
        _same(got, Galleries().immigration.search(s, probe, k=5))
        s.rollback()


def test_a_failed_search_ahead_is_made_again(store, galleries, monkeypatch) -> None:
    """An error on the search-ahead thread is not the stage's: the stage searches again (and would fail
    with its own error, if any, there)."""
    from securecomm.engine.tenprint import TenprintGallery

    _, probe = _identities(store)[0]
    plain = TenprintGallery.search
    calls = []

    def flaky(self, *a, **kw):
        calls.append(1)
        if len(calls) == 1:
            raise MemoryError("the thread's search failed")
        return plain(self, *a, **kw)

    with Session(store) as s:
        galleries.immigration.refresh(s)
        monkeypatch.setattr(TenprintGallery, "search", flaky)
        galleries.immigration_ahead(probe, 5)
        got = galleries.immigration.search(s, probe, k=5)
        monkeypatch.setattr(TenprintGallery, "search", plain)
        _same(got, Galleries().immigration.search(s, probe, k=5))
    assert len(calls) == 2 and galleries.immigration.ahead_dropped == 1


def test_without_ahead_nothing_is_started(store) -> None:
    g = Galleries()
    g.immigration_ahead(_identities(store)[0][1], 5)
    assert g.immigration._ahead is None
    g.close()


def _booked_store(path, bookings: list[tuple[str, int, int]]):
    """A store with Boston PD's agency and, submitted at template level, ``bookings`` (TCN, person,
    impression): two fingers of a synthetic person, another impression of them for each booking."""
    from securecomm.domain.records import Booking, Charge
    from securecomm.interchange.ebts import FBI_ORI
    from securecomm.jurisdictions import upsert_agency
    from securecomm.store.db import open_store
    from securecomm.synth.templates import impressions
    from securecomm.workflow.queue import write_session
    from securecomm.workflow.template_entry import submit_templates_many

    engine, _ = open_store(f"sqlite:///{path}")
    people = max(p for _, p, _ in bookings) + 1
    prints = {k: impressions(2 * people, 11, impression=k) for k in {i for _, _, i in bookings}}
    with write_session(engine) as s:
        upsert_agency(s, ori="MA0130100", name="Boston PD", state="MA", county="Suffolk")
    with write_session(engine) as s:
        submit_templates_many(s, [
            (Booking(ori="MA0130100", tcn=tcn, dai=FBI_ORI, date=dt.date(2012, 6, 1),
                     person=Biographic(f"DOE{p}", "JO", dt.date(1980, 1, 1 + p), "M", "MX"),
                     arrest_date=dt.date(2012, 6, 1), charges=(Charge("5404"),)),
             {2: prints[k].template(2 * p).to_bytes(), 7: prints[k].template(2 * p + 1).to_bytes()})
            for tcn, p, k in bookings], min_fingers=2)
    return engine


def test_the_next_bookings_criminal_search_made_ahead_is_its_search(tmp_path) -> None:
    """``Worker.run_batched`` starts the next booking's criminal search once a booking's own is recorded,
    after the gallery has taken in the subject that booking became: the same store as without searches
    ahead -- a person booked twice in a row is identified the second time -- and every one of them used."""
    from sqlalchemy import select

    from securecomm.store.workflow_models import StageRun
    from securecomm.workflow.pipeline import Worker
    from securecomm.workflow.stages import PipelineConfig

    bookings = [("T-1", 0, 1), ("T-2", 0, 2), ("T-3", 1, 1), ("T-4", 2, 1), ("T-5", 1, 2)]
    got = {}
    for ahead in (False, True):
        engine = _booked_store(tmp_path / f"{ahead}.db", bookings)
        worker = Worker(engine, PipelineConfig(min_fingers=2), galleries=Galleries(ahead=ahead))
        try:
            assert worker.run_batched(batch=50) == len(bookings)
        finally:
            worker.galleries.close()
        with Session(engine) as s:
            got[ahead] = {(r.tcn, r.stage): r.output for r in s.scalars(select(StageRun))}
        crim = worker.galleries.criminal
        assert (crim.ahead_used, crim.ahead_dropped) == ((len(bookings) - 1, 0) if ahead else (0, 0))
        engine.dispose()
    assert got[True] == got[False]
    found = {tcn: got[True][(tcn, "criminal_search")] for tcn, _, _ in bookings}
    assert [found[t]["result"] for t in ("T-1", "T-2", "T-3", "T-4")] == ["N", "I", "N", "N"]
    assert found["T-2"]["ucn"] == found["T-1"]["ucn"]
    # T-5 is T-3's person again, not the booking before it: T-3's subject is T-5's best candidate
    assert found["T-5"]["candidates"][0]["subject"] == found["T-3"]["ucn"] != found["T-1"]["ucn"]

def test_a_criminal_search_ahead_of_a_gallery_that_changed_is_dropped(store, galleries) -> None:
    """Something enrolled after the search ahead began (the worker's guess of the next booking was made
    before it): the search tops up, sees the gallery changed, and searches again."""
    from securecomm.domain.records import CriminalEnrolment
    from securecomm.repositories import CriminalRepository

    with Session(store) as s:
        g = galleries.criminal
        (_, probe), = [(k, {p: Template.from_bytes(b) for p, b in t.items()}) for _r, k, t in _rows("criminal", s, 0)][:1]
        galleries.criminal_ahead(s, probe, 5)
        g._ahead[2].result()
        person = Biographic("ZZTEST", "AHEAD", dt.date(1980, 1, 1), "M", "MX")
        ucn = CriminalRepository(s).enroll(CriminalEnrolment("AHEAD-2", "MA0130100", person, ()),
                                           {p: t.to_bytes() for p, t in probe.items()})
        got = g.search(s, probe, k=5)
        assert (g.ahead_used, g.ahead_dropped) == (0, 1)
        assert ucn in [c.subject_id for c in got.candidates]
        _same(got, Galleries().criminal.search(s, probe, k=5))
        s.rollback()
