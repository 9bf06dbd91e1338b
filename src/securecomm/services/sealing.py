"""Putting committed audit rows on the hash chain: at once, or in batches by a sealer.

A unit of work writes its audit rows in its own transaction (cheap inserts, no chain); once it has
committed, :func:`after_commit` has them sealed (``securecomm.store.audit.seal``: the chain's hashes
computed in id order under the chain's lock). Two ways:

* **at once** (the default: the CLI, tests, any caller without a sealer): a short seal transaction of its
  own right after the commit -- every request pays for one, and they queue on the chain's lock;
* **in batches**: a :class:`BatchSealer` attached to the session factory (``securecomm serve`` does) is
  only woken; its thread seals everything pending a short delay later (``delay``, 0.5 s by default) in one
  transaction, and sweeps every ``sweep`` seconds for rows other processes (workers) left. Rows wait at most
  about ``delay`` (plus the seal itself) off the chain; :meth:`BatchSealer.stop` seals what is left.

Either way a row is only ever sealed after the transaction that wrote it committed, sealing never runs
inside the work's transaction, and a failed seal (a busy store) leaves the rows for the next one:
``securecomm audit seal``, ``audit verify`` and the export seal what is pending first.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from securecomm.store import audit as audit_store
from securecomm.store.db import session_scope, set_factory_info

__all__ = ["BatchSealer", "after_commit", "seal_now", "SEALER_KEY"]

log = logging.getLogger(__name__)

#: Key of the sealer in ``Session.info`` (set on the session factory by :meth:`BatchSealer.start`).
SEALER_KEY = "securecomm.audit_sealer"


def seal_now(sessions: Callable[[], Session]) -> int:
    """Seal every pending row in a transaction of its own; returns how many (errors propagate)."""
    with session_scope(sessions) as s:
        return audit_store.seal(s)


def after_commit(sessions: Callable[[], Session], info: dict[str, Any] | None = None) -> None:
    """Work that wrote audit rows has committed: wake the session's sealer, or seal at once (best effort).

    ``info``: the ``Session.info`` of the work's session (where :class:`BatchSealer` registers itself).
    """
    sealer = (info or {}).get(SEALER_KEY)
    if sealer is not None and sealer.running:
        sealer.notify()
        return
    try:
        seal_now(sessions)
    except SQLAlchemyError as exc:  # a busy store must not fail work that has already committed
        log.warning("audit rows left for the next seal: %s", str(exc).splitlines()[0][:200])


class BatchSealer:
    """A thread that seals pending audit rows in batches: woken by commits, plus a periodic sweep.

    ``start`` registers it in the ``info`` of the sessions ``sessions`` makes (when ``sessions`` is a
    SQLAlchemy ``sessionmaker``; otherwise call :meth:`notify` yourself), ``stop`` unregisters it and
    seals what is left. Counters (``seals``, ``sealed``, ``failures``) say how it went.
    """

    def __init__(self, sessions: Callable[[], Session], *, delay: float = 0.5, sweep: float = 5.0) -> None:
        if delay < 0 or sweep <= 0:
            raise ValueError("the sealer's delay must be >= 0 and its sweep > 0 seconds")
        self._sessions, self.delay, self.sweep = sessions, float(delay), float(sweep)
        self._wake, self._stop = threading.Event(), threading.Event()
        self._lock = threading.Lock()  # one seal at a time from this process
        self._thread: threading.Thread | None = None
        self.seals = self.sealed = self.failures = 0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    def start(self) -> BatchSealer:
        if self._thread is not None:
            raise RuntimeError("the sealer is already started")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="audit-sealer", daemon=True)
        self._thread.start()
        self._attach(self)
        return self

    def stop(self, timeout: float = 30.0) -> int:
        """Stop the thread and seal what is pending (returns how many rows that last seal chained)."""
        self._attach(None)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None
        try:
            return self.seal()
        except SQLAlchemyError as exc:
            log.warning("audit rows left unsealed at shutdown (sealed by the next seal): %s",
                        str(exc).splitlines()[0][:200])
            return 0

    def notify(self) -> None:
        """Rows were committed: seal them soon."""
        self._wake.set()

    def seal(self) -> int:
        """Seal everything pending now, in this thread (waits for a seal in progress)."""
        with self._lock:
            n = seal_now(self._sessions)
        self.seals += 1
        self.sealed += n
        return n

    def _attach(self, value: BatchSealer | None) -> None:
        set_factory_info(self._sessions, SEALER_KEY, value)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.sweep)
            if self._stop.is_set():
                return
            if self.delay and self._stop.wait(self.delay):  # let more rows arrive: one transaction seals all
                return  # stopping: stop() seals what is left
            self._wake.clear()
            try:
                self.seal()
            except SQLAlchemyError as exc:
                self.failures += 1
                log.warning("audit seal failed, retrying: %s", str(exc).splitlines()[0][:200])
                self._stop.wait(min(self.sweep, 1.0))
                self._wake.set()
            except Exception:  # pragma: no cover - keep the sealer alive; the rows stay pending
                self.failures += 1
                log.exception("audit seal failed")
                self._stop.wait(self.sweep)

    def __enter__(self) -> BatchSealer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def wait_sealed(sessions: Callable[[], Session], timeout: float = 10.0) -> bool:
    """Wait until no row is pending (tests, shutdown checks); False on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        with sessions() as s:
            if audit_store.pending(s) == 0:
                return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
