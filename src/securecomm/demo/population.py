"""A small synthetic state from a seed: agencies, an activation schedule, people, their records, bookings.

Everything here is synthetic and deterministic in the seed. This module only
*plans* (biographies, immigration encounters, criminal histories, booking
dates and charges); ``securecomm.demo.transactions`` turns the plan into real
ANSI/NIST-ITL transactions with synthetic fingerprints, and the runner feeds
those through the real pipeline. The plan's ground truth (who is who) is used
for the demo's summary only -- never to decide a match.

The mix of people follows the categories the programme met: citizens by
birth (never in the immigration repository), naturalised citizens and lawful
permanent residents (in it, from their applications), visa holders,
overstays, entrants without inspection (some never encountered), people
removed before and back again, and people with protections (U visa, T visa,
VAWA self-petition, a known victim or witness).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

import numpy as np

from securecomm.domain.records import Arrest, Biographic, Charge, Disposition, Encounter

STATE = "MA"
SIB_ORI = "MASIB0000"
FIELD_OFFICE = "ERO BOSTON"

#: (ORI, name, county, kind). The first agency is the pilot.
AGENCIES: tuple[tuple[str, str, str, str], ...] = (
    ("MA0130100", "Harbor City Police Department", "Suffolk", "police"),
    ("MA0130000", "Suffolk County Sheriff's Office", "Suffolk", "sheriff"),
    ("MA0090100", "Lowell Falls Police Department", "Middlesex", "police"),
    ("MA0140100", "Worcester Hills Police Department", "Worcester", "police"),
    ("MA0070100", "Springbrook Police Department", "Hampden", "police"),
    ("MA0050100", "Salem Harbor Police Department", "Essex", "police"),
)
PILOT_FROM = dt.date(2008, 11, 12)
STATEWIDE_FROM = dt.date(2012, 5, 15)
BOOKINGS_FROM = dt.date(2011, 11, 1)
BOOKINGS_TO = dt.date(2013, 9, 30)

#: Category -> share of the population.
CATEGORIES: dict[str, float] = {
    "citizen_birth": 0.30, "naturalised": 0.08, "lpr": 0.12, "visa_holder": 0.07, "overstay": 0.13,
    "ewi": 0.12, "ewi_never_encountered": 0.06, "previously_removed": 0.12,
}
#: Protections drawn for non-citizens (share of them).
PROTECTIONS: dict[str, float] = {"u_visa": 0.06, "t_visa": 0.03, "vawa": 0.04, "victim_witness": 0.05}

_FIRST_M = ("JOSE", "LUIS", "CARLOS", "JUAN", "MIGUEL", "WEI", "MINH", "JOAO", "PATRICK", "MICHAEL", "JAMES",
            "DAVID", "KWAME", "ARJUN", "PIERRE", "TOMASZ", "OMAR", "ANDRE", "MARCUS", "KEVIN")
_FIRST_F = ("MARIA", "ANA", "ROSA", "LI", "LAN", "FERNANDA", "MARY", "JENNIFER", "SARAH", "AMA", "PRIYA",
            "MARIE", "AGNIESZKA", "FATIMA", "KEISHA", "LINDA", "GLORIA", "CARMEN", "THI", "NICOLE")
_LAST = ("GARCIA", "RODRIGUEZ", "MARTINEZ", "HERNANDEZ", "LOPEZ", "NGUYEN", "CHEN", "SILVA", "SANTOS", "OBRIEN",
         "MURPHY", "SMITH", "JOHNSON", "WILLIAMS", "MENSAH", "PATEL", "JEAN", "KOWALSKI", "HASSAN", "PEREIRA",
         "FLORES", "REYES", "TRAN", "WONG", "COSTA", "BROWN", "DIAZ", "CRUZ", "MORALES", "ORTIZ")
#: Places of birth of the foreign-born (ISO country codes that are not also US state codes).
_COUNTRIES = ("MX", "GT", "SV", "HN", "BR", "DO", "HT", "CN", "VN", "PH", "NG", "PL", "IE", "CV", "JM", "PT")
_US_STATES = ("MA", "MA", "MA", "NY", "NH", "RI", "CT", "FL", "TX")

#: Booking charges: (NCIC code, weight). Traffic and minor offences dominate real bookings.
CHARGES: tuple[tuple[str, float], ...] = (
    ("5404", 0.14), ("5499", 0.10), ("1313", 0.13), ("2303", 0.08), ("2399", 0.06), ("3562", 0.08),
    ("3532", 0.04), ("3530", 0.03), ("2202", 0.05), ("1206", 0.03), ("1315", 0.04), ("5015", 0.05),
    ("5707", 0.05), ("2699", 0.03), ("7399", 0.04), ("5212", 0.02), ("0911", 0.01), ("1103", 0.01),
    ("4899", 0.01),
)
#: Charges that are felonies when convicted (for prior dispositions).
FELONIES = frozenset({"1206", "1315", "2202", "3530", "5212", "0911", "1103", "3532"})


@dataclass(frozen=True)
class PlannedPerson:
    """One synthetic person and the truth about them (used for reporting only)."""

    index: int
    finger_seed: int
    category: str
    protection: str  # "", u_visa, t_visa, vawa, victim_witness
    person: Biographic
    encounters: tuple[Encounter, ...] = ()
    a_number: str = ""
    arrests: tuple[Arrest, ...] = ()  # prior criminal history

    @property
    def in_immigration(self) -> bool:
        return bool(self.encounters)

    @property
    def in_criminal(self) -> bool:
        return bool(self.arrests)


@dataclass(frozen=True)
class PlannedBooking:
    """One booking to submit; ``defect`` names deliberate bad input ('' for a good booking)."""

    tcn: str
    person_index: int
    ori: str
    date: dt.date
    charges: tuple[Charge, ...]
    impression_seed: int
    defect: str = ""  # truncated | wrong_tot | bad_ncic | unknown_ori | few_fingers | duplicate


@dataclass(frozen=True)
class Population:
    """The whole synthetic state."""

    seed: int
    agencies: tuple[dict[str, str], ...]
    activations: tuple[dict[str, str], ...]
    people: tuple[PlannedPerson, ...]
    bookings: tuple[PlannedBooking, ...]
    fingers: tuple[int, ...]
    victim_witness: tuple[int, ...] = field(default=())  # person indices flagged as known victims/witnesses


def _pick(rng: np.random.Generator, table: dict[str, float] | tuple[tuple[str, float], ...]) -> str:
    items = list(table.items()) if isinstance(table, dict) else list(table)
    p = np.array([w for _, w in items], dtype=float)
    return items[int(rng.choice(len(items), p=p / p.sum()))][0]


def _quota(rng: np.random.Generator, shares: dict[str, float], n: int) -> list[str]:
    """``n`` labels in proportion to ``shares`` (largest remainder), shuffled."""
    total = sum(shares.values())
    exact = {k: n * v / total for k, v in shares.items()}
    counts = {k: int(x) for k, x in exact.items()}
    for k in sorted(exact, key=lambda k: counts[k] - exact[k])[: n - sum(counts.values())]:
        counts[k] += 1
    labels = [k for k, c in counts.items() for _ in range(c)]
    return [labels[i] for i in rng.permutation(len(labels))]


def _date_between(rng: np.random.Generator, a: dt.date, b: dt.date) -> dt.date:
    return a + dt.timedelta(days=int(rng.integers(0, max(1, (b - a).days) + 1)))


def _years(d: dt.date, years: float) -> dt.date:
    return d + dt.timedelta(days=int(round(365.25 * years)))


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


def _history(rng: np.random.Generator, index: int, ref: dt.date) -> tuple[Arrest, ...]:
    """Prior arrests with charges and dispositions, all before ``ref``."""
    arrests = []
    for k in range(int(rng.choice([1, 1, 2, 3]))):
        date = _years(ref, -float(rng.uniform(0.5, 12)))
        ori = AGENCIES[int(rng.integers(0, len(AGENCIES)))][0]
        codes = {_pick(rng, CHARGES) for _ in range(int(rng.choice([1, 1, 2])))}
        charges = tuple(Charge(c) for c in sorted(codes))
        disps = []
        for c in charges:
            outcome = _pick(rng, {"convicted": 0.55, "dismissed": 0.3, "pending": 0.1, "acquitted": 0.05})
            felony = c.ncic in FELONIES
            days = int(rng.choice([0, 30, 90, 400, 730])) if outcome == "convicted" and felony else \
                int(rng.choice([0, 0, 10, 30])) if outcome == "convicted" else 0
            disps.append(Disposition(c.ncic, outcome, _years(date, 0.3) if outcome != "pending" else None,
                                     felony=felony and outcome == "convicted", sentence_days=days))
        arrests.append(Arrest(date=date, ori=ori, tcn=f"H{index:04d}-{k}-{date:%Y%m%d}", charges=charges,
                              dispositions=tuple(disps)))
    return tuple(sorted(arrests, key=lambda a: a.date))


def build_population(seed: int, people: int, bookings: int, fingers: tuple[int, ...] = (2, 3, 7, 8),
                     bad_inputs: bool = True) -> Population:
    """Plan a synthetic state: deterministic in ``seed``; no images (see demo.transactions)."""
    if people < 2 or bookings < 1:
        raise ValueError("a demo needs at least 2 people and 1 booking")
    rng = np.random.default_rng([int(seed), 0x53434F4D])  # "SCOM"
    if bookings < 1:
        raise ValueError("a demo needs at least one booking")
    agencies = tuple({"ori": o, "name": n, "state": STATE, "county": c, "kind": k, "sib_ori": SIB_ORI,
                      "field_office": FIELD_OFFICE} for o, n, c, k in AGENCIES) + (
        {"ori": SIB_ORI, "name": "State Identification Bureau", "state": STATE, "county": "", "kind": "SIB",
         "sib_ori": "", "field_office": FIELD_OFFICE},)
    activations = (
        {"scope": "ori", "value": AGENCIES[0][0], "effective_from": PILOT_FROM.isoformat(), "effective_to": "",
         "note": "pilot"},
        {"scope": "state", "value": STATE, "effective_from": STATEWIDE_FROM.isoformat(), "effective_to": "",
         "note": "statewide activation"},
    )
    # Who is who: categories by quota (largest remainder), so even a small state has every kind of person,
    # and each protection given at least once when there are enough non-citizens to carry it.
    categories = _quota(rng, CATEGORIES, people)
    eligible = [i for i, c in enumerate(categories) if c not in ("citizen_birth", "naturalised")]
    protections = [""] * people
    wanted = _quota(rng, PROTECTIONS, max(len(PROTECTIONS), round(sum(PROTECTIONS.values()) * len(eligible))))
    for i, name in zip(rng.permutation(eligible).tolist(), wanted):
        if not (categories[i] == "ewi_never_encountered" and name != "victim_witness"):
            protections[i] = name  # a petition is an encounter: the never-encountered can only be witnesses

    # Bookings (who, when) before records, so each person's history can end before their first booking:
    # everyone is booked once in a shuffled order, then about one booking in six is a re-arrest.
    booked: list[int] = []
    order = rng.permutation(people).tolist()
    for b in range(bookings):
        if b < people and not (booked and rng.random() < 0.15):
            booked.append(order.pop())
        elif booked:
            booked.append(booked[int(rng.integers(0, len(booked)))])
        else:
            booked.append(order.pop())
    dates = sorted(_date_between(rng, BOOKINGS_FROM, BOOKINGS_TO) for _ in range(bookings))
    # a protected person is booked after statewide activation, so the demo shows what happens to them
    late = [k for k, d in enumerate(dates) if d >= STATEWIDE_FROM and not protections[booked[k]]]
    for k, who in enumerate(booked):
        if protections[who] and dates[k] < STATEWIDE_FROM and late and booked.index(who) == k:
            j = late.pop()
            booked[k], booked[j] = booked[j], booked[k]
    first: dict[int, dt.date] = {}
    for who, d in zip(booked, dates):
        first.setdefault(who, d)

    planned: list[PlannedPerson] = []
    victim_witness: list[int] = []
    for i in range(people):
        category, protection = categories[i], protections[i]
        sex = "M" if rng.random() < 0.7 else "F"
        first_name = (_FIRST_M if sex == "M" else _FIRST_F)[int(rng.integers(0, 20))]
        last_name = _LAST[int(rng.integers(0, len(_LAST)))]
        dob = _date_between(rng, dt.date(1962, 1, 1), dt.date(1994, 12, 31))
        pob = _US_STATES[int(rng.integers(0, len(_US_STATES)))] if category == "citizen_birth" else \
            _COUNTRIES[int(rng.integers(0, len(_COUNTRIES)))]
        ref = first.get(i, _date_between(rng, BOOKINGS_FROM, BOOKINGS_TO))
        encounters = _encounters(rng, category, protection, ref)
        a_number = f"A{int(rng.integers(10**8, 10**9 - 1)):09d}" if category in (
            "naturalised", "lpr", "previously_removed") else ""
        arrests = _history(rng, i, ref) if rng.random() < 0.35 else ()
        person = Biographic(last_name=last_name, first_name=first_name, dob=dob, sex=sex, pob=pob,
                            citizenship="US" if category in ("citizen_birth", "naturalised") else pob)
        planned.append(PlannedPerson(index=i, finger_seed=int(seed) * 100_003 + i, category=category,
                                     protection=protection, person=person, encounters=encounters,
                                     a_number=a_number, arrests=arrests))
        if protection == "victim_witness" and encounters:
            victim_witness.append(i)

    plan: list[PlannedBooking] = []
    for n, (who, d) in enumerate(zip(booked, dates), start=1):
        ori = AGENCIES[int(rng.integers(0, len(AGENCIES)))][0]
        codes = sorted({_pick(rng, CHARGES) for _ in range(int(rng.choice([1, 1, 1, 2])))})
        plan.append(PlannedBooking(tcn=f"{ori}-{d:%Y%m%d}-{n:04d}", person_index=who, ori=ori, date=d,
                                   charges=tuple(Charge(c) for c in codes), impression_seed=1000 + n))
    if bad_inputs and plan:
        d = plan[-1].date
        base = plan[0]
        defects = ("truncated", "wrong_tot", "bad_ncic", "unknown_ori", "few_fingers")
        for k, defect in enumerate(defects, start=1):
            ori = "MA9999999" if defect == "unknown_ori" else base.ori
            plan.append(replace(base, tcn=f"{ori}-{d:%Y%m%d}-X{k:03d}", ori=ori, date=d, defect=defect,
                                impression_seed=9000 + k))
        plan.append(replace(plan[0], defect="duplicate"))
    return Population(seed=int(seed), agencies=agencies, activations=activations, people=tuple(planned),
                      bookings=tuple(plan), fingers=tuple(fingers), victim_witness=tuple(victim_witness))
