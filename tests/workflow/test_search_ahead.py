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
