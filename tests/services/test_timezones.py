import datetime as dt

import pytest

from securecomm.domain.timezones import UnknownTimeZone, agency_zone, default_zone_name


def test_state_default_and_explicit_override():
    boston = dt.datetime(2013, 7, 3, 21, tzinfo=dt.UTC).astimezone(agency_zone("MA"))
    assert (boston.hour, boston.tzname()) == (17, "EDT")
    assert default_zone_name("ca") == "America/Los_Angeles"
    assert str(agency_zone("TX", "America/Denver")) == "America/Denver"  # El Paso


def test_unknown_zone_and_state_are_clear_errors():
    with pytest.raises(UnknownTimeZone, match="Mars/Olympus"):
        agency_zone("MA", "Mars/Olympus")
    with pytest.raises(UnknownTimeZone, match="ZZ"):
        default_zone_name("ZZ")
