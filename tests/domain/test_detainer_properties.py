"""Property tests of the detainer record: whatever happens, no hold runs past the limit without a recorded
override, and every detainer ends in exactly one outcome."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from securecomm.domain import detainers as D
from securecomm.domain.hold_clock import HOLD_LIMIT, counted_hours
from securecomm.policy.detainers import calendar_for

ZONES = {"MA": ZoneInfo("America/New_York"), "CA": ZoneInfo("America/Los_Angeles"),
         "IL": ZoneInfo("America/Chicago")}
START = dt.datetime(2011, 1, 1, tzinfo=dt.UTC)
hours = st.integers(min_value=0, max_value=24 * 365 * 8)  # 2011..2018: forms, laws and DST changes
offsets = st.integers(min_value=-48 * 60, max_value=14 * 24 * 60)  # minutes around a reference
event = st.one_of(
    st.tuples(st.just("acknowledge"), offsets, st.booleans()),
    st.tuples(st.just("release"), offsets, st.sampled_from(D.RELEASE_REASONS)),
    st.tuples(st.just("transfer"), offsets, st.none()),
    st.tuples(st.just("cancel"), offsets, st.none()),
)


def _apply(d: D.Detainer, ev, calendar) -> D.Detainer:
    name, minutes, extra = ev
    base = d.release_at or d.lodged_at
    at = base + dt.timedelta(minutes=minutes)
    if name == "acknowledge":
        law = D.DEFAULT_LAW if extra else D.Law("state", "XX", "no holds", "notification_only",
                                                dt.date(2000, 1, 1), None)
        answer = D.answer_under_law(law, kind=d.kind, level=d.level, basis={})
        return D.acknowledge(d, release_at=at, answer=answer, calendar=calendar)
    if name == "release":
        return D.release(d, at, reason=extra)
    if name == "transfer":
        return D.transfer(d, at)
    return D.cancel(d, at, reason="withdrawn")


@settings(max_examples=150, deadline=None)
@given(state=st.sampled_from(sorted(ZONES)), start=hours, kind=st.sampled_from(D.ACTIONS),
       events=st.lists(event, max_size=8))
def test_no_hold_longer_than_the_limit_and_exactly_one_outcome(state, start, kind, events):
    calendar = calendar_for(zone=ZONES[state], state=state)
    booked = START + dt.timedelta(hours=start)
    d = D.lodge(kind, booked + dt.timedelta(hours=1), booked_at=booked, level="L1")
    for ev in events:
        try:
            d = _apply(d, ev, calendar)
        except D.DetainerError:
            pass  # refused: the record is unchanged (frozen), so it simply continues
    # the jail or the field office ends what is still open
    if not d.closed:
        if d.state == "lodged":
            d = D.cancel(d, d.lodged_at + dt.timedelta(days=1), reason="closing the case")
        elif d.state == "notify":
            d = D.release(d, d.release_at, reason="other")
        else:
            d = D.release(d, d.expires_at, reason="expiry")
    assert d.closed and d.outcome in D.OUTCOMES
    assert sum(1 for e in d.events if e in D.OUTCOMES) == 1  # exactly one outcome was ever recorded
    assert not d.over_held and not d.override  # no override was given, so none can be recorded
    if d.answer == "honoured":
        assert d.outcome_at <= d.expires_at
        assert counted_hours(d.release_at, d.outcome_at, calendar) <= HOLD_LIMIT
    for ev in events[:3]:  # a closed record refuses every further event
        try:
            _apply(d, ev, calendar)
        except D.DetainerError:
            continue
        raise AssertionError(f"{ev} accepted on a closed record")


@settings(max_examples=200, deadline=None)
@given(state=st.sampled_from(sorted(ZONES)), start=hours, minute=st.integers(0, 59))
def test_expiry_is_exactly_the_limit_of_counted_time(state, start, minute):
    from securecomm.domain.hold_clock import hold_expiry

    calendar = calendar_for(zone=ZONES[state], state=state)
    release = START + dt.timedelta(hours=start, minutes=minute)
    end = hold_expiry(release, calendar)
    assert counted_hours(release, end, calendar) == HOLD_LIMIT
    assert dt.timedelta(hours=48) <= end - release <= dt.timedelta(days=9)
    assert calendar.counts(end.astimezone(ZONES[state]).date()) or \
        end.astimezone(ZONES[state]).time() == dt.time(0)  # it ends on a counted day (or at its midnight)
