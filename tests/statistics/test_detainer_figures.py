"""The detainer figures (issue 10's tables) in the statistics, on a hand-built store, on SQLite and PostgreSQL.

On top of the known store of test_figures.py (B1..B9), the field office's decisions:

| TCN | booking | decision | answer | outcome | over-held | conviction before the booking |
|---|---|---|---|---|---|---|
| B1 | Boston 2012-06-10 | detainer | honoured | transferred | yes | yes (U1, 2010) |
| B3 | Boston 2012-10-05 | detainer | - | cancelled | | no |
| B3 | Boston 2012-10-05 | detainer | declined | declined_by_law | | no |
| B6 | Travis 2012-06-01 | detainer | honoured | released_at_expiry | | no (U3: dismissed) |
| B8 | Boston 2012-06-28 | notification_request | - | (open) | | yes |
| B2 | Boston 2012-06-20 | no_action | - | no_action | | - |
"""

from __future__ import annotations

import datetime as dt

import pytest

from securecomm.statistics import compute
from securecomm.statistics.suppress import suppress
from securecomm.store.db import session_scope
from securecomm.store.detainer_models import DetainerRow

AT = dt.datetime(2012, 7, 1, 12, tzinfo=dt.UTC)
DECISIONS = [  # tcn, kind, state, answer, outcome, over_held
    ("B1", "detainer", "closed", "honoured", "transferred", True),
    ("B3", "detainer", "closed", "", "cancelled", False),
    ("B3", "detainer", "closed", "declined", "declined_by_law", False),
    ("B6", "detainer", "closed", "honoured", "released_at_expiry", False),
    ("B8", "notification_request", "notify", "", None, False),
    ("B2", "no_action", "closed", "", "no_action", False),
]
WHERE = {"B1": ("MA0130100", "MA", "Suffolk"), "B2": ("MA0130100", "MA", "Suffolk"),
         "B3": ("MA0130100", "MA", "Suffolk"), "B8": ("MA0130100", "MA", "Suffolk"),
         "B6": ("TX2270000", "TX", "Travis")}


@pytest.fixture
def with_detainers(known_store):
    with session_scope(known_store) as s:
        for tcn, kind, state, answer, outcome, over in DECISIONS:
            ori, st, county = WHERE[tcn]
            s.add(DetainerRow(tcn=tcn, ori=ori, state_code=st, county=county, time_zone="America/New_York",
                              kind=kind, state=state, answer=answer, outcome=outcome, over_held=over,
                              officer="fo-1", decided_at=AT, outcome_at=AT if outcome else None))
    return known_store


def test_detainer_figures_nation_county_month(with_detainers):
    with with_detainers() as s:
        nation = compute(s).rows[0].figures
        by_county = {(r.jurisdiction["state"], r.jurisdiction["county"], r.period): r.figures
                     for r in compute(s, level="county", period="month").rows}
        boston_fy = {r.period: r.figures for r in compute(s, level="ori", period="fy", ori="MA0130100").rows}
    assert {k: nation[k] for k in (
        "detainers_lodged", "notification_requests_lodged", "detainers_honoured", "detainers_declined_by_law",
        "detainers_expired", "detainers_transferred", "detainers_open", "over_holds", "held_no_conviction")} == {
        "detainers_lodged": 4, "notification_requests_lodged": 1, "detainers_honoured": 2,
        "detainers_declined_by_law": 1, "detainers_expired": 1, "detainers_transferred": 1, "detainers_open": 1,
        "over_holds": 1, "held_no_conviction": 1}
    assert nation["submissions"] == 9  # the join on decisions does not multiply the submissions
    june = by_county[("MA", "Suffolk", "2012-06")]  # B1, B2, B8: in the month of the booking, not the decision
    assert (june["detainers_lodged"], june["detainers_transferred"], june["over_holds"], june["detainers_open"],
            june["notification_requests_lodged"], june["held_no_conviction"]) == (1, 1, 1, 1, 1, 0)
    october = by_county[("MA", "Suffolk", "2012-10")]  # B3: cancelled, then declined by the state's law
    assert (october["detainers_lodged"], october["detainers_declined_by_law"], october["detainers_honoured"]) == \
        (2, 1, 0)
    travis = by_county[("TX", "Travis", "2012-06")]
    assert (travis["detainers_expired"], travis["held_no_conviction"]) == (1, 1)
    assert by_county[("MA", "Middlesex", "2012-07")]["detainers_lodged"] == 0  # no decisions: zero, not missing
    assert boston_fy["FY2012"]["detainers_lodged"] == 1 and boston_fy["FY2013"]["detainers_lodged"] == 2


def test_detainer_figures_suppressed_for_the_public(with_detainers):
    with with_detainers() as s:
        public = suppress(compute(s)).rows[0].figures
    assert public["detainers_lodged"] is None and public["over_holds"] is None  # 4 and 1: small cells
    assert public["submissions"] == 9


def test_jurisdiction_table_and_report_carry_the_detainers(with_detainers, tmp_path):
    from rich.console import Console

    from securecomm.statistics.report import jurisdiction_table, write_report

    with with_detainers() as s:
        table = jurisdiction_table(compute(s, level="county"), "by county")
        rep = write_report(s, tmp_path, month="2012-06", state="MA")
    console = Console(width=250, record=True)
    console.print(table)
    text = console.export_text()
    suffolk = next(line for line in text.splitlines() if "Suffolk" in line)
    assert "lodged" in text and "over-holds" in text
    assert [c.strip() for c in suffolk.split("│")[-6:-2]] == ["1", "3", "1", "1"]  # detainer rec., lodged, honoured, over-holds
    page = rep.html.read_text()
    assert "detainers lodged" in page and "over-holds" in page
