"""The demo's last act: the field office decides on each IAR and the jails answer under their own laws.

Each IAR of the run is carried through the service layer in booking order with a clock set to the moment
of each event: the field officer decides the recommended action two hours after the booking; the jail
acknowledges with a scheduled release some days later; its law answers (the shipped laws plus the demo's
two local ordinances, ``demo/data/detainer_laws_demo.json``: Harbor City PD holds only for level-1
histories, Middlesex County only when reimbursed); then custody is transferred, or the hold runs out (the
timers send the warning and the expiry notice, and the jail releases at expiry), or the person is bailed,
or the field office cancels; notification requests get their release notice. A few decisions arrive after
the release. Every event is one unit of work, audited, as it would be live.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from importlib import resources
from typing import Any

import numpy as np
from sqlalchemy.engine import Engine

from securecomm.domain.clock import FixedClock
from securecomm.domain.detainers import DetainerError, LawSchedule
from securecomm.domain.principal import Principal, Role

__all__ = ["demo_laws", "carry_through"]


def demo_laws() -> LawSchedule:
    """The shipped compliance laws plus the demo's local ordinances (checked for gaps and overlaps)."""
    shipped = json.loads(resources.files("securecomm.policy").joinpath("data", "detainer_laws.json")
                         .read_text("utf-8"))
    extra = json.loads(resources.files("securecomm.demo").joinpath("data", "detainer_laws_demo.json")
                       .read_text("utf-8"))
    return LawSchedule.from_data({**shipped, "laws": shipped["laws"] + extra["laws"]}, "demo laws")


def _uow(sessions, principal, at: dt.datetime, purpose: str):
    from securecomm.services import UnitOfWork

    return UnitOfWork(sessions, principal, clock=FixedClock(at), purpose=purpose, write=True)


def carry_through(engine: Engine, sessions, officer: Principal, admin: Principal, *,
                  seed: int = 2012) -> dict[str, Any]:
    """Decide, answer and end a detainer for every IAR in the store; returns counts for the summary."""
    from securecomm.services import detainers

    laws = demo_laws()
    rng = np.random.default_rng(seed + 10)
    with sessions() as s:
        iars = [(r.tcn, r.ori, r.captured_at, r.booking_date, r.summary)
                for r in detainers.field_office_iars(s, order="received")]
    errors: Counter[str] = Counter()
    laws_seen: dict[str, str] = {}
    for tcn, ori, captured, booking_date, summary in iars:
        action = (summary or {}).get("action", "no_action")
        booked = captured or dt.datetime.combine(booking_date, dt.time(14), tzinfo=dt.UTC)
        jail = Principal(f"demo-jail-{ori}", Role.JAIL, ori=ori)
        try:
            with _uow(sessions, officer, booked + dt.timedelta(hours=2), "detainer decision (demo)") as uow:
                row = detainers.decide(uow, tcn, action, basis={"probable_cause": "IDENT match; IAR",
                                                                "warrant": "I-200"})
                det_id, zone_name = row.id, row.time_zone
            if action == "no_action":
                continue
            late = rng.random() < 0.05
            if late:
                release = booked + dt.timedelta(hours=1)
            else:
                from securecomm.domain.timezones import zone

                local_day = booked.astimezone(zone(zone_name)).date() + dt.timedelta(days=int(rng.integers(1, 21)))
                release = dt.datetime.combine(local_day, dt.time(17), tzinfo=zone(zone_name))
            with _uow(sessions, jail, booked + dt.timedelta(hours=3), "detainer acknowledgment (demo)") as uow:
                row = detainers.acknowledge(uow, det_id, release_at=release, laws=laws)
                state, expires, law = row.state, row.expires_at, row.law_name
            laws_seen.setdefault(ori, law)
            if state == "notify":
                detainers.fire_timers(sessions, admin, engine, clock=FixedClock(release))
                with _uow(sessions, jail, release, "release (demo)") as uow:
                    detainers.release(uow, det_id, at=release, reason="sentence_served")
            elif state == "honoured":
                r = rng.random()
                if r < 0.5:
                    at = release + dt.timedelta(hours=3)
                    with _uow(sessions, officer, at, "custody transfer (demo)") as uow:
                        detainers.transfer(uow, det_id, at=at)
                elif r < 0.8:
                    detainers.fire_timers(sessions, admin, engine, clock=FixedClock(expires))
                    with _uow(sessions, jail, expires, "release at expiry (demo)") as uow:
                        detainers.release(uow, det_id, at=expires, reason="expiry")
                elif r < 0.93:
                    at = release + dt.timedelta(hours=1)
                    with _uow(sessions, jail, at, "release on bail (demo)") as uow:
                        detainers.release(uow, det_id, at=at, reason="bail")
                else:
                    at = release + dt.timedelta(hours=1)
                    with _uow(sessions, officer, at, "cancel (demo)") as uow:
                        detainers.cancel(uow, det_id, reason="further research: lawful permanent resident")
        except DetainerError as exc:  # reported, never fatal: the demo goes on
            errors[str(exc)[:80]] += 1
    from securecomm.statistics.detainers import figures

    with sessions() as s:
        by_ori = figures(s, by="ori")
        totals = Counter()
        for row in by_ori:
            totals.update({k: v for k, v in row.items() if k != "jurisdiction"})
    return {"by_ori": by_ori, "totals": dict(totals), "laws": laws_seen, "errors": dict(errors)}
