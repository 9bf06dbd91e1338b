"""Protections a person holds against a detainer without human review: setting and clearing them.

U/T visa and VAWA protection follow from immigration encounters and cannot
be cleared by anyone. A known victim or witness of a crime is a flag a
person sets with the basis for it; clearing it takes a field supervisor and
a reason, because a wrongly cleared flag can put a witness under a detainer.
Both are audited in the transaction that changes the flag.
"""

from __future__ import annotations

from securecomm.domain.protections import ProtectionError, check_clear_reason
from securecomm.repositories import ImmigrationRepository, UnknownIdentity
from securecomm.services.unit_of_work import NotFound, UnitOfWork

__all__ = ["flag_victim_witness", "clear_victim_witness"]


def flag_victim_witness(uow: UnitOfWork, fin: str, *, basis: str) -> None:
    """Mark the identity ``fin`` as a known victim or witness, saying on what basis (audited)."""
    uow.require("protection.flag")
    if not (basis or "").strip():
        raise ProtectionError("a victim/witness flag needs the basis for it (case, certification, ...)")
    try:
        ImmigrationRepository(uow.session).set_victim_witness(fin, flagged=True, note=basis)
    except UnknownIdentity as exc:
        raise NotFound(str(exc)) from None
    uow.audit("protection_set", "immigration_identity", fin, detail=f"victim_witness: {basis.strip()}")


def clear_victim_witness(uow: UnitOfWork, fin: str, *, reason: str) -> None:
    """Clear the victim/witness flag of ``fin``: a field supervisor, with a reason (audited)."""
    uow.require("protection.clear")
    reason = check_clear_reason(reason)
    try:
        ImmigrationRepository(uow.session).set_victim_witness(fin, flagged=False, note="")
    except UnknownIdentity as exc:
        raise NotFound(str(exc)) from None
    uow.audit("protection_clear", "immigration_identity", fin, detail=f"victim_witness: {reason}")
