"""How long each hold has left: the jail detainer board's clock (issue 11, for the console).

A hold's expiry is fixed by the domain hold clock when the jail acknowledges (``DetainerRow.expires_at``:
the limit counted in the jail's business days, weekends and holidays skipped). The board shows both the
wall time until then and the *counted* time left, which is what the law measures.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from securecomm.domain.hold_clock import counted_hours, local_text
from securecomm.policy.detainers import calendar_for
from securecomm.services.detainers import agency_zone_of
from securecomm.services.unit_of_work import UnitOfWork
from securecomm.store.detainer_models import DetainerRow

__all__ = ["HoldClock", "clock_of"]


@dataclasses.dataclass(frozen=True)
class HoldClock:
    release_local: str | None      # the scheduled release, in the jail's local time
    expires_local: str | None      # when the hold must end, local time
    wall_left: dt.timedelta | None  # expires_at - now (None: no hold running)
    counted_left: dt.timedelta | None  # the hours of that span the hold clock counts
    overdue: bool                  # past expiry and still open
    started: bool = True           # the scheduled release has passed: the hold is running

    @property
    def text(self) -> str:
        if self.wall_left is None:
            return ""
        if self.overdue:
            return f"expired {_span(-self.wall_left)} ago"
        counted = f"{_span(self.counted_left)} counted" if self.counted_left is not None else ""
        if not self.started:
            return f"not released yet: the hold may last {counted} after the release"
        return f"{_span(self.wall_left)} left ({counted})"


def _span(d: dt.timedelta | None) -> str:
    if d is None:
        return ""
    minutes = int(d.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    return (f"{days} d " if days else "") + f"{hours} h {mins:02d} min"


def clock_of(uow: UnitOfWork, row: DetainerRow) -> HoldClock:
    """The hold clock of one detainer the principal has listed (no audit row: the listing has one)."""
    zone = agency_zone_of(row)
    release = local_text(row.release_at, zone) if row.release_at else None
    expires = local_text(row.expires_at, zone) if row.expires_at else None
    if row.expires_at is None or row.state == "closed":
        return HoldClock(release, expires, None, None, False)
    now = uow.now()
    wall = row.expires_at - now
    counted = None
    if wall > dt.timedelta(0):
        calendar = calendar_for(zone=zone, state=row.state_code, county=row.county or "")
        counted = counted_hours(max(now, row.release_at or now), row.expires_at, calendar)
    started = row.release_at is None or row.release_at <= now
    return HoldClock(release, expires, wall, counted, wall <= dt.timedelta(0), started)
