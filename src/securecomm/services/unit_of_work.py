"""One unit of work: a transaction, the principal acting in it, the clock, and the audit.

Usage (every entry point)::

    with UnitOfWork(sessions, principal, clock=clock, purpose="booking status") as uow:
        uow.require("booking.status")
        tx = uow.session.get(...)
        uow.require_scope("booking.status", ori=tx.ori)   # outside scope -> NotFound
        uow.audit("read", "transaction", tx.tcn)
    # committed here, audit rows and work together; any exception rolls both back

A refused attempt is audited too, in its own short transaction, so a refusal
leaves a trace even though the work it guarded rolls back.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from securecomm.domain.clock import SYSTEM_CLOCK, Clock
from securecomm.domain.principal import Principal
from securecomm.services import sealing
from securecomm.services.permissions import PermissionDenied, require
from securecomm.store import audit as audit_store
from securecomm.store.db import begin_write, session_scope


log = logging.getLogger(__name__)


class NotFound(LookupError):
    """The object does not exist, or lies outside the principal's scopes (the two look the same)."""


class UnitOfWork:
    """A database transaction carrying who acts, when, and why."""

    def __init__(self, sessions: Callable[[], Session], principal: Principal, *, clock: Clock = SYSTEM_CLOCK,
                 purpose: str = "", write: bool = False) -> None:
        self._sessions = sessions
        self.principal = principal
        self.clock = clock
        self.purpose = purpose
        #: Begin as a writer (SQLite ``BEGIN IMMEDIATE``): for work that reads, then writes, beside workers.
        self.write = write
        self._session: Session | None = None
        self._refusals: list[PermissionDenied] = []  # recorded after the work's transaction has ended
        self._audited = False  # rows written: put them on the audit hash chain after the commit
        self._info: dict = {}  # the session's info (where a batch sealer registers itself)
        self._on_commit: list[Callable[[], None]] = []  # run once the work has committed (on_commit)

    # -- transaction -------------------------------------------------------------------------------
    def __enter__(self) -> UnitOfWork:
        self._session = self._sessions()
        if self.write:
            begin_write(self._session)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        session, self._session = self._session, None
        assert session is not None
        self._info = session.info
        on_commit, self._on_commit = self._on_commit, []
        try:
            if exc_type is None:
                session.commit()
            else:
                session.rollback()
                on_commit = []
        finally:
            session.close()
        for fn in on_commit:
            fn()
        if isinstance(exc, PermissionDenied):
            self._refusals.append(exc)
        refusals, self._refusals = self._refusals, []
        for refusal in refusals:
            self._audit_refusal(refusal)
        audited, self._audited = (self._audited and exc_type is None) or bool(refusals), False
        if audited:
            sealing.after_commit(self._sessions, self._info)

    @property
    def session(self) -> Session:
        if self._session is None:
            raise RuntimeError("the unit of work is not open (use it as a context manager)")
        return self._session

    def now(self) -> dt.datetime:
        """The clock's current instant (aware UTC)."""
        return self.clock.now()

    def on_commit(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` right after this unit of work commits (never when it rolls back): for effects outside
        the transaction that must follow the committed state, e.g. forgetting cached tokens after a
        revocation (:func:`securecomm.services.token_cache.invalidate_on_commit`)."""
        self._on_commit.append(fn)

    # -- permissions -------------------------------------------------------------------------------
    def require(self, operation: str) -> None:
        """Refuse (PermissionDenied) unless the principal's role may perform ``operation``."""
        require(self.principal, operation)

    def require_scope(self, operation: str, *, ori: str | None = None, state: str | None = None,
                      area: str | None = None, what: str = "object") -> None:
        """Refuse, as :class:`NotFound`, an object outside the principal's scopes (no existence leak)."""
        if not self.principal.sees(ori=ori, state=state, area=area):
            # audited when the unit of work ends (its own transaction may hold the write lock until then)
            self._refusals.append(PermissionDenied(self.principal, operation, f"{what} outside scope"))
            raise NotFound(f"no such {what}")

    # -- audit -------------------------------------------------------------------------------------
    def audit(self, action: str, object_type: str, object_id: Any, *, detail: str = "",
              purpose: str | None = None) -> None:
        """An audit row in this transaction: it commits, or rolls back, with the work it records."""
        why = purpose if purpose is not None else self.purpose
        self._audited = True
        audit_store.record(self.session, actor=self.principal.actor, role=self.principal.role.value,
                           action=action, object_type=object_type, object_id=str(object_id)[:64], detail=detail,
                           purpose=why, at=self.now())

    def _audit_refusal(self, exc: PermissionDenied) -> None:
        with session_scope(self._sessions) as s:
            audit_store.record(s, actor=self.principal.actor, role=self.principal.role.value, action="refused",
                               object_type="operation", object_id=exc.operation[:64], detail=exc.why,
                               purpose=self.purpose, at=self.now())

    def seal_pending(self) -> int:
        """Put every committed audit row on the hash chain now, in a transaction of its own, before a
        verification or an export reads the chain (call it before this unit of work writes anything: on
        SQLite the seal needs the write lock). Returns how many rows it chained; a busy store leaves them
        pending (0), which the reader then reports as unsealed. A write unit of work on SQLite already holds
        the write lock the seal would wait for (until the busy timeout): it does not try, and its rows are
        sealed after it commits, as every unit of work's are."""
        if self.write and self.session.get_bind().dialect.name == "sqlite":
            return 0
        try:
            return sealing.seal_now(self._sessions)
        except SQLAlchemyError as exc:
            log.warning("audit rows left for the next seal: %s", str(exc).splitlines()[0][:200])
            return 0
