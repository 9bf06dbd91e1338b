"""Plan a synthetic state-year from parameters and a seed: agencies, schedule, people, records, bookings.

Deterministic in (parameters, seed, dates, scale): every random number comes
from one numpy Generator seeded with the seed, drawn in a fixed order. The
plan holds the ground truth (who each booking really is); the runner writes
it to ``sim_truth`` for the statistics and never shows it to the pipeline.

How bookings arise: each county books ``population x arrest_rate x scale``
people a year (pro rata for the period), at its agencies in turn, on dates
drawn uniformly over the period. A booking is a re-arrest of someone the
county already booked with probability ``repeat_arrest``; otherwise a new
person, whose status is drawn from the county's arrestees (citizens by birth
in proportion to ``1 - foreign_born``, each foreign-born status in proportion
to ``foreign_born x foreign_born_status``, each weighted by its
``arrest_multiplier``). A person has a prior criminal record with
probability ``prior_record_foreign_born`` (county) or ``prior_record_citizen``;
records and immigration encounters end before the person's first booking.
Background people (``gallery_background`` per booked person) are enrolled
in one repository or the other and never booked: the galleries are bigger
than the set of people who turn up.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from securecomm.domain.records import Arrest, Biographic, Charge, Disposition, Encounter
from securecomm.simulation.params import Parameters

#: Impression numbers of a person's fingers (booking k of a person uses BOOKING_IMPRESSION + k).
CRIMINAL_IMPRESSION, IMMIGRATION_IMPRESSION, BOOKING_IMPRESSION = 0, 1, 2
CITIZEN_CATEGORIES = ("citizen_birth", "naturalised")

_FIRST_M = ("JOSE", "LUIS", "CARLOS", "JUAN", "MIGUEL", "WEI", "MINH", "JOAO", "PATRICK", "MICHAEL", "JAMES",
            "DAVID", "KWAME", "ARJUN", "PIERRE", "TOMASZ", "OMAR", "ANDRE", "MARCUS", "KEVIN")
_FIRST_F = ("MARIA", "ANA", "ROSA", "LI", "LAN", "FERNANDA", "MARY", "JENNIFER", "SARAH", "AMA", "PRIYA",
            "MARIE", "AGNIESZKA", "FATIMA", "KEISHA", "LINDA", "GLORIA", "CARMEN", "THI", "NICOLE")
_LAST = ("GARCIA", "RODRIGUEZ", "MARTINEZ", "HERNANDEZ", "LOPEZ", "NGUYEN", "CHEN", "SILVA", "SANTOS", "OBRIEN",
         "MURPHY", "SMITH", "JOHNSON", "WILLIAMS", "MENSAH", "PATEL", "JEAN", "KOWALSKI", "HASSAN", "PEREIRA",
         "FLORES", "REYES", "TRAN", "WONG", "COSTA", "BROWN", "DIAZ", "CRUZ", "MORALES", "ORTIZ")
_COUNTRIES = ("MX", "GT", "SV", "HN", "BR", "DO", "HT", "CN", "VN", "PH", "NG", "PL", "IE", "CV", "JM", "PT")


@dataclass(frozen=True)
class SimPerson:
    index: int
    county: str  # "ST:County"
    category: str  # citizen_birth or one of params.STATUSES
    protection: str
    person: Biographic
    encounters: tuple[Encounter, ...]
    a_number: str
    arrests: tuple[Arrest, ...]
    booked: bool

    @property
    def key(self) -> str:
        return f"P{self.index:07d}"

    @property
    def citizen(self) -> bool:
        return self.category in CITIZEN_CATEGORIES


@dataclass(frozen=True)
class SimBooking:
    tcn: str
    person: int
    ori: str
    date: dt.date
    charges: tuple[Charge, ...]
    impression: int


@dataclass(frozen=True)
class Plan:
    params: Parameters
    seed: int
    start: dt.date
    end: dt.date
    scale: float
    states: tuple[str, ...]
    agencies: tuple[dict[str, str], ...]
    activations: tuple[dict[str, str], ...]
    people: tuple[SimPerson, ...]
    bookings: tuple[SimBooking, ...]


def _choice(rng: np.random.Generator, items: list, weights: list[float]):
    p = np.asarray(weights, float)
    return items[int(rng.choice(len(items), p=p / p.sum()))]


def _years(d: dt.date, years: float) -> dt.date:
    return d + dt.timedelta(days=int(round(365.25 * years)))


def _charges(rng: np.random.Generator, params: Parameters) -> tuple[Charge, ...]:
    n = _choice(rng, [k for k, _ in params.charges_per_booking], [w for _, w in params.charges_per_booking])
    codes = set()
    for _ in range(n):
        _, _, _, codes_w = _choice(rng, list(params.charge_mix), [m[2] for m in params.charge_mix])
        codes.add(_choice(rng, [c for c, _ in codes_w], [w for _, w in codes_w]))
    return tuple(Charge(c) for c in sorted(codes))


def _history(rng: np.random.Generator, params: Parameters, index: int, ref: dt.date,
             oris: list[str]) -> tuple[Arrest, ...]:
    n = _choice(rng, [k for k, _ in params.prior_arrests], [w for _, w in params.prior_arrests])
    arrests = []
    for k in range(n):
        date = _years(ref, -float(rng.uniform(0.6, 12)))
        charges = _charges(rng, params)
        disps = []
        for c in charges:
            if rng.random() < params.conviction_per_charge:
                felony = c.ncic in params.felony_codes
                days = int(rng.choice([0, 30, 90, 400, 730])) if felony else int(rng.choice([0, 0, 10, 30]))
                disps.append(Disposition(c.ncic, "convicted", _years(date, 0.3), felony=felony, sentence_days=days))
            else:
                outcome = _choice(rng, ["dismissed", "pending", "acquitted"], [0.7, 0.2, 0.1])
                disps.append(Disposition(c.ncic, outcome, None if outcome == "pending" else _years(date, 0.3)))
        arrests.append(Arrest(date=date, ori=oris[int(rng.integers(0, len(oris)))],
                              tcn=f"H{index:07d}-{k}", charges=charges, dispositions=tuple(disps)))
    return tuple(sorted(arrests, key=lambda a: a.date))



# The encounter histories by category, as the demo draws them (securecomm.demo.population), so a simulated
# and a demo person of one category carry the same kind of immigration record.
def _encounters(rng: np.random.Generator, category: str, protection: str, ref: dt.date) -> tuple[Encounter, ...]:
    """Immigration history ending before ``ref`` (the person's first booking in the demo)."""
    loc_port = ("BOSTON LOGAN POE", "JFK POE", "MIAMI POE")[int(rng.integers(0, 3))]
    loc_border = ("TUCSON SECTOR", "RIO GRANDE VALLEY SECTOR", "SAN DIEGO SECTOR")[int(rng.integers(0, 3))]
    e: list[Encounter] = []
    if category in ("naturalised", "lpr"):
        arrived = _years(ref, -float(rng.uniform(8, 20)))
        e += [Encounter("visa_application", _years(arrived, -0.3), "CONSULATE"),
              Encounter("admission", arrived, loc_port),
              Encounter("lpr_grant", _years(arrived, 0.5), "USCIS BOSTON")]
        if category == "naturalised":
            e.append(Encounter("naturalization", _years(arrived, 6), "USCIS BOSTON"))
    elif category == "visa_holder":
        arrived = _years(ref, -float(rng.uniform(0.5, 2)))
        e += [Encounter("visa_application", _years(arrived, -0.2), "CONSULATE"),
              Encounter("admission", arrived, loc_port, expires=_years(ref, 3), note="F1")]
    elif category == "overstay":
        arrived = _years(ref, -float(rng.uniform(3, 10)))
        until = _years(arrived, 0.5)
        e += [Encounter("visa_application", _years(arrived, -0.2), "CONSULATE"),
              Encounter("admission", arrived, loc_port, expires=until, note="B2"),
              Encounter("visa_overstay", _years(until, 0.1), "")]
    elif category == "ewi":
        caught = _years(ref, -float(rng.uniform(2, 12)))
        e += [Encounter("border_apprehension", caught, loc_border),
              Encounter("voluntary_return", _years(caught, 0.01), loc_border)]
    elif category == "previously_removed":
        caught = _years(ref, -float(rng.uniform(4, 12)))
        e += [Encounter("border_apprehension", caught, loc_border),
              Encounter("removal_order", _years(caught, 0.2), "IMMIGRATION COURT"),
              Encounter("removal", _years(caught, 0.3), loc_border)]
    if e and protection in ("u_visa", "t_visa", "vawa"):
        kind = {"u_visa": "u_visa_application", "t_visa": "t_visa_application", "vawa": "vawa_self_petition"}
        e.append(Encounter(kind[protection], _years(ref, -float(rng.uniform(0.2, 1.5))), "USCIS VERMONT"))
    return tuple(sorted(e, key=lambda x: x.date))


def _person(rng: np.random.Generator, params: Parameters, index: int, county, category: str, ref: dt.date,
            booked: bool, oris: list[str], record: bool | None = None) -> SimPerson:
    protection = ""
    if category not in CITIZEN_CATEGORIES:
        for name, p in params.protections.items():
            if rng.random() < p:
                protection = name
                break
    if category == "ewi_never_encountered" and protection != "victim_witness":
        protection = ""  # a petition is an encounter
    sex = "M" if rng.random() < 0.75 else "F"
    first = (_FIRST_M if sex == "M" else _FIRST_F)[int(rng.integers(0, 20))]
    last = _LAST[int(rng.integers(0, len(_LAST)))]
    dob = _years(ref, -float(rng.uniform(18, 55)))
    pob = county.state if category == "citizen_birth" else _COUNTRIES[int(rng.integers(0, len(_COUNTRIES)))]
    encounters = () if category == "citizen_birth" else _encounters(rng, category, protection, ref)
    a_number = f"A{int(rng.integers(10**8, 10**9 - 1)):09d}" if category in (
        "naturalised", "lpr", "previously_removed") else ""
    if record is None:
        p = params.prior_record_citizen if category == "citizen_birth" else county.prior_record_foreign_born
        record = bool(rng.random() < p)
    arrests = _history(rng, params, index, ref, oris) if record else ()
    person = Biographic(last_name=last, first_name=first, dob=dob, sex=sex, pob=pob,
                        citizenship="US" if category in CITIZEN_CATEGORIES else pob)
    return SimPerson(index=index, county=f"{county.state}:{county.name}", category=category, protection=protection,
                     person=person, encounters=encounters, a_number=a_number, arrests=arrests, booked=booked)


def build_plan(params: Parameters, *, seed: int, start: dt.date, end: dt.date, scale: float = 0.004,
               states: tuple[str, ...] | None = None) -> Plan:
    """Plan the state-year (see the module docstring); ``states`` limits it to some of the file's states."""
    if end < start:
        raise ValueError(f"the period ends ({end}) before it starts ({start})")
    if not 0 < scale <= 1:
        raise ValueError(f"scale must be in (0, 1], got {scale}")
    chosen = [s for s in params.states if states is None or s.state in states]
    if not chosen:
        raise ValueError(f"no state {', '.join(states or ())} in {params.source}")
    rng = np.random.default_rng([int(seed), 0x53494D55])  # "SIMU"
    days = (end - start).days + 1
    agencies, activations = [], []
    for s in chosen:
        agencies.append({"ori": s.sib_ori, "name": f"{s.state} State Identification Bureau", "state": s.state,
                         "county": "", "kind": "SIB", "sib_ori": "", "field_office": s.field_office})
        for c in s.counties:
            for ori, name, kind in c.agencies:
                agencies.append({"ori": ori, "name": name, "state": s.state, "county": c.name, "kind": kind,
                                 "sib_ori": s.sib_ori, "field_office": s.field_office})
        activations.extend({**a, "effective_to": a.get("effective_to", "")} for a in s.activations)
    all_oris = [a["ori"] for a in agencies if a["kind"] != "SIB"]
    statuses = list(params.foreign_born_status)

    # who is booked when: county by county, then one date-ordered list
    slots: list[tuple[dt.date, object, str]] = []
    for s in chosen:
        for c in s.counties:
            n = int(round(c.population * c.arrest_rate * scale * days / 365.0))
            for k in range(n):
                date = start + dt.timedelta(days=int(rng.integers(0, days)))
                slots.append((date, c, c.agencies[k % len(c.agencies)][0]))
    slots.sort(key=lambda x: (x[0], x[2], x[1].name))
    people: list[SimPerson] = []
    booked_in: dict[str, list[int]] = {}
    bookings: list[SimBooking] = []
    count: dict[int, int] = {}
    for n, (date, county, ori) in enumerate(slots, start=1):
        key = f"{county.state}:{county.name}"
        earlier = booked_in.get(key, [])
        if earlier and rng.random() < params.repeat_arrest:
            who = earlier[int(rng.integers(0, len(earlier)))]
        else:
            weights = [(1 - county.foreign_born) * params.arrest_multiplier.get("citizen_birth", 1.0)]
            weights += [county.foreign_born * params.foreign_born_status[st] * params.arrest_multiplier.get(st, 1.0)
                        for st in statuses]
            category = _choice(rng, ["citizen_birth", *statuses], weights)
            who = len(people)
            people.append(_person(rng, params, who, county, category, date, True, all_oris))
            booked_in.setdefault(key, []).append(who)
        k = count.get(who, 0)
        count[who] = k + 1
        bookings.append(SimBooking(tcn=f"{ori}-{date:%Y%m%d}-{n:06d}", person=who, ori=ori, date=date,
                                   charges=_charges(rng, params), impression=BOOKING_IMPRESSION + k))
    # background: enrolled, never booked (half criminal, half immigration)
    counties = [c for s in chosen for c in s.counties]
    n_background = int(round(params.gallery_background * len(people)))
    for b in range(n_background):
        county = counties[int(rng.integers(0, len(counties)))]
        ref = start - dt.timedelta(days=1)
        if b % 2 == 0:
            people.append(_person(rng, params, len(people), county, "citizen_birth", ref, False, all_oris,
                                  record=True))
        else:
            st = _choice(rng, statuses, [params.foreign_born_status[x] for x in statuses])
            people.append(_person(rng, params, len(people), county, st, ref, False, all_oris, record=False))
    return Plan(params=params, seed=int(seed), start=start, end=end, scale=float(scale),
                states=tuple(s.state for s in chosen), agencies=tuple(agencies), activations=tuple(activations),
                people=tuple(people), bookings=tuple(bookings))
