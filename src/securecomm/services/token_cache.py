"""The server's memory of tokens that authenticated, and its invalidation by the services that end them.

A server process (``securecomm serve``: the API and the console) remembers for a few seconds the principal
of a token that authenticated (:class:`TokenCache`), so a request does not look its token up again. The cache
is registered on the process's session factory (:meth:`TokenCache.for_sessions`, the way
:class:`~securecomm.services.sealing.BatchSealer` registers itself), and every service that ends a token's or
a user's validity calls :func:`invalidate_on_commit` in its unit of work (today ``tokens.revoke_token`` and
``users.disable_user``): once that work commits, every cache registered on the factory it ran on forgets all
its tokens. So a revocation acts at once in the process that made it, whichever entry point called the
service; one made by another process (the CLI, another server) acts here within the cache's TTL.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import weakref
from collections.abc import Callable

from sqlalchemy.orm import Session

from securecomm.domain.principal import Principal
from securecomm.services.unit_of_work import UnitOfWork
from securecomm.store.db import factory_info, set_factory_info

__all__ = ["TokenCache", "invalidate_on_commit", "CACHES_KEY"]

#: Key in ``Session.info`` of the token caches registered on a session factory (a ``weakref.WeakSet``).
CACHES_KEY = "securecomm.token_caches"
_REGISTRY_LOCK = threading.Lock()  # registering a cache beside an invalidation's snapshot of the set


class TokenCache:
    """Principals of tokens that authenticated in the last ``ttl`` seconds, by the token's SHA-256.

    What it trades: a token revoked, or a user disabled, by another process (the CLI, another
    ``securecomm serve`` worker) keeps working here for at most ``ttl`` seconds. In this process the services
    that end a token's validity clear every cache registered on the session factory they ran on
    (:meth:`for_sessions`, :func:`invalidate_on_commit`), so those act at once. Expiry is checked at every
    use, cached or not; refusals are never cached (every bad token is looked up and audited). ``ttl`` 0
    disables the cache.

    ``generation`` counts the clears: a lookup notes it before it reads the store and passes it to
    :meth:`put`, which drops the principal if a clear came in between (it may have been read before the
    revocation committed).
    """

    def __init__(self, ttl: float = 5.0, *, max_entries: int = 10_000, monotonic=time.monotonic) -> None:
        self.ttl, self.max_entries, self._now = float(ttl), int(max_entries), monotonic
        self._rows: dict[str, tuple[float, Principal, dt.datetime | None]] = {}
        self._lock = threading.Lock()
        self.hits = self.misses = self.generation = 0

    @classmethod
    def for_sessions(cls, sessions: Callable[[], Session], ttl: float = 5.0, **kw) -> TokenCache:
        """A cache registered on the session factory ``sessions``: cleared whenever work on its sessions ends
        a token's validity. A factory that cannot carry it (not a ``sessionmaker``) gets a disabled cache
        (``ttl`` 0): nothing would clear it, so it must not remember anything."""
        cache = cls(ttl, **kw)
        if cache.ttl > 0 and not cache._register(sessions):
            cache.ttl = 0.0
        return cache

    def _register(self, sessions: Callable[[], Session]) -> bool:
        with _REGISTRY_LOCK:
            caches = factory_info(sessions).get(CACHES_KEY)
            if caches is None:
                caches = weakref.WeakSet()  # an app that is gone stops being cleared
                if not set_factory_info(sessions, CACHES_KEY, caches):
                    return False
            caches.add(self)
        return True

    def get(self, key: str) -> tuple[Principal, dt.datetime | None] | None:
        if self.ttl <= 0:
            return None
        with self._lock:
            row = self._rows.get(key)
            if row is None or self._now() - row[0] >= self.ttl:
                if row is not None:
                    del self._rows[key]
                self.misses += 1
                return None
            self.hits += 1
            return row[1], row[2]

    def put(self, key: str, principal: Principal, expires_at: dt.datetime | None, *,
            generation: int | None = None) -> None:
        """Remember ``principal`` -- unless the cache was cleared since ``generation`` (a lookup's start)."""
        if self.ttl <= 0:
            return
        now = self._now()
        with self._lock:
            if generation is not None and generation != self.generation:
                return
            if len(self._rows) >= self.max_entries:
                self._rows = {k: v for k, v in self._rows.items() if now - v[0] < self.ttl}
                if len(self._rows) >= self.max_entries:
                    self._rows.clear()
            self._rows[key] = (now, principal, expires_at)

    def clear(self) -> None:
        """Forget every token (a token or a user stopped being valid)."""
        with self._lock:
            self._rows.clear()
            self.generation += 1


def invalidate_on_commit(uow: UnitOfWork) -> None:
    """Once ``uow`` commits, clear every token cache registered on its session factory (none: nothing to do).

    Call it from every service that ends a token's or a user's validity. After the commit, not before: a
    lookup reading the store before the commit could otherwise cache the old state again (and one that read
    it just before is dropped by :meth:`TokenCache.put`)."""
    caches = uow.session.info.get(CACHES_KEY)
    if caches is None:
        return

    def clear() -> None:
        with _REGISTRY_LOCK:
            registered = list(caches)
        for cache in registered:
            cache.clear()

    uow.on_commit(clear)
