"""EBTS transactions: the CAR booking, enrolments, SRE and ERRT, read and written.

Field choices (see docs/formats.md for the full table):

* Type-1 follows ANSI/NIST-ITL 1-2011 (VER 0500); Type-2 uses FBI EBTS element
  numbers for everything EBTS defines (2.018 NAM, 2.022 DOB, 2.024 SEX, 2.020
  POB, 2.045 DOA, 2.047 ASL ...).
* EBTS carries an arrest charge as 2.047 ASL (date of offense + offense
  literal) with no NCIC code item, so securecomm adds the user-defined field
  2.901 NOC: one NCIC uniform offense code per ASL subfield, in the same order.
* Prior history (CNA enrolment) and the immigration enrolment (securecomm TOT
  ``IEN``, not an EBTS transaction) use user-defined fields 2.910-2.922.

Writers build the bytes with ``nistitl`` and read them back through
:func:`read_transaction` before returning, so nothing invalid leaves (without the
reader's ``nistitl`` cross-check, which gives warnings only and would re-parse
``nistitl``'s own output).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Literal

import nistitl
import numpy as np

from securecomm.domain import offenses
from securecomm.domain.clock import Clock, SystemClock
from securecomm.domain.identifiers import A_NUMBER_FORMAT, ORI_FORMAT, PLACE_FORMAT, TCN_FORMAT
from securecomm.domain.records import (
    ENCOUNTER_TYPES, Arrest, Biographic, Booking, Charge, CriminalEnrolment, Disposition, Encounter, FingerImage,
    ImmigrationEnrolment,
)

from . import text
from .errors import TransactionError, TransactionRejected
from .fields import label
from .images import encode_wsq
from .reader import NistTransaction, read_transaction
from .tokenizer import Record
from .validate import parse_date

__all__ = [
    "TOT_BOOKING", "TOT_CRIMINAL_ENROLMENT", "TOT_IMMIGRATION_ENROLMENT", "TOT_SRE", "TOT_ERRT",
    "SubmissionResult", "ErrorResponse", "parse_booking", "parse_criminal_enrolment",
    "parse_immigration_enrolment", "parse_sre", "parse_errt", "write_booking",
    "write_criminal_enrolment", "write_immigration_enrolment", "write_sre", "write_errt",
]

TOT_BOOKING = "CAR"  # EBTS: Criminal Ten-Print Submission (Answer Required)
TOT_CRIMINAL_ENROLMENT = "CNA"  # EBTS: Criminal Ten-Print Submission (No Answer Necessary)
TOT_IMMIGRATION_ENROLMENT = "IEN"  # securecomm: Immigration ENrolment (not an EBTS TOT)
TOT_SRE = "SRE"  # EBTS: Submission Results - Electronic
TOT_ERRT = "ERRT"  # EBTS: Transaction Error

VERSION = "0500"
#: ORI of the criminal repository (FBI CJIS) used as DAI of bookings by default.
FBI_ORI = "DCFBIWA0Z"
#: ORI securecomm gives the immigration repository (IDENT) as sender of IEN enrolments.
IDENT_ORI = "DCIDENT00"
#: Table 7 impression types of rolled prints (preferred over plain ones of the same finger).
ROLLED_IMP = frozenset({1, 3, 21, 23, 25, 27})
#: Default number of finger images (positions 1-10) a ten-print submission must carry.
MIN_FINGERS = 10

_ORI = re.compile(ORI_FORMAT)
_TCN = re.compile(TCN_FORMAT)
_A_NUMBER = re.compile(A_NUMBER_FORMAT)
_PLACE = re.compile(PLACE_FORMAT)
_SEP = re.compile(r"[\x1c-\x1f]")
Outcome = Literal["convicted", "dismissed", "pending", "acquitted"]
_OUTCOMES = ("convicted", "dismissed", "pending", "acquitted")

# Type-2 field numbers (EBTS unless marked securecomm)
F_RET, F_SCO, F_FBI, F_NAM, F_AKA, F_POB, F_CTZ, F_DOB, F_SEX = 5, 7, 14, 18, 19, 20, 21, 22, 24
F_DOA, F_ASL, F_SRF, F_MSG, F_RAP, F_ERS, F_AMP = 45, 47, 59, 60, 70, 75, 84
F_NOC, F_CUS = 901, 902  # securecomm: NCIC code per ASL charge; custody status
F_ARR, F_CHG, F_DSP = 910, 911, 912  # securecomm: prior arrests, their charges, dispositions
F_FIN, F_ANU, F_ENC = 920, 921, 922  # securecomm: FIN, A-number, immigration encounters


@dataclass(frozen=True)
class SubmissionResult:
    """An SRE (Submission Results - Electronic) read back: the criminal repository's answer to a CAR.

    Not the engine's 1:N ``SearchResult``, which is the search itself.
    """

    tcn: str
    tcr: str
    ori: str
    dai: str
    date: dt.date
    result: Literal["I", "N"]
    ucn: str
    rap_sheet: str


@dataclass(frozen=True)
class ErrorResponse:
    """An ERRT read back: why a submission was refused."""

    tcn: str
    tcr: str
    ori: str
    dai: str
    date: dt.date
    errors: tuple[TransactionError, ...]


# =========================================================================== reading helpers

@lru_cache(maxsize=1)
def _plausibility() -> dict:
    raw = resources.files("securecomm.interchange").joinpath("data/plausibility.json").read_text("utf-8")
    return json.loads(raw)


class _Fields:
    """Reads typed values from one Type-2 record, collecting errors that name the field."""

    def __init__(self, tx: NistTransaction, rec: Record) -> None:
        self.tx, self.rec = tx, rec
        self.errors: list[TransactionError] = []

    def error(self, n: int, reason: str) -> None:
        self.errors.append(TransactionError(self.rec.label, label(2, n), reason))

    def text(self, n: int, *, required: bool = True) -> str:
        """The field's first item, NFC-normalised and within the field's length (data/text_rules.json)."""
        f = self.rec.fields.get(n)
        if f is None or not f.value.strip():
            if required:
                self.error(n, "mandatory field missing" if f is None else "mandatory field is empty")
            return ""
        v = text.normalise(f.value.strip())
        limit = text.rules().max_len(f"2.{n:03d}")
        if len(v) > limit:
            self.error(n, f"{len(v)} characters, longer than the {limit} allowed")
        return v

    def date(self, n: int, *, required: bool = True) -> dt.date | None:
        v = self.text(n, required=required)
        if not v:
            return None
        d = parse_date(v)
        if d is None:
            self.error(n, f"{v!r} is not a valid date YYYYMMDD")
        return d

    def subfields(self, n: int, items: tuple[int, int], *, required: bool = False) -> list[list[str]]:
        f = self.rec.fields.get(n)
        if f is None:
            if required:
                self.error(n, "mandatory field missing")
            return []
        out = []
        for i, sub in enumerate(f.subfields, start=1):
            if not (items[0] <= len(sub) <= items[1]):
                self.error(n, f"subfield {i} has {len(sub)} information items, expected {items[0]}-{items[1]}")
                continue
            out.append([text.normalise(s.strip()) for s in sub] + [""] * (items[1] - len(sub)))
        return out

    def plausible_dates(self, clock: Clock, *, arrest: dt.date | None = None, dob: dt.date | None = None) -> None:
        """NistTransaction and arrest dates not in the future; an age at arrest a person can have (data/plausibility.json)."""
        p = _plausibility()
        latest = clock.now().date() + dt.timedelta(days=p["future_tolerance_days"])
        if self.tx.date != dt.date.min and self.tx.date > latest:
            self.errors.append(TransactionError("Type-1", label(1, 5), f"transaction date {self.tx.date} is in the future"))
        if arrest is not None and arrest > latest:
            self.error(F_DOA, f"date of arrest {arrest} is in the future")
        if dob is None:
            return
        ref = arrest if arrest is not None else min(self.tx.date, latest) if self.tx.date != dt.date.min else latest
        age = ref.year - dob.year - ((ref.month, ref.day) < (dob.month, dob.day))
        if 0 <= age < p["min_age_at_arrest_years"] and dob <= ref:
            self.error(F_DOB, f"date of birth {dob} makes the person {age} years old on {ref}; "
                       f"under {p['min_age_at_arrest_years']} is not plausible")
        elif age > p["max_age_years"]:
            self.error(F_DOB, f"date of birth {dob} makes the person {age} years old on {ref}; "
                       f"over {p['max_age_years']} is not plausible")


    def person(self) -> Biographic | None:
        nam = self.text(F_NAM)
        last = first = middle = ""
        if nam:
            if "," not in nam:
                self.error(F_NAM, f"{nam!r} must be 'SURNAME,GIVEN NAMES'")
            else:
                last, _, given = nam.partition(",")
                last = last.strip()
                parts = given.split()
                first = parts[0] if parts else ""
                middle = " ".join(parts[1:])
                if not last or not first:
                    self.error(F_NAM, f"{nam!r} needs both a surname and a given name")
        dob = self.date(F_DOB)
        sex = self.text(F_SEX)
        if sex and sex not in ("M", "F", "X", "U"):
            self.error(F_SEX, f"{sex!r} must be M, F, X or U")
        pob = self.text(F_POB)
        if pob and not _PLACE.fullmatch(pob):
            self.error(F_POB, f"{pob!r} must be a two-character NCIC state or country code")
        ctz = self.text(F_CTZ, required=False)
        if ctz and not _PLACE.fullmatch(ctz):
            self.error(F_CTZ, f"{ctz!r} must be a two-character NCIC country code")
        if dob is not None and dob > self.tx.date and self.tx.date != dt.date.min:
            self.error(F_DOB, f"date of birth {dob} is after the transaction date {self.tx.date}")
        if self.errors or dob is None:
            return None
        return Biographic(last_name=last, first_name=first, dob=dob, sex=sex, pob=pob,  # type: ignore[arg-type]
                          middle_name=middle, citizenship=ctz)


def _as_transaction(tx: NistTransaction | bytes) -> NistTransaction:
    return read_transaction(tx) if isinstance(tx, (bytes, bytearray, memoryview)) else tx


def _header(tx: NistTransaction, tot: str) -> tuple[Record, list[TransactionError]]:
    errors: list[TransactionError] = []
    if tx.tot != tot:
        errors.append(TransactionError("Type-1", label(1, 4), f"TOT is {tx.tot!r}, expected {tot!r}"))
    if not _ORI.fullmatch(tx.ori):
        errors.append(TransactionError("Type-1", label(1, 8), f"ORI {tx.ori!r} must be 9 upper-case letters or digits"))
    if not tx.tcn.strip():
        errors.append(TransactionError("Type-1", label(1, 9), "TCN is empty"))
    t2 = tx.records_of(2)
    if not t2:
        errors.append(TransactionError("Type-2", label(2, 1), f"a {tot} transaction needs a Type-2 record"))
        raise TransactionRejected(errors)
    if len(t2) > 1:
        errors.append(TransactionError(t2[1].label, label(2, 1), f"a {tot} transaction carries exactly one Type-2 record"))
    return t2[0], errors


def _charges(fx: _Fields, asl_field: int, noc_field: int, *, required: bool) -> tuple[Charge, ...]:
    asl = fx.subfields(asl_field, (1, 2), required=required)
    noc = fx.rec.fields.get(noc_field)
    codes = [sub[0].strip() if sub else "" for sub in noc.subfields] if noc is not None else []
    if asl and noc is None:
        fx.error(noc_field, "mandatory field missing: one NCIC offense code per 2.047 ASL charge")
        return ()
    if len(codes) != len(asl) and asl:
        fx.error(noc_field, f"{len(codes)} NCIC codes for {len(asl)} charges in 2.047 ASL")
        return ()
    out = []
    for i, (sub, code) in enumerate(zip(asl, codes), start=1):
        if not offenses.is_valid(code):
            fx.error(noc_field, f"charge {i}: {code!r} is not an NCIC uniform offense code")
            continue
        literal = sub[1] if len(sub) > 1 and sub[1] else offenses.describe(code)
        out.append(Charge(ncic=code, literal=literal))
    return tuple(out)


def _fingers(tx: NistTransaction, rec: Record, fx: _Fields, required: int) -> dict[int, FingerImage]:
    """Finger positions 1-10 (rolled preferred over plain), plus amputations from 2.084 AMP."""
    best: dict[int, FingerImage] = {}
    for img in tx.finger_images():
        if not 1 <= img.position <= 10:
            continue  # plain thumbs and slaps stay in the transaction, not in the record
        cur = best.get(img.position)
        if cur is None or (img.impression in ROLLED_IMP and cur.impression not in ROLLED_IMP):
            best[img.position] = img
    for sub in fx.subfields(F_AMP, (2, 2)):
        pos = int(sub[0]) if sub[0].isdigit() else -1
        if not 1 <= pos <= 10 or sub[1] not in ("XX", "UP"):
            fx.error(F_AMP, f"amputation entry {'^'.join(sub)!r} must be a finger 1-10 and XX or UP")
        elif pos not in best:
            best[pos] = FingerImage(position=pos, pixels=np.zeros((0, 0), np.uint8), ppi=0.0,
                                    record=rec.label, amputated=True)
    present = sorted(p for p, f in best.items() if not f.amputated)
    amputated = sum(1 for f in best.values() if f.amputated)
    need = max(0, min(required, 10 - amputated))
    if len(present) < need:
        missing = sorted(set(range(1, 11)) - set(best))
        fx.errors.append(TransactionError(
            "Type-4/Type-14", "FGP",
            f"{len(present)} finger images (positions {present or 'none'}); at least {need} required, "
            f"missing positions {missing}"))
    return dict(sorted(best.items()))


# =========================================================================== parsers

def parse_booking(tx: NistTransaction | bytes, *, min_fingers: int = MIN_FINGERS, clock: Clock | None = None) -> Booking:
    """A CAR transaction -> :class:`Booking`; TransactionRejected naming record/field/reason.

    ``clock`` says what "today" is for the dates a booking may not claim (the system clock by default).
    """
    tx = _as_transaction(tx)
    rec, errors = _header(tx, TOT_BOOKING)
    fx = _Fields(tx, rec)
    person = fx.person()
    doa = fx.date(F_DOA)
    if doa is not None and tx.date != dt.date.min and doa > tx.date:
        fx.error(F_DOA, f"date of arrest {doa} is after the transaction date {tx.date}")
    fx.plausible_dates(clock or SystemClock(), arrest=doa, dob=person.dob if person is not None else None)
    charges = _charges(fx, F_ASL, F_NOC, required=True)
    if not charges and not any(e.field.startswith(("2.047", "2.901")) for e in fx.errors):
        fx.error(F_ASL, "a booking needs at least one charge")
    sco = fx.text(F_SCO, required=False)
    if sco and not _ORI.fullmatch(sco):
        fx.error(F_SCO, f"ORI {sco!r} must be 9 upper-case letters or digits")
    custody = fx.text(F_CUS, required=False) or "IN CUSTODY"
    captured_at = _gmt(tx, errors)
    fingers = _fingers(tx, rec, fx, min_fingers)
    errors += fx.errors
    if errors or person is None or doa is None:
        raise TransactionRejected(errors or [TransactionError(rec.label, label(2, F_NAM), "incomplete descriptive data")])
    return Booking(ori=tx.ori, tcn=tx.tcn, dai=tx.dai, date=tx.date, person=person, arrest_date=doa,
                   charges=charges, fingers=fingers, custody=custody, sib_ori=sco, captured_at=captured_at)


def _gmt(tx: NistTransaction, errors: list[TransactionError]) -> dt.datetime | None:
    """1.014 GMT, the UTC time the transaction was made (the live-scan capture), when present."""
    value = tx.type1.value(14)
    if not value:
        return None
    try:
        return dt.datetime.strptime(value, "%Y%m%d%H%M%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        errors.append(TransactionError("Type-1", label(1, 14), f"{value!r} is not a UTC time YYYYMMDDhhmmssZ"))
        return None


def parse_criminal_enrolment(tx: NistTransaction | bytes, *, min_fingers: int = MIN_FINGERS,
                             clock: Clock | None = None) -> CriminalEnrolment:
    """A CNA transaction with prior history (2.910-2.912) -> :class:`CriminalEnrolment`."""
    tx = _as_transaction(tx)
    rec, errors = _header(tx, TOT_CRIMINAL_ENROLMENT)
    fx = _Fields(tx, rec)
    person = fx.person()
    fx.plausible_dates(clock or SystemClock())
    ucn = fx.text(F_FBI, required=False)
    arrests_raw = fx.subfields(F_ARR, (3, 3))
    charges: dict[int, list[Charge]] = {}
    for sub in fx.subfields(F_CHG, (2, 3)):
        idx = int(sub[0]) if sub[0].isdigit() else 0
        if not 1 <= idx <= len(arrests_raw):
            fx.error(F_CHG, f"charge refers to arrest {sub[0]!r}, but 2.910 ARR lists {len(arrests_raw)}")
        elif not offenses.is_valid(sub[1]):
            fx.error(F_CHG, f"{sub[1]!r} is not an NCIC uniform offense code")
        else:
            charges.setdefault(idx, []).append(Charge(sub[1], sub[2] or offenses.describe(sub[1])))
    dispositions: dict[int, list[Disposition]] = {}
    for sub in fx.subfields(F_DSP, (6, 6)):
        idx = int(sub[0]) if sub[0].isdigit() else 0
        outcome = sub[2].lower()
        ddate = parse_date(sub[3]) if sub[3] else None
        if not 1 <= idx <= len(arrests_raw):
            fx.error(F_DSP, f"disposition refers to arrest {sub[0]!r}, but 2.910 ARR lists {len(arrests_raw)}")
        elif not offenses.is_valid(sub[1]):
            fx.error(F_DSP, f"{sub[1]!r} is not an NCIC uniform offense code")
        elif outcome not in _OUTCOMES:
            fx.error(F_DSP, f"outcome {sub[2]!r} must be one of {', '.join(o.upper() for o in _OUTCOMES)}")
        elif sub[3] and ddate is None:
            fx.error(F_DSP, f"disposition date {sub[3]!r} is not YYYYMMDD")
        elif sub[4] not in ("F", "M") or not sub[5].isdigit():
            fx.error(F_DSP, f"class {sub[4]!r} must be F or M and sentence days {sub[5]!r} a number")
        else:
            dispositions.setdefault(idx, []).append(Disposition(
                ncic=sub[1], outcome=outcome, date=ddate, felony=sub[4] == "F", sentence_days=int(sub[5])))  # type: ignore[arg-type]
    arrests = []
    for i, sub in enumerate(arrests_raw, start=1):
        d = parse_date(sub[0])
        if d is None:
            fx.error(F_ARR, f"arrest {i}: date {sub[0]!r} is not YYYYMMDD")
            continue
        if not _ORI.fullmatch(sub[1]):
            fx.error(F_ARR, f"arrest {i}: ORI {sub[1]!r} must be 9 upper-case letters or digits")
            continue
        arrests.append(Arrest(date=d, ori=sub[1], tcn=sub[2], charges=tuple(charges.get(i, ())),
                              dispositions=tuple(dispositions.get(i, ()))))
    fingers = _fingers(tx, rec, fx, min_fingers)
    errors += fx.errors
    if errors or person is None:
        raise TransactionRejected(errors or [TransactionError(rec.label, label(2, F_NAM), "incomplete descriptive data")])
    return CriminalEnrolment(tcn=tx.tcn, ori=tx.ori, person=person, arrests=tuple(arrests),
                             fingers=fingers, ucn=ucn)


def parse_immigration_enrolment(tx: NistTransaction | bytes, *, min_fingers: int = MIN_FINGERS,
                                clock: Clock | None = None) -> ImmigrationEnrolment:
    """A securecomm IEN transaction -> :class:`ImmigrationEnrolment`."""
    tx = _as_transaction(tx)
    rec, errors = _header(tx, TOT_IMMIGRATION_ENROLMENT)
    fx = _Fields(tx, rec)
    person = fx.person()
    fx.plausible_dates(clock or SystemClock())
    fin = fx.text(F_FIN, required=False)
    anum = fx.text(F_ANU, required=False)
    if anum and not _A_NUMBER.fullmatch(anum):
        fx.error(F_ANU, f"A-number {anum!r} must be 8 or 9 digits, optionally prefixed by A")
    aliases = tuple(" ".join(s for s in sub if s) for sub in fx.subfields(F_AKA, (1, 1)))
    encounters = []
    for i, sub in enumerate(fx.subfields(F_ENC, (2, 5), required=True), start=1):
        etype, d = sub[0].lower(), parse_date(sub[1])
        expires = parse_date(sub[3]) if sub[3] else None
        if etype not in ENCOUNTER_TYPES:
            fx.error(F_ENC, f"encounter {i}: type {sub[0]!r} is not one of {', '.join(ENCOUNTER_TYPES)}")
        elif d is None:
            fx.error(F_ENC, f"encounter {i}: date {sub[1]!r} is not YYYYMMDD")
        elif sub[3] and expires is None:
            fx.error(F_ENC, f"encounter {i}: expiry {sub[3]!r} is not YYYYMMDD")
        else:
            encounters.append(Encounter(type=etype, date=d, location=sub[2], expires=expires, note=sub[4]))
    fingers = _fingers(tx, rec, fx, min_fingers)
    errors += fx.errors
    if errors or person is None:
        raise TransactionRejected(errors or [TransactionError(rec.label, label(2, F_NAM), "incomplete descriptive data")])
    return ImmigrationEnrolment(tcn=tx.tcn, person=person, encounters=tuple(encounters), fingers=fingers,
                                fin=fin, a_number=anum, aliases=aliases)


def parse_sre(tx: NistTransaction | bytes) -> SubmissionResult:
    """An SRE -> :class:`SubmissionResult`."""
    tx = _as_transaction(tx)
    rec, errors = _header(tx, TOT_SRE)
    fx = _Fields(tx, rec)
    result = fx.text(F_SRF)
    if result and result not in ("I", "N"):
        fx.error(F_SRF, f"search result {result!r} must be I or N")
    ucn = fx.text(F_FBI, required=result == "I")
    rap = fx.rec.fields.get(F_ERS)
    rap_text = rap.raw.decode("utf-8", "replace") if rap is not None else ""
    errors += fx.errors
    if errors:
        raise TransactionRejected(errors)
    return SubmissionResult(tcn=tx.tcn, tcr=tx.tcr, ori=tx.ori, dai=tx.dai, date=tx.date,
                        result=result, ucn=ucn, rap_sheet=rap_text)  # type: ignore[arg-type]


_MSG = re.compile(r"^(?P<record>.+?), field (?P<field>.+?): (?P<reason>.*)$", re.S)


def parse_errt(tx: NistTransaction | bytes) -> ErrorResponse:
    """An ERRT -> :class:`ErrorResponse` (each 2.060 MSG subfield back to a TransactionError)."""
    tx = _as_transaction(tx)
    rec, errors = _header(tx, TOT_ERRT)
    fx = _Fields(tx, rec)
    msgs = fx.subfields(F_MSG, (1, 3), required=True)
    out = []
    for sub in msgs:
        if sub[1] or sub[2]:
            out.append(TransactionError(sub[0], sub[1], sub[2]))
        else:
            m = _MSG.match(sub[0])
            out.append(TransactionError(m["record"], m["field"], m["reason"]) if m
                       else TransactionError("transaction", "-", sub[0]))
    errors += fx.errors
    if errors:
        raise TransactionRejected(errors)
    return ErrorResponse(tcn=tx.tcn, tcr=tx.tcr, ori=tx.ori, dai=tx.dai, date=tx.date, errors=tuple(out))


# =========================================================================== writing helpers

def _clean(value: object, what: str, *, max_len: int = 1000) -> str:
    text = "" if value is None else str(value)
    if _SEP.search(text):
        raise ValueError(f"{what}: contains an ANSI/NIST separator character")
    if len(text) > max_len:
        raise ValueError(f"{what}: longer than {max_len} characters")
    return text


class _Writer:
    """Builds one transaction with nistitl; text is carried as UTF-8 (DCS 3) when not plain ASCII."""

    def __init__(self, tot: str, *, ori: str, dai: str, tcn: str, tcr: str = "", date: dt.date,
                 images: bool, gmt: dt.datetime | None = None) -> None:
        """``images``: the transaction carries Type-4 records (NSR/NTR 19.69; 00.00 otherwise, 2011 rule)."""
        for name, v in (("ORI", ori), ("DAI", dai)):
            if not _ORI.fullmatch(v):
                raise ValueError(f"{name} {v!r} must be 9 upper-case letters or digits")
        if not tcn or not _TCN.fullmatch(tcn):
            raise ValueError(f"TCN {tcn!r} must be 1-40 letters, digits or '-'")
        if tcr and not _TCN.fullmatch(tcr):
            raise ValueError(f"TCR {tcr!r} must be 1-40 letters, digits or '-'")
        self.msg = nistitl.Message()
        self.utf8 = False
        t1 = self.msg[0]
        t1.VER = VERSION
        self.msg.TOT = tot
        t1.DAT = date.strftime("%Y%m%d")
        t1.DAI = dai
        t1.ORI = ori
        t1.TCN = tcn
        if tcr:
            t1.TCR = tcr
        t1.NSR = "19.69" if images else "00.00"
        t1.NTR = "19.69" if images else "00.00"
        t1 += nistitl.Field(1, 13, "NORAM" if tot != TOT_IMMIGRATION_ENROLMENT else "SECURECOMM")
        if gmt is not None:
            t1 += nistitl.Field(1, 14, gmt.astimezone(dt.UTC).strftime("%Y%m%d%H%M%SZ"))
        self.date = date
        self.ori = ori
        self.t2 = nistitl.AsciiRecord(2)
        self.t2.IDC = 0
        self.msg += self.t2
        self.next_idc = 1

    def _enc(self, text: str) -> str:
        if not text.isascii():
            self.utf8 = True
            return text.encode("utf-8").decode("latin-1")  # nistitl writes latin-1: bytes stay UTF-8
        return text

    def field(self, n: int, value: str, *, max_len: int = 1000) -> None:
        if value:
            self.t2 += nistitl.Field(2, n, self._enc(_clean(value, label(2, n), max_len=max_len)))

    def subfields(self, n: int, rows: Iterable[Sequence[object]]) -> None:
        rows = list(rows)
        if not rows:
            return
        f = nistitl.Field(2, n)
        for row in rows:
            sf = nistitl.SubField()
            sf.add_values(*[self._enc(_clean(v, label(2, n))) for v in row])
            f.add_subfields(sf)
        self.t2 += f

    def person(self, p: Biographic) -> None:
        if not p.last_name.strip() or not p.first_name.strip() or "," in p.last_name:
            raise ValueError(f"name needs a surname without commas and a given name: {p.last_name!r}, {p.first_name!r}")
        given = " ".join(x for x in (p.first_name.strip(), p.middle_name.strip()) if x)
        self.field(F_NAM, f"{p.last_name.strip()},{given}")
        if not _PLACE.fullmatch(p.pob):
            raise ValueError(f"place of birth {p.pob!r} must be a two-character NCIC code")
        self.field(F_POB, p.pob)
        if p.citizenship:
            if not _PLACE.fullmatch(p.citizenship):
                raise ValueError(f"citizenship {p.citizenship!r} must be a two-character NCIC code")
            self.field(F_CTZ, p.citizenship)
        self.field(F_DOB, p.dob.strftime("%Y%m%d"))
        if p.sex not in ("M", "F", "X", "U"):
            raise ValueError(f"sex {p.sex!r} must be M, F, X or U")
        self.field(F_SEX, p.sex)

    def fingers(self, fingers: dict[int, FingerImage], image_type: int) -> None:
        amputated = []
        for pos, img in sorted(fingers.items()):
            if img.amputated or img.pixels.size == 0:
                amputated.append((pos, "XX"))
                continue
            if pos != img.position:
                raise ValueError(f"finger stored under position {pos} says position {img.position}")
            self.image(img, image_type)
        self.subfields(F_AMP, amputated)

    def image(self, img: FingerImage, image_type: int) -> None:
        pix = np.ascontiguousarray(img.pixels, dtype=np.uint8)
        if pix.ndim != 2:
            raise ValueError(f"finger {img.position}: pixels must be a 2-D grayscale array")
        h, w = pix.shape
        data = encode_wsq(pix)
        idc = self.next_idc
        self.next_idc += 1
        imp = img.impression if img.impression in (0, 1, 2, 3) else 1
        if image_type == 4:
            if abs(img.ppi - 500) > 5:
                raise ValueError(f"finger {img.position}: Type-4 carries 500 ppi images only ({img.ppi} ppi); use Type-14")
            if max(h, w) > 65535:
                raise ValueError("image too large for a Type-4 record")
            rec = nistitl.BinaryRecord(4)
            rec.IDC = idc
            rec.pack("!B6BBHHB", imp, img.position, 255, 255, 255, 255, 255, 0, w, h, 1, data)
            self.msg += rec
        elif image_type == 14:
            rec = nistitl.AsciiRecord(14, autocreate=False)
            rec += nistitl.Field(14, 1, "0")
            rec += nistitl.Field(14, 2, str(idc))
            for n, v in ((3, imp), (4, self.ori), (5, self.date.strftime("%Y%m%d")), (6, w), (7, h), (8, 1),
                         (9, round(img.ppi)), (10, round(img.ppi)), (11, "WSQ20"), (12, 8), (13, img.position)):
                rec += nistitl.Field(14, n, str(v))
            rec += nistitl.BinaryField(14, 999, data)
            self.msg += rec
        else:
            raise ValueError(f"image_type must be 4 or 14, not {image_type!r}")

    def bytes(self) -> bytes:
        if self.utf8:
            dcs = nistitl.Field(1, 15)
            sf = nistitl.SubField()
            sf.add_values("3", "UTF-8")
            dcs.add_subfields(sf)
            t1 = self.msg[0]
            t1 += dcs
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = self.msg.NIST
        # never emit a transaction our own reader refuses; nistitl's cross-check, which only ever adds a warning,
        # would parse back what nistitl has just written (and its findings are not kept here)
        read_transaction(data, crosscheck=False)
        return data


def _check_charges(charges: Sequence[Charge], what: str) -> None:
    for c in charges:
        if not offenses.is_valid(c.ncic):
            raise ValueError(f"{what}: {c.ncic!r} is not an NCIC uniform offense code")


# =========================================================================== writers

def write_booking(booking: Booking, *, image_type: Literal[4, 14] = 14) -> bytes:
    """A :class:`Booking` -> CAR transaction (Type-1, Type-2, one Type-14 or Type-4 WSQ record per finger)."""
    if not booking.charges:
        raise ValueError("a booking needs at least one charge")
    _check_charges(booking.charges, "charge")
    w = _Writer(TOT_BOOKING, ori=booking.ori, dai=booking.dai, tcn=booking.tcn, date=booking.date,
                images=image_type == 4 and bool(booking.fingers), gmt=booking.captured_at)
    w.field(F_RET, "Y")
    if booking.sib_ori:
        if not _ORI.fullmatch(booking.sib_ori):
            raise ValueError(f"SIB ORI {booking.sib_ori!r} must be 9 upper-case letters or digits")
        w.field(F_SCO, booking.sib_ori)
    w.person(booking.person)
    w.field(F_DOA, booking.arrest_date.strftime("%Y%m%d"))
    doo = booking.arrest_date.strftime("%Y%m%d")
    w.subfields(F_ASL, [(doo, c.literal or offenses.describe(c.ncic)) for c in booking.charges])
    w.subfields(F_NOC, [(c.ncic,) for c in booking.charges])
    w.field(F_RAP, "Y")
    w.field(F_CUS, booking.custody)
    w.fingers(booking.fingers, image_type)
    return w.bytes()


def write_criminal_enrolment(enrolment: CriminalEnrolment, *, dai: str = FBI_ORI, date: dt.date | None = None,
                             image_type: Literal[4, 14] = 14) -> bytes:
    """A :class:`CriminalEnrolment` -> CNA transaction with prior arrests/charges/dispositions (2.910-2.912)."""
    w = _Writer(TOT_CRIMINAL_ENROLMENT, ori=enrolment.ori, dai=dai, tcn=enrolment.tcn,
                date=date or dt.date.today(), images=image_type == 4 and bool(enrolment.fingers))
    w.field(F_RET, "Y")
    if enrolment.ucn:
        w.field(F_FBI, enrolment.ucn)
    w.person(enrolment.person)
    arrests, charges, disps = [], [], []
    for i, a in enumerate(enrolment.arrests, start=1):
        _check_charges(a.charges, f"arrest {i}")
        if not _ORI.fullmatch(a.ori):
            raise ValueError(f"arrest {i}: ORI {a.ori!r} must be 9 upper-case letters or digits")
        arrests.append((a.date.strftime("%Y%m%d"), a.ori, a.tcn))
        charges += [(i, c.ncic, c.literal) for c in a.charges]
        for d in a.dispositions:
            if not offenses.is_valid(d.ncic) or d.outcome not in _OUTCOMES:
                raise ValueError(f"arrest {i}: disposition {d.ncic}/{d.outcome} is not valid")
            disps.append((i, d.ncic, d.outcome.upper(), d.date.strftime("%Y%m%d") if d.date else "",
                          "F" if d.felony else "M", max(0, int(d.sentence_days))))
    w.subfields(F_ARR, arrests)
    w.subfields(F_CHG, charges)
    w.subfields(F_DSP, disps)
    w.fingers(enrolment.fingers, image_type)
    return w.bytes()


def write_immigration_enrolment(enrolment: ImmigrationEnrolment, *, ori: str = IDENT_ORI, dai: str = IDENT_ORI,
                                date: dt.date | None = None, image_type: Literal[4, 14] = 14) -> bytes:
    """An :class:`ImmigrationEnrolment` -> securecomm IEN transaction (FIN, A-number, aliases, encounters)."""
    if not enrolment.encounters:
        raise ValueError("an immigration enrolment needs at least one encounter")
    w = _Writer(TOT_IMMIGRATION_ENROLMENT, ori=ori, dai=dai, tcn=enrolment.tcn, date=date or dt.date.today(),
                images=image_type == 4 and bool(enrolment.fingers))
    w.person(enrolment.person)
    w.subfields(F_AKA, [(a,) for a in enrolment.aliases])
    if enrolment.fin:
        w.field(F_FIN, enrolment.fin)
    if enrolment.a_number:
        if not _A_NUMBER.fullmatch(enrolment.a_number):
            raise ValueError(f"A-number {enrolment.a_number!r} must be 8 or 9 digits, optionally prefixed by A")
        w.field(F_ANU, enrolment.a_number)
    rows = []
    for e in enrolment.encounters:
        if e.type not in ENCOUNTER_TYPES:
            raise ValueError(f"encounter type {e.type!r} is not one of {ENCOUNTER_TYPES}")
        rows.append((e.type, e.date.strftime("%Y%m%d"), e.location, e.expires.strftime("%Y%m%d") if e.expires else "",
                     e.note))
    w.subfields(F_ENC, rows)
    w.fingers(enrolment.fingers, image_type)
    return w.bytes()


def write_sre(*, tcn: str, tcr: str, ori: str, dai: str, result: Literal["I", "N"], ucn: str, rap_sheet: str,
              date: dt.date) -> bytes:
    """SRE: search result I/N (2.059 SRF), UCN (2.014 FBI) and rap sheet (2.075 ERS) for submission ``tcr``."""
    if result not in ("I", "N"):
        raise ValueError(f"search result must be 'I' or 'N', not {result!r}")
    if result == "I" and not ucn:
        raise ValueError("an identification (I) needs the UCN")
    w = _Writer(TOT_SRE, ori=ori, dai=dai, tcn=tcn, tcr=tcr, date=date, images=False)
    w.field(F_FBI, ucn)
    w.field(F_SRF, result)
    w.field(F_ERS, rap_sheet, max_len=1_000_000)
    return w.bytes()


def write_errt(*, tcn: str, tcr: str, ori: str, dai: str, errors: Sequence[TransactionError], date: dt.date) -> bytes:
    """ERRT for submission ``tcr``: one 2.060 MSG subfield per error (record, field, reason items)."""
    if not errors:
        raise ValueError("an ERRT needs at least one error")
    w = _Writer(TOT_ERRT, ori=ori, dai=dai, tcn=tcn, tcr=tcr, date=date, images=False)
    w.subfields(F_MSG, [(_printable(e.record), _printable(e.field), _printable(e.reason)) for e in errors])
    return w.bytes()


def _printable(value: str) -> str:
    """Error text may quote hostile bytes: keep it safe to carry in a field."""
    return text.printable(_SEP.sub("?", value))[:1000] or "-"
