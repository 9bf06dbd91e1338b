"""Run a planned state-year through the real pipeline, at template level, into a store.

1. agencies and the activation schedule, through ``securecomm.jurisdictions``;
2. finger templates from ``securecomm.synth.templates`` (person ``i``'s finger
   at position ``p`` is synthetic finger ``10 i + p - 1``; the criminal
   enrolment, the immigration enrolment and each booking are different
   impressions of it, so every match is found by the engine);
3. enrolments through the repositories (criminal with prior arrests and
   dispositions, immigration with encounters; known victims/witnesses flagged);
4. bookings through the template-level entry
   (``workflow.template_entry.submit_templates_many``), in date order, then the
   real worker (``workflow.pipeline.Worker``) in this process, one booking at a
   time -- sequential, so a seed gives the same store every time;
5. the manual queue answered by a simulated examiner (confirms a review-band
   candidate that is truly the person, with ``examiner_error`` chance of the
   wrong call) and a simulated analyst (takes the rules' capped
   recommendation), through ``resolve_review`` -- then the worker again;
6. the field office's decisions on the IARs, the jails' answers under their
   compliance laws and how each detainer ends -- the ``field_office`` step, which
   the service layer supplies (``services.simulated_field_office``: it goes
   through the detainer service, which this layer may not import); without it
   the run stops at the IARs and every detainer figure is 0;
7. the run and its ground truth (``sim_runs``, ``sim_truth``).

The ground truth is written for the statistics only; nothing in the pipeline
reads it. Timing figures of a simulated store measure this machine's
pipeline (wall clock), not the programme's: they differ run to run.
"""

from __future__ import annotations

import os
import resource
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from securecomm.domain.actions import NO_ACTION, check_action
from securecomm.simulation.plan import (CRIMINAL_IMPRESSION, IMMIGRATION_IMPRESSION, Plan, SimPerson)

#: The two index fingers: the two-print of US-VISIT, and the quickest search.
DEFAULT_FINGERS = (2, 7)
#: How the galleries are searched (``run_plan(search=)``).
SEARCHES = ("exhaustive", "indexed")
#: Bookings the worker runs per write transaction (``Worker.run_batched``: the simulation is the store's
#: only writer while it runs).
BATCH = 50


class SimulationError(RuntimeError):
    """A simulation that cannot run as asked (the store is not empty, bad overrides)."""


@dataclass(frozen=True)
class Overrides:
    """What a what-if replay changes; empty for a plain run."""

    policy_version: str | None = None
    state_limits: str | None = None  # path to a state-limits file (caps the IAR's recommended action)
    hit_threshold: float | None = None
    laws: str | None = None  # path to a detainer-law file (format of policy/data/detainer_laws.json)

    def check(self) -> None:
        """Refuse what cannot be replayed, before anything is written: an unknown policy version, an unreadable
        state-limits file, a hit threshold that is not a positive number (the fused score is -log10 of a false
        match probability: 0 or less would make every candidate a hit)."""
        if self.policy_version:
            from securecomm.policy.model import load_policy

            load_policy(self.policy_version)  # PolicyError names the versions there are
        if self.state_limits:
            from securecomm.policy.model import load_state_limits

            load_state_limits(self.state_limits)
        if self.laws:
            self.law_schedule()
        if self.hit_threshold is not None:
            import math

            hit = float(self.hit_threshold)
            if not math.isfinite(hit) or hit <= 0:
                raise SimulationError(f"hit threshold {self.hit_threshold}: give a positive number (the fused "
                                      "score's default hit threshold is 9.0)")

    def law_schedule(self):
        """The detainer laws of the replay (the shipped file when no ``laws`` is given); a file that is not a
        detainer-law file is refused with the record and the key named (``LawDataError``, a ValueError)."""
        from securecomm.policy.detainers import LawDataError, load_laws

        if not self.laws:
            return load_laws()
        try:
            return load_laws(self.laws)
        except LawDataError as exc:
            hint = ""
            if "expected {'laws'" in str(exc):
                hint = (" -- a detainer-law file is {\"laws\": [{\"scope\": \"state\", \"value\": \"MA\", "
                        "\"name\": ..., \"rule\": ..., \"effective_from\": \"YYYY-MM-DD\"}, ...]} as in "
                        "policy/data/detainer_laws.json (state limits on the IAR are --state-limits)")
            raise LawDataError(f"detainer laws {exc}{hint}") from None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in (("policy_version", self.policy_version), ("state_limits", self.state_limits),
                                  ("hit_threshold", self.hit_threshold), ("laws", self.laws)) if v is not None}


@dataclass
class SimResult:
    run_id: str
    bookings: int = 0
    people: int = 0
    enrolled: dict[str, int] = field(default_factory=dict)
    reviews: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    detainers: dict[str, int] = field(default_factory=dict)  # the field-office step's counts by event

    @property
    def bookings_per_second(self) -> float:
        return self.bookings / self.seconds["pipeline"] if self.seconds.get("pipeline") else 0.0


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _null_progress(label: str, total: int) -> Callable[[int], None]:
    return lambda n=1: None


def finger_id(person: int, position: int) -> int:
    return person * 10 + position - 1


def _templates(plan: Plan, fingers: tuple[int, ...], progress) -> dict[tuple[int, int], dict[int, bytes]]:
    """(person, impression) -> {position: template bytes} for every enrolment and booking of the plan."""
    from securecomm.synth.templates import BLOCK, iter_blocks

    wanted: dict[int, set[int]] = {}
    for p in plan.people:
        if p.arrests:
            wanted.setdefault(CRIMINAL_IMPRESSION, set()).add(p.index)
        if p.encounters:
            wanted.setdefault(IMMIGRATION_IMPRESSION, set()).add(p.index)
    for b in plan.bookings:
        wanted.setdefault(b.impression, set()).add(b.person)
    blocks = sum(len({finger_id(i, pos) // BLOCK for i in people for pos in fingers}) for people in wanted.values())
    tick = progress("synthetic templates (blocks)", blocks)
    out: dict[tuple[int, int], dict[int, bytes]] = {}
    for impression, people in sorted(wanted.items()):
        ids = {finger_id(i, pos): (i, pos) for i in people for pos in fingers}
        for block in sorted({f // BLOCK for f in ids}):
            packed = next(iter_blocks(BLOCK, plan.seed, impression, "plain", start=block * BLOCK))
            for f in range(block * BLOCK, block * BLOCK + BLOCK):
                who = ids.get(f)
                if who is not None:
                    out.setdefault((who[0], impression), {})[who[1]] = packed.template(f - packed.first).to_bytes()
            tick(1)
    return out


def _jurisdictions(engine: Engine, plan: Plan) -> None:
    from securecomm.jurisdictions import activate, upsert_agency
    from securecomm.workflow.queue import write_session

    with write_session(engine) as s:
        for a in plan.agencies:
            upsert_agency(s, ori=a["ori"], name=a["name"], state=a["state"], county=a["county"], kind=a["kind"],
                          sib_ori=a["sib_ori"] or None, field_office=a["field_office"])
        for a in plan.activations:
            scope, value = a["scope"], a["value"]
            kw: dict[str, Any] = {"state": value} if scope == "state" else {"ori": value} if scope == "ori" else \
                {"state": value.split(":", 1)[0], "county": value.split(":", 1)[1]}
            activate(s, effective_from=a["effective_from"], effective_to=a.get("effective_to") or None,
                     note=a.get("note", ""), **kw)


def _enrol(engine: Engine, plan: Plan, templates, progress, result: SimResult) -> dict[int, str]:
    """Enrol both repositories in person order (identifiers are assigned in that order); returns FIN by person."""
    from securecomm.domain.records import CriminalEnrolment, ImmigrationEnrolment
    from securecomm.repositories import CriminalRepository, ImmigrationRepository
    from securecomm.store import audit
    from securecomm.workflow.queue import write_session

    crim = [p for p in plan.people if p.arrests]
    imm = [p for p in plan.people if p.encounters]
    fins: dict[int, str] = {}
    for kind, people in (("criminal", crim), ("immigration", imm)):
        tick = progress(f"enrolling {kind}", len(people))
        for start in range(0, len(people), 200):
            with write_session(engine) as s:
                repo = CriminalRepository(s) if kind == "criminal" else ImmigrationRepository(s)
                for p in people[start:start + 200]:
                    if kind == "criminal":
                        repo.enroll(CriminalEnrolment(tcn=f"CNA-{p.key}", ori=p.arrests[0].ori, person=p.person,
                                                      arrests=p.arrests), templates[(p.index, CRIMINAL_IMPRESSION)])
                    else:
                        fin = repo.enroll(ImmigrationEnrolment(tcn=f"IEN-{p.key}", person=p.person,
                                                               encounters=p.encounters, a_number=p.a_number),
                                          templates[(p.index, IMMIGRATION_IMPRESSION)])
                        fins[p.index] = fin
                        if p.protection == "victim_witness":
                            repo.set_victim_witness(fin, flagged=True, note="cooperating witness (simulation)")
                            audit.record(s, actor="simulation", role="local_law_enforcement",
                                         action="protection_set", object_type="immigration_identity",
                                         object_id=fin, detail="victim_witness: cooperating witness (simulation)")
                    tick(1)
        result.enrolled[kind] = len(people)
    return fins


def _examiner_says(plan: Plan, item, truth_fin: str | None) -> str:
    """The simulated examiner: right about the candidate except with probability ``examiner_error``."""
    right = "confirm" if truth_fin is not None and item.candidate == truth_fin else "reject"
    rng = np.random.default_rng([plan.seed, zlib.crc32(item.tcn.encode()), 0x45584D])
    if rng.random() < plan.params.examiner_error:
        return "reject" if right == "confirm" else "confirm"
    return right


def _analyst_says(item) -> str:
    """The simulated analyst: the rules' recommendation after the safeguards' caps (never more)."""
    d = item.details or {}
    if d.get("removable") is False:
        return "no_action"
    return check_action(d.get("action", NO_ACTION), "determined action")


def _answer_reviews(engine: Engine, plan: Plan, fins: dict[int, str], result: SimResult) -> int:
    from securecomm.workflow.pipeline import resolve_review, review_items

    person_of = {b.tcn: b.person for b in plan.bookings}
    n = 0
    for item in review_items(engine, state="open"):
        if item.kind == "biometric":
            decision, who = _examiner_says(plan, item, fins.get(person_of.get(item.tcn, -1))), "examiner (simulated)"
        elif item.kind == "status":
            decision, who = _analyst_says(item), "analyst (simulated)"
        else:  # criminal_biometric: the consolidation queue does not hold the booking up
            continue
        resolve_review(engine, item.id, decision, reviewer=who)
        result.reviews[f"{item.kind}:{decision}"] = result.reviews.get(f"{item.kind}:{decision}", 0) + 1
        n += 1
    return n


def _truth(engine: Engine, plan: Plan, fins: dict[int, str], run_id: str, overrides: Overrides,
           fingers: tuple[int, ...], base_run: str | None, search: str = "exhaustive",
           shortlist: int | None = None, prescreen: int | None = None) -> None:
    from securecomm.store.simulation_models import SimulatedBooking, SimulationRun
    from securecomm.workflow.queue import write_session

    people = {p.index: p for p in plan.people}
    with write_session(engine) as s:
        s.add(SimulationRun(id=run_id, state=",".join(plan.states)[:2] if len(plan.states) == 1 else "US",
                            date_from=plan.start, date_to=plan.end, seed=plan.seed, parameters=plan.params.source,
                            settings={"scale": plan.scale, "fingers": list(fingers), "states": list(plan.states),
                                      "search": search, **({"shortlist": shortlist} if shortlist else {}),
                                      **({"prescreen": prescreen} if prescreen else {}),
                                      **overrides.as_dict()},
                            base_run=base_run, bookings=len(plan.bookings), note=""))
        for b in plan.bookings:
            p: SimPerson = people[b.person]
            s.add(SimulatedBooking(tcn=b.tcn, run_id=run_id, person=p.key, category=p.category, citizen=p.citizen,
                                   true_fin=fins.get(p.index), protected=bool(p.protection)))


def _fast_sqlite(engine: Engine) -> None:
    """SQLite: ``synchronous=NORMAL`` for the simulation's connections (WAL keeps the file consistent; a
    power cut may lose the last commits, which a simulation simply reruns). One fsync per commit otherwise
    dominates a booking's eight commits."""
    if engine.dialect.name != "sqlite":
        return
    from sqlalchemy import event

    event.listen(engine, "connect", lambda conn, _rec: conn.execute("PRAGMA synchronous=NORMAL"))
    engine.dispose()  # pooled connections reopen with the pragma


def run_plan(engine: Engine, plan: Plan, *, run_id: str, fingers: tuple[int, ...] = DEFAULT_FINGERS,
             overrides: Overrides = Overrides(), base_run: str | None = None,
             progress: Callable[[str, int], Callable[[int], None]] = _null_progress,
             field_office: Callable[..., dict[str, int]] | None = None, search: str = "exhaustive",
             batch: int = BATCH, shortlist: int | None = None, prescreen: int | None = None) -> SimResult:
    """Everything of the module docstring, into ``engine``'s store (which must hold no bookings).

    ``field_office(engine, plan=, laws=, progress=)`` is step 6 (None: no detainer decisions).
    ``search``: ``exhaustive`` (every gallery subject scored by the matcher) or ``indexed`` (the
    candidate index of ``engine.index`` shortlists :data:`~securecomm.engine.index.SHORTLIST` subjects per
    search for the matcher; the same scores for those, a mate off the shortlist is missed -- often with
    two fingers: benchmarks/bench_simulation_search.py).
    ``batch``: bookings the worker runs per write transaction (``Worker.run_batched``); 0 runs every stage
    in a transaction of its own (``Worker.run``, as ``securecomm work`` does) -- the same store either way.
    ``shortlist``: with ``indexed``, the subjects verified per search (default
    :data:`~securecomm.engine.index.SHORTLIST`); recorded in the run's settings when given.
    ``prescreen``: with ``indexed``, of those the subjects the matcher scores, chosen by pre-score
    (``engine.index.IndexedBackend.prescreen``; None: all); recorded likewise.
    """
    from securecomm.engine.index import verify_threads
    from securecomm.engine.threads import blas_threads

    # one worker: OpenBLAS's idle threads only spin (engine.threads), but a search's finger positions are
    # verified on the machine's cores at once (engine.index.VERIFY_THREADS: the same scores)
    with blas_threads(1), verify_threads():
        return _run_plan(engine, plan, run_id=run_id, fingers=fingers, overrides=overrides, base_run=base_run,
                         progress=progress, field_office=field_office, search=search, batch=batch,
                         shortlist=shortlist, prescreen=prescreen)


def _run_plan(engine: Engine, plan: Plan, *, run_id: str, fingers: tuple[int, ...], overrides: Overrides,
              base_run: str | None, progress: Callable[[str, int], Callable[[int], None]],
              field_office: Callable[..., dict[str, int]] | None, search: str, batch: int,
              shortlist: int | None = None, prescreen: int | None = None) -> SimResult:
    from securecomm.engine.tenprint import DEFAULT_THRESHOLDS, Thresholds
    from securecomm.store.workflow_models import Transaction
    from securecomm.workflow.gallery import Galleries
    from securecomm.workflow.pipeline import Worker
    from securecomm.workflow.stages import PipelineConfig
    from securecomm.workflow.template_entry import submit_templates_many

    if search not in SEARCHES:
        raise SimulationError(f"search {search!r}: one of {', '.join(SEARCHES)}")
    if shortlist is not None and (search != "indexed" or isinstance(shortlist, bool) or not isinstance(shortlist, int)
                                  or shortlist < 1):
        raise SimulationError(f"shortlist {shortlist!r}: a positive number of subjects, with search indexed")
    if prescreen is not None and (search != "indexed" or isinstance(prescreen, bool) or not isinstance(prescreen, int)
                                  or prescreen < 1):
        raise SimulationError(f"prescreen {prescreen!r}: a positive number of subjects, with search indexed")
    _fast_sqlite(engine)
    with Session(engine) as s:
        if s.scalar(select(func.count()).select_from(Transaction)):
            raise SimulationError(f"the store at {engine.url.render_as_string(hide_password=True)} already holds "
                                  "transactions: simulate into an empty store (another --data or --db)")
    overrides.check()
    thresholds = None
    if overrides.hit_threshold is not None:
        hit = float(overrides.hit_threshold)
        thresholds = Thresholds(hit=hit, review=min(DEFAULT_THRESHOLDS.review, hit))
    result = SimResult(run_id=run_id, bookings=len(plan.bookings), people=len(plan.people))
    t0, c0 = time.monotonic(), _cpu()

    def lap(name: str, t: float, c: float) -> tuple[float, float]:
        result.seconds[name] = round(time.monotonic() - t, 3)
        result.cpu_seconds[name] = round(_cpu() - c, 3)
        return time.monotonic(), _cpu()

    _jurisdictions(engine, plan)
    t, c = time.monotonic(), _cpu()
    templates = _templates(plan, fingers, progress)
    t, c = lap("templates", t, c)
    fins = _enrol(engine, plan, templates, progress, result)
    t, c = lap("enrol", t, c)
    from securecomm.interchange.ebts import FBI_ORI
    from securecomm.domain.records import Booking

    sib = {a["ori"]: a["sib_ori"] for a in plan.agencies}
    tick = progress("submitting bookings", len(plan.bookings))
    people = {p.index: p for p in plan.people}
    from securecomm.workflow.queue import write_session

    from securecomm.workflow.pipeline import pin_agencies

    for start in range(0, len(plan.bookings), 200):  # 200 bookings per write transaction
        with write_session(engine) as s:
            pin_agencies(s)  # each booking's ORI is checked: read each agency once per transaction
            chunk = plan.bookings[start:start + 200]
            submit_templates_many(s, [(Booking(ori=b.ori, tcn=b.tcn, dai=FBI_ORI, date=b.date,
                                               person=people[b.person].person, arrest_date=b.date, charges=b.charges,
                                               sib_ori=sib.get(b.ori, "")), templates[(b.person, b.impression)])
                                      for b in chunk], min_fingers=len(fingers))
            tick(len(chunk))
    t, c = lap("submit", t, c)
    config = PipelineConfig(min_fingers=len(fingers), policy_version=overrides.policy_version,
                            state_limits=overrides.state_limits)
    index_dir = None
    if search == "indexed":  # an in-memory index (a folder that does not exist: nothing loaded, nothing saved)
        import tempfile

        index_dir = Path(tempfile.gettempdir()) / f"securecomm-sim-index-{os.getpid()}-{time.monotonic_ns()}"
    worker = Worker(engine, config, owner=f"simulation-{run_id}"[:96], lease_seconds=600.0,
                    galleries=Galleries(thresholds, index_dir=index_dir, shortlist=shortlist, ahead=True,
                                        prescreen=prescreen))
    tick = progress("pipeline (bookings)", len(plan.bookings))
    # the store's only writer: BATCH bookings per write transaction (Worker.run_batched), the same stages
    def work(on_step=None) -> None:
        if batch > 0:
            worker.run_batched(batch=batch, on_step=on_step)
        else:
            worker.run(until_empty=True, on_step=on_step)

    try:
        work(on_step=lambda: tick(1))
        while _answer_reviews(engine, plan, fins, result):
            work()
    finally:
        worker.galleries.close()
    t, c = lap("pipeline", t, c)
    if field_office is not None:
        from securecomm.store.workflow_models import Response

        with Session(engine) as s:
            n = s.scalar(select(func.count()).select_from(Response).where(Response.kind == "IAR",
                                                                          Response.recipient_role == "field_office"))
        result.detainers = field_office(engine, plan=plan, laws=overrides.law_schedule(),
                                        progress=progress("field office (IARs)", int(n or 0)))
        t, c = lap("detainers", t, c)
    _truth(engine, plan, fins, run_id, overrides, fingers, base_run, search, shortlist, prescreen)
    result.seconds["total"] = round(time.monotonic() - t0, 3)
    result.cpu_seconds["total"] = round(_cpu() - c0, 3)
    return result


def describe(plan: Plan) -> dict[str, Any]:
    """Counts of the plan (for the command's first line and the docs)."""
    from collections import Counter

    booked = [p for p in plan.people if p.booked]
    return {"bookings": len(plan.bookings), "people_booked": len(booked),
            "background": len(plan.people) - len(booked),
            "categories": dict(Counter(p.category for p in booked)),
            "first": plan.start.isoformat(), "last": plan.end.isoformat()}
