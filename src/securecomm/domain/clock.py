"""Time as the domain sees it: aware UTC instants from one injectable clock.

Every rule that depends on "now" (the detainer hold, lease deadlines, audit
stamps, statistics periods) takes a :class:`Clock` instead of calling
``datetime.now``, so tests and what-if replays can fix or advance time.
Instants are always timezone-aware UTC; local dates and times exist only at the
edges, converted with the agency's IANA time zone.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol, runtime_checkable

UTC = dt.UTC


class NaiveTimeError(ValueError):
    """A datetime without a time zone reached a rule that needs an instant."""


def aware_utc(value: dt.datetime, *, what: str = "time") -> dt.datetime:
    """``value`` as an aware UTC instant; a naive datetime is refused, never guessed."""
    if not isinstance(value, dt.datetime):
        raise TypeError(f"{what} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise NaiveTimeError(f"{what} {value.isoformat()} has no time zone")
    return value.astimezone(UTC)


@runtime_checkable
class Clock(Protocol):
    """Where "now" comes from."""

    def now(self) -> dt.datetime:
        """The current instant, timezone-aware UTC."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(UTC)

    def __repr__(self) -> str:
        return "SystemClock()"


class FixedClock:
    """A clock that stands still until moved: tests, simulations and what-if replays."""

    def __init__(self, at: dt.datetime) -> None:
        self._at = aware_utc(at, what="FixedClock start")

    def now(self) -> dt.datetime:
        return self._at

    def set(self, at: dt.datetime) -> None:
        self._at = aware_utc(at, what="FixedClock time")

    def advance(self, delta: dt.timedelta) -> dt.datetime:
        if delta < dt.timedelta(0):
            raise ValueError("a clock does not run backwards")
        self._at += delta
        return self._at

    def __repr__(self) -> str:
        return f"FixedClock({self._at.isoformat()})"


#: The clock used when none is injected.
SYSTEM_CLOCK = SystemClock()
