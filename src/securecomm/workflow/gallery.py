"""A worker's in-memory search galleries, kept in step with the repositories by watermark.

Each worker process holds the criminal and immigration templates in an engine
:class:`~securecomm.engine.tenprint.TenprintGallery` (searching needs them in
memory, packed). The repositories are the truth: before every search the
worker reads the template rows committed since its last look (``gallery_rows
(after_id)``, ordered by row id) and adds them, so a subject that another
worker enrolled a moment ago -- a no-hit booking becomes a new criminal
subject -- is searched by every worker from then on.

The engine's subject id is the repository identifier itself (UCN or FIN):
the gallery never sees names or labels, only templates.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from securecomm.engine.index import IndexCorrupt, IndexedBackend, load_or_recode, serial_verify
from securecomm.engine.template import Template
from securecomm.engine.tenprint import SearchResult, TenprintGallery, Thresholds

log = logging.getLogger(__name__)


#: A refresh that reads at least BULK_MIN new subjects prepares their cylinders on threads, BULK_ROWS at a time.
BULK_MIN = 64
BULK_ROWS = 4096


def _rows(kind: str, session: Session, after_id: int) -> Iterable[tuple[int, str, dict[int, bytes]]]:
    """(row id, UCN/FIN, templates by finger) of subjects committed after ``after_id``, by row id."""
    from securecomm.repositories import CriminalRepository, ImmigrationRepository

    repo = CriminalRepository(session) if kind == "criminal" else ImmigrationRepository(session)
    yield from repo.gallery_rows(after_id)


def _holds(backend: Any, key: str) -> bool:
    """Whether a search backend holds a subject (its ``__contains__``, else its list of ids)."""
    try:
        return key in backend
    except TypeError:
        return key in backend.subject_ids()


class ProbeCache:
    """The last probe's fingers prepared for matching (their cylinders), shared by a worker's two galleries:
    a booking's criminal and immigration searches use the same fingers, so they are prepared once. Keyed by
    the templates' bytes: another probe, even of the same booking, is prepared afresh. The same Prepared
    objects a search would make itself, so the same scores. The probe before it is remembered too, for
    :meth:`prepared`: a booking's search may prepare the next booking's fingers (``Galleries(ahead=True)``)
    before the gallery takes in the subject the last booking became."""

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._prepared: dict[int, Any] = {}
        self._bytes: dict[int, bytes] = {}
        self._before: tuple[dict[int, bytes], dict[int, Any]] = ({}, {})  # the probe before the last

    def prepare(self, probe: Mapping[int, Template]) -> Mapping[int, Any]:
        from securecomm.engine.match import prepare

        if not all(isinstance(t, Template) for t in probe.values()):
            return probe  # already prepared, or something the gallery will refuse with its own message
        key = tuple(sorted((pos, t.to_bytes()) for pos, t in probe.items()))
        if key != self._key:
            self._before = (self._bytes, self._prepared)
            self._key, self._prepared = key, {pos: prepare(t) for pos, t in probe.items()}
            self._bytes = dict(key)
        return self._prepared

    @property
    def key(self) -> tuple | None:
        """The last probe's templates ((position, bytes), sorted): what :meth:`prepare` compares."""
        return self._key

    def prepared(self, position: int, data: bytes) -> Any | None:
        """The last (or the one before) probe's prepared finger at ``position`` if its template is exactly
        ``data``, else None.

        A booking that no one matched becomes a criminal subject with the booking's own templates; the
        gallery then takes that subject in (``RepositoryGallery.refresh``) with the fingers the search
        already prepared, instead of computing the same cylinders again (``prepare`` is a function of the
        template's bytes: the same Prepared either way)."""
        data = bytes(data)
        for got, prepared in ((self._bytes, self._prepared), self._before):
            if got.get(position) == data:
                return prepared.get(position)
        return None


def _yielding() -> None:
    """Lower the calling thread's scheduling priority (Linux: a thread's own nice value): a search ahead
    takes only the CPU time that the worker's own threads leave. Elsewhere, or where refused, nothing."""
    import os

    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):
        pass


def _finished(future: Any, cancel: bool = False) -> Any | None:
    """A search ahead's (result, generation) once it has run (``cancel``: None at once if it has not begun);
    None if it failed (the search is then made again, and fails, if it does, with its own error then)."""
    if cancel and future.cancel():
        return None
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - the search made again reports it
        log.debug("search ahead failed (%s); searching again", exc)
        return None


class RepositoryGallery:
    """One repository's templates in memory, topped up before each search."""

    def __init__(self, kind: str, thresholds: Thresholds | None = None, index_dir: Path | str | None = None,
                 verify: bool = True, probes: ProbeCache | None = None, shortlist: int | None = None,
                 prescreen: int | None = None) -> None:
        if kind not in ("criminal", "immigration"):
            raise ValueError(f"unknown repository {kind!r}")
        self.kind = kind
        self.probes = probes if probes is not None else ProbeCache()
        #: Held while the gallery's subjects change or are searched from another thread (:meth:`search_ahead`).
        self._lock = threading.RLock()
        #: Bumped whenever the subjects held change: a search made ahead is used only at the same generation.
        self.generation = 0
        self._ahead: tuple[tuple, int, Any] | None = None  # (probe key, k, future of (result, generation))
        self.ahead_used = 0  # searches made ahead and used
        self.ahead_dropped = 0  # searches made ahead and dropped (stale, another probe, cancelled, failed)
        self.ahead_cpu_s = 0.0  # CPU seconds of the thread that searches ahead (its own; verify threads aside)
        #: (watermark, keys added, keys replaced) since checkpoint(); None when no checkpoint is held
        self._checkpoint: tuple[int, list[str], set[str]] | None = None
        self.watermark = 0
        self.index_path = Path(index_dir) / kind if index_dir is not None else None
        #: Whether the gallery holds what its saved index does not (rows taken in since the load, or
        #: no usable index to load): :func:`prepare_index` rewrites only such an index.
        self.unsaved = self.index_path is not None
        backend = None
        listed = {} if shortlist is None else {"shortlist": int(shortlist)}  # subjects verified per search
        if self.index_path is not None:
            backend = IndexedBackend(**listed)
            if (self.index_path / "manifest.json").exists() or self.index_path.exists():
                try:
                    backend = self._load_saved(verify, listed)
                    self.watermark = backend.watermark
                    self.unsaved = False
                except IndexCorrupt as exc:  # never half-read: start empty, refresh() rebuilds from the rows
                    log.warning("%s search index unusable (%s); rebuilding it from the repository rows",
                                kind, exc)
                    backend = IndexedBackend(**listed)
        if backend is not None:
            backend.prescreen = prescreen
        self.gallery = TenprintGallery(thresholds, backend=backend)

    def _load_saved(self, verify: bool, listed: dict[str, int]) -> IndexedBackend:
        """The saved index, mapped. At the machine's start (``verify``) an index of older code parameters is
        re-coded from its stored templates first; a worker (no ``verify``) raises, as for a damaged one."""
        assert self.index_path is not None
        backend, _ = load_or_recode(self.index_path, verify=verify, recode=verify, on_recode=lambda exc: log.warning(
            "%s search index: %s; re-coding it from its stored templates", self.kind, exc), **listed)
        return backend

    def __len__(self) -> int:
        return len(self.gallery)

    def refresh(self, session: Session) -> int:
        """Add every template row committed since the last refresh; returns how many rows were new."""
        with self._lock:
            return self._refresh(session)

    def _refresh(self, session: Session) -> int:
        n = 0
        pending: list[tuple[str, dict[int, Any]]] = []  # read, not yet added: added in order, in bulk
        keys: set[str] = set()  # ... and their keys
        last = self.watermark
        for row_id, key, templates in _rows(self.kind, session, self.watermark):
            fingers: dict[int, Any] = {}
            for p, b in templates.items():
                ready = self.probes.prepared(int(p), b)  # the booking just searched, enrolled: prepared already
                fingers[int(p)] = ready if ready is not None else Template.from_bytes(b)
            if fingers:
                if self._checkpoint is not None:
                    self._checkpoint[1].append(key)
                    if key in self._checkpoint[2] or key in keys or _holds(self.gallery.backend, key):
                        self._checkpoint[2].add(key)  # replaced: a rollback cannot restore the old one
                pending.append((key, fingers))
                keys.add(key)
                if len(pending) >= BULK_ROWS:
                    self._add(pending)
                    keys.clear()
                    self.watermark = max(self.watermark, int(row_id))
            last = max(last, int(row_id))
            n += 1
        self._add(pending)
        self.watermark = last  # only once every row up to it is in the gallery
        if n:
            self.generation += 1
        self.unsaved = self.unsaved or n > 0
        if isinstance(self.gallery.backend, IndexedBackend):
            self.gallery.backend.watermark = self.watermark
        return n

    def _add(self, pending: list[tuple[str, dict[int, Any]]]) -> None:
        """Add the subjects read (and empty the list): a few one by one, as a booking's search finds them; many
        -- a worker's first search loads the whole repository -- with their cylinders prepared on the
        machine's cores (``TenprintGallery.add_many``: the same gallery as one by one)."""
        if len(pending) >= BULK_MIN:
            self.gallery.add_many(pending)
        else:
            for key, fingers in pending:
                self.gallery.add(key, fingers)
        pending.clear()

    def checkpoint(self) -> None:
        """Remember what the gallery holds now: a write transaction begins whose rows it may read before they
        are committed (``Worker.run_batched``); :meth:`rollback` forgets them if it is rolled back."""
        self._checkpoint = (self.watermark, [], set())

    def rollback(self) -> None:
        """Forget the subjects added since :meth:`checkpoint` (their rows were rolled back): the gallery is
        again what the repository holds. Rebuilt from the rows when one of them replaced an older subject."""
        with self._lock:
            self._rollback()

    def _rollback(self) -> None:
        if self._checkpoint is None:
            return
        watermark, added, replaced = self._checkpoint
        self._checkpoint = None
        self.generation += 1
        if replaced:
            old = self.gallery.backend
            backend = type(old)(old.shortlist) if isinstance(old, IndexedBackend) else type(old)()
            if isinstance(old, IndexedBackend):
                backend.prescreen = old.prescreen
            self.gallery = TenprintGallery(self.gallery.thresholds, backend=backend)
            self.watermark = 0
        else:
            for key in reversed(added):
                self.gallery.remove(key)
            self.watermark = watermark
        if isinstance(self.gallery.backend, IndexedBackend):
            self.gallery.backend.watermark = self.watermark

    def save(self) -> None:
        """Write the indexed gallery (and its watermark) to its folder, for the next worker to map."""
        if self.index_path is None or not isinstance(self.gallery.backend, IndexedBackend):
            raise ValueError("this gallery has no index folder")
        with self._lock:
            self.gallery.backend.save(self.index_path)
        self.unsaved = False

    def search(self, session: Session, probe: Mapping[int, Template], k: int = 5) -> SearchResult:
        """Top up from the repository, then search 1:N (``watermark`` then says what was searched).

        A search of the same probe that :meth:`search_ahead` made of the very subjects held now (the same
        generation: nothing added or removed since) is that search's result, not made twice."""
        ahead, self._ahead = self._ahead, None
        done = _finished(ahead[2]) if ahead is not None else None  # waited for outside the lock it takes
        with self._lock:
            self._refresh(session)
            prepared = self.probes.prepare(probe)
            if done is not None and ahead is not None and ahead[0] == self.probes.key and ahead[1] == k:
                result, generation = done
                if generation == self.generation and result.thresholds == self.gallery.thresholds:
                    self.ahead_used += 1
                    return result
            if ahead is not None:
                self.ahead_dropped += 1
            return self.gallery.search(prepared, k=k)

    def search_ahead(self, probe: Mapping[int, Template], k: int, pool: Any) -> None:
        """Start this probe's search on ``pool`` (an executor's thread) while the caller goes on; :meth:`search`
        of the same probe and ``k`` then takes its result if the gallery still holds the same subjects.

        For a worker alone on its machine (``securecomm simulate``): the search's kernels run on a core the
        worker's own Python leaves idle. The result is the one :meth:`search` would compute -- the same
        gallery, probe, ``k`` and thresholds, by the same code -- or it is dropped and the search made again.
        The repository is not read here (no session crosses threads): :meth:`search` still tops up first,
        and anything it adds makes the search ahead stale."""
        prepared = self.probes.prepare(probe)
        key = self.probes.key
        self._drop_ahead()

        def run() -> tuple[SearchResult, int]:
            t = time.thread_time()
            try:
                with self._lock, serial_verify():  # not on the verify threads, which the criminal search uses
                    return self.gallery.search(prepared, k=k), self.generation
            finally:
                self.ahead_cpu_s += time.thread_time() - t

        self._ahead = (key, k, pool.submit(run))

    def _drop_ahead(self) -> None:
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            self.ahead_dropped += 1
            _finished(ahead[2], cancel=True)  # never leave a search running into the next one

    def search_since(self, session: Session, probe: Mapping[int, Template], after_id: int,
                     k: int = 5) -> SearchResult | None:
        """Search only the subjects committed after row ``after_id`` (None when there are none).

        The second half of search-then-enrol: called under the enrolment lock, it finds
        whoever another worker enrolled between this worker's search and its enrolment.
        Same thresholds as the full search; the worker's own gallery is not touched.
        """
        late = TenprintGallery(self.gallery.thresholds)
        for _row_id, key, templates in _rows(self.kind, session, after_id):
            fingers = {int(p): Template.from_bytes(b) for p, b in templates.items()}
            if fingers:
                late.add(key, fingers)
        if not len(late):
            return None
        return late.search(self.probes.prepare(probe), k=k)

    @staticmethod
    def key_of(subject_id: str) -> str:
        """The repository identifier of an engine subject (they are the same string)."""
        return subject_id


class Galleries:
    """The two galleries a worker searches."""

    def __init__(self, thresholds: Thresholds | None = None, index_dir: Path | str | None = None,
                 verify: bool = True, shortlist: int | None = None, ahead: bool = False,
                 prescreen: int | None = None) -> None:
        """``index_dir``: search through the candidate index (engine.index) saved under that folder
        (``criminal/`` and ``immigration/``), loaded if present; None: the exhaustive search.
        ``verify=False`` skips the files' SHA-256 check at load: only for a folder that
        :func:`prepare_index` has just checked or written on this machine (worker start stays short).
        ``shortlist``: subjects the index verifies per search (default ``engine.index.SHORTLIST``).
        ``prescreen``: of those, the subjects the matcher scores, chosen by pre-score
        (``IndexedBackend.prescreen``; None: all of them).
        ``ahead``: :meth:`immigration_ahead` starts a booking's immigration search on a thread of its own
        (a worker alone on its machine: ``securecomm simulate``); off, it does nothing."""
        probes = ProbeCache()  # a booking's two searches prepare its fingers once
        self.criminal = RepositoryGallery("criminal", thresholds, index_dir, verify, probes, shortlist, prescreen)
        self.immigration = RepositoryGallery("immigration", thresholds, index_dir, verify, probes, shortlist,
                                             prescreen)
        self._pool: Any = None
        if ahead:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="search-ahead", initializer=_yielding)

    def immigration_ahead(self, probe: Mapping[int, Template], k: int) -> None:
        """Start the immigration search of a booking that will need one (it is activated) while its criminal
        search, identification and SRE run: :meth:`RepositoryGallery.search_ahead`. The immigration gallery
        changes only when identities are enrolled, so the search ahead is almost always the one used;
        its kernels use the core that the worker's Python leaves idle. Nothing without ``ahead``."""
        if self._pool is not None:
            self.immigration.search_ahead(probe, k, self._pool)

    def close(self) -> None:
        """Let the search-ahead thread go (a search still running is waited for)."""
        if self._pool is not None:
            self.immigration._drop_ahead()
            self._pool.shutdown(wait=True)
            self._pool = None

    def save(self) -> None:
        self.criminal.save()
        self.immigration.save()

    def checkpoint(self) -> None:
        """:meth:`RepositoryGallery.checkpoint` of both galleries."""
        self.criminal.checkpoint()
        self.immigration.checkpoint()

    def rollback(self) -> None:
        """:meth:`RepositoryGallery.rollback` of both galleries."""
        self.criminal.rollback()
        self.immigration.rollback()

    def refresh(self, session: Session) -> dict[str, Any]:
        return {"criminal": self.criminal.refresh(session), "immigration": self.immigration.refresh(session)}


def prepare_index(engine: Any, index_dir: Path | str) -> dict[str, int]:
    """Bring the saved candidate index under ``index_dir`` up to the repositories, once per machine start.

    Loads each repository's saved index with its checksums verified (a corrupt or truncated one is
    rebuilt from the repository rows, with a warning, never used half-read; one whose codes were made
    with older code parameters is re-coded from its own templates, no cylinder prepared again), adds the template rows
    committed since its watermark -- cylinder preparation happens here, once, not in every worker --
    and saves it atomically (a new folder, then a rename). The workers then map the same files
    (shared through the page cache) and top up in memory from the watermark on. Returns how many
    repository rows each index took in. An index that took in nothing is not rewritten (at national
    scale that is tens of GB).
    """
    galleries = Galleries(index_dir=index_dir)
    with Session(engine) as session:
        added = galleries.refresh(session)
    for g in (galleries.criminal, galleries.immigration):
        if g.unsaved:
            g.save()
    return added
