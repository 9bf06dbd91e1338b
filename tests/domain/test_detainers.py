"""Detainers in the pure domain: the hold clock, forms and laws as data, the record's transitions."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest

from securecomm.domain import detainers as D
from securecomm.domain.hold_clock import HoldCalendar, counted_hours, hold_expiry, local_text
from securecomm.policy.detainers import calendar_for, load_forms, load_laws

BOSTON = ZoneInfo("America/New_York")
LA = ZoneInfo("America/Los_Angeles")
MA = calendar_for(zone=BOSTON, state="MA")


def local(s: str, zone=BOSTON) -> dt.datetime:
    return dt.datetime.fromisoformat(s).replace(tzinfo=zone)


@pytest.mark.parametrize("release, expiry", [
    ("2013-07-03T17:00", "2013-07-08 17:00 EDT"),   # Jul 4 holiday, then a weekend (the example)
    ("2012-12-21T17:00", "2012-12-26 17:00 EST"),   # Friday; weekend; Christmas Day
    ("2013-07-01T09:00", "2013-07-03 09:00 EDT"),   # Mon 15 h, Tue 24 h, Wed 9 h: no day skipped
    ("2013-07-02T09:00", "2013-07-05 09:00 EDT"),   # Tue 15 h, Wed 24 h, Thu Jul 4 skipped, Fri 9 h
    ("2013-03-08T17:00", "2013-03-12 17:00 EDT"),   # DST begins Sunday 10 March: EST release, EDT expiry
    ("2013-11-01T17:00", "2013-11-05 17:00 EST"),   # DST ends Sunday 3 November
    ("2013-04-12T17:00", "2013-04-17 17:00 EDT"),   # Patriots' Day (Mon 15 April), a Massachusetts holiday
    ("2013-07-06T10:00", "2013-07-10 00:00 EDT"),   # released on a Saturday: the clock starts Monday 00:00
])
def test_expiry_in_boston(release, expiry):
    at = local(release)
    end = hold_expiry(at, MA)
    assert local_text(end, BOSTON) == expiry
    assert counted_hours(at, end, MA) == dt.timedelta(hours=48)


def test_state_holiday_is_the_states_own():
    """Patriots' Day stops the clock in Massachusetts, not in California."""
    ca = calendar_for(zone=LA, state="CA")
    assert local_text(hold_expiry(local("2013-04-12T17:00", LA), ca), LA) == "2013-04-16 17:00 PDT"


def test_county_holiday_from_data():
    """Evacuation Day (17 March) is a Suffolk County holiday the library does not carry: it comes from data."""
    suffolk = calendar_for(zone=BOSTON, state="MA", county="Suffolk")
    release = local("2014-03-14T17:00")  # Friday; Monday 17 March 2014 is Evacuation Day
    assert local_text(hold_expiry(release, MA), BOSTON) == "2014-03-18 17:00 EDT"
    assert local_text(hold_expiry(release, suffolk), BOSTON) == "2014-03-19 17:00 EDT"


def test_naive_release_is_refused():
    with pytest.raises(ValueError, match="no time zone"):
        hold_expiry(dt.datetime(2013, 7, 3, 17), MA)


def test_forms_by_date():
    forms = load_forms()
    assert forms.form_for("detainer", dt.date(2012, 6, 1)).label == "I-247 (12/11)"
    assert forms.form_for("detainer", dt.date(2013, 7, 3)).label == "I-247 (12/12)"
    assert forms.form_for("detainer", dt.date(2016, 1, 1)).form == "I-247D"
    assert forms.form_for("notification_request", dt.date(2016, 1, 1)).form == "I-247N"
    assert forms.form_for("transfer_request", dt.date(2016, 1, 1)).form == "I-247X"
    a = forms.form_for("detainer", dt.date(2017, 5, 1))
    assert a.form == "I-247A" and set(a.requires) == {"warrant", "probable_cause"}


def test_laws_by_jurisdiction_and_date():
    laws = load_laws()
    day = dt.date(2015, 3, 1)
    assert laws.law_for(ori="CA0190000", state="CA", county="Los Angeles", day=day).rule == "listed_convictions"
    assert laws.law_for(ori="CA0430000", state="CA", county="Santa Clara", day=day).rule == \
        "decline_unless_reimbursed"  # the county's law is more specific than the state's
    assert laws.law_for(ori="CA0190000", state="CA", county="", day=dt.date(2013, 1, 1)).rule == "honour_all"
    assert laws.law_for(ori="CA0190000", state="CA", county="", day=dt.date(2018, 1, 1)).rule == "notification_only"
    assert laws.law_for(ori="MA0130100", state="MA", county="Suffolk", day=dt.date(2017, 7, 23)).rule == "honour_all"
    assert laws.law_for(ori="MA0130100", state="MA", county="Suffolk", day=dt.date(2017, 7, 24)).rule == \
        "no_civil_hold"


def _law(value, start, end=None, rule="honour_all"):
    return {"scope": "state", "value": value, "name": f"{value} {start}", "rule": rule,
            "effective_from": start, **({"effective_to": end} if end else {})}


def test_law_file_with_overlap_is_refused():
    data = {"laws": [_law("CA", "2014-01-01", "2017-12-31"), _law("CA", "2017-06-01")]}
    with pytest.raises(D.LawDataError, match=r"state CA: 'CA 2014-01-01' .* overlaps 'CA 2017-06-01'"):
        D.LawSchedule.from_data(data, "laws.json")


def test_law_file_with_open_ended_overlap_is_refused():
    data = {"laws": [_law("CA", "2014-01-01"), _law("CA", "2018-01-01")]}
    with pytest.raises(D.LawDataError, match="open-ended"):
        D.LawSchedule.from_data(data)


def test_law_file_with_gap_is_refused():
    data = {"laws": [_law("CT", "2013-10-01", "2014-12-31"), _law("CT", "2015-02-01")]}
    with pytest.raises(D.LawDataError, match="gap .* no rule from 2015-01-01 to 2015-01-31"):
        D.LawSchedule.from_data(data)


@pytest.mark.parametrize("bad, message", [
    ({"scope": "planet"}, "scope 'planet'"),
    ({"rule": "sometimes"}, "rule 'sometimes'"),
    ({"effective_from": "July 2014"}, "not an ISO date"),
    ({"rule": "listed_convictions"}, "needs levels"),
    ({"value": "California"}, "is not a state"),
])
def test_law_file_with_bad_record_is_refused(bad, message):
    with pytest.raises(D.LawDataError, match=message):
        D.LawSchedule.from_data({"laws": [{**_law("CA", "2014-01-01"), **bad}]})


def test_form_file_with_gap_is_refused():
    data = {"forms": [{"form": "I-247", "revision": "a", "kinds": ["detainer"], "effective_from": "2010-01-01",
                       "effective_to": "2010-12-31"},
                      {"form": "I-247", "revision": "b", "kinds": ["detainer"], "effective_from": "2011-02-01"}]}
    with pytest.raises(D.LawDataError, match="forms for detainer: gap"):
        D.FormSchedule.from_data(data)


def test_shipped_files_parse(tmp_path):
    laws = load_laws()
    assert laws.limit == dt.timedelta(hours=48) and laws.warning_before == dt.timedelta(hours=4)
    p = tmp_path / "laws.json"
    p.write_text(json.dumps({"laws": [_law("CA", "2014-01-01", "2014-06-30"), _law("CA", "2014-08-01")]}))
    with pytest.raises(D.LawDataError, match=f"{p}: state CA: gap"):
        load_laws(p)


# --- answers under law ---------------------------------------------------------------------------------

def _answer(rule, level="L3", **basis):
    law = D.Law("state", "XX", "test law", rule, dt.date(2000, 1, 1), None, levels=("L1",))
    return D.answer_under_law(law, kind="detainer", level=level, basis=basis).hold


def test_answers():
    assert _answer("honour_all")
    assert not _answer("listed_convictions", "L3") and _answer("listed_convictions", "L1")
    assert not _answer("decline_unless_reimbursed") and _answer("decline_unless_reimbursed", reimbursement=True)
    assert not _answer("judicial_warrant_only", warrant="I-200") and _answer("judicial_warrant_only",
                                                                               judicial_warrant=True)
    assert not _answer("no_civil_hold", warrant="I-205")
    assert not _answer("notification_only", judicial_warrant=True)


# --- transitions ---------------------------------------------------------------------------------------

HONOUR = D.answer_under_law(D.DEFAULT_LAW, kind="detainer", level="L1", basis={})
DECLINE = D.Answer(False, D.DEFAULT_LAW, "declined")
BOOKED = local("2013-07-01T09:00")


def _held():
    d = D.lodge("detainer", local("2013-07-01T11:00"), booked_at=BOOKED, level="L1")
    return D.acknowledge(d, release_at=local("2013-07-03T17:00"), answer=HONOUR, calendar=MA)


def test_honoured_detainer_expires_and_is_released_at_expiry():
    d = _held()
    assert d.state == "honoured" and local_text(d.expires_at, BOSTON) == "2013-07-08 17:00 EDT"
    done = D.release(d, d.expires_at, reason="expiry")
    assert done.outcome == "released_at_expiry" and not done.over_held


def test_release_past_expiry_needs_an_override():
    d = _held()
    late = d.expires_at + dt.timedelta(minutes=1)
    with pytest.raises(D.DetainerError, match="past the hold's expiry"):
        D.release(d, late, reason="expiry")
    with pytest.raises(D.DetainerError, match="override"):
        D.transfer(d, late)
    done = D.transfer(d, late, override="ICE officer arrived late; supervisor informed")
    assert done.outcome == "transferred" and done.over_held


def test_declined_by_law_closes():
    d = D.lodge("detainer", BOOKED, booked_at=BOOKED)
    done = D.acknowledge(d, release_at=local("2013-07-02T10:00"), answer=DECLINE, calendar=MA)
    assert done.outcome == "declined_by_law" and done.closed
    with pytest.raises(D.DetainerError, match="closed"):
        D.transfer(done, local("2013-07-02T11:00"))


def test_lodged_after_release():
    d = D.lodge("detainer", local("2013-07-02T12:00"), booked_at=BOOKED)
    done = D.acknowledge(d, release_at=local("2013-07-02T10:00"), answer=HONOUR, calendar=MA)
    assert done.outcome == "lodged_after_release"


def test_release_before_booking_is_refused():
    d = D.lodge("detainer", BOOKED, booked_at=BOOKED)
    with pytest.raises(D.DetainerError, match="before the booking"):
        D.acknowledge(d, release_at=BOOKED - dt.timedelta(hours=1), answer=HONOUR, calendar=MA)


def test_cancelled_cannot_be_acknowledged():
    d = D.cancel(D.lodge("detainer", BOOKED), BOOKED, reason="wrong person")
    with pytest.raises(D.DetainerError, match=r"cannot acknowledge: .* closed \(cancelled\)"):
        D.acknowledge(d, release_at=BOOKED, answer=HONOUR, calendar=MA)


def test_notification_request_ends_released_notified():
    d = D.lodge("notification_request", BOOKED, booked_at=BOOKED)
    d = D.acknowledge(d, release_at=local("2013-07-02T10:00"), answer=D.answer_under_law(
        D.DEFAULT_LAW, kind="notification_request", level="", basis={}), calendar=MA)
    assert d.state == "notify" and d.expires_at is None
    assert D.release(d, local("2013-07-02T10:00"), reason="bail").outcome == "released_notified"


def test_no_action_is_closed_at_once():
    d = D.lodge("no_action", BOOKED)
    assert d.closed and d.outcome == "no_action"


def test_cancel_after_expiry_is_refused():
    """Found by hypothesis: a cancellation after expiry would have recorded an unflagged over-hold."""
    d = _held()
    with pytest.raises(D.DetainerError, match="the hold expired"):
        D.cancel(d, d.expires_at + dt.timedelta(minutes=1), reason="no longer wanted")
    assert D.cancel(d, d.expires_at, reason="no longer wanted").outcome == "cancelled"
