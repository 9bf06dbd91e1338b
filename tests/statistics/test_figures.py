"""Every figure on a hand-built store whose answers are known, on SQLite and PostgreSQL.

The store (conftest.build): nine submissions and one enrolment.

| TCN | ORI (county) | booking | what happened |
|---|---|---|---|
| B1 | Boston (Suffolk) | 2012-06-10 | match F1, L1, IAR detainer after 1800 s; F1 convicted in 2010 |
| B2 | Boston | 2012-06-20 | searched, no match |
| B3 | Boston | 2012-10-05 (FY2013) | review band, examiner confirmed; F2, NC, u_visa, analyst review, IAR no_action, 3600 s; F2's conviction is dated after the booking |
| B4 | Middlesex | 2012-06-15 | criminal identification; ORI not activated |
| B5 | Middlesex | 2012-07-01 | review band, examiner rejected: no match |
| B6 | Travis, TX | 2012-06-01 | match F3, L3, naturalised citizen, IAR detainer (no conviction), 7200 s; truth: a citizen by birth (false match) |
| B7 | Boston | (rejected; received 2012-06-25) | ERRT |
| B8 | Boston | 2012-06-28 | match F1 again, L1, IAR notification request, 600 s |
| B9 | Middlesex | 2012-07-15 | review band, waiting for an examiner |
"""

from __future__ import annotations

import datetime as dt

import pytest

from securecomm.statistics import FIGURES, StatisticsError, compute

NATION = {
    "submissions": 9, "rejected": 1, "criminal_identified": 1, "immigration_searches": 7, "ident_matches": 4,
    "matches_l1": 2, "matches_l2": 0, "matches_l3": 1, "matches_nc": 1, "matches_level_pending": 0,
    "review_band_matches": 3, "examiner_confirmed": 1, "examiner_rejected": 1, "examiner_open": 1,
    "analyst_reviews": 1, "iaqs": 4, "iars": 4, "iar_detainer": 2, "iar_notification": 1, "iar_no_action": 1,
    "booking_to_iar_median_s": 1800.0, "booking_to_iar_p95_s": 7200.0,
    "matched_people": 3, "matched_people_no_conviction": 2, "share_no_conviction": 0.6667,
    "detainer_no_conviction": 1,
    "naturalized_matched": 1, "false_matches": 1, "citizens_matched": 1, "protected_matched": 1,
    # no field-office decisions in this store (test_detainer_figures.py adds some): zeros, not missing
    "detainers_lodged": 0, "notification_requests_lodged": 0, "detainers_honoured": 0,
    "detainers_declined_by_law": 0, "detainers_expired": 0, "detainers_transferred": 0, "detainers_open": 0,
    "over_holds": 0, "held_no_conviction": 0,
}


def _one(stats):
    assert len(stats.rows) == 1
    return stats.rows[0].figures


def test_every_figure_nation(known_store):
    with known_store() as s:
        stats = compute(s, level="nation", period="all")
    got = _one(stats)
    assert got == NATION
    assert set(got) == {f.name for f in FIGURES}
    assert stats.truth is True


def test_by_county_and_month(known_store):
    with known_store() as s:
        stats = compute(s, level="county", period="month")
    rows = {(r.jurisdiction["state"], r.jurisdiction["county"], r.period): r.figures for r in stats.rows}
    assert set(rows) == {("MA", "Suffolk", "2012-06"), ("MA", "Suffolk", "2012-10"), ("MA", "Middlesex", "2012-06"),
                         ("MA", "Middlesex", "2012-07"), ("TX", "Travis", "2012-06")}
    june = rows[("MA", "Suffolk", "2012-06")]  # B1, B2, B7 (rejected, counted on its receipt day), B8
    assert (june["submissions"], june["rejected"], june["ident_matches"], june["matches_l1"]) == (4, 1, 2, 2)
    assert (june["matched_people"], june["matched_people_no_conviction"], june["share_no_conviction"]) == (1, 0, 0.0)
    assert (june["booking_to_iar_median_s"], june["booking_to_iar_p95_s"]) == (600.0, 1800.0)
    assert june["false_matches"] == 0  # B1 has truth and was a true match
    october = rows[("MA", "Suffolk", "2012-10")]
    assert (october["matches_nc"], october["protected_matched"], october["share_no_conviction"]) == (1, 1, 1.0)
    assert october["false_matches"] is None  # no ground truth for B3
    july = rows[("MA", "Middlesex", "2012-07")]
    assert (july["review_band_matches"], july["examiner_rejected"], july["examiner_open"], july["ident_matches"]) \
        == (2, 1, 1, 0)
    assert july["booking_to_iar_median_s"] is None


def test_fiscal_year_starts_in_october(known_store):
    with known_store() as s:
        stats = compute(s, level="state", period="fy")
    rows = {(r.jurisdiction["state"], r.period): r.figures["submissions"] for r in stats.rows}
    assert rows == {("MA", "FY2012"): 7, ("MA", "FY2013"): 1, ("TX", "FY2012"): 1}


def test_filters(known_store):
    with known_store() as s:
        tx = _one(compute(s, state="tx"))
        assert (tx["submissions"], tx["naturalized_matched"], tx["citizens_matched"], tx["false_matches"]) == (1, 1, 1, 1)
        later = _one(compute(s, start=dt.date(2012, 7, 1)))
        assert later["submissions"] == 3  # B3, B5, B9
        window = _one(compute(s, start=dt.date(2012, 6, 10), end=dt.date(2012, 6, 20)))
        assert window["submissions"] == 3  # B1, B2, B4
        boston = _one(compute(s, ori="MA0130100"))
        assert (boston["submissions"], boston["matched_people"], boston["iar_detainer"]) == (5, 2, 1)
        suffolk = compute(s, level="ori", state="MA", county="suffolk")
        assert [r.jurisdiction["ori"] for r in suffolk.rows] == ["MA0130100"]


def test_empty_store_and_bad_requests(db_url):
    from securecomm.store.db import open_store

    engine, Session = open_store(db_url)
    with Session() as s:
        empty = _one(compute(s))
        assert empty["submissions"] == 0 and empty["share_no_conviction"] is None
        assert compute(s, level="county", period="month").rows == ()
        for kwargs in ({"level": "planet"}, {"period": "week"}, {"county": "Suffolk"},
                       {"start": dt.date(2013, 1, 1), "end": dt.date(2012, 1, 1)}):
            with pytest.raises(StatisticsError):
                compute(s, **kwargs)
    engine.dispose()
