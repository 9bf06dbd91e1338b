"""Indexed search (engine.index): same answers as exhaustive search, incremental, honest about misses."""

from __future__ import annotations

import numpy as np
import pytest

from securecomm.engine.index import CODE_DIMS, IndexCorrupt, IndexedBackend, finger_codes, subject_code
from securecomm.engine.match import prepare
from securecomm.engine.tenprint import ExhaustiveBackend, SearchBackend, TenprintGallery
from securecomm.synth import templates as T

SUBJECTS = 150


def _cards(n: int, seed: int, impression: int, kind: str) -> list[dict[int, object]]:
    p = T.impressions(n * 10, seed, impression, kind)
    return [{pos: prepare(p.template(s * 10 + pos - 1)) for pos in range(1, 11)} for s in range(n)]


@pytest.fixture(scope="module")
def data():
    gallery = _cards(SUBJECTS, 11, 0, "plain")
    probes = _cards(20, 11, 1, "rolled")  # mates of the first 20 subjects
    strangers = _cards(5, 12, 1, "rolled")  # nobody enrolled
    idx = TenprintGallery(backend=IndexedBackend(shortlist=20))
    ex = TenprintGallery()
    for s, card in enumerate(gallery):
        idx.add(f"S{s}", card)
        ex.add(f"S{s}", card)
    return gallery, probes, strangers, idx, ex


def test_protocol_and_codes():
    assert isinstance(IndexedBackend(), SearchBackend)
    card = _cards(1, 3, 0, "plain")[0]
    codes = finger_codes([card[1], card[2]])
    assert codes.shape == (2, CODE_DIMS) and codes.dtype == np.float32
    assert np.allclose(np.linalg.norm(codes, axis=1), 1.0, atol=1e-4)
    code = subject_code({1: card[1]})
    assert code.shape == (10 * CODE_DIMS,) and not code[CODE_DIMS:].any()
    with pytest.raises(ValueError, match="shortlist"):
        IndexedBackend(shortlist=0)


def test_a_prepared_probe_is_coded_once_and_the_code_is_the_same():
    """subject_code remembers the codes of the last few sets of Prepared fingers (a booking's searches and its
    enrolment share them): the same code as computing it again; other objects -- even of the same template --
    and other sets are coded afresh; a caller may change what it got without changing what is remembered."""
    import securecomm.engine.index as I

    cards = _cards(6, 5, 0, "plain")
    fingers = {2: cards[0][2], 7: cards[0][7]}
    first = subject_code(fingers)
    assert np.array_equal(first, I.subject_codes([fingers], threads=1)[0])
    calls = []
    plain = I.subject_codes
    try:
        I.subject_codes = lambda subjects, threads=None: calls.append(1) or plain(subjects, threads)
        again = subject_code(dict(reversed(list(fingers.items()))))  # the same objects, in another order
        assert np.array_equal(again, first) and calls == []
        again[:] = 0  # the caller's copy
        assert np.array_equal(subject_code(fingers), first) and calls == []
        fresh = {2: prepare(cards[0][2].template), 7: cards[0][7]}  # another object of the same template
        assert np.array_equal(subject_code(fresh), first) and calls == [1]
        assert not np.array_equal(subject_code({2: cards[0][2]}), first) and calls == [1, 1]  # another set
        for c in cards[1:]:  # more sets than are remembered: the first is coded again
            subject_code({2: c[2], 7: c[7]})
        calls.clear()
        assert np.array_equal(subject_code(fingers), first) and calls == [1]
    finally:
        I.subject_codes = plain


def test_same_rank1_decision_and_score_as_exhaustive(data):
    _, probes, strangers, idx, ex = data
    for i, probe in enumerate(probes + strangers):
        a, b = idx.search(probe, k=1), ex.search(probe, k=1)
        assert a.decision == b.decision
        if i < len(probes):  # a mate: found, with exactly the exhaustive search's fused score
            assert a.best.subject_id == b.best.subject_id == f"S{i}"
            assert a.best.score == pytest.approx(b.best.score, abs=1e-9)
        else:  # nobody enrolled: the index verifies only its shortlist, never scores higher
            assert a.decision == "no_hit"
            assert a.best.score <= b.best.score + 1e-9


def test_shortlist_bounds_the_work(data):
    _, probes, _, idx, _ = data
    ids, scores = idx.backend.finger_scores(probes[0])
    assert len(ids) == 20 and scores.shape == (20, 10)
    ids_all, _ = idx.backend.exhaustive_finger_scores(idx.backend.fingers("S0"))
    assert sorted(ids_all) == sorted(f"S{s}" for s in range(SUBJECTS))


def test_incremental_add_remove_without_rebuild(data):
    gallery, probes, _, _, _ = data
    g = TenprintGallery(backend=IndexedBackend(shortlist=10))
    for s, card in enumerate(gallery[:60]):
        g.add(f"S{s}", card)
    assert g.search(probes[3], k=1).best.subject_id == "S3"
    g.remove("S3")
    assert len(g) == 59
    assert all(c.subject_id != "S3" for c in g.search(probes[3], k=5).candidates)
    with pytest.raises(KeyError):
        g.remove("S3")
    g.add("NEW", gallery[3])  # re-enrolled under another id, visible at once
    assert g.search(probes[3], k=1).best.subject_id == "NEW"
    g.add("NEW", gallery[4])  # replacement
    assert g.search(probes[4], k=1).best.subject_id in ("NEW", "S4")
    assert g.search({}, k=1).decision == "no_hit"


def test_calibration_uses_every_non_mate(data):
    _, _, _, idx, ex = data
    a = idx.impostor_scores(max_probes=5)
    b = ex.impostor_scores(max_probes=5)
    assert a.size == b.size == 5 * (SUBJECTS - 1)
    assert np.allclose(np.sort(a), np.sort(b))


def test_persistence_round_trip_and_incremental(data, tmp_path):
    gallery, probes, _, idx, _ = data
    b = IndexedBackend(shortlist=10)
    g = TenprintGallery(backend=b)
    for s, card in enumerate(gallery[:40]):
        g.add(f"S{s}", card)
    b.watermark = 40
    before = [g.search(p, k=3) for p in probes[:4]]
    b.save(tmp_path / "idx")
    loaded = IndexedBackend.load(tmp_path / "idx", shortlist=10)
    assert len(loaded) == 40 and loaded.watermark == 40
    g2 = TenprintGallery(backend=loaded)
    after = [g2.search(p, k=3) for p in probes[:4]]
    for x, y in zip(before, after):  # the same candidates with the same scores
        assert [(c.subject_id, c.score) for c in x.candidates] == [(c.subject_id, c.score) for c in y.candidates]
    # incremental on the loaded index: a removal and an enrolment are visible at once
    g2.remove("S1")
    assert all(c.subject_id != "S1" for c in g2.search(probes[1], k=3).candidates)
    g2.add("LATE", gallery[1])
    assert g2.search(probes[1], k=1).best.subject_id == "LATE"
    loaded.save(tmp_path / "idx")  # and a save keeps them
    again = IndexedBackend.load(tmp_path / "idx", shortlist=10)
    assert "S1" not in again and "LATE" in again and len(again) == 40
    assert TenprintGallery(backend=again).search(probes[1], k=1).best.subject_id == "LATE"


def test_corrupt_or_missing_index_is_refused(data, tmp_path):
    gallery, _, _, _, _ = data
    b = IndexedBackend()
    b.add("A", gallery[0])
    b.save(tmp_path / "idx")
    z = tmp_path / "idx" / "z.npy"
    z.write_bytes(z.read_bytes()[:-64])  # truncated
    with pytest.raises(IndexCorrupt, match="z.npy"):
        IndexedBackend.load(tmp_path / "idx")
    with pytest.raises(IndexCorrupt, match="manifest"):
        IndexedBackend.load(tmp_path / "nowhere")


def _fused(a, b):
    """A fused template: a's minutiae as the learned half, b's as the classical half."""
    from securecomm.engine.template import Template

    ta, tb = a.template, b.template
    cat = (lambda name: np.concatenate([getattr(ta, name), getattr(tb, name)]))
    return Template(cat("x"), cat("y"), cat("angle"), cat("kind"), cat("quality"),
                    max(ta.width, tb.width), max(ta.height, tb.height), extractor="fused", split=len(ta))


def test_bulk_verification_equals_pair_by_pair(data, tmp_path):
    """Shortlists are scored by one match_many per finger position: exactly match_prepared's scores,
    for saved (memory-mapped) and in-memory subjects, classical and fused templates alike."""
    from securecomm.engine.match import match_prepared

    gallery, probes, _, _, _ = data
    b = IndexedBackend(shortlist=10)
    for s, card in enumerate(gallery[:12]):
        fingers = dict(card)
        if s % 3 == 0:  # some fused subjects, one with a learned half too small to count
            fingers[1] = prepare(_fused(card[2], card[1]))
            fingers[3] = prepare(_fused(card[4] if s else _cards(1, 99, 0, "plain")[0][5], card[3]))
        b.add(f"S{s}", fingers)
    b.save(tmp_path / "idx")
    loaded = IndexedBackend.load(tmp_path / "idx", shortlist=10)
    loaded.add("MEM", {1: prepare(_fused(gallery[20][2], gallery[20][1])), 2: gallery[20][2]})
    probe = dict(probes[0])
    probe[1] = prepare(_fused(probes[0][2], probes[0][1]))
    ids = loaded.subject_ids()
    got = loaded.verify(probe, ids)
    for i, sid in enumerate(ids):
        enrolled = loaded.fingers(sid)
        for pos in range(1, 11):
            want = match_prepared(probe[pos], enrolled[pos]) if pos in enrolled and pos in probe else np.nan
            assert (np.isnan(got[i, pos - 1]) and np.isnan(want)) or got[i, pos - 1] == np.float32(want), (sid, pos)


def test_compact_storage_gives_the_same_scores_and_rankings(data, tmp_path):
    """Format 2 stores cylinders compressed and unpadded: decoding gives the very cylinders, so every
    subject's scores and the rankings equal the in-memory index's, also after a loaded index with a
    removal and a new enrolment is saved again (its saved subjects copied as they are)."""
    gallery, probes, strangers, _, _ = data
    mem = IndexedBackend(shortlist=15)
    for s, card in enumerate(gallery[:50]):
        mem.add(f"S{s}", card)
    mem.save(tmp_path / "a")
    disk = IndexedBackend.load(tmp_path / "a", shortlist=15)
    for sid in ("S0", "S33"):  # bit for bit the cylinders that were enrolled
        for pos, p in mem.fingers(sid).items():
            q = disk.fingers(sid)[pos]
            for name in ("bits", "valid", "x", "y", "angle"):
                got, want = getattr(q.cyl, name), getattr(p.cyl, name)
                assert got.dtype == want.dtype and np.array_equal(got, want), (sid, pos, name)
            assert q.cyl.n_minutiae == p.cyl.n_minutiae and q.template.to_bytes() == p.template.to_bytes()
    raw = sum(p.cyl.bits.nbytes + p.cyl.valid.nbytes + 3 * p.cyl.x.nbytes
              for s in range(50) for p in gallery[s].values())
    stored = sum((tmp_path / "a" / f).stat().st_size for f in ("z.npy", "cx.npy", "cy.npy", "ca.npy"))
    assert stored < raw / 3  # 248 bytes a cylinder before, about 62 now
    # a removal, a late enrolment, saved again: runs of the loaded subjects copied, the new one encoded
    for b in (mem, disk):
        b.remove("S7")
        b.add("LATE", gallery[60])
    disk.save(tmp_path / "b")
    again = IndexedBackend.load(tmp_path / "b", shortlist=15)
    ids = mem.subject_ids()
    assert sorted(again.subject_ids()) == sorted(ids)
    for probe in probes[:6] + strangers[:2]:
        want = mem.verify(probe, ids)
        assert np.array_equal(again.verify(probe, ids), want, equal_nan=True)
        assert np.array_equal(disk.verify(probe, ids), want, equal_nan=True)
        q = subject_code(probe)
        sm, ss = mem.ranked(q)
        sa, sb = again.ranked(q)
        assert [mem._ids[i] for i in sm] == [again._ids[i] for i in sa]
        assert np.allclose(ss, sb, rtol=1e-6, atol=0)  # BLAS may sum a mapped matrix in another order
    assert np.array_equal(again._bcodes[again.slots_of(ids)],
                          np.stack([mem._codes[mem._slot[s] - mem._n_base] for s in ids]))


def test_damage_is_found_without_the_full_checksum(data, tmp_path):
    """verify=False (a worker on an index just checked) still refuses a truncated file (sizes are in the
    manifest) and a damaged cylinder stream when it is read (zlib's Adler-32)."""
    gallery, probes, _, _, _ = data
    b = IndexedBackend(shortlist=5)
    for s, card in enumerate(gallery[:6]):
        b.add(f"S{s}", card)
    b.save(tmp_path / "idx")
    tpl = tmp_path / "idx" / "tpl.npy"
    tpl.write_bytes(tpl.read_bytes()[:-10])
    with pytest.raises(IndexCorrupt, match="tpl.npy is not the size"):
        IndexedBackend.load(tmp_path / "idx", verify=False)
    b.save(tmp_path / "idx")
    z = tmp_path / "idx" / "z.npy"
    raw = bytearray(z.read_bytes())
    for i in range(len(raw) // 2, len(raw) // 2 + 64):
        raw[i] ^= 0x5A
    z.write_bytes(bytes(raw))
    with pytest.raises(IndexCorrupt, match="z.npy does not match its checksum"):
        IndexedBackend.load(tmp_path / "idx")
    damaged = IndexedBackend.load(tmp_path / "idx", verify=False)
    with pytest.raises(IndexCorrupt, match="cylinder stream"):
        damaged.exhaustive_finger_scores(probes[0])


def test_bulk_enrolment_equals_one_by_one(data, tmp_path):
    """add_many (codes computed in bulk on threads, cylinder streams encoded on threads) enrols exactly
    what add does one subject at a time: the same code rows bit for bit and the same saved files."""
    import filecmp

    from securecomm.engine import index as index_mod

    gallery = data[0][:40]
    items = [(f"S{s}", card) for s, card in enumerate(gallery)]
    one, bulk = IndexedBackend(), IndexedBackend()
    for sid, card in items:
        one.add(sid, card)
    assert bulk.add_many(items, threads=2) == 40
    assert np.array_equal(index_mod.subject_codes([c for _, c in items], threads=3),
                          np.stack([subject_code(c) for _, c in items]))
    assert np.array_equal(one._codes[:40], bulk._codes[:40])
    one.save(tmp_path / "one")
    bulk.save(tmp_path / "bulk")
    for f in (tmp_path / "one").iterdir():
        assert filecmp.cmp(f, tmp_path / "bulk" / f.name, shallow=False), f.name


def test_merge_saved_is_one_index_built_in_pieces(data, tmp_path):
    """Segments built apart and merged give the very files of one index built in one go (the manifest
    aside: the watermark is the highest segment's); consume deletes the segments; refusals."""
    import filecmp

    from securecomm.engine.index import merge_saved

    gallery, probes, _, _, _ = data
    items = [(f"S{s}", card) for s, card in enumerate(gallery[:30])]
    whole = IndexedBackend()
    whole.add_many(items)
    whole.save(tmp_path / "whole")
    segs = []
    for k, (a, b) in enumerate([(0, 7), (7, 8), (8, 30)]):
        seg = IndexedBackend()
        seg.add_many(items[a:b])
        seg.watermark = 10 * (k + 1)
        seg.save(tmp_path / f"seg{k}")
        segs.append(tmp_path / f"seg{k}")
    assert merge_saved(segs[:2], tmp_path / "kept") == 8 and all(s.exists() for s in segs)
    assert merge_saved(segs, tmp_path / "merged", consume=True) == 30
    assert not any(s.exists() for s in segs)
    for f in (tmp_path / "whole").iterdir():
        if f.name != "manifest.json":
            assert filecmp.cmp(f, tmp_path / "merged" / f.name, shallow=False), f.name
    merged = IndexedBackend.load(tmp_path / "merged", shortlist=10)  # checksums verified
    assert merged.watermark == 30 and merged.subject_ids() == [sid for sid, _ in items]
    ids = merged.subject_ids()
    assert np.array_equal(merged.verify(probes[3], ids), whole.verify(probes[3], ids), equal_nan=True)
    with pytest.raises(ValueError, match="more than one source"):
        merge_saved([tmp_path / "kept", tmp_path / "merged"], tmp_path / "dup")
    with pytest.raises(ValueError, match="destination"):
        merge_saved([tmp_path / "kept"], tmp_path / "kept")
    with pytest.raises(IndexCorrupt):
        merge_saved([tmp_path / "seg0"], tmp_path / "gone")  # consumed above


def _make_stale(folder) -> None:
    """Turn a saved index into a whole one whose codes came from other code parameters: other codes,
    another code id, the manifest's sums and sizes consistent with them."""
    import hashlib
    import json

    codes = np.load(folder / "codes.npy")
    np.save(folder / "codes.npy", np.roll(codes, 1, axis=1), allow_pickle=False)
    m = json.loads((folder / "manifest.json").read_text())
    m["code_id"] = "an-older-code"
    m["sha256"]["codes"] = hashlib.sha256((folder / "codes.npy").read_bytes()).hexdigest()
    m["bytes"]["codes"] = (folder / "codes.npy").stat().st_size
    (folder / "manifest.json").write_text(json.dumps(m))


def test_stale_codes_are_refused_and_re_coded_in_place(data, tmp_path):
    """An index whose codes came from other code parameters is refused as it is (IndexStale); recode_saved
    recomputes the codes from its stored templates (the cylinders untouched) and then it is the index a
    fresh build gives; a corrupt stale index is still refused."""
    import filecmp
    import json

    from securecomm.engine.index import IndexStale, code_id, recode_saved

    gallery, probes, _, _, _ = data
    b = IndexedBackend(shortlist=8)
    b.add_many([(f"S{s}", card) for s, card in enumerate(gallery[:25])])
    b.save(tmp_path / "fresh")
    b.save(tmp_path / "old")
    _make_stale(tmp_path / "old")
    with pytest.raises(IndexStale, match="other code parameters"):
        IndexedBackend.load(tmp_path / "old")
    z_before = (tmp_path / "old" / "z.npy").stat().st_mtime_ns
    assert recode_saved(tmp_path / "old") == 25
    assert (tmp_path / "old" / "z.npy").stat().st_mtime_ns == z_before  # the cylinders were not rewritten
    assert json.loads((tmp_path / "old" / "manifest.json").read_text())["code_id"] == code_id()
    for f in (tmp_path / "fresh").iterdir():
        if f.name != "manifest.json":
            assert filecmp.cmp(f, tmp_path / "old" / f.name, shallow=False), f.name
    again = IndexedBackend.load(tmp_path / "old", shortlist=8)  # checksums verified
    assert [again._ids[i] for i in again.candidates(probes[2])] == [b._ids[i] for i in b.candidates(probes[2])]
    _make_stale(tmp_path / "old")
    tpl = tmp_path / "old" / "tpl.npy"
    tpl.write_bytes(tpl.read_bytes()[:-3])
    with pytest.raises(IndexCorrupt) as err:
        recode_saved(tmp_path / "old")
    assert not isinstance(err.value, IndexStale)


def test_learned_projection_beats_chance_on_one_finger(data):
    """The learned code ranks one finger's mate (another impression, another kind) near the top: a check
    that the shipped projection file is the fitted one, not noise (random codes put it at ~n/2)."""
    gallery, probes, _, _, _ = data
    g = finger_codes([card[2] for card in gallery])
    p = finger_codes([card[2] for card in probes])
    ranks = [(g @ p[i] > g[i] @ p[i]).sum() for i in range(len(probes))]
    assert np.median(ranks) <= 2 and np.mean(np.array(ranks) < len(gallery) // 10) >= 0.8


def test_two_finger_probe_scans_only_its_fingers_with_the_same_ranking(data, tmp_path):
    """A probe with two fingers reads only their code blocks: the similarities are the full product's
    (up to float rounding) and the ranking the same, for saved (mapped) and in-memory subjects alike."""
    gallery, probes, _, idx, _ = data
    b = idx.backend
    b.save(tmp_path / "idx")
    loaded = IndexedBackend.load(tmp_path / "idx", shortlist=20)
    loaded.add("LATE", gallery[3])  # one subject in memory beside the mapped ones
    for i, probe in enumerate(probes[:8]):
        two = {2: probe[2], 7: probe[7]}
        q = subject_code(two)
        full = np.concatenate([loaded._bcodes @ q, loaded._codes[:1] @ q])
        slots, sims = loaded.ranked(q, n=len(loaded))
        assert np.allclose(sims, full[slots], atol=1e-5)
        assert np.all(np.diff(sims) <= 0)
        order = np.argsort(-full, kind="stable")
        gaps = np.abs(np.diff(np.sort(full)[::-1]))
        if gaps.min() > 1e-4:  # no near-ties: the very same order
            assert slots.tolist() == order.tolist()
        assert loaded._ids[slots[0]] in (f"S{i}", "LATE" if i == 3 else f"S{i}")


def test_two_pass_scan_ranks_as_the_exact_scan_and_skips_removed_subjects(data, tmp_path):
    """A gallery larger than the re-rank pool is scanned twice: the int8 codes choose the pool, the float32
    codes rank it. With the pool forced small (three times the list asked for, against 150 subjects) the
    lists are the exact scan's, for mapped and in-memory subjects, ten- and two-finger probes; removed
    subjects are never listed."""
    gallery, probes, strangers, idx, _ = data
    idx.backend.save(tmp_path / "idx")
    b = IndexedBackend.load(tmp_path / "idx", shortlist=10)
    b.add("LATE", gallery[4])
    b.add("GONE", gallery[5])
    for sid in ("S4", "GONE", "S40"):
        b.remove(sid)
    exact = IndexedBackend.load(tmp_path / "idx", shortlist=10)
    exact.add("LATE", gallery[4])
    exact.add("GONE", gallery[5])
    for sid in ("S4", "GONE", "S40"):
        exact.remove(sid)
    b.rerank_pool = lambda n: 3 * n
    exact.rerank_pool = lambda n: 1 << 40
    for probe in probes[:10] + strangers:
        for fingers in (probe, {2: probe[2], 7: probe[7]}):
            q = subject_code(fingers)
            slots, sims = b.ranked(q)
            want, want_sims = exact.ranked(q)
            assert slots.tolist() == want.tolist() and np.allclose(sims, want_sims, atol=1e-6)
            assert not {b._ids[s] for s in slots} & {"S4", "GONE", "S40"}
    assert b._ids[b.ranked(subject_code(probes[4]))[0][0]] == "LATE"  # S4's mate, now only in memory


def test_the_first_pass_split_across_threads_gives_the_same_values(data, tmp_path, monkeypatch):
    """The int8 first pass of a large gallery runs in equal ranges of rows on the verify threads: ranges that
    cross from the mapped subjects to the in-memory ones, and dead rows, give every row the value one
    thread gives it; under serial_verify, or below SCAN_SPLIT_MIN rows, it is not split."""
    from securecomm.engine import index as I

    gallery, probes, _, idx, _ = data
    idx.backend.save(tmp_path / "idx")
    b = IndexedBackend.load(tmp_path / "idx", shortlist=10)
    for i in range(7):
        b.add(f"LATE{i}", gallery[i])
    b.remove("S3")
    b.remove("LATE2")
    extra = len(b._ids) - b._n_base
    calls = []
    plain = I._verify_pool

    def pool():
        calls.append(1)
        return plain()
    monkeypatch.setattr(I, "_verify_pool", pool)
    for probe in probes[:5]:
        for fingers in (probe, {2: probe[2], 7: probe[7]}):
            q = subject_code(fingers)
            blocks = np.asarray(I._code_blocks(q), np.int64)
            one = b._scan_int8(blocks, q, extra)
            for threads in (2, 3):
                monkeypatch.setattr(I, "SCAN_SPLIT_MIN", 1)
                with I.verify_threads(threads):
                    split = b._scan_int8(blocks, q, extra)
                    with I.serial_verify():
                        n = len(calls)
                        assert np.array_equal(b._scan_int8(blocks, q, extra), one) and len(calls) == n
                    monkeypatch.setattr(I, "SCAN_SPLIT_MIN", len(b._ids) + 1)
                    n = len(calls)
                    assert np.array_equal(b._scan_int8(blocks, q, extra), one) and len(calls) == n
                assert np.array_equal(split, one)
            assert np.isneginf(one[3]) and np.isneginf(one[b._n_base + 2])  # S3 and LATE2, removed
    assert len(calls) == 20  # every split scan went through the verify threads


def test_exhaustive_of_many_probes_equals_one_at_a_time(data, tmp_path):
    gallery, probes, strangers, idx, _ = data
    b = idx.backend
    b.save(tmp_path / "idx")
    loaded = IndexedBackend.load(tmp_path / "idx", shortlist=20)
    loaded.EXHAUSTIVE_CHUNK = 64  # several chunks
    loaded.add("LATE", gallery[0])
    loaded.remove("S5")
    batch = [probes[0], {1: probes[1][1], 6: probes[1][6]}, strangers[0], {}]
    ids, many = loaded.exhaustive_finger_scores_many(batch)
    assert len(ids) == len(loaded) and "S5" not in ids and "LATE" in ids
    for probe, got in zip(batch, many):
        one_ids, one = loaded.exhaustive_finger_scores(probe)
        assert one_ids == ids
        assert np.array_equal(np.isnan(one), np.isnan(got)) and np.allclose(one[~np.isnan(one)], got[~np.isnan(got)], rtol=0, atol=0)
    assert np.isnan(many[3]).all()
    _, threaded = loaded.exhaustive_finger_scores_many(batch, parallel=True)  # numba's threads: the same scores
    assert all(np.array_equal(a, b, equal_nan=True) for a, b in zip(many, threaded))
    assert not np.isnan(many[1][:, [0, 5]]).any() and np.isnan(many[1][:, [1, 2, 3, 4, 6, 7, 8, 9]]).all()


def test_in_memory_subjects_are_scored_where_they_lie(data, monkeypatch):
    """Subjects enrolled in memory keep their cylinders in the arena's blocks (their Prepared are views),
    and a shortlist is scored there block by block: match_prepared's scores exactly, across several
    blocks, beside a fused subject (packed as before) and after a removal."""
    from securecomm.engine import index as I
    from securecomm.engine.match import match_prepared

    monkeypatch.setattr(I._Arena, "FIRST_ROWS", 64)  # a few subjects per block: many blocks
    gallery, probes, _, _, _ = data
    b = IndexedBackend(shortlist=30)
    originals = {}
    for s, card in enumerate(gallery[:30]):
        fingers = dict(card)
        if s == 4:
            fingers[1] = prepare(_fused(card[2], card[1]))
        originals[f"S{s}"] = fingers
        b.add(f"S{s}", fingers)
    b.remove("S7")
    assert len(b._arena.blocks) > 3
    kept = b.fingers("S3")[2]
    assert np.shares_memory(kept.cyl.bits, b._arena.blocks[b._where[3][2][0]][0])  # a view, not a copy
    assert np.array_equal(kept.cyl.bits, originals["S3"][2].cyl.bits)
    ids = b.subject_ids()
    for probe in (probes[0], {2: probes[5][2], 7: probes[5][7]}):
        got = b.verify(probe, ids)
        for i, sid in enumerate(ids):
            for pos in range(1, 11):
                want = match_prepared(probe[pos], originals[sid][pos]) if pos in probe else np.nan
                assert (np.isnan(got[i, pos - 1]) and np.isnan(want)) or got[i, pos - 1] == np.float32(want), (sid, pos)


def test_verification_threads_give_the_same_scores(data, tmp_path):
    """Finger positions verified on several threads (engine.index.verify_threads): the very same scores,
    for saved and in-memory subjects; the setting is restored after the block."""
    from securecomm.engine import index as I

    gallery, probes, _, idx, _ = data
    idx.backend.save(tmp_path / "idx")
    loaded = IndexedBackend.load(tmp_path / "idx", shortlist=20)
    loaded.add("LATE", gallery[2])
    ids = loaded.subject_ids()
    one = [loaded.verify(p, ids) for p in probes[:3]]
    with I.verify_threads(3):
        assert I.VERIFY_THREADS == 3
        three = [loaded.verify(p, ids) for p in probes[:3]]
    assert I.VERIFY_THREADS == 1
    assert all(np.array_equal(a, b, equal_nan=True) for a, b in zip(one, three))


def test_a_prescreen_scores_only_the_subjects_it_keeps_with_their_full_scores(data, tmp_path):
    """``prescreen``: of the shortlist, only the subjects with the highest pre-scores are scored, each with
    exactly its full score; a two-finger probe's mate survives it; saved (mapped) and in-memory subjects
    are pre-scored alike, and the verify threads change nothing."""
    from securecomm.engine import index as I

    gallery, probes, strangers, idx, _ = data
    b = idx.backend
    b.save(tmp_path / "idx")
    loaded = IndexedBackend.load(tmp_path / "idx", shortlist=20)
    memory = IndexedBackend(shortlist=20)
    for s, card in enumerate(gallery):
        memory.add(f"S{s}", card)
    kept_mates = 0
    for i, probe in enumerate(probes[:10] + strangers[:3]):
        two = {2: probe[2], 7: probe[7]}
        ids_full, full = memory.finger_scores(two)
        memory.prescreen = loaded.prescreen = 5
        ids, scores = memory.finger_scores(two)
        assert len(ids) == 5 and set(ids) <= set(ids_full)
        for sid, row in zip(ids, scores):  # the very scores the full search gives them
            assert np.array_equal(row, full[ids_full.index(sid)], equal_nan=True)
        assert loaded.finger_scores(two)[0] == ids  # mapped rows: the same pre-scores, the same subjects
        with I.verify_threads(2):
            assert memory.finger_scores(two)[0] == ids
        kept_mates += i < 10 and f"S{i}" in ids
        memory.prescreen = loaded.prescreen = None
        assert memory.finger_scores(two)[0] == ids_full  # off again: the whole shortlist
    assert kept_mates == 10


def test_a_prescreen_keeps_the_shortlist_order_and_is_idle_when_the_shortlist_is_short(data):
    gallery, probes, _, idx, _ = data
    b = IndexedBackend(shortlist=20)
    for s, card in enumerate(gallery[:30]):
        b.add(f"S{s}", card)
    two = {2: probes[0][2], 7: probes[0][7]}
    slots = b.candidates(two)
    b.prescreen = 8
    kept = b.prescreened(two, slots)
    assert kept.size == 8 and set(kept.tolist()) <= set(slots.tolist())
    where = [slots.tolist().index(s) for s in kept.tolist()]
    assert where == sorted(where)  # in the shortlist's order
    b.prescreen = 20
    assert b.prescreened(two, slots).tolist() == slots.tolist()


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "16"])
def test_a_prescreen_must_be_a_positive_number_of_subjects(bad):
    b = IndexedBackend(shortlist=20)
    with pytest.raises(ValueError, match="prescreen"):
        b.prescreen = bad
    assert b.prescreen is None
