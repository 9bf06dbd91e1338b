"""Test data for the repository tests: real templates, bookings."""

from __future__ import annotations

import datetime as dt

import numpy as np

from securecomm.engine.template import Template
from securecomm.domain.records import Biographic, Booking, Charge


def template_bytes(seed: int, n: int = 20) -> bytes:
    rng = np.random.default_rng(seed)
    return Template(rng.uniform(0, 300, n), rng.uniform(0, 400, n), rng.uniform(0, 6.28, n),
                    rng.integers(1, 3, n), rng.integers(40, 100, n), 320, 420, image_quality=70).to_bytes()


def ten_print(seed: int) -> dict[int, bytes]:
    return {p: template_bytes(seed * 100 + p) for p in range(1, 11)}


def booking(tcn: str, *, ori: str = "MA0130100", date: dt.date = dt.date(2012, 6, 1),
            charges=(Charge("1313", "SIMPLE ASSAULT"),), last="DOE", first="JOHN") -> Booking:
    return Booking(ori=ori, tcn=tcn, dai="DCFBIWA00", date=date,
                   person=Biographic(last, first, dt.date(1985, 3, 4), "M", "MX"),
                   arrest_date=date, charges=tuple(charges))


PERSON = Biographic("LEE", "ANN", dt.date(1979, 9, 9), "F", "KR")
