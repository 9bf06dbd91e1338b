"""Offenses: NCIC uniform offense codes, and the offences a booking and a rap sheet hold.

Charges arrive as 4-digit NCIC Code Manual offense codes; the first two digits
are the offense category (09 homicide, 13 assault, 35 dangerous drugs, 54
traffic ...), which the offense-level policy keys on. The table in
``data/ncic_codes.csv`` is a subset of the Code Manual's Uniform Offense
Codes: every category 01-73 that the manual defines, with its general
``XX99`` code and the common specific codes. A code outside the table is
rejected rather than guessed at, so a typo never lands in a wrong category.

:func:`offences` flattens a booking's charges and a rap sheet's arrests into
offence facts (code, category, outcome, felony, sentence, current) that the
offense-level policies (``securecomm.policy``) count.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from securecomm.domain.records import Arrest, Charge

__all__ = [
    "OffenseCode", "UnknownOffenseCode", "is_valid", "category", "category_name",
    "describe", "lookup", "all_codes", "categories", "offences", "OFFENSE_OUTCOMES", "OFFENSE_FIELDS",
]

#: Outcomes an offence can have: a charge without disposition is "charged".
OFFENSE_OUTCOMES = ("charged", "pending", "convicted", "dismissed", "acquitted")
#: Fields of one offence that class conditions may test.
OFFENSE_FIELDS = ("ncic", "category", "outcome", "felony", "sentence_days", "current")


class UnknownOffenseCode(ValueError):
    """A charge code that is not a 4-digit NCIC uniform offense code in the table."""


@dataclass(frozen=True)
class OffenseCode:
    """One row of the NCIC table."""

    code: str  # 4 digits, e.g. "1313"
    category: str  # first two digits, e.g. "13"
    category_name: str  # e.g. "ASSAULT"
    literal: str  # e.g. "SIMPLE ASSLT"


@lru_cache(maxsize=1)
def _table() -> dict[str, OffenseCode]:
    """Load the packaged CSV once; a malformed row is a packaging bug and fails loudly."""
    text = resources.files("securecomm.domain").joinpath("data/ncic_codes.csv").read_text("utf-8")
    table: dict[str, OffenseCode] = {}
    for row in csv.DictReader(text.splitlines()):
        code = row["code"].strip()
        if len(code) != 4 or not code.isdigit():
            raise RuntimeError(f"ncic_codes.csv: bad code {code!r}")
        if code in table:
            raise RuntimeError(f"ncic_codes.csv: duplicate code {code}")
        table[code] = OffenseCode(code, code[:2], row["category_name"].strip(), row["literal"].strip())
    return table


def _normalise(code: object) -> str:
    return code.strip() if isinstance(code, str) else ""


def is_valid(code: object) -> bool:
    """True when ``code`` is a 4-digit NCIC offense code present in the table."""
    return _normalise(code) in _table()


def lookup(code: object) -> OffenseCode:
    """The table row for ``code``; :class:`UnknownOffenseCode` when it is not one."""
    c = _normalise(code)
    try:
        return _table()[c]
    except KeyError:
        if len(c) != 4 or not c.isdigit():
            raise UnknownOffenseCode(f"NCIC offense code {code!r} is not 4 digits") from None
        raise UnknownOffenseCode(f"NCIC offense code {c} is not in the uniform offense code table") from None


def category(code: object) -> str:
    """The two-digit offense category of a valid code (e.g. ``"09"`` for 0901)."""
    return lookup(code).category


def category_name(code: object) -> str:
    """The category's name (e.g. ``"HOMICIDE"``)."""
    return lookup(code).category_name


def describe(code: object) -> str:
    """The code's literal, e.g. ``"DRIVING UNDER INFLUENCE LIQUOR"`` for 5404."""
    return lookup(code).literal


def all_codes() -> list[OffenseCode]:
    """Every code in the table, sorted."""
    return [v for _, v in sorted(_table().items())]


def categories() -> dict[str, str]:
    """Category number -> name, for every category in the table."""
    return {v.category: v.category_name for v in all_codes()}


def offences(charges: Sequence[Charge], arrests: Iterable[Arrest]) -> list[dict[str, Any]]:
    """The booking's charges (``current``) and the rap sheet's arrests as offences with an outcome each.

    A charge with a disposition takes the disposition's outcome; one without is ``charged``.
    An unknown NCIC code raises :class:`UnknownOffenseCode`.
    """
    out: list[dict[str, Any]] = []

    def add(code: str, outcome: str, felony: bool, sentence: int, current: bool) -> None:
        out.append({"ncic": code.strip(), "category": category(code), "outcome": outcome, "felony": bool(felony),
                    "sentence_days": int(sentence), "current": current})

    for c in charges:
        add(c.ncic, "charged", False, 0, True)
    for a in arrests:
        disposed = set()
        for d in a.dispositions:
            add(d.ncic, d.outcome, d.felony, d.sentence_days, False)
            disposed.add(d.ncic.strip())
        for c in a.charges:
            if c.ncic.strip() not in disposed:
                add(c.ncic, "charged", False, 0, False)
    return out
