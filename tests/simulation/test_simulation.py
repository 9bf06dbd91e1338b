"""The state-year simulation: deterministic for a seed, the same on SQLite and PostgreSQL, replayable.

Runs a two-county miniature of MA.json (tiny.json, about thirty bookings) through
the real pipeline at template level, then the simulated field office and jails
through the detainer service (``services.simulation``).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from securecomm.cli.app import app
from securecomm.simulation.params import ParameterError, load, parse
from securecomm.simulation.plan import build_plan
from securecomm.domain.principal import Principal, Role
from securecomm.services import simulation as service
from securecomm.simulation.runner import Overrides, SimulationError
from securecomm.statistics import compute
from securecomm.store.db import make_sessionmaker, open_store
from securecomm.store.detainer_models import DetainerRow
from securecomm.store.simulation_models import SimulatedBooking
from securecomm.store.workflow_models import Job, StageRun

TINY = Path(__file__).with_name("tiny.json")
START, END, SEED, SCALE = dt.date(2012, 5, 15), dt.date(2013, 5, 14), 5, 0.01
#: Timing figures measure this machine's pipeline (wall clock), not the simulated programme.
TIMING = ("booking_to_iar_median_s", "booking_to_iar_p95_s")


ADMIN = Principal("sim-test", Role.ADMIN)


def _plan():
    return build_plan(load(TINY), seed=SEED, start=START, end=END, scale=SCALE)


def _run(engine, plan, **kw):
    """A run through the service layer: the pipeline, then the field office and jails (detainers)."""
    return service.run(make_sessionmaker(engine), ADMIN, engine, plan, **kw)


def _service_runner(into, plan, **kw):
    return _run(into, plan, **kw)


def _figures(Session) -> dict:
    with Session() as s:
        out = {}
        for level in ("nation", "county"):
            for r in compute(s, level=level, period="month").rows:
                key = (level, *r.jurisdiction.values(), r.period)
                out[key] = {k: v for k, v in r.figures.items() if k not in TIMING}
    return out


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sim")
    engine, Session = open_store(f"sqlite:///{folder / 'securecomm.db'}")
    result = _run(engine, _plan(), run_id="tiny")
    yield engine, Session, result, folder
    engine.dispose()


def test_plan_is_deterministic_in_the_seed():
    a, b = _plan(), _plan()
    assert a == b
    c = build_plan(load(TINY), seed=SEED + 1, start=START, end=END, scale=SCALE)
    assert [x.date for x in c.bookings] != [x.date for x in a.bookings]
    assert all(x.date <= y.date for x, y in zip(a.bookings, a.bookings[1:]))
    assert all(START <= x.date <= END for x in a.bookings)
    people = {p.index: p for p in a.people}
    for bk in a.bookings:  # records end before the booking
        p = people[bk.person]
        assert all(e.date < bk.date for e in p.encounters) and all(r.date < bk.date for r in p.arrests)


def test_run_reaches_every_path_and_keeps_truth(base):
    engine, Session, result, _ = base
    plan = _plan()
    f = _figures(Session)[("nation", "2012-05")]  # just the first month: a sanity check of the shape
    assert f["submissions"] >= 1
    with Session() as s:
        nation = compute(s).rows[0].figures
        states = dict(s.execute(select(Job.state, func.count()).group_by(Job.state)).all())
        truth = s.scalar(select(func.count()).select_from(SimulatedBooking))
        entries = s.scalars(select(StageRun.output).where(StageRun.stage == "extract")).all()
    assert nation["submissions"] == len(plan.bookings) == result.bookings == truth
    assert states == {"done": len(plan.bookings)}  # the simulated examiner and analyst answered every review
    assert all(o["entry"] == "templates" for o in entries)
    assert nation["immigration_searches"] == len(plan.bookings)  # MA statewide from 2012-05-15
    assert nation["ident_matches"] > 0 and nation["iars"] > 0 and nation["false_matches"] is not None
    assert nation["matched_people"] <= sum(1 for p in plan.people if p.booked and p.encounters) + \
        (nation["false_matches"] or 0)
    # every IAR got a field-office decision through the detainer service, and every detainer has ended
    decided = {k.split(":", 1)[1]: v for k, v in result.detainers.items() if k.startswith("decided:")}
    assert sum(decided.values()) == nation["iars"]
    assert nation["detainers_lodged"] == decided.get("detainer", 0) >= 1
    assert nation["notification_requests_lodged"] == decided.get("notification_request", 0)
    assert nation["detainers_open"] == 0 and not any(k.startswith("refused") for k in result.detainers)
    with Session() as s:
        officers = set(s.scalars(select(DetainerRow.officer)))
    assert officers == {"field officer (simulated)"}


def test_same_seed_same_statistics_via_the_command(base, tmp_path):
    _, Session, _, _ = base
    res = CliRunner().invoke(app, ["simulate", "--state", str(TINY), "--from", str(START), "--to", str(END),
                                   "--seed", str(SEED), "--scale", str(SCALE), "--run-id", "tiny",
                                   "--search", "indexed", "--data", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "bookings/s" in res.output and "Field office (simulated)" in res.output
    engine, Session2 = open_store(f"sqlite:///{tmp_path / 'securecomm.db'}")
    # the same statistics, detainers included; the indexed search shortlists every subject of galleries this
    # small, so it finds what the exhaustive one does
    assert _figures(Session2) == _figures(Session)
    from securecomm.store.simulation_models import SimulationRun

    with Session2() as s:
        assert s.scalars(select(SimulationRun)).one().settings["search"] == "indexed"
    engine.dispose()
    res = CliRunner().invoke(app, ["stats", "--format", "json", "--level", "county", "--data", str(tmp_path)])
    doc = json.loads(res.output)
    assert doc["truth"] is True and {r["county"] for r in doc["rows"]} == {"Suffolk", "Middlesex"}
    again = CliRunner().invoke(app, ["simulate", "--state", str(TINY), "--scale", str(SCALE), "--data", str(tmp_path)])
    assert again.exit_code == 1 and "already holds transactions" in again.output
    bad = CliRunner().invoke(app, ["simulate", "--state", str(TINY), "--search", "fast", "--data", str(tmp_path)])
    assert bad.exit_code == 1 and "one of exhaustive, indexed" in bad.output


@pytest.mark.parametrize("db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_same_statistics_on_postgresql(base, db_url):
    _, Session, _, _ = base
    engine, SessionPg = open_store(db_url)
    _run(engine, _plan(), run_id="tiny")
    assert _figures(SessionPg) == _figures(Session)
    engine.dispose()


def test_whatif_replays_the_same_bookings_under_another_policy_and_state_limits(base, tmp_path):
    base_engine, Session, _, _ = base
    law = tmp_path / "no-holds.json"
    law.write_text(json.dumps({"limits": [{"state": "MA", "name": "no civil detainers (what-if)",
                                           "effective_from": "2000-01-01",
                                           "rules": [{"max_action": "notification_request"}]}]}))
    from securecomm.simulation.whatif import compare, replay

    engine, Other = open_store(f"sqlite:///{tmp_path / 'replay.db'}")
    overrides = Overrides(policy_version="2014-pep", state_limits=str(law))
    new_id, _ = replay(base_engine, "tiny", engine, overrides, run=_service_runner)
    with Session() as a, Other() as b:
        cmp = compare(a, b, base_id="tiny", other_id=new_id, overrides=overrides.as_dict())
        policies = list(b.scalars(select(StageRun.output).where(StageRun.stage == "status_determination")))
    rows = {m: (x, y) for m, x, y in cmp.rows}
    assert rows["IDENT matches"][0] == rows["IDENT matches"][1]  # same people, same prints, same threshold
    assert rows["detainers recommended"][1] == 0  # the law caps every request at a notification
    assert rows["detainers lodged"][1] == 0 and rows["detainers lodged"][0] >= 1
    assert {o["policy_version"] for o in policies} == {"2014-pep"}
    with pytest.raises(SimulationError):
        replay(base_engine, "tiny", engine, Overrides(hit_threshold=5.0))  # the replay store is not empty
    with pytest.raises(SimulationError):
        replay(base_engine, "nope", engine, overrides)
    engine.dispose()


def _copy_without_detainers(folder: Path, to: Path):
    """The base store's pipeline results in a new SQLite file, its detainer tables emptied."""
    import sqlite3

    src, dst = sqlite3.connect(folder / "securecomm.db"), sqlite3.connect(to)
    src.backup(dst)
    src.close()
    for table in ("detainer_notices", "detainer_timers", "detainers"):
        dst.execute(f"DELETE FROM {table}")
    dst.commit()
    dst.close()
    return open_store(f"sqlite:///{to}")


@pytest.mark.parametrize(("ending", "figure"), [("transfer", "detainers_transferred"), ("expiry", "detainers_expired"),
                                                ("over_hold", "over_holds"), ("released_before", None),
                                                ("cancelled", None)])
def test_field_office_ends_each_honoured_detainer_as_drawn(base, tmp_path, ending, figure):
    """Each way an honoured detainer ends, through the service, as the parameters' weights say."""
    import dataclasses

    from securecomm.services.simulated_field_office import carry_through
    from securecomm.simulation.params import DetainerParams
    from securecomm.store.detainer_models import DetainerNotice

    _, _, _, folder = base
    engine, S = _copy_without_detainers(folder, tmp_path / "copy.db")
    params = dataclasses.replace(DetainerParams(), honoured=((ending, 1.0),), late_decision=0.0)
    counts = carry_through(engine, make_sessionmaker(engine), seed=SEED, params=params)
    with S() as s:
        f = compute(s).rows[0].figures
        rows = list(s.scalars(select(DetainerRow).where(DetainerRow.kind == "detainer")))
        notices = {(n.detainer_id, n.kind) for n in s.scalars(select(DetainerNotice))}
    assert rows and f["detainers_honoured"] == len(rows) == counts[f"end:{ending}"]
    assert all(r.state == "closed" for r in rows) and f["detainers_open"] == 0
    if figure:
        assert f[figure] == len(rows)
    assert f["over_holds"] == (len(rows) if ending == "over_hold" else 0)
    if ending in ("expiry", "over_hold"):  # the timers fired: warning and expiry notice before the release
        assert all((r.id, "expiry_notice") in notices and (r.id, "expiry_warning") in notices for r in rows)
        assert all(r.over_held == (ending == "over_hold") for r in rows)
    engine.dispose()


def test_field_office_is_deterministic_and_a_late_decision_is_counted(base, tmp_path):
    from securecomm.services.simulated_field_office import carry_through
    from securecomm.simulation.params import DetainerParams

    _, _, _, folder = base
    out = []
    for name in ("a.db", "b.db"):
        engine, S = _copy_without_detainers(folder, tmp_path / name)
        carry_through(engine, make_sessionmaker(engine), seed=SEED, params=DetainerParams(late_decision=1.0))
        with S() as s:
            out.append([(r.tcn, r.kind, r.decided_at, r.release_at, r.outcome, r.outcome_at)
                        for r in s.scalars(select(DetainerRow).order_by(DetainerRow.tcn))])
        engine.dispose()
    assert out[0] == out[1] and out[0]
    assert {o for _, kind, *_, o, _ in out[0] if kind != "no_action"} == {"lodged_after_release"}


def test_bad_parameters_are_named():
    with pytest.raises(ParameterError, match="missing key 'states'"):
        parse({}, "x.json")
    data = json.loads(TINY.read_text())
    data["states"][0]["counties"][0]["foreign_born"] = 1.5
    with pytest.raises(ParameterError, match=r"counties\[0\].foreign_born"):
        parse(data, "x.json")
    data = json.loads(TINY.read_text())
    data["charge_mix"][0]["codes"][0][0] = "0000"
    with pytest.raises(ParameterError, match="not an NCIC"):
        parse(data, "x.json")
    with pytest.raises(ParameterError, match="no parameter file"):
        load("ZZ")
    data = json.loads(TINY.read_text())
    data["detainers"] = {"honoured": {"transfer": 1, "escape": 1}}
    with pytest.raises(ParameterError, match=r"detainers.honoured: unknown key 'escape'"):
        parse(data, "x.json")
    data["detainers"] = {"decision_hours": [5, 1]}
    with pytest.raises(ParameterError, match=r"detainers.decision_hours"):
        parse(data, "x.json")
    data["detainers"] = {"late_decision": 2}
    with pytest.raises(ParameterError, match=r"detainers.late_decision"):
        parse(data, "x.json")
    with pytest.raises(ValueError):
        build_plan(load(TINY), seed=1, start=END, end=START)


MA_NO_HOLD = {"scope": "state", "value": "MA", "name": "no civil holds (what-if)", "rule": "no_civil_hold",
              "effective_from": "2000-01-01"}


def test_whatif_law_replays_the_same_decisions_under_another_detainer_law(base, tmp_path):
    """--law: the jails answer under another detainer-law file; the decisions, releases and draws are the same."""
    base_engine, Session, _, folder = base
    law = tmp_path / "ma-no-holds.json"
    law.write_text(json.dumps({"laws": [MA_NO_HOLD]}))
    res = CliRunner().invoke(app, ["whatif", "--base", "tiny", "--data", str(folder), "--into", str(tmp_path / "r"),
                                   "--law", str(law), "--format", "json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    rows = {m["measure"]: (m["base"], m["replay"]) for m in doc["measures"]}
    assert doc["overrides"] == {"laws": str(law)}
    assert rows["IDENT matches"][0] == rows["IDENT matches"][1]
    assert rows["detainers lodged"][0] == rows["detainers lodged"][1] >= 1  # the same decisions ...
    assert rows["detainers honoured (held)"][0] >= 1 and rows["detainers honoured (held)"][1] == 0  # ... no hold
    assert rows["detainers declined by law"][1] == rows["detainers honoured (held)"][0] + \
        rows["detainers declined by law"][0]
    assert rows["non-criminals held (honoured detainer, no conviction)"][1] == 0
    engine, Other = open_store(f"sqlite:///{tmp_path / 'r' / 'securecomm.db'}")
    with Session() as a, Other() as b:
        def decisions(s):
            return [(r.tcn, r.kind, r.decided_at, r.release_at) for r in s.scalars(select(DetainerRow)
                                                                                   .order_by(DetainerRow.tcn))]
        assert decisions(a) == decisions(b)
        assert {r.law_name for r in b.scalars(select(DetainerRow).where(DetainerRow.kind == "detainer"))} == \
            {"no civil holds (what-if)"}
    engine.dispose()


@pytest.mark.parametrize(("args", "law", "message"), [
    (("--hit-threshold", "-3"), None, "positive number"),
    (("--hit-threshold", "nan"), None, "positive number"),
    (("--state-limits",), {"x": 1}, "'limits' list"),
    (("--state-limits",), {"limits": [{"state": "Massachusetts", "effective_from": "2000-01-01", "rules": []}]},
     "limits[0]"),
    (("--state-limits",), {"limits": [{"state": "MA", "effective_from": "2000-01-01",
                                       "rules": [{"max_action": "jail"}]}]}, "max_action"),
    (("--law",), {"limits": []}, "policy/data/detainer_laws.json"),  # a state-limits file given as a law file
    (("--law",), {"laws": [{**MA_NO_HOLD, "rule": "hold_forever"}]}, "rule 'hold_forever' is not one of"),
    (("--law",), {"laws": [{**MA_NO_HOLD, "value": "Massachusetts"}]}, "is not a state"),
    (("--law",), {"laws": [MA_NO_HOLD, {**MA_NO_HOLD, "name": "second", "effective_from": "2010-01-01"}]},
     "overlaps"),
    (("--law",), {"laws": [{**MA_NO_HOLD, "effective_from": "15 May 2012"}]}, "not an ISO date"),
    (("--law",), "not json", "invalid JSON"),
    (("--policy", "2099"), None, "2014-pep"),
])
def test_whatif_refuses_a_bad_change_before_making_a_store(base, tmp_path, args, law, message):
    _, _, _, folder = base
    extra = list(args)
    if law is not None:
        (tmp_path / "law.json").write_text(law if isinstance(law, str) else json.dumps(law))
        extra += [str(tmp_path / "law.json")]
    res = CliRunner().invoke(app, ["whatif", "--base", "tiny", "--data", str(folder), "--into", str(tmp_path / "r"),
                                   *extra])
    # rich wraps long lines at spaces (or inside a token longer than the width): accept either reading
    assert res.exit_code == 1 and (message in " ".join(res.output.split())
                                   or message in res.output.replace("\n", "")), res.output
    assert not (tmp_path / "r").exists()  # nothing replayed, no store made


def test_whatif_json_is_one_document_on_stdout(base, tmp_path):
    _, _, _, folder = base
    res = CliRunner().invoke(app, ["whatif", "--base", "tiny", "--data", str(folder), "--into", str(tmp_path / "r"),
                                   "--hit-threshold", "7", "--format", "json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)  # the progress bars went to stderr
    assert doc["base_run"] == "tiny" and doc["overrides"] == {"hit_threshold": 7.0}
    rows = {m["measure"]: m for m in doc["measures"]}
    assert rows["IDENT matches"]["replay"] >= rows["IDENT matches"]["base"]  # a lower bar: never fewer matches
    assert (tmp_path / "r" / "securecomm.db").is_file()


def _pipeline_rows(Session) -> dict:
    """What the pipeline wrote, without times, worker names or row ids: stage outputs, responses, reviews."""
    from securecomm.store.workflow_models import Response, ReviewItem, Transaction

    with Session() as s:
        return {
            "stages": sorted((r.tcn, r.stage, r.status, json.dumps(r.output, sort_keys=True))
                             for r in s.scalars(select(StageRun))),
            "responses": sorted((r.tcn, r.kind, r.recipient, r.recipient_role, json.dumps(r.summary, sort_keys=True))
                                for r in s.scalars(select(Response))),
            "reviews": sorted((r.tcn, r.kind, r.state, r.decision or "", r.candidate or "")
                              for r in s.scalars(select(ReviewItem))),
            "transactions": sorted((t.tcn, t.state) for t in s.scalars(select(Transaction))),
            "jobs": sorted((j.tcn, j.stage, j.state, j.attempts, j.lease_token is None, j.lease_owner or "",
                            j.last_error or "") for j in s.scalars(select(Job))),
        }


def test_batched_worker_writes_what_one_transaction_per_stage_writes(tmp_path, monkeypatch):
    """The simulation runs its bookings several per write transaction (Worker.run_batched): the store holds
    the same stage outputs, responses and reviews as with one transaction per stage (Worker.run), also when a
    stage fails inside a batch (the batch is rolled back, the galleries forget its enrolments, and it is run
    again job by job; a failure there is retried after its back-off)."""
    from securecomm.simulation.runner import run_plan
    from securecomm.workflow import stages

    plan = _plan()
    rows = {}
    for name, batch in (("per_stage", 0), ("batched", 7)):
        engine, Session = open_store(f"sqlite:///{tmp_path / name}.db")
        run_plan(engine, plan, run_id="tiny", batch=batch)
        rows[name] = _pipeline_rows(Session)
        engine.dispose()
    assert rows["batched"] == rows["per_stage"]
    assert len(rows["batched"]["transactions"]) == len(plan.bookings) > 7
    assert any(kind == "IAR" for _, kind, *_ in rows["batched"]["responses"])

    real, failed = stages.RUNNERS["sre"], []

    def flaky(ctx):  # the 10th booking's SRE fails twice: inside a batch, then once more when run on its own
        if len(failed) < 2 and ctx.tcn == rows["per_stage"]["transactions"][9][0]:
            failed.append(ctx.tcn)
            raise RuntimeError("injected failure")
        return real(ctx)

    monkeypatch.setitem(stages.RUNNERS, "sre", flaky)
    engine, Session = open_store(f"sqlite:///{tmp_path / 'flaky'}.db")
    run_plan(engine, plan, run_id="tiny", batch=7)
    assert failed and _pipeline_rows(Session) == rows["per_stage"]
    with Session() as s:
        assert set(s.scalars(select(Job.state))) == {"done"}
        # the batch's attempt was rolled back with it; the job's own run failed once and was retried
        assert s.scalar(select(func.max(StageRun.attempt)).where(StageRun.tcn == failed[0])) == 2
    engine.dispose()


def test_blas_threads_are_capped_during_a_run_and_restored():
    """run_plan caps OpenBLAS at one thread (engine.threads.blas_threads) and gives the count back."""
    import numpy  # noqa: F401 -- loads NumPy's OpenBLAS

    from securecomm.engine.threads import _loaded_openblas, blas_threads

    libs = _loaded_openblas()
    if not libs:
        pytest.skip("no OpenBLAS loaded in this process")
    before = [int(get()) for _, get in libs]
    with blas_threads(1):
        assert [int(get()) for _, get in libs] == [1] * len(libs)
    assert [int(get()) for _, get in libs] == before


def test_an_indexed_run_whose_shortlist_holds_every_subject_is_the_exhaustive_run(base, tmp_path):
    """``--search indexed --shortlist N``: the index verifies the N subjects closest by code with the same matcher,
    so a shortlist as long as the galleries gives the exhaustive run's figures; the shortlist is recorded with the
    run; a shortlist without the indexed search is refused before the run starts."""
    from securecomm.store.simulation_models import SimulationRun

    engine, Session, _, _ = base
    other, OtherSession = open_store(f"sqlite:///{tmp_path / 'indexed.db'}")
    _run(other, _plan(), run_id="tiny", search="indexed", shortlist=1_000_000)
    assert _figures(OtherSession) == _figures(Session)
    with OtherSession() as s:
        settings = s.scalars(select(SimulationRun.settings)).one()
    assert settings["search"] == "indexed" and settings["shortlist"] == 1_000_000
    other.dispose()
    empty, _ = open_store(f"sqlite:///{tmp_path / 'refused.db'}")
    with pytest.raises(SimulationError, match="shortlist"):
        _run(empty, _plan(), run_id="tiny", shortlist=50)  # exhaustive: nothing to shortlist
    empty.dispose()
    res = CliRunner().invoke(app, ["simulate", "--state", str(TINY), "--shortlist", "50",
                                   "--data", str(tmp_path / "cli")])
    assert res.exit_code == 1 and "--shortlist 50" in res.output, res.output


def _indexed_run_and_replay(folder, into, run_id: str, *options: str) -> dict:
    """``simulate --search indexed OPTIONS`` of the test plan into ``folder``, then its what-if under
    2014-pep into ``into``: the what-if's rows, {measure: (base, replay)}."""
    res = CliRunner().invoke(app, ["simulate", "--state", str(TINY), "--from", str(START), "--to", str(END),
                                   "--seed", str(SEED), "--scale", str(SCALE), "--run-id", run_id,
                                   "--search", "indexed", *options, "--data", str(folder)])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(app, ["whatif", "--base", run_id, "--data", str(folder), "--into", str(into),
                                   "--policy", "2014-pep", "--format", "json"])
    assert res.exit_code == 0, res.output
    return {m["measure"]: (m["base"], m["replay"]) for m in json.loads(res.stdout)["measures"]}


def test_whatif_replays_an_indexed_run_with_its_shortlist(base, tmp_path):
    """A what-if of a ``--search indexed --shortlist N`` run verifies N subjects per search as the base run did
    (not the default shortlist): with N = 1 every search keeps one candidate and the replay finds the IDENT
    matches the base found, where the default shortlist (every subject of galleries this small) finds the
    exhaustive run's. The policy changes what is done with a match, never whether there is one."""
    from securecomm.store.simulation_models import SimulationRun

    _, Exhaustive, _, _ = base
    folder, into = tmp_path / "short", tmp_path / "r"
    rows = _indexed_run_and_replay(folder, into, "short", "--shortlist", "1")

    def searched(Session) -> tuple[dict, int, dict]:
        with Session() as s:
            settings = s.scalars(select(SimulationRun.settings)).one()
            kept = max(len(o["candidates"]) for o in s.scalars(select(StageRun.output).where(
                StageRun.stage.in_(("criminal_search", "immigration_search")))))
            nation = compute(s).rows[0].figures
        return settings, kept, {k: nation[k] for k in ("ident_matches", "criminal_identified", "review_band_matches")}

    base_engine, Base = open_store(f"sqlite:///{folder / 'securecomm.db'}")
    replay_engine, Replay = open_store(f"sqlite:///{into / 'securecomm.db'}")
    (base_settings, base_kept, base_found), (replay_settings, replay_kept, replay_found) = searched(Base), searched(Replay)
    _, exhaustive_kept, exhaustive_found = searched(Exhaustive)
    assert base_settings["shortlist"] == replay_settings["shortlist"] == 1
    assert base_settings["search"] == replay_settings["search"] == "indexed"
    assert replay_settings["policy_version"] == "2014-pep"
    assert base_kept == replay_kept == 1 < exhaustive_kept  # one subject verified per search, in both runs
    assert replay_found == base_found
    # the shortlist of one misses a mate here, so a replay with the default shortlist would differ from the base
    assert base_found["ident_matches"] < exhaustive_found["ident_matches"]
    assert rows["IDENT matches"] == (base_found["ident_matches"], replay_found["ident_matches"])
    base_engine.dispose()
    replay_engine.dispose()


def test_a_prescreened_indexed_run_finds_the_same_matches_and_its_replay_prescreens_too(base, tmp_path):
    """``--search indexed --prescreen N``: of each shortlist only the N subjects with the best pre-scores are
    scored. On this plan that keeps every mate, so the figures are the exhaustive run's, while each search
    keeps at most N candidates; the setting is recorded with the run and a what-if replays with it; a
    pre-screen without the indexed search is refused before the run starts."""
    from securecomm.store.simulation_models import SimulationRun

    engine, Session, _, _ = base
    folder, into = tmp_path / "pre", tmp_path / "r"
    _indexed_run_and_replay(folder, into, "pre", "--prescreen", "2")
    pre_engine, Pre = open_store(f"sqlite:///{folder / 'securecomm.db'}")
    replay_engine, Replay = open_store(f"sqlite:///{into / 'securecomm.db'}")
    assert _figures(Pre) == _figures(Session)
    for S in (Pre, Replay):
        with S() as s:
            settings = s.scalars(select(SimulationRun.settings)).one()
            kept = max(len(o["candidates"]) for o in s.scalars(select(StageRun.output).where(
                StageRun.stage.in_(("criminal_search", "immigration_search")))))
        assert settings["prescreen"] == 2 and kept <= 2
    pre_engine.dispose()
    replay_engine.dispose()
    empty, _ = open_store(f"sqlite:///{tmp_path / 'refused.db'}")
    with pytest.raises(SimulationError, match="prescreen"):
        _run(empty, _plan(), run_id="tiny", prescreen=5)  # exhaustive: nothing to pre-screen
    empty.dispose()
    res = CliRunner().invoke(app, ["simulate", "--state", str(TINY), "--prescreen", "5",
                                   "--data", str(tmp_path / "cli")])
    assert res.exit_code == 1 and "--prescreen 5" in res.output, res.output
