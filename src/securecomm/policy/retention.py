"""Retention of no-match bookings on the immigration side, as versioned data.

The immigration repository keeps nothing of a booking it did not match
unless the retention policy in force on the booking's date says so, and
then only for the stated number of days. The default data keeps nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

DATA_FILE = "retention.json"


class RetentionPolicyError(ValueError):
    """The retention data is malformed or names no version for a date."""


@dataclass(frozen=True)
class RetentionPolicy:
    """Whether (and how long) unmatched booking prints may be kept."""

    version: str
    effective_from: dt.date
    retain_unmatched: bool = False
    retain_days: int = 0
    note: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RetentionPolicy":
        try:
            version = str(data["version"])
            start = dt.date.fromisoformat(str(data["effective_from"]))
        except (KeyError, ValueError) as exc:
            raise RetentionPolicyError(f"retention entry {data!r}: needs version and ISO effective_from") from exc
        retain = data.get("retain_unmatched", False)
        days = data.get("retain_days", 0)
        if not isinstance(retain, bool) or not isinstance(days, int) or days < 0:
            raise RetentionPolicyError(f"retention {version}: retain_unmatched must be true/false, "
                                       "retain_days a non-negative integer")
        if retain and days == 0:
            raise RetentionPolicyError(f"retention {version}: retaining needs retain_days > 0")
        return cls(version, start, retain, days, str(data.get("note", "")))

    def retain_until(self, booking_date: dt.date) -> dt.date | None:
        """The last day a no-match booking of ``booking_date`` may be kept, or None to keep nothing."""
        return booking_date + dt.timedelta(days=self.retain_days) if self.retain_unmatched else None


@lru_cache(maxsize=1)
def retention_versions() -> tuple[RetentionPolicy, ...]:
    """All packaged retention versions, oldest first."""
    text = resources.files("securecomm.policy").joinpath("data", DATA_FILE).read_text("utf-8")
    entries = json.loads(text).get("versions", [])
    out = tuple(sorted((RetentionPolicy.from_dict(e) for e in entries), key=lambda p: p.effective_from))
    if not out:
        raise RetentionPolicyError(f"{DATA_FILE} holds no versions")
    return out


def retention_policy_for(on: dt.date) -> RetentionPolicy:
    """The retention policy in force on ``on``."""
    current = [p for p in retention_versions() if p.effective_from <= on]
    if not current:
        raise RetentionPolicyError(f"no retention policy in force on {on} (first is "
                                   f"{retention_versions()[0].effective_from})")
    return current[-1]


def load_retention(version: str) -> RetentionPolicy:
    for p in retention_versions():
        if p.version == version:
            return p
    raise RetentionPolicyError(f"no retention policy version {version!r}; have "
                               + ", ".join(p.version for p in retention_versions()))
