"""Protections: who must never get a detainer without a person reviewing the case.

ICE's June 2011 victim/witness policy, U and T visa applicants and VAWA
self-petitioners. U/T visa and VAWA protection follow from immigration
encounters (so they cannot drift from the record); a known victim or
witness of a crime is a flag a person sets, with its basis, and only a
field supervisor clears, with a reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

#: Every protection, one vocabulary for the repositories, the policy data and the IAR.
PROTECTED_FLAGS = ("victim_witness", "u_visa", "t_visa", "vawa")

#: Encounter types that mean the person is protected, and the flag each gives.
PROTECTING_ENCOUNTERS = {
    "u_visa_application": "u_visa",
    "t_visa_application": "t_visa",
    "vawa_self_petition": "vawa",
}

#: A reason for clearing a protection shorter than this says nothing (e.g. "ok", "done").
CLEAR_REASON_MIN = 10


class ProtectionError(ValueError):
    """A protection change that the rules do not allow as asked (the message says why)."""


class _HasType(Protocol):
    type: str


def protected_flags(encounters: Iterable[_HasType], *, victim_witness: bool = False) -> frozenset[str]:
    """The protections a person holds: those their encounters give, plus a victim/witness flag."""
    flags = {PROTECTING_ENCOUNTERS[e.type] for e in encounters if e.type in PROTECTING_ENCOUNTERS}
    if victim_witness:
        flags.add("victim_witness")
    return frozenset(flags)


def check_clear_reason(reason: object) -> str:
    """The reason for clearing a protection, stripped; one that says nothing is refused."""
    text = " ".join(str(reason or "").split())
    if len(text) < CLEAR_REASON_MIN:
        raise ProtectionError(f"clearing a protection needs a reason of at least {CLEAR_REASON_MIN} characters "
                              f"(got {text!r})")
    return text
