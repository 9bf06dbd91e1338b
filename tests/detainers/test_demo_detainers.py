"""The demo's detainer act: IARs carried through decisions, answers under three laws, timers and outcomes."""

from __future__ import annotations

import datetime as dt

from rich.console import Console

from securecomm.demo.detainers import carry_through, demo_laws
from securecomm.demo.runner import _print_detainers
from securecomm.domain.principal import Principal, Role
from securecomm.services import UnitOfWork, config
from securecomm.store.db import open_store

from conftest import seed_iar

AGENCIES = """ori,name,state,county,field_office
MA0130100,Harbor City Police Department,MA,Suffolk,ERO BOSTON
MA0090100,Lowell Falls Police Department,MA,Middlesex,ERO BOSTON
MA0140100,Worcester Hills Police Department,MA,Worcester,ERO BOSTON
"""


def test_demo_laws_add_two_local_ordinances():
    laws = demo_laws()
    day = dt.date(2012, 6, 1)
    assert laws.law_for(ori="MA0130100", state="MA", county="Suffolk", day=day).rule == "listed_convictions"
    assert laws.law_for(ori="MA0090100", state="MA", county="Middlesex", day=day).rule == \
        "decline_unless_reimbursed"
    assert laws.law_for(ori="MA0140100", state="MA", county="Worcester", day=day).rule == "honour_all"


def test_carry_through_under_different_laws(tmp_path):
    engine, sessions = open_store(f"sqlite:///{tmp_path / 'demo.db'}")
    (tmp_path / "a.csv").write_text(AGENCIES)
    admin = Principal("root", Role.ADMIN)
    with UnitOfWork(sessions, admin, write=True) as uow:
        config.load_agencies(uow, tmp_path / "a.csv")
    start = dt.datetime(2012, 6, 4, 14, tzinfo=dt.UTC)
    with sessions() as s:
        for i in range(36):
            ori = ("MA0130100", "MA0090100", "MA0140100")[i % 3]
            level = ("L1", "L2", "L3")[(i // 3) % 3]
            action = "notification_request" if i % 7 == 6 else "detainer"
            seed_iar(s, f"T-DEMO-{i:02d}", ori=ori, booked=start + dt.timedelta(days=i), level=level, action=action,
                     office="ERO BOSTON")
    officer = Principal("demo-field-officer", Role.FIELD_OFFICER, area="ERO BOSTON")
    out = carry_through(engine, sessions, officer, admin, seed=7)
    engine.dispose()
    tot = out["totals"]
    assert out["errors"] == {}
    assert tot["decisions"] == 36 and tot["lodged"] + tot["notification_requests"] == 36
    assert tot["open"] == 0 and tot["over_held"] == 0  # every detainer ended, none held past expiry
    by = {r["jurisdiction"]: r for r in out["by_ori"]}
    assert by["MA0090100"]["honoured"] == 0 and by["MA0090100"]["declined_by_law"] > 0  # no reimbursement
    assert by["MA0140100"]["declined_by_law"] == 0 and by["MA0140100"]["honoured"] > 0
    assert 0 < by["MA0130100"]["honoured"] < by["MA0130100"]["lodged"]  # level 1 only
    assert tot["expired"] > 0 and tot["transferred"] > 0 and tot["released_notified"] > 0
    console = Console(width=400, record=True)
    _print_detainers(console, out)
    text = console.export_text()
    assert "Harbor City Trust Ordinance (demo)" in text and "declined" in text and "over-held: 0" in text
