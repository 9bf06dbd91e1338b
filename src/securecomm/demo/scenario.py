"""A tiny fixed scenario (four people, a handful of bookings) for tests and worked examples.

Built from the same parts as the demo -- synthetic masters, real ANSI/NIST-ITL
transactions, the jurisdictions' loaders -- but small enough to build in a
few seconds: two fingers per person, plain impressions everywhere (the
enrolment and every booking use different impression seeds).

People (the truth, for assertions only):

* ``overstay``  -- criminal history and an immigration record (visa overstay)
* ``citizen``   -- in neither repository
* ``protected`` -- immigration record with a U-visa application
* ``ewi``       -- immigration record (border apprehension), booked where not activated
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from securecomm.demo.population import AGENCIES, FIELD_OFFICE, PILOT_FROM, SIB_ORI, STATE, STATEWIDE_FROM
from securecomm.domain.records import (Arrest, Biographic, Booking, Charge, CriminalEnrolment, Disposition, Encounter,
                                       FingerImage, ImmigrationEnrolment)

FINGERS = (2, 7)
PILOT_ORI = AGENCIES[0][0]  # activated since 2008
OTHER_ORI = AGENCIES[2][0]  # activated with the state on 2012-05-15


@dataclass
class Scenario:
    """Transactions of the scenario, by role."""

    agencies: list[dict[str, str]]
    activations: list[dict[str, str]]
    criminal: list[bytes] = field(default_factory=list)
    immigration: list[bytes] = field(default_factory=list)
    bookings: dict[str, bytes] = field(default_factory=dict)  # name -> CAR bytes
    tcns: dict[str, str] = field(default_factory=dict)  # name -> TCN
    extra_bookings: list[tuple[str, bytes]] = field(default_factory=list)  # (TCN, bytes) more good bookings


PEOPLE = {
    "overstay": (Biographic("RAMIREZ", "JUAN", dt.date(1980, 3, 4), "M", "MX"), 7001),
    "citizen": (Biographic("MURPHY", "KEVIN", dt.date(1975, 8, 9), "M", "MA"), 7002),
    "protected": (Biographic("SANTOS", "ANA", dt.date(1988, 1, 20), "F", "BR"), 7003),
    "ewi": (Biographic("FLORES", "LUIS", dt.date(1990, 11, 2), "M", "GT"), 7004),
}


def _fingers(seed: int, impression: int) -> dict[int, FingerImage]:
    from securecomm.synth import make_person, render

    person = make_person(seed)
    return {p: FingerImage(position=p, pixels=render(person.fingers[p], impression, "plain").pixels, ppi=500.0,
                           compression="WSQ") for p in FINGERS}


def _booking(name: str, tcn: str, ori: str, date: dt.date, code: str, impression: int) -> bytes:
    from securecomm.interchange import write_booking
    from securecomm.interchange.ebts import FBI_ORI

    person, seed = PEOPLE[name]
    return write_booking(Booking(ori=ori, tcn=tcn, dai=FBI_ORI, date=date, person=person, arrest_date=date,
                                 charges=(Charge(code),), fingers=_fingers(seed, impression), sib_ori=SIB_ORI))


def build(extra: int = 0) -> Scenario:
    """The scenario's transactions; ``extra`` more good bookings (re-arrests) for load and kill tests."""
    from securecomm.interchange import write_criminal_enrolment, write_immigration_enrolment

    agencies = [{"ori": o, "name": n, "state": STATE, "county": c, "kind": k, "sib_ori": SIB_ORI,
                 "field_office": FIELD_OFFICE} for o, n, c, k in AGENCIES]
    agencies.append({"ori": SIB_ORI, "name": "State Identification Bureau", "state": STATE, "county": "",
                     "kind": "SIB", "sib_ori": "", "field_office": FIELD_OFFICE})
    activations = [
        {"scope": "ori", "value": PILOT_ORI, "effective_from": PILOT_FROM.isoformat(), "effective_to": "", "note": ""},
        {"scope": "state", "value": STATE, "effective_from": STATEWIDE_FROM.isoformat(), "effective_to": "",
         "note": ""},
    ]
    sc = Scenario(agencies, activations)
    person, seed = PEOPLE["overstay"]
    sc.criminal.append(write_criminal_enrolment(CriminalEnrolment(
        tcn="CNA-SCEN-0001", ori=PILOT_ORI, person=person, fingers=_fingers(seed, 1),
        arrests=(Arrest(dt.date(2009, 5, 1), PILOT_ORI, "H-SCEN-0001", (Charge("2303"),),
                        (Disposition("2303", "convicted", dt.date(2009, 8, 1)),)),)), date=dt.date(2010, 1, 1)))
    sc.immigration.append(write_immigration_enrolment(ImmigrationEnrolment(
        tcn="IEN-SCEN-0001", person=person, fingers=_fingers(seed, 2),
        encounters=(Encounter("visa_application", dt.date(2004, 2, 1), "CONSULATE"),
                    Encounter("admission", dt.date(2004, 3, 1), "JFK POE", expires=dt.date(2004, 9, 1)),
                    Encounter("visa_overstay", dt.date(2004, 9, 2)))), date=dt.date(2010, 1, 1)))
    person, seed = PEOPLE["protected"]
    sc.immigration.append(write_immigration_enrolment(ImmigrationEnrolment(
        tcn="IEN-SCEN-0002", person=person, fingers=_fingers(seed, 2),
        encounters=(Encounter("admission", dt.date(2007, 3, 1), "BOSTON LOGAN POE", expires=dt.date(2007, 9, 1)),
                    Encounter("visa_overstay", dt.date(2007, 9, 2)),
                    Encounter("u_visa_application", dt.date(2012, 1, 5), "USCIS VERMONT"))),
        date=dt.date(2012, 2, 1)))
    person, seed = PEOPLE["ewi"]
    sc.immigration.append(write_immigration_enrolment(ImmigrationEnrolment(
        tcn="IEN-SCEN-0003", person=person, fingers=_fingers(seed, 2),
        encounters=(Encounter("border_apprehension", dt.date(2008, 6, 1), "TUCSON SECTOR"),
                    Encounter("voluntary_return", dt.date(2008, 6, 2), "TUCSON SECTOR"))), date=dt.date(2010, 1, 1)))

    plan = [
        ("overstay", PILOT_ORI, dt.date(2012, 6, 1), "1313"),   # activated: criminal I, immigration match
        ("citizen", PILOT_ORI, dt.date(2012, 6, 2), "5404"),    # activated: criminal N, no match
        ("ewi", OTHER_ORI, dt.date(2011, 7, 1), "2303"),        # not activated yet: no immigration search
        ("protected", OTHER_ORI, dt.date(2013, 1, 10), "5499"),  # match, protected: manual review
        ("citizen", OTHER_ORI, dt.date(2013, 2, 1), "1313"),     # re-arrest: criminal I on the subject b2 created
    ]
    for k, (name, ori, date, code) in enumerate(plan, start=1):
        tcn = f"{ori}-{date:%Y%m%d}-S{k:03d}"
        key = f"b{k}_{name}"
        sc.tcns[key] = tcn
        sc.bookings[key] = _booking(name, tcn, ori, date, code, 100 + k)
    for k in range(extra):
        name = ("overstay", "citizen", "ewi")[k % 3]
        date = dt.date(2013, 3, 1) + dt.timedelta(days=k)
        ori = (PILOT_ORI, OTHER_ORI)[k % 2]
        tcn = f"{ori}-{date:%Y%m%d}-E{k:03d}"
        sc.extra_bookings.append((tcn, _booking(name, tcn, ori, date, "5404", 200 + k)))
    return sc


def build_cached(folder, extra: int = 0) -> Scenario:
    """``build`` memoised on disk, keyed by the source of everything that shapes the bytes.

    Rendering masters dominates a test run; the key changes whenever the synthetic
    generator, the transaction writers or this scenario change, so a stale file is never used.
    """
    import hashlib
    import pickle
    from pathlib import Path

    import securecomm.interchange as interchange
    import securecomm.synth as synth

    h = hashlib.sha256(str(extra).encode())
    h.update(Path(__file__).read_bytes())
    for package in (interchange, synth):  # writers, validator and generator: any change rebuilds
        for src in sorted(Path(package.__file__).parent.glob("*.py")):
            h.update(src.name.encode() + src.read_bytes())
    path = Path(folder) / f"scenario-{h.hexdigest()[:16]}.pickle"
    if path.is_file():
        try:
            return pickle.loads(path.read_bytes())
        except Exception:  # a torn write from an interrupted run: rebuild
            path.unlink(missing_ok=True)
    sc = build(extra)
    Path(folder).mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(pickle.dumps(sc))
    tmp.replace(path)
    return sc


def prepare_enrolments(sc: Scenario) -> dict[str, list]:
    """The scenario's enrolments read and extracted (``workflow.enrolment.prepare``), reusable across stores."""
    from securecomm.workflow.enrolment import prepare

    return {"criminal": [prepare("criminal", raw, len(FINGERS)) for raw in sc.criminal],
            "immigration": [prepare("immigration", raw, len(FINGERS)) for raw in sc.immigration]}


def setup_store(engine, sc: Scenario, prepared: dict[str, list] | None = None) -> None:
    """Agencies, the activation schedule and the enrolments of the scenario, through the real loaders.

    ``prepared`` (from ``prepare_enrolments``) skips re-reading and re-extracting the same
    enrolment files for every store; the repository writes are the same.
    """
    from securecomm.jurisdictions import activate, upsert_agency
    from securecomm.services.users import bootstrap_admin, local_actor_name
    from securecomm.store.db import make_sessionmaker
    from securecomm.workflow.enrolment import commit, enroll_many
    from securecomm.workflow.queue import write_session

    # the operator who set the store up is its first admin, as after `securecomm init`
    bootstrap_admin(make_sessionmaker(engine), local_actor_name() or "scenario-admin")

    with write_session(engine) as s:
        for a in sc.agencies:
            upsert_agency(s, ori=a["ori"], name=a["name"], state=a["state"], county=a["county"], kind=a["kind"],
                          sib_ori=a["sib_ori"] or None, field_office=a["field_office"])
        for a in sc.activations:
            activate(s, **{a["scope"]: a["value"]}, effective_from=a["effective_from"])
    for kind, raws in (("criminal", sc.criminal), ("immigration", sc.immigration)):
        if prepared is not None:
            results = [commit(engine, item) for item in prepared[kind]]
        else:
            results = enroll_many(engine, kind, raws, min_fingers=len(FINGERS))
        bad = [r for r in results if r.outcome != "enrolled"]
        if bad:
            raise RuntimeError(f"scenario enrolment failed: {bad}")
