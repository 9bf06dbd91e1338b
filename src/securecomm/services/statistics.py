"""Statistics through the service layer: for the HTTP API, the console and the CLI.

Signature (keyword-only after the first two)::

    statistics(sessions, principal, *, level="nation", period="all", state=None, county=None,
               ori=None, start=None, end=None, clock=SYSTEM_CLOCK) -> securecomm.statistics.Statistics

* ``sessions``: a session factory (``open_store(...)[1]``); ``principal``: who asks.
* Permission ``statistics.read``: roles ``oversight``, ``public`` and ``admin``.
* Scopes: a principal scoped to a state (or an ORI) gets that state's (ORI's)
  figures only; asking for another state is answered as not found
  (:class:`~securecomm.services.unit_of_work.NotFound`), like every out-of-scope object.
* ``public`` gets small-cell suppression (``statistics.suppress``: counts
  1-4 and the shares resting on them are ``None``); the figures are aggregates
  in every case, never a person's record.
* Bad arguments raise :class:`~securecomm.statistics.StatisticsError` (a ``ValueError``).
* Every call is audited (``read`` of ``statistics``) in the same transaction.

``Statistics.to_dict()`` is the JSON shape (``level``, ``period``, ``filters``,
``truth``, ``suppressed_below``, ``figures`` and ``rows``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy.orm import Session

from securecomm.domain.clock import SYSTEM_CLOCK, Clock
from securecomm.domain.principal import Principal, Role
from securecomm.services.unit_of_work import NotFound, UnitOfWork
from securecomm.statistics.query import Statistics, compute
from securecomm.statistics.suppress import suppress

OPERATION = "statistics.read"


def statistics(sessions: Callable[[], Session], principal: Principal, *, level: str = "nation",
               period: str = "all", state: str | None = None, county: str | None = None, ori: str | None = None,
               start: dt.date | None = None, end: dt.date | None = None, clock: Clock = SYSTEM_CLOCK) -> Statistics:
    """The programme's statistics for ``principal``: scoped, suppressed for the public, audited."""
    with UnitOfWork(sessions, principal, clock=clock, purpose="statistics") as uow:
        uow.require(OPERATION)
        if principal.state is not None:
            if state is not None and state.strip().upper() != principal.state:
                uow.require_scope(OPERATION, state=state, what="jurisdiction")
            state = principal.state
        if principal.ori is not None:
            if ori is not None and ori.strip().upper() != principal.ori:
                uow.require_scope(OPERATION, ori=ori, what="jurisdiction")
            ori = principal.ori
        if principal.area is not None:  # statistics are not kept by field-office area
            raise NotFound("no statistics by area of responsibility")
        stats = compute(uow.session, level=level, period=period, state=state, county=county, ori=ori,
                        start=start, end=end)
        uow.audit("read", "statistics", f"{level}/{period}",
                  detail=", ".join(f"{k}={v}" for k, v in stats.filters.items()))
    if principal.role == Role.PUBLIC:
        stats = suppress(stats)
    return stats
