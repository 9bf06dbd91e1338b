"""Small synthetic bookings for the interchange tests (no real person's data)."""

from __future__ import annotations

import datetime as dt

import numpy as np

from securecomm.domain.records import Biographic, Booking, Charge, FingerImage


def ridge_image(position: int, h: int = 240, w: int = 220) -> np.ndarray:
    """A cheap ridge-like pattern (curved sinusoid), different per finger position."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.hypot(yy - h * (0.4 + 0.02 * position), xx - w / 2)
    return (128 + 90 * np.sin(r / 2.6 + position)).astype(np.uint8)


def fingers(positions=range(1, 11)) -> dict[int, FingerImage]:
    return {p: FingerImage(position=p, pixels=ridge_image(p), ppi=500.0, impression=1) for p in positions}


def person() -> Biographic:
    return Biographic(last_name="TESTER", first_name="ALEX", dob=dt.date(1988, 2, 29), sex="X", pob="MX",
                      middle_name="Q", citizenship="MX")


def booking(**kw) -> Booking:
    base = dict(ori="MA0130100", tcn="MA0130100-000042", dai="DCFBIWA0Z", date=dt.date(2026, 3, 2),
                person=person(), arrest_date=dt.date(2026, 3, 1),
                charges=(Charge("1313", "SIMPLE ASSLT"), Charge("5404")), fingers=fingers(), sib_ori="MAMSP0000")
    base.update(kw)
    return Booking(**base)
