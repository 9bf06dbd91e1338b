"""Local time of a jurisdiction: an agency's IANA time zone, defaulting by state.

Instants are stored in UTC (``securecomm.domain.clock``); a local date or time
(a hold's expiry told to a jail, a booking's local date, a statistics month)
is computed in the agency's zone. An agency may name its zone explicitly;
otherwise the state's default from ``data/state_time_zones.json`` applies.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class UnknownTimeZone(ValueError):
    """A time zone name that the IANA database does not know, or a state with no default zone."""


@lru_cache(maxsize=1)
def _state_zones() -> dict[str, str]:
    text = resources.files("securecomm.domain").joinpath("data/state_time_zones.json").read_text("utf-8")
    return dict(json.loads(text)["zones"])


def state_zone_names() -> dict[str, str]:
    """Every state's default zone name, by two-letter code (a copy)."""
    return dict(_state_zones())


def zone(name: str) -> ZoneInfo:
    """The IANA zone called ``name`` (e.g. ``America/New_York``)."""
    try:
        return ZoneInfo(str(name).strip())
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UnknownTimeZone(f"unknown IANA time zone {name!r}") from exc


def default_zone_name(state: str) -> str:
    """The default zone name of a two-letter state, district or territory code."""
    try:
        return _state_zones()[str(state).strip().upper()]
    except KeyError:
        raise UnknownTimeZone(f"no default time zone for state {state!r}") from None


def agency_zone(state: str, explicit: str | None = None) -> ZoneInfo:
    """An agency's zone: its explicit ``time_zone`` when set, else its state's default."""
    return zone(explicit) if explicit and str(explicit).strip() else zone(default_zone_name(state))
