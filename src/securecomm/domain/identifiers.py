"""The identifiers of the programme: what each looks like and how a typo is caught.

=========  ===============================================================================
ORI        originating agency identifier: 9 characters; an agency's begins with its state
TCN        transaction control number: 1..40 letters, digits and hyphens, unique per submitter
UCN        universal control number (FBI number) of a criminal subject: 8 digits + check letter
FIN        fingerprint identification number of an immigration identity: 9 digits + Luhn digit
A-number   alien registration number: ``A`` + 9 digits (7 to 9 digits accepted, zero-padded)
=========  ===============================================================================

The ``*_FORMAT`` strings are regular expressions over the whole value, shared
by the EBTS reader and writers and the JSON documents (``securecomm.interchange``).
"""

from __future__ import annotations

import re

#: A 9-character ORI as the wire formats carry it (EBTS 1.004 / 1.008, JSON messages).
ORI_FORMAT = r"[A-Z0-9]{9}"
#: A transaction control number.
TCN_FORMAT = r"[A-Za-z0-9\-]{1,40}"
#: An alien registration number as the wire formats carry it.
A_NUMBER_FORMAT = r"A?\d{8,9}"
#: An NCIC state or country code (place of birth, citizenship).
PLACE_FORMAT = r"[A-Z0-9]{2}"

#: Generated UCNs: 8 digits of sequence + 1 check letter (9 characters, like an FBI number).
UCN_DIGITS = 8
#: Generated FINs: 9 digits of sequence + a Luhn check digit.
FIN_DIGITS = 9

_AGENCY_ORI = re.compile(r"^[A-Z]{2}[A-Z0-9]{7}$")
_STATE = re.compile(r"^[A-Z]{2}$")
_A_NUMBER = re.compile(r"^A?-?(\d{7,9})$")


class InvalidIdentifier(ValueError):
    """A value that is not a well-formed identifier of the kind asked for (the message says which)."""


# --------------------------------------------------------------------------- check characters


def check_digit_letter(digits: str) -> str:
    """Check letter over a digit string: weights 1..n mod 23 catch any one wrong digit or swap."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXY"  # 23 letters: no I, O, Z (read as 1, 0, 2)
    return alphabet[sum((i + 1) * int(d) for i, d in enumerate(digits)) % len(alphabet)]


def luhn_digit(digits: str) -> str:
    """Luhn check digit for a digit string."""
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return str((10 - total % 10) % 10)


# --------------------------------------------------------------------------- UCN and FIN


def make_ucn(n: int) -> str:
    """The UCN for sequence number ``n``: zero-padded digits and a check letter."""
    if not 1 <= n < 10**UCN_DIGITS:
        raise InvalidIdentifier(f"UCN sequence {n} outside 1..{10**UCN_DIGITS - 1}")
    digits = f"{n:0{UCN_DIGITS}d}"
    return digits + check_digit_letter(digits)


def is_valid_ucn(ucn: str) -> bool:
    """True for a generated UCN whose check letter is right."""
    return (isinstance(ucn, str) and len(ucn) == UCN_DIGITS + 1 and ucn[:-1].isdigit()
            and ucn[-1] == check_digit_letter(ucn[:-1]))


def make_fin(n: int) -> str:
    """The FIN for sequence number ``n``: zero-padded digits and a Luhn digit."""
    if not 1 <= n < 10**FIN_DIGITS:
        raise InvalidIdentifier(f"FIN sequence {n} outside 1..{10**FIN_DIGITS - 1}")
    digits = f"{n:0{FIN_DIGITS}d}"
    return digits + luhn_digit(digits)


def is_valid_fin(fin: str) -> bool:
    """True for a generated FIN whose Luhn digit is right."""
    return (isinstance(fin, str) and len(fin) == FIN_DIGITS + 1 and fin.isdigit()
            and luhn_digit(fin[:-1]) == fin[-1])


def normalise_a_number(value: str) -> str:
    """An A-number as ``A`` + 9 digits (``A12345678`` -> ``A012345678``)."""
    m = _A_NUMBER.match(value.strip().upper().replace(" ", "")) if isinstance(value, str) else None
    if m is None:
        raise InvalidIdentifier(f"A-number {value!r} is not 'A' followed by 7 to 9 digits")
    return "A" + m.group(1).zfill(9)


# --------------------------------------------------------------------------- ORI and state


def validate_ori(ori: object, what: str = "ORI") -> str:
    """An agency's ORI upper-cased: 9 characters, the first two its state's letters."""
    if not isinstance(ori, str) or not _AGENCY_ORI.match(ori.strip().upper()):
        raise InvalidIdentifier(f"{what} {ori!r} is not a 9-character ORI (two state letters + 7 characters)")
    return ori.strip().upper()


def validate_state(state: object, what: str = "state") -> str:
    """A two-letter state, district or territory code, upper-cased."""
    if not isinstance(state, str) or not _STATE.match(state.strip().upper()):
        raise InvalidIdentifier(f"{what} {state!r} is not a two-letter code")
    return state.strip().upper()


def validate_tcn(tcn: object, what: str = "TCN") -> str:
    """A transaction control number, stripped: 1..40 letters, digits and hyphens."""
    if not isinstance(tcn, str) or not re.fullmatch(TCN_FORMAT, tcn.strip()):
        raise InvalidIdentifier(f"{what} {tcn!r} is not 1..40 letters, digits and hyphens")
    return tcn.strip()
