"""A sharded candidate index: each shard a Ray actor holding one partition of the on-disk index.

When a gallery outgrows one machine, :class:`RayShardedBackend` splits it into ``n`` shards.
A subject lives on shard ``crc32(subject id) % n`` (stable across processes and runs, so
enrolments and removals are routed without asking anyone); each shard is an
:class:`securecomm.engine.index.IndexedBackend` inside a Ray actor, saved to and loaded from
its own sub-folder ``shard-NN/`` of the sharded index folder (checked by its own SHA-256
manifest, exactly as a single index is).

A search does what the single-process index does, in two rounds of parallel actor calls:

1. every shard returns its ``shortlist`` best subjects by code similarity (the probe's
   subject code is computed once, here); the lists are merged and the ``shortlist`` best
   overall kept -- the same subjects the single-process index would pick, since the global
   top ``shortlist`` is contained in the union of the shards' top ``shortlist``;
2. the shards holding those subjects score them with the MCC matcher.

So the candidates, their scores and the decisions equal the single-process backend's (a
test checks it). Ray carries the calls (no home-made RPC). The cluster is chosen by
configuration: ``ray_address`` (or the ``SECURECOMM_RAY_ADDRESS`` environment variable); with
neither, an already initialised Ray is used, else a local one is started. On a cluster the
index folder must be readable by the nodes (shared storage), and securecomm installed there.

Ray is an optional dependency (``pip install 'securecomm[ray]'``): importing this module does
not import it; creating a backend does.
"""

from __future__ import annotations

import json
import os
import zlib
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from securecomm.engine.index import SHORTLIST, IndexCorrupt, IndexedBackend, subject_code
from securecomm.engine.match import Prepared

#: Layout version of a sharded index folder (its top-level ``shards.json``).
SHARDED_FORMAT = 1
ENV_ADDRESS = "SECURECOMM_RAY_ADDRESS"


def shard_of(subject_id: str, n_shards: int) -> int:
    """The shard a subject lives on: stable (CRC-32 of its UTF-8 id), not Python's salted hash."""
    return zlib.crc32(subject_id.encode("utf-8")) % n_shards


def _shard_dir(folder: Path, i: int) -> Path:
    return folder / f"shard-{i:02d}"


class _Shard:
    """What runs inside one actor: a partition of the index (an IndexedBackend)."""

    def __init__(self, folder: str | None, shortlist: int) -> None:
        self.b = IndexedBackend.load(folder, shortlist=shortlist) if folder else IndexedBackend(shortlist)

    def add(self, subject_id: str, fingers: dict[int, Prepared]) -> None:
        self.b.add(subject_id, fingers)

    def add_many(self, items: list[tuple[str, dict[int, Prepared]]]) -> int:
        return self.b.add_many(items)

    def remove(self, subject_id: str) -> None:
        self.b.remove(subject_id)

    def subject_ids(self) -> list[str]:
        return self.b.subject_ids()

    def fingers(self, subject_id: str) -> dict[int, Prepared]:
        return dict(self.b.fingers(subject_id))

    def ranked(self, q: np.ndarray, n: int) -> tuple[list[str], np.ndarray]:
        slots, sims = self.b.ranked(q, n)
        return [self.b._ids[s] for s in slots.tolist()], sims  # type: ignore[misc]

    def verify(self, probe: dict[int, Prepared], subject_ids: list[str]) -> np.ndarray:
        return self.b.verify(probe, subject_ids)

    def exhaustive(self, probe: dict[int, Prepared]) -> tuple[list[str], np.ndarray]:
        return self.b.exhaustive_finger_scores(probe)

    def save(self, folder: str, watermark: int) -> int:
        self.b.watermark = watermark
        self.b.save(folder)
        return len(self.b)


def _ray(address: str | None) -> Any:
    try:
        import ray
    except ImportError:  # pragma: no cover - depends on the installation
        raise RuntimeError("the sharded search needs Ray: pip install 'securecomm[ray]'") from None
    if not ray.is_initialized():
        address = address or os.environ.get(ENV_ADDRESS) or None
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"the Ray cluster at {address!r}" if address else "a local Ray"
            raise RuntimeError(f"cannot start or reach {where}: {exc}") from None
    return ray


class RayShardedBackend:
    """The candidate index split over Ray actors, behind :class:`~securecomm.engine.tenprint.SearchBackend`.

    ``RayShardedBackend(n_shards)`` starts empty shards; :meth:`load` starts one actor per saved
    shard; :meth:`partition` splits a saved single index into shard folders. ``cpus_per_shard``
    is the Ray CPU reservation of each actor (fractions allowed).
    """

    def __init__(self, n_shards: int = 2, shortlist: int = SHORTLIST, ray_address: str | None = None,
                 cpus_per_shard: float = 1.0, _folders: list[str | None] | None = None) -> None:
        if isinstance(n_shards, bool) or not isinstance(n_shards, int) or n_shards < 1:
            raise ValueError(f"n_shards must be a positive integer, got {n_shards!r}")
        if isinstance(shortlist, bool) or not isinstance(shortlist, int) or shortlist < 1:
            raise ValueError(f"shortlist must be a positive integer, got {shortlist!r}")
        if not cpus_per_shard > 0:
            raise ValueError(f"cpus_per_shard must be positive, got {cpus_per_shard!r}")
        self.ray = _ray(ray_address)
        self.n_shards = n_shards
        self.shortlist = shortlist
        self.watermark = 0
        actor = self.ray.remote(num_cpus=cpus_per_shard, max_restarts=0)(_Shard)
        folders = _folders if _folders is not None else [None] * n_shards
        self._shards = [actor.remote(f, shortlist) for f in folders]
        try:
            ids = self.ray.get([s.subject_ids.remote() for s in self._shards])
        except self.ray.exceptions.RayActorError as exc:
            self.close()
            cause = exc.cause if isinstance(getattr(exc, "cause", None), Exception) else exc
            if isinstance(cause, IndexCorrupt) or "IndexCorrupt" in str(exc):
                raise IndexCorrupt(str(cause).splitlines()[-1] if str(cause) else "a shard is unusable") from None
            raise
        self._where: dict[str, int] = {sid: i for i, part in enumerate(ids) for sid in part}

    # -- SearchBackend -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, subject_id: object) -> bool:
        return subject_id in self._where

    def add(self, subject_id: str, fingers: Mapping[int, Prepared]) -> None:
        i = shard_of(subject_id, self.n_shards)
        self.ray.get(self._shards[i].add.remote(subject_id, dict(fingers)))
        self._where[subject_id] = i

    def add_many(self, items: list[tuple[str, Mapping[int, Prepared]]]) -> None:
        """Enrol many subjects with one actor call per shard (bulk loading)."""
        parts: list[list[tuple[str, dict[int, Prepared]]]] = [[] for _ in self._shards]
        for sid, fingers in items:
            parts[shard_of(sid, self.n_shards)].append((sid, dict(fingers)))
        self.ray.get([s.add_many.remote(p) for s, p in zip(self._shards, parts) if p])
        for i, p in enumerate(parts):
            for sid, _ in p:
                self._where[sid] = i

    def remove(self, subject_id: str) -> None:
        i = self._where.get(subject_id)
        if i is None:
            raise KeyError(f"subject {subject_id!r} is not enrolled")
        self.ray.get(self._shards[i].remove.remote(subject_id))
        del self._where[subject_id]

    def subject_ids(self) -> list[str]:
        return list(self._where)

    def fingers(self, subject_id: str) -> Mapping[int, Prepared]:
        i = self._where.get(subject_id)
        if i is None:
            raise KeyError(f"subject {subject_id!r} is not enrolled")
        return self.ray.get(self._shards[i].fingers.remote(subject_id))

    def candidates(self, probe: Mapping[int, Prepared], n: int | None = None) -> list[str]:
        """The ``n`` (default: shortlist) subjects closest to the probe by code, best first (merged shards)."""
        n = self.shortlist if n is None else n
        if not probe or not self._where:
            return []
        q = subject_code(probe)
        parts = self.ray.get([s.ranked.remote(q, n) for s in self._shards])
        ids = [sid for part_ids, _ in parts for sid in part_ids]
        sims = np.concatenate([sims for _, sims in parts]) if ids else np.zeros(0, np.float32)
        order = np.lexsort((np.array(ids, dtype=object).astype(str), -sims.astype(np.float64)))[:n]
        return [ids[i] for i in order.tolist()]

    def finger_scores(self, probe: Mapping[int, Prepared]) -> tuple[list[str], np.ndarray]:
        """Matcher scores of the merged shortlist only (as :meth:`IndexedBackend.finger_scores`)."""
        cands = self.candidates(probe)
        if not cands:
            return [], np.zeros((0, 10), np.float32)
        by_shard: dict[int, list[str]] = {}
        for sid in cands:
            by_shard.setdefault(self._where[sid], []).append(sid)
        ref = self.ray.put(dict(probe))
        shard_ids = list(by_shard)
        parts = self.ray.get([self._shards[i].verify.remote(ref, by_shard[i]) for i in shard_ids])
        ids = [sid for i in shard_ids for sid in by_shard[i]]
        return ids, np.concatenate(parts).astype(np.float32)

    def exhaustive_finger_scores(self, probe: Mapping[int, Prepared]) -> tuple[list[str], np.ndarray]:
        """Matcher scores of every enrolled subject (calibration, agreement checks): slow."""
        ref = self.ray.put(dict(probe))
        parts = self.ray.get([s.exhaustive.remote(ref) for s in self._shards])
        ids = [sid for part_ids, _ in parts for sid in part_ids]
        scores = [sc for _, sc in parts if len(sc)]
        return ids, (np.concatenate(scores) if scores else np.zeros((0, 10), np.float32))

    # -- persistence -------------------------------------------------------------------------------

    def save(self, folder: Path | str) -> None:
        """Each shard writes its partition to ``folder/shard-NN`` (atomically), then ``shards.json``."""
        folder = Path(folder).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        counts = self.ray.get([s.save.remote(str(_shard_dir(folder, i)), int(self.watermark))
                               for i, s in enumerate(self._shards)])
        _write_manifest(folder, counts, int(self.watermark))

    @classmethod
    def load(cls, folder: Path | str, shortlist: int = SHORTLIST, ray_address: str | None = None,
             cpus_per_shard: float = 1.0) -> "RayShardedBackend":
        """One actor per saved shard, each mapping its own partition; :class:`IndexCorrupt` if any is not whole."""
        folder = Path(folder).resolve()
        manifest = _read_manifest(folder)
        n = len(manifest["subjects"])
        self = cls(n, shortlist, ray_address, cpus_per_shard, _folders=[str(_shard_dir(folder, i)) for i in range(n)])
        counts = [0] * n
        for i in self._where.values():
            counts[i] += 1
        if counts != manifest["subjects"]:
            self.close()
            raise IndexCorrupt(f"sharded index {folder}: its shards hold {counts} subjects, "
                               f"shards.json says {manifest['subjects']}; rebuild it")
        self.watermark = int(manifest["watermark"])
        return self

    @staticmethod
    def partition(index: Path | str, folder: Path | str, n_shards: int) -> list[int]:
        """Split a saved single index into ``n_shards`` shard folders under ``folder`` (no Ray needed).

        Returns the subjects per shard. The cylinders and codes are copied as they are stored (not
        decoded, not recomputed): each shard is the saved index, mapped, with the other shards'
        subjects removed, then saved (which copies its live subjects' stored bytes, block by block).
        """
        if isinstance(n_shards, bool) or not isinstance(n_shards, int) or n_shards < 1:
            raise ValueError(f"n_shards must be a positive integer, got {n_shards!r}")
        src = IndexedBackend.load(index)  # checked once; each shard's view below maps the same files
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        ids = src.subject_ids()
        home = [shard_of(sid, n_shards) for sid in ids]
        counts = []
        for i in range(n_shards):
            part = IndexedBackend.load(index, verify=False)
            for sid, h in zip(ids, home):
                if h != i:
                    part.remove(sid)
            part.watermark = src.watermark
            part.save(_shard_dir(folder, i))
            counts.append(len(part))
        _write_manifest(folder, counts, src.watermark)
        return counts

    def close(self) -> None:
        """Stop the shard actors (the Ray runtime itself is left as it was found)."""
        for s in getattr(self, "_shards", []):
            try:
                self.ray.kill(s)
            except Exception:  # pragma: no cover - an actor already gone
                pass
        self._shards = []


def _write_manifest(folder: Path, counts: list[int], watermark: int) -> None:
    tmp = folder / f".shards.json.{os.getpid()}.tmp"
    tmp.write_text(json.dumps({"format": SHARDED_FORMAT, "subjects": counts, "watermark": watermark}))
    tmp.replace(folder / "shards.json")


def _read_manifest(folder: Path) -> dict:
    try:
        m = json.loads((folder / "shards.json").read_text())
    except (OSError, ValueError) as exc:
        raise IndexCorrupt(f"sharded index {folder}: no readable shards.json ({exc.__class__.__name__})") from None
    if not isinstance(m, dict) or m.get("format") != SHARDED_FORMAT or not isinstance(m.get("subjects"), list) \
            or not m["subjects"] or not all(isinstance(c, int) and c >= 0 for c in m["subjects"]):
        raise IndexCorrupt(f"sharded index {folder}: shards.json is not a sharded index manifest; rebuild it")
    return m
