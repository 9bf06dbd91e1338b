"""Turn the demo plan into real ANSI/NIST-ITL transactions with synthetic fingerprints.

Each person's fingers are masters from ``securecomm.synth.make_person``; the
criminal enrolments carry *rolled* impressions (ten-print cards), the
immigration enrolments and every booking *different plain* impressions of the
same masters (another seed: other placement, pressure,
distortion, noise), so a match has to be found by the engine, as in life.
Bad-input bookings are made by damaging real transactions the way real ones
get damaged (truncation, a wrong TOT, an invalid offense code, an unknown
ORI, too few fingers).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from securecomm.demo.population import SIB_ORI, PlannedBooking, PlannedPerson
from securecomm.domain.records import Booking, CriminalEnrolment, FingerImage, ImmigrationEnrolment

#: Impression seeds of the enrolments (bookings use the plan's seeds).
CRIMINAL_ENROLMENT_SEED = 1
IMMIGRATION_ENROLMENT_SEED = 2


@dataclass(frozen=True)
class PersonTransactions:
    """The transactions that concern one person."""

    index: int
    criminal: bytes | None  # CNA enrolment with prior history
    immigration: bytes | None  # IEN enrolment with encounters
    bookings: tuple[tuple[str, bytes], ...]  # (TCN, CAR bytes), defects applied


def _fingers(person_seed: int, positions: tuple[int, ...], seed: int, kind: str) -> dict[int, FingerImage]:
    from securecomm.synth import make_person, render

    person = make_person(person_seed)
    out: dict[int, FingerImage] = {}
    for pos in positions:
        master = person.fingers.get(pos)
        if master is None:  # amputated: carried as such (2.084 AMP), never rendered
            out[pos] = FingerImage(position=pos, pixels=_empty(), ppi=0.0, amputated=True)
            continue
        imp = render(master, seed, kind)
        out[pos] = FingerImage(position=pos, pixels=imp.pixels, ppi=500.0, impression=1 if kind == "rolled" else 0,
                               compression="WSQ")
    return out


def _empty():
    import numpy as np

    return np.zeros((0, 0), np.uint8)


def _damage(raw: bytes, defect: str) -> bytes:
    """Damage a good CAR transaction the way the named defect would."""
    if defect == "truncated":
        return raw[: len(raw) * 2 // 3]
    if defect == "wrong_tot":
        i = raw.find(b"1.004:CAR")
        return raw[:i] + b"1.004:CNA" + raw[i + 9:] if i >= 0 else raw
    if defect == "bad_ncic":  # a code of the right shape that is no NCIC offense code (same length: lengths hold)
        import re

        m = re.search(rb"2\.901:([0-9]{4})", raw)
        return raw[:m.start(1)] + b"0000" + raw[m.end(1):] if m else raw
    return raw


def person_transactions(p: PlannedPerson, bookings: list[PlannedBooking], positions: tuple[int, ...],
                        enrol_date: dt.date) -> PersonTransactions:
    """Render and write every transaction of one person (a pure function: runs in a pool worker)."""
    from securecomm.interchange import write_booking, write_criminal_enrolment, write_immigration_enrolment
    from securecomm.interchange.ebts import FBI_ORI

    criminal = immigration = None
    if p.arrests:
        fingers = _fingers(p.finger_seed, positions, CRIMINAL_ENROLMENT_SEED, "rolled")
        enrolment = CriminalEnrolment(tcn=f"CNA-{p.index:05d}-{p.finger_seed % 100000:05d}", ori=p.arrests[0].ori,
                                      person=p.person, arrests=p.arrests, fingers=fingers)
        criminal = write_criminal_enrolment(enrolment, date=enrol_date)
    if p.encounters:
        # IDENT enrols flat (plain) prints -- the two-print and later ten-print flats of US-VISIT
        fingers = _fingers(p.finger_seed, positions, IMMIGRATION_ENROLMENT_SEED, "plain")
        enrolment = ImmigrationEnrolment(tcn=f"IEN-{p.index:05d}-{p.finger_seed % 100000:05d}", person=p.person,
                                         encounters=p.encounters, fingers=fingers, a_number=p.a_number)
        immigration = write_immigration_enrolment(enrolment, date=enrol_date)
    out = []
    for b in bookings:
        if b.defect == "duplicate":
            continue  # the runner resubmits the original bytes
        fingers = _fingers(p.finger_seed, positions, b.impression_seed, "plain")
        if b.defect == "few_fingers":
            fingers = dict(list(fingers.items())[:1])
        booking = Booking(ori=b.ori, tcn=b.tcn, dai=FBI_ORI, date=b.date, person=p.person, arrest_date=b.date,
                          charges=b.charges, fingers=fingers, sib_ori=SIB_ORI)
        out.append((b.tcn, _damage(write_booking(booking), b.defect)))
    return PersonTransactions(p.index, criminal, immigration, tuple(out))
