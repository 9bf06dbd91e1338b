"""The domain records: a booking, a person, charges, dispositions, arrests, encounters, enrolments.

Independent of any wire format and of the database: the interchange adapter
(``securecomm.interchange``) turns ANSI/NIST-ITL transactions into these and
back; the store adapter (``securecomm.repositories``) persists them; the
workflow and the services only ever see these. Plain frozen dataclasses, so
every rule can be tested without building a transaction file.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

#: Finger positions 1..10 (1 right thumb .. 5 right little, 6 left thumb .. 10 left little);
#: 11/12 plain thumbs, 13/14 four-finger slaps, 0 unknown (ANSI/NIST-ITL Table 8).
FINGER_NAMES: dict[int, str] = {
    0: "unknown", 1: "right thumb", 2: "right index", 3: "right middle", 4: "right ring",
    5: "right little", 6: "left thumb", 7: "left index", 8: "left middle", 9: "left ring",
    10: "left little", 11: "plain right thumb", 12: "plain left thumb",
    13: "plain right four fingers", 14: "plain left four fingers",
}


@dataclass(frozen=True)
class FingerImage:
    """One decoded finger image: 8-bit grayscale pixels and where they came from."""

    position: int  # FGP, see FINGER_NAMES
    pixels: np.ndarray  # uint8, shape (height, width)
    ppi: float  # scanning resolution
    impression: int = 0  # IMP: 0 live-scan plain, 1 live-scan rolled, 2 nonlive plain, 3 nonlive rolled
    compression: str = "NONE"  # WSQ, PNG, JP2, NONE, ...
    record: str = ""  # e.g. "Type-4 #3", for error messages
    amputated: bool = False  # AMP: finger missing or unprintable (no pixels expected)


@dataclass(frozen=True)
class Charge:
    """One arrest charge: NCIC uniform offense code (4 digits) and its literal text."""

    ncic: str
    literal: str = ""


@dataclass(frozen=True)
class Biographic:
    """Descriptive text of a subject (EBTS Type-2 fields)."""

    last_name: str
    first_name: str
    dob: dt.date
    sex: Literal["M", "F", "X", "U"]
    pob: str  # place of birth, two-letter state or country code
    middle_name: str = ""
    citizenship: str = ""  # CTZ, when the subject states it


@dataclass(frozen=True)
class Booking:
    """A criminal ten-print submission (TOT ``CAR``): one arrest at one agency."""

    ori: str  # the booking agency
    tcn: str  # transaction control number, unique per submitter
    dai: str  # destination agency identifier
    date: dt.date  # transaction date (1.005)
    person: Biographic
    arrest_date: dt.date
    charges: tuple[Charge, ...]
    fingers: dict[int, FingerImage] = field(default_factory=dict)
    custody: str = "IN CUSTODY"
    sib_ori: str = ""  # the state identification bureau that receives copies


Outcome = Literal["convicted", "dismissed", "pending", "acquitted"]


@dataclass(frozen=True)
class Disposition:
    """What a court made of one charge."""

    ncic: str
    outcome: Outcome
    date: dt.date | None = None
    felony: bool = False
    sentence_days: int = 0  # custodial sentence imposed, 0 for none


@dataclass(frozen=True)
class Arrest:
    """One arrest cycle on a rap sheet."""

    date: dt.date
    ori: str
    tcn: str
    charges: tuple[Charge, ...]
    dispositions: tuple[Disposition, ...] = ()


@dataclass(frozen=True)
class CriminalEnrolment:
    """A subject enrolled directly into the criminal repository, with prior history."""

    tcn: str
    ori: str
    person: Biographic
    arrests: tuple[Arrest, ...]
    fingers: dict[int, FingerImage] = field(default_factory=dict)
    ucn: str = ""  # assigned by the repository when empty


#: Immigration encounter types the immigration repository records.
ENCOUNTER_TYPES = (
    "visa_application", "admission", "border_apprehension", "expedited_removal",
    "removal_order", "removal", "voluntary_return", "lpr_grant", "naturalization",
    "asylum_application", "asylum_grant", "u_visa_application", "t_visa_application",
    "vawa_self_petition", "visa_overstay", "tps_grant", "daca_grant",
)


@dataclass(frozen=True)
class Encounter:
    """One immigration encounter: what happened, when, and where."""

    type: str  # one of ENCOUNTER_TYPES
    date: dt.date
    location: str = ""
    expires: dt.date | None = None  # for admissions and grants with an end date
    note: str = ""


@dataclass(frozen=True)
class ImmigrationEnrolment:
    """An identity enrolled into the immigration repository."""

    tcn: str
    person: Biographic
    encounters: tuple[Encounter, ...]
    fingers: dict[int, FingerImage] = field(default_factory=dict)
    fin: str = ""  # assigned by the repository when empty
    a_number: str = ""
    aliases: tuple[str, ...] = ()
