"""The detainer board's clock: wall time and counted time left, from the hold's fixed expiry."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from securecomm.services.holds import clock_of
from securecomm.store.detainer_models import DetainerRow

UTC = dt.timezone.utc


def _row(**kw) -> DetainerRow:
    # released Friday 2030-01-04 15:00 CST; 48 counted hours skip the weekend: expiry Tuesday 15:00 CST
    base = dict(id=1, tcn="T", ori="TX1010000", state_code="TX", county="Harris", field_office="Houston",
                time_zone="America/Chicago", kind="detainer", state="honoured",
                release_at=dt.datetime(2030, 1, 4, 21, 0, tzinfo=UTC), expires_at=dt.datetime(2030, 1, 8, 21, 0, tzinfo=UTC))
    base.update(kw)
    return DetainerRow(**base)


def at(when: dt.datetime):
    return SimpleNamespace(now=lambda: when)


def test_a_running_hold_counts_down_without_the_weekend():
    c = clock_of(at(dt.datetime(2030, 1, 5, 18, 0, tzinfo=UTC)), _row())  # Saturday noon CST
    assert c.started and not c.overdue
    assert c.wall_left == dt.timedelta(days=3, hours=3)
    assert c.counted_left == dt.timedelta(hours=39)  # Friday's 9 h were used; Monday 24 h + Tuesday 15 h remain
    assert c.text == "3 d 3 h 00 min left (1 d 15 h 00 min counted)"
    assert c.release_local == "2030-01-04 15:00 CST" and c.expires_local == "2030-01-08 15:00 CST"


def test_before_release_past_expiry_and_closed():
    early = clock_of(at(dt.datetime(2030, 1, 1, tzinfo=UTC)), _row())
    assert not early.started and early.text == "not released yet: the hold may last 2 d 0 h 00 min counted after the release"
    late = clock_of(at(dt.datetime(2030, 1, 9, 0, 30, tzinfo=UTC)), _row())
    assert late.overdue and late.text == "expired 3 h 30 min ago"
    closed = clock_of(at(dt.datetime(2030, 1, 5, tzinfo=UTC)), _row(state="closed", outcome="transferred"))
    assert closed.wall_left is None and closed.text == ""
