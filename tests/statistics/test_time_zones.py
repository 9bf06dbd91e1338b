"""A submission's statistics month is its agency's local date, whatever the database session's time zone.

A submission rejected before its booking date could be read counts on the day it was received *where its
agency is* (the agency's ``time_zone``, else its state's default; UTC for an ORI not in ``agencies``). On
PostgreSQL that must not depend on the session's ``TimeZone`` setting, so the same store is read under two
extreme session zones and must give the same months, fiscal years and date-filtered counts as SQLite.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import text

from securecomm.statistics import compute
from securecomm.store.db import open_store, session_scope
from securecomm.store.models import Agency
from securecomm.store.workflow_models import Job, StageRun, Transaction

UTC = dt.UTC
# tcn: (ori, received at (UTC), booking date or None when rejected unread)
SUBMISSIONS = {
    # 02:30 UTC on 1 July is 22:30 EDT on 30 June in Boston: June
    "R-MA": ("MA0130100", dt.datetime(2012, 7, 1, 2, 30, tzinfo=UTC), None),
    # 05:30 UTC on 1 October is 23:30 MDT on 30 September in El Paso (explicit zone, not Texas's Chicago):
    # September, fiscal year 2012
    "R-EP": ("TX0710000", dt.datetime(2012, 10, 1, 5, 30, tzinfo=UTC), None),
    # the same instant in Travis County (state default America/Chicago): 00:30 CDT on 1 October: FY2013
    "R-TV": ("TX2270000", dt.datetime(2012, 10, 1, 5, 30, tzinfo=UTC), None),
    # an ORI not in agencies: UTC
    "R-XX": ("ZZ0000000", dt.datetime(2012, 7, 1, 2, 30, tzinfo=UTC), None),
    # a booking's own date wins over its (late) receipt
    "B-MA": ("MA0130100", dt.datetime(2012, 8, 1, 3, 0, tzinfo=UTC), dt.date(2012, 7, 31)),
}


def _build(url: str):
    engine, Session = open_store(url)
    with session_scope(Session) as s:
        s.add_all([Agency(ori="MA0130100", name="Boston PD", county="Suffolk", state="MA"),
                   Agency(ori="TX0710000", name="El Paso Sheriff", county="El Paso", state="TX", kind="sheriff",
                          time_zone="America/Denver"),
                   Agency(ori="TX2270000", name="Travis Sheriff", county="Travis", state="TX", kind="sheriff")])
        for tcn, (ori, received, day) in SUBMISSIONS.items():
            s.add(Transaction(tcn=tcn, ori=ori, tot="CAR", state="done" if day else "rejected", raw=tcn.encode(),
                              sha256=hashlib.sha256(tcn.encode()).hexdigest(), booking_date=day,
                              received_at=received))
            s.flush()
            s.add(Job(tcn=tcn, stage="validate", state="done"))
            if day is None:
                s.add(StageRun(tcn=tcn, stage="validate", status="rejected", output={"errors": []}))
    return engine, Session


def _figures(Session, session_zone: str | None):
    with Session() as s:
        if session_zone is not None:
            s.execute(text(f"SET TIME ZONE '{session_zone}'"))
        by_month = {(r.jurisdiction["ori"], r.period): r.figures["submissions"]
                    for r in compute(s, level="ori", period="month").rows}
        by_fy = {(r.jurisdiction["ori"], r.period): r.figures["submissions"]
                 for r in compute(s, level="ori", period="fy").rows}
        june = compute(s, start=dt.date(2012, 6, 1), end=dt.date(2012, 6, 30)).rows[0].figures["submissions"]
        july = compute(s, start=dt.date(2012, 7, 1), end=dt.date(2012, 7, 31)).rows[0].figures["submissions"]
    return by_month, by_fy, june, july


def test_months_are_the_agencys_local_dates_on_both_backends(db_url):
    engine, Session = _build(db_url)
    try:
        zones = ["Pacific/Kiritimati", "Pacific/Pago_Pago", "UTC"] if engine.dialect.name == "postgresql" else [None]
        for zone in zones:  # UTC+14, UTC-11: the session's zone must not move a submission's month
            by_month, by_fy, june, july = _figures(Session, zone)
            assert by_month == {("MA0130100", "2012-06"): 1, ("MA0130100", "2012-07"): 1,
                                ("TX0710000", "2012-09"): 1, ("TX2270000", "2012-10"): 1,
                                ("ZZ0000000", "2012-07"): 1}, zone
            assert by_fy == {("MA0130100", "FY2012"): 2, ("TX0710000", "FY2012"): 1,
                             ("TX2270000", "FY2013"): 1, ("ZZ0000000", "FY2012"): 1}, zone
            assert (june, july) == (1, 2), zone  # R-MA in June; R-XX (UTC) and B-MA (its booking date) in July
    finally:
        engine.dispose()
