"""A simulation's field office and jails: after the IARs, decisions, answers under the law, how each detainer ends.

The state-year simulation (``simulation.runner.run_plan``) sits below the
services, so it cannot call the detainer service itself: ``services.simulation``
hands :func:`carry_through` to it as the step after the pipeline.

Every IAR the pipeline sent to a field office goes, in booking order, through
the real detainer service (``services.detainers``), each event one audited unit
of work with a clock set to the simulated moment of the event:

1. the field officer (role ``field_officer``, the IAR's area) decides what the IAR
   recommends (``detainer``, ``notification_request`` or ``no_action``) on the
   form in force, with an I-200 warrant and the probable-cause basis; a share of
   detainers also carries a judicial warrant or a reimbursement agreement
   (``detainers.judicial_warrant`` / ``reimbursement`` of the parameter file).
   A detainer on a protected person or a review-band match needs a recorded
   human review: where the analyst's status review did not decide ``detainer``
   the service refuses it, and the officer sends a notification request instead
   (counted as ``downgraded``);
2. the jail (role ``jail``, its ORI) acknowledges with its scheduled release;
   the jail's compliance law on that local date (the shipped
   ``policy/data/detainer_laws.json``, or the what-if's ``--law`` file) decides
   whether it may hold: honoured, declined by law, or -- for a decision that came
   after the release -- lodged after release;
3. an honoured detainer ends as the parameters' ``honoured`` weights draw: custody
   transferred before expiry; held to expiry (the warning and expiry timers fire,
   the jail releases); released before expiry (court order); cancelled by the
   field office; or held past expiry, which the service records only with the
   jail's override reason and counts as an over-hold. A notification request
   ends in a transfer at release or a release after the release notice.

Each booking's draws come from its own generator (seed, TCN), so a seed gives
the same detainers whatever else changes, and a what-if that changes only the
law replays the same decisions, releases and outcomes under another answer.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
from sqlalchemy import Engine

from securecomm.domain.clock import FixedClock
from securecomm.domain.detainers import DetainerError, LawSchedule
from securecomm.domain.principal import Principal, Role
from securecomm.simulation.params import DetainerParams

__all__ = ["carry_through", "OFFICER", "BASIS"]

#: Actor names the simulation's decisions are recorded under.
OFFICER, JAIL, SYSTEM = "field officer (simulated)", "jail (simulated)", "timers (simulated)"
#: The basis every simulated decision records (the I-247 (12/12) and later forms ask for probable cause).
BASIS = {"probable_cause": "IDENT biometric match; IAR (simulated)", "warrant": "I-200"}
OVERRIDE = "held past expiry awaiting the field office's pickup (simulated)"


def _rng(seed: int, tcn: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), zlib.crc32(tcn.encode()), 0x444554])  # "DET"


def _draw(rng: np.random.Generator, pairs) -> Any:
    items = [k for k, _ in pairs]
    p = np.asarray([w for _, w in pairs], float)
    return items[int(rng.choice(len(items), p=p / p.sum()))]


def carry_through(engine: Engine, sessions: Callable, *, seed: int, params: DetainerParams,
                  laws: LawSchedule | None = None, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Decide, answer and end every IAR of the store (see the module docstring); returns counts by event."""
    from securecomm.jurisdictions import agency as agency_row
    from securecomm.jurisdictions import agency_zone
    from securecomm.policy.detainers import load_laws
    from securecomm.services import detainers
    from securecomm.services.unit_of_work import UnitOfWork

    laws = laws or load_laws()
    clock = FixedClock(dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    timers = Principal(SYSTEM, Role.SYSTEM)
    with sessions() as s:
        iars = [(r.tcn, r.ori, r.booking_date, r.field_office, r.summary)
                for r in detainers.field_office_iars(s, order="tcn")]
        zones = {ori: agency_zone(agency_row(s, ori)) for ori in sorted({r[1] for r in iars})}
    counts: Counter[str] = Counter()

    def uow(principal: Principal, at: dt.datetime, purpose: str) -> UnitOfWork:
        clock.set(at)
        return UnitOfWork(sessions, principal, clock=clock, purpose=purpose, write=True)

    for tcn, ori, booking_date, area, summary in iars:
        rng = _rng(seed, tcn)
        officer = Principal(OFFICER, Role.FIELD_OFFICER, area=area)
        jail = Principal(JAIL, Role.JAIL, ori=ori)
        action = str((summary or {}).get("action") or "no_action")
        basis = dict(BASIS)
        if rng.random() < params.judicial_warrant:
            basis["warrant"] = "judicial"
        if rng.random() < params.reimbursement:
            basis["reimbursement"] = "agreed (simulated)"
        hours = float(rng.uniform(*params.decision_hours))
        days = int(_draw(rng, params.days_to_release))
        late = rng.random() < params.late_decision
        ending = str(_draw(rng, params.honoured))
        u = float(rng.random())
        notified_transfer = rng.random() < params.notification_transfer
        try:
            # 1. the decision (a detainer the service refuses for want of a human review becomes a request)
            z = zones[ori]
            decided = dt.datetime.combine(booking_date, dt.time(6), tzinfo=z) + dt.timedelta(hours=hours)
            with uow(officer, decided, "detainer decision (simulation)") as w:
                try:  # the review check comes before anything is written
                    row = detainers.decide(w, tcn, action, basis=basis)
                except DetainerError as exc:
                    if action != "detainer" or "human review" not in str(exc):
                        raise
                    counts["downgraded"] += 1
                    action = "notification_request"
                    row = detainers.decide(w, tcn, action, basis=basis)
                det_id = row.id
            counts[f"decided:{action}"] += 1
            if action == "no_action":
                continue
            # 2. the jail's acknowledgment under its law
            if late:
                release = decided - dt.timedelta(hours=1)
            else:
                day = decided.astimezone(z).date() + dt.timedelta(days=days)
                release = dt.datetime.combine(day, dt.time(17), tzinfo=z)
            with uow(jail, decided + dt.timedelta(minutes=30), "detainer acknowledgment (simulation)") as w:
                row = detainers.acknowledge(w, det_id, release_at=release, laws=laws)
                state, expires, outcome = row.state, row.expires_at, row.outcome
            counts[f"answer:{outcome or state}"] += 1
            # 3. how it ends
            if state == "notify":
                if notified_transfer:
                    with uow(officer, release, "custody transfer (simulation)") as w:
                        detainers.transfer(w, det_id, at=release)
                    counts["end:notification_transferred"] += 1
                else:
                    detainers.fire_timers(sessions, timers, engine, clock=FixedClock(release), owner=SYSTEM)
                    with uow(jail, release, "release (simulation)") as w:
                        detainers.release(w, det_id, at=release, reason="sentence_served")
                    counts["end:released_notified"] += 1
            elif state == "honoured":
                assert expires is not None
                span = expires - release
                if ending == "transfer":
                    at = release + span * (0.05 + 0.6 * u)  # before the warning (4 h ahead of a 48-hour hold)
                    with uow(officer, at, "custody transfer (simulation)") as w:
                        detainers.transfer(w, det_id, at=at)
                elif ending == "expiry":
                    detainers.fire_timers(sessions, timers, engine, clock=FixedClock(expires), owner=SYSTEM)
                    with uow(jail, expires, "release at expiry (simulation)") as w:
                        detainers.release(w, det_id, at=expires, reason="expiry")
                elif ending == "released_before":
                    at = release + span * (0.05 + 0.5 * u)
                    with uow(jail, at, "release before expiry (simulation)") as w:
                        detainers.release(w, det_id, at=at, reason="court_order")
                elif ending == "cancelled":
                    at = release + dt.timedelta(hours=1)
                    with uow(officer, at, "cancellation (simulation)") as w:
                        detainers.cancel(w, det_id, reason="further research: not removable (simulated)")
                else:  # over_hold: the jail records a hold past expiry, with its reason (counted, audited)
                    detainers.fire_timers(sessions, timers, engine, clock=FixedClock(expires), owner=SYSTEM)
                    at = expires + dt.timedelta(hours=2 + 22 * u)
                    with uow(jail, at, "release past expiry (simulation)") as w:
                        detainers.release(w, det_id, at=at, reason="other", override=OVERRIDE)
                counts[f"end:{ending}"] += 1
        except DetainerError as exc:  # counted, never fatal: the run goes on
            counts[f"refused: {str(exc)[:60]}"] += 1
        finally:
            if progress is not None:
                progress(1)
    return dict(sorted(counts.items()))
