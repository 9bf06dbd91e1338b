"""Sharded search on Ray (engine.sharded): the same candidates, scores and decisions as one process."""

from __future__ import annotations

import pytest
import ray  # installed by `make install` (the test extra): this test runs, never skips

from securecomm.engine.index import IndexCorrupt, IndexedBackend
from securecomm.engine.match import prepare
from securecomm.engine.sharded import RayShardedBackend, shard_of
from securecomm.engine.tenprint import SearchBackend, TenprintGallery, Thresholds
from securecomm.synth import templates as T

SUBJECTS = 60
SHORTLIST = 8


def _cards(n: int, seed: int, impression: int, kind: str) -> list[dict[int, object]]:
    p = T.impressions(n * 10, seed, impression, kind)
    return [{pos: prepare(p.template(s * 10 + pos - 1)) for pos in range(1, 11)} for s in range(n)]


@pytest.fixture(scope="module")
def local_ray():
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture(scope="module")
def data():
    gallery = _cards(SUBJECTS, 21, 0, "plain")
    probes = _cards(8, 21, 1, "rolled")  # mates of S0 .. S7
    strangers = _cards(4, 22, 1, "rolled")
    return gallery, probes, strangers


def _results(g: TenprintGallery, probes):
    out = []
    for p in probes:
        r = g.search(p, k=5)
        out.append((r.decision, r.reason, [(c.subject_id, c.score, c.finger_scores) for c in r.candidates]))
    return out


def test_shard_routing_is_stable():
    assert shard_of("S1", 3) == shard_of("S1", 3)
    assert {shard_of(f"S{i}", 3) for i in range(50)} == {0, 1, 2}
    with pytest.raises(ValueError, match="n_shards"):
        RayShardedBackend.partition("nowhere", "nowhere", 0)


def test_sharded_equals_single_process(local_ray, data, tmp_path):
    gallery, probes, strangers = data
    thresholds = Thresholds(hit=6.0, review=4.0)  # low enough that hits, reviews and no-hits all occur
    single = TenprintGallery(thresholds, backend=IndexedBackend(shortlist=SHORTLIST))
    sharded_backend = RayShardedBackend(n_shards=3, shortlist=SHORTLIST, cpus_per_shard=0.5)
    try:
        assert isinstance(sharded_backend, SearchBackend)
        sharded = TenprintGallery(thresholds, backend=sharded_backend)
        for s, card in enumerate(gallery):
            single.add(f"S{s}", card)
        sharded_backend.add_many([(f"S{s}", card) for s, card in enumerate(gallery[:SUBJECTS // 2])])
        for s, card in enumerate(gallery[SUBJECTS // 2:], start=SUBJECTS // 2):
            sharded.add(f"S{s}", card)
        assert len(sharded) == SUBJECTS and sorted(sharded_backend.subject_ids()) == sorted(single.backend.subject_ids())

        want = _results(single, probes + strangers)
        assert {d for d, _, _ in want} >= {"hit", "no_hit"}
        assert _results(sharded, probes + strangers) == want
        # the shortlist is the merged one: exactly the single-process candidates
        for p in probes[:3]:
            ids_a, _ = single.backend.finger_scores(p)
            ids_b, _ = sharded_backend.finger_scores(p)
            assert sorted(ids_a) == sorted(ids_b) and len(ids_b) == SHORTLIST
        # calibration sees every non-mate
        assert sorted(single.impostor_scores(3).tolist()) == pytest.approx(sorted(sharded.impostor_scores(3).tolist()))

        # incremental: removal and re-enrolment on both
        for g in (single, sharded):
            g.remove("S2")
            g.add("LATE", gallery[2])
        with pytest.raises(KeyError):
            sharded.remove("S2")
        want = _results(single, probes[:4])
        assert _results(sharded, probes[:4]) == want
        assert sharded.search(probes[2], k=1).best.subject_id == "LATE"

        # persistence: each shard saves its partition; a new set of actors loads it
        sharded_backend.watermark = 77
        sharded_backend.save(tmp_path / "sharded")
    finally:
        sharded_backend.close()
    loaded = RayShardedBackend.load(tmp_path / "sharded", shortlist=SHORTLIST, cpus_per_shard=0.5)
    try:
        assert loaded.watermark == 77 and len(loaded) == SUBJECTS and loaded.n_shards == 3
        assert _results(TenprintGallery(thresholds, backend=loaded), probes[:4]) == want
    finally:
        loaded.close()


def test_partition_of_a_saved_index_and_corruption(local_ray, data, tmp_path):
    gallery, probes, _ = data
    single = IndexedBackend(shortlist=SHORTLIST)
    for s, card in enumerate(gallery[:30]):
        single.add(f"S{s}", card)
    single.watermark = 30
    single.save(tmp_path / "one")
    counts = RayShardedBackend.partition(tmp_path / "one", tmp_path / "two", 2)
    assert sum(counts) == 30 and min(counts) > 0
    thresholds = Thresholds(hit=6.0, review=4.0)
    loaded = RayShardedBackend.load(tmp_path / "two", shortlist=SHORTLIST, cpus_per_shard=0.5)
    try:
        assert loaded.watermark == 30
        assert _results(TenprintGallery(thresholds, backend=loaded), probes[:3]) == \
            _results(TenprintGallery(thresholds, backend=single), probes[:3])
    finally:
        loaded.close()

    z = tmp_path / "two" / "shard-01" / "z.npy"
    z.write_bytes(z.read_bytes()[:-64])  # truncated: refused, never half-read
    with pytest.raises(IndexCorrupt, match="z.npy"):
        RayShardedBackend.load(tmp_path / "two", cpus_per_shard=0.5)
    with pytest.raises(IndexCorrupt, match="shards.json"):
        RayShardedBackend.load(tmp_path / "nowhere", cpus_per_shard=0.5)
