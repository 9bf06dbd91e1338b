"""A tiny demo run: a synthetic state through the real pipeline, and its summary adds up."""

from __future__ import annotations

import json

from rich.console import Console

from securecomm.demo.population import build_population
from securecomm.demo.runner import DemoConfig, run_demo


def test_population_is_deterministic_and_mixed():
    a = build_population(5, 40, 30)
    b = build_population(5, 40, 30)
    assert a == b
    cats = {p.category for p in a.people}
    assert {"citizen_birth", "lpr", "overstay", "previously_removed"} <= cats
    assert not any(p.encounters for p in a.people if p.category in ("citizen_birth", "ewi_never_encountered"))
    assert all(p.encounters for p in a.people if p.category in ("naturalised", "lpr", "overstay"))
    dates = [b.date for b in a.bookings if not b.defect]
    assert dates == sorted(dates)
    assert {b.defect for b in a.bookings} >= {"", "truncated", "wrong_tot", "bad_ncic", "unknown_ori", "few_fingers",
                                              "duplicate"}
    for p in a.people:  # records end before the person's first booking
        first = min((b.date for b in a.bookings if b.person_index == p.index and not b.defect), default=None)
        if first is not None:
            assert all(e.date < first for e in p.encounters) and all(x.date < first for x in p.arrests)


def test_tiny_demo_runs_end_to_end(tmp_path):
    cfg = DemoConfig(seed=11, people=4, bookings=3, fingers=(2, 7), processes=1, workers=1)
    result = run_demo(cfg, data_dir=tmp_path, console=Console(width=120, record=True))
    s = result.summary
    assert s["submissions"] == 3 + 5  # good bookings + the five damaged ones
    assert s["rejected_errt"] == 5
    assert result.submitted["duplicate"] == 1
    assert s["criminal_identified"] + s["criminal_new_subjects"] == 3
    assert s["immigration_searches"] + s["not_activated"] == 3
    assert s["accuracy"]["false_matches"] == 0
    assert set(s["jobs"]) <= {"done", "waiting"}
    assert s["iaq"] == s["immigration_matches"]
    assert (tmp_path / "securecomm.db").is_file()
    assert len(list((tmp_path / "demo" / "bookings").glob("*.an2"))) == 8
    saved = json.loads((tmp_path / "demo" / "summary.json").read_text())
    assert saved["summary"]["submissions"] == 8
    # it ends with the jurisdiction table computed in SQL (securecomm.statistics) and the report's location
    from securecomm.statistics import compute
    from securecomm.store.db import open_store

    engine, Session = open_store(f"sqlite:///{tmp_path / 'securecomm.db'}")
    with Session() as session:
        nation = compute(session).rows[0].figures
    engine.dispose()
    assert (nation["submissions"], nation["rejected"], nation["ident_matches"], nation["iaqs"]) == (
        s["submissions"], s["rejected_errt"], s["immigration_matches"], s["iaq"])
    assert result.report and (tmp_path / "report" / "report.pdf").is_file()
