"""Detainer data: forms by version, compliance laws by jurisdiction, holidays beyond the library.

The files live in ``policy/data`` (``detainer_forms.json``, ``detainer_laws.json``,
``detainer_holidays.json``); a deployment may load another law file (``path=``).
Parsing and the gap/overlap checks are the domain's (``domain.detainers``);
this module only reads files.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from securecomm.domain.detainers import FormSchedule, LawDataError, LawSchedule
from securecomm.domain.hold_clock import HoldCalendar

__all__ = ["LawDataError", "load_forms", "load_laws", "extra_holidays", "calendar_for"]


def _read(path: Path | str | None, name: str) -> tuple[dict[str, Any], str]:
    try:
        if path is None:
            text = resources.files("securecomm.policy").joinpath("data", name).read_text("utf-8")
            source = name
        else:
            source = str(path)
            text = Path(path).read_text("utf-8")
    except (FileNotFoundError, IsADirectoryError):
        raise LawDataError(f"{path or name}: no such file") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LawDataError(f"{source}: invalid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise LawDataError(f"{source}: expected a JSON object")
    return data, source


@lru_cache(maxsize=1)
def _default_forms() -> FormSchedule:
    data, source = _read(None, "detainer_forms.json")
    return FormSchedule.from_data(data, source)


def load_forms(path: Path | str | None = None) -> FormSchedule:
    if path is None:
        return _default_forms()
    return FormSchedule.from_data(*_read(path, "detainer_forms.json"))


@lru_cache(maxsize=1)
def _default_laws() -> LawSchedule:
    data, source = _read(None, "detainer_laws.json")
    return LawSchedule.from_data(data, source)


def load_laws(path: Path | str | None = None) -> LawSchedule:
    """The compliance laws (the shipped file, or ``path``); LawDataError names a gap or an overlap."""
    if path is None:
        return _default_laws()
    return LawSchedule.from_data(*_read(path, "detainer_laws.json"))


@lru_cache(maxsize=1)
def _holiday_rules() -> tuple[tuple[str, int, int, int, int, str], ...]:
    data, source = _read(None, "detainer_holidays.json")
    rules = []
    for i, rec in enumerate(data.get("holidays") or [], 1):
        try:
            scope = " ".join(str(rec["scope"]).split()).upper()
            month, day = int(rec["month"]), int(rec["day"])
            dt.date(2000, month, day)
            rules.append((scope, month, day, int(rec.get("from_year", 1)), int(rec.get("to_year", 9999)),
                          str(rec.get("name", ""))))
        except (KeyError, TypeError, ValueError) as exc:
            raise LawDataError(f"{source} holiday {i}: needs scope, month and day ({exc})") from None
    return tuple(rules)


def extra_holidays(state: str, county: str = "", years: range | None = None) -> frozenset[dt.date]:
    """Holiday dates from the data file for a state and, when given, its county."""
    state = state.strip().upper()
    keys = {state} | ({f"{state}:{' '.join(county.split()).upper()}"} if county and county.strip() else set())
    years = years or range(2000, 2031)
    out = set()
    for scope, month, day, y0, y1, _ in _holiday_rules():
        if scope in keys:
            out.update(dt.date(y, month, day) for y in years if y0 <= y <= y1)
    return frozenset(out)


def calendar_for(*, zone: ZoneInfo, state: str, county: str = "") -> HoldCalendar:
    """The hold calendar of an agency: its zone, its state's holidays, and the data file's extras."""
    return HoldCalendar(zone=zone, state=state, extra_holidays=extra_holidays(state, county))
