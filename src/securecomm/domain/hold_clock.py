"""The detainer hold clock: 48 hours excluding Saturdays, Sundays and holidays (8 CFR 287.7(d)).

The hold starts when the person would otherwise be released and may not run
past the instant at which 48 *counted* hours have elapsed, where only time on
business days of the agency's own calendar counts: a day is skipped whole when,
in the agency's IANA time zone, it is a Saturday, a Sunday, a federal holiday
(with its observed day, from the maintained ``holidays`` calendar), a holiday
of the agency's state (the same library's subdivision calendar), or an extra
holiday given as data (``policy/data/detainer_holidays.json``: county and
state days the library does not carry).

Counted time is *elapsed* time: a business day contributes the real length of
its local day (a 23- or 25-hour day at a daylight-saving change counts as
such). In the United States the changes fall on Sunday mornings, which are
never counted, so in practice an expiry keeps the local hour of the release
(released Friday 17:00 EST before the March change, free Tuesday 17:00 EDT).

Worked example (the issue's): released Wednesday 2013-07-03 17:00 in Boston.
Wednesday counts 7 h (to midnight), Thursday is Independence Day, Friday counts
24 h (31), Saturday and Sunday are skipped, Monday 17 h brings 48: the hold
expires Monday 2013-07-08 17:00 EDT.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays as _holidays

from securecomm.domain.clock import aware_utc

__all__ = ["HOLD_LIMIT", "HoldCalendar", "HoldClockError", "hold_expiry", "counted_hours", "local_text"]

#: The regulatory limit: 48 counted hours.
HOLD_LIMIT = dt.timedelta(hours=48)


class HoldClockError(ValueError):
    """A question the hold clock cannot answer (a naive time, an unknown state, a negative span)."""


@lru_cache(maxsize=256)
def _library_days(state: str, year: int) -> frozenset[dt.date]:
    """Federal holidays (observed days included) and the state's own, from the ``holidays`` library."""
    try:
        cal = _holidays.country_holidays("US", subdiv=state or None, years=year)
    except NotImplementedError as exc:
        raise HoldClockError(f"the holiday calendar has no US subdivision {state!r}") from exc
    return frozenset(cal.keys())


@dataclass(frozen=True)
class HoldCalendar:
    """Which local days count for the hold of one agency: its zone, its state, and extra holiday dates."""

    zone: ZoneInfo
    state: str = ""
    extra_holidays: frozenset[dt.date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", (self.state or "").strip().upper())
        object.__setattr__(self, "extra_holidays", frozenset(self.extra_holidays))

    def holiday(self, day: dt.date) -> bool:
        return day in self.extra_holidays or day in _library_days(self.state, day.year)

    def counts(self, day: dt.date) -> bool:
        """Whether a local calendar day counts toward the 48 hours."""
        return day.weekday() < 5 and not self.holiday(day)

    def day_bounds(self, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
        """The UTC instants of the local day's start and of the next day's start."""
        start = dt.datetime.combine(day, dt.time(0), tzinfo=self.zone).astimezone(dt.UTC)
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=self.zone).astimezone(dt.UTC)
        return start, end

    def skipped_days(self, start: dt.datetime, end: dt.datetime) -> list[dt.date]:
        """Local days between two instants that did not count (for explanations)."""
        a = aware_utc(start).astimezone(self.zone).date()
        b = aware_utc(end).astimezone(self.zone).date()
        return [a + dt.timedelta(days=i) for i in range((b - a).days + 1)
                if not self.counts(a + dt.timedelta(days=i))]


def _walk_limit() -> int:
    # 48 counted hours need at most 3 business days; the longest run of non-counted days is short
    # (a holiday weekend plus data holidays): a year bounds any honest calendar.
    return 366


def hold_expiry(release_at: dt.datetime, calendar: HoldCalendar, limit: dt.timedelta = HOLD_LIMIT) -> dt.datetime:
    """The instant (UTC) at which ``limit`` counted time after ``release_at`` has elapsed."""
    at = aware_utc(release_at, what="release time")
    if limit < dt.timedelta(0):
        raise HoldClockError("a hold limit cannot be negative")
    remaining = limit
    day = at.astimezone(calendar.zone).date()
    for _ in range(_walk_limit()):
        start, end = calendar.day_bounds(day)
        if calendar.counts(day):
            begin = max(start, at)
            available = end - begin
            if available >= remaining:
                return begin + remaining
            if available > dt.timedelta(0):
                remaining -= available
        day += dt.timedelta(days=1)
    raise HoldClockError(f"no {limit} of counted time within a year of {at.isoformat()} (calendar data?)")


def counted_hours(start: dt.datetime, end: dt.datetime, calendar: HoldCalendar) -> dt.timedelta:
    """Counted time between two instants (0 when ``end`` is not after ``start``)."""
    a, b = aware_utc(start, what="start"), aware_utc(end, what="end")
    if b <= a:
        return dt.timedelta(0)
    total = dt.timedelta(0)
    day = a.astimezone(calendar.zone).date()
    last = b.astimezone(calendar.zone).date()
    while day <= last:
        s, e = calendar.day_bounds(day)
        if calendar.counts(day):
            lo, hi = max(s, a), min(e, b)
            if hi > lo:
                total += hi - lo
        day += dt.timedelta(days=1)
    return total


def local_text(at: dt.datetime, zone: ZoneInfo) -> str:
    """``2013-07-08 17:00 EDT``: a local date and time with the zone's abbreviation."""
    local = aware_utc(at).astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"
