"""A gallery's refresh: many new subjects (a worker's first search) are added in bulk, their cylinders prepared
on threads, and the gallery is the one adding them one by one makes."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from securecomm.domain.records import Biographic, CriminalEnrolment
from securecomm.engine.index import IndexedBackend, subject_code
from securecomm.engine.tenprint import TenprintGallery
from securecomm.repositories import CriminalRepository
from securecomm.store.db import open_store
from securecomm.synth.templates import impressions
from securecomm.workflow import gallery as gallery_mod
from securecomm.workflow.gallery import RepositoryGallery
from securecomm.workflow.queue import write_session


@pytest.fixture
def store(tmp_path):
    engine, _ = open_store(f"sqlite:///{tmp_path / 's.db'}")
    tpl = impressions(2 * 150, 11, impression=0)
    with write_session(engine) as s:
        repo = CriminalRepository(s)
        for i in range(150):
            person = Biographic(f"DOE{i}", "JO", dt.date(1980, 1, 1) + dt.timedelta(days=i), "M", "MX")
            repo.enroll(CriminalEnrolment(f"E-{i}", "MA0130100", person, ()),
                        {2: tpl.template(2 * i).to_bytes(), 7: tpl.template(2 * i + 1).to_bytes()})
    yield engine
    engine.dispose()


def _loaded(engine, monkeypatch, bulk_min: int, checkpoint: bool = False) -> RepositoryGallery:
    monkeypatch.setattr(gallery_mod, "BULK_MIN", bulk_min)
    monkeypatch.setattr(gallery_mod, "BULK_ROWS", 64)  # several bulk additions, and one of the remainder
    g = RepositoryGallery("criminal")
    g.gallery = TenprintGallery(g.gallery.thresholds, backend=IndexedBackend(10))  # in memory, no folder
    g.bulk_calls = []
    plain = g.gallery.add_many
    g.gallery.add_many = lambda items: g.bulk_calls.append(len(items)) or plain(items)
    if checkpoint:
        g.checkpoint()
    with write_session(engine) as s:
        assert g.refresh(s) == 150
    return g


def test_a_bulk_refresh_makes_the_gallery_adding_one_by_one_makes(store, monkeypatch):
    one = _loaded(store, monkeypatch, bulk_min=1 << 30)
    bulk = _loaded(store, monkeypatch, bulk_min=2)
    a, b = one.gallery.backend, bulk.gallery.backend
    assert one.bulk_calls == [] and bulk.bulk_calls == [64, 64, 22]
    assert a.subject_ids() == b.subject_ids() and len(b) == 150
    assert one.watermark == bulk.watermark > 0
    for sid in a.subject_ids()[::17]:
        fa, fb = a.fingers(sid), b.fingers(sid)
        assert sorted(fa) == sorted(fb) == [2, 7]
        assert np.array_equal(subject_code(fa), subject_code(fb))
        for p in fa:
            assert np.array_equal(fa[p].cyl.bits, fb[p].cyl.bits)
        slots_a, sims_a = a.ranked(subject_code(fa))
        slots_b, sims_b = b.ranked(subject_code(fb))
        assert slots_a.tolist() == slots_b.tolist() and np.array_equal(sims_a, sims_b)
        assert a._ids[slots_a[0]] == sid


def test_a_bulk_refresh_inside_a_checkpoint_is_forgotten_on_rollback(store, monkeypatch):
    g = _loaded(store, monkeypatch, bulk_min=2, checkpoint=True)
    assert len(g.gallery.backend) == 150
    g.rollback()
    assert len(g.gallery.backend) == 0 and g.watermark == 0
    with write_session(store) as s:  # read again from the rows
        assert g.refresh(s) == 150
    assert len(g.gallery.backend) == 150
