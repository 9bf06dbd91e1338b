"""Who is acting: a role from a closed set and the scopes it holds.

A :class:`Principal` is built by an entry point from something it trusts (the
operator's configured identity on the CLI, a verified token in the HTTP API,
the worker's own identity in the pipeline), never from fields of a request.
What a role may do is decided by ``securecomm.services.permissions``; what it
may *see* is narrowed further by its scopes (an agency sees its own ORI, a
state bureau its state, a field office its area of responsibility).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """Every party that may act in the system; anything else is refused."""

    AGENCY = "agency"                       # booking agency: submits bookings, reads its own answers (scope: ORI)
    SIB = "sib"                             # state identification bureau: copies for its state (scope: state)
    EXAMINER = "examiner"                   # fingerprint examiner: biometric review queue
    LESC_ANALYST = "lesc_analyst"           # status determination centre: IAQs, status reviews
    FIELD_OFFICER = "field_officer"         # ICE field office: IARs and detainer decisions (scope: area)
    FIELD_SUPERVISOR = "field_supervisor"   # supervisor: may clear protections, with a reason (scope: area)
    JAIL = "jail"                           # jail: answers detainers, records release times (scope: ORI)
    OVERSIGHT = "oversight"                 # auditors, state officials: statistics and the audit trail
    PUBLIC = "public"                       # the public: aggregate statistics only
    ADMIN = "admin"                         # configuration: agencies, activations, policy versions, users
    SYSTEM = "system"                       # the pipeline's own workers

    @classmethod
    def parse(cls, value: object) -> Role:
        """The role named by ``value``; an unknown name is an error, never a default."""
        if isinstance(value, Role):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            known = ", ".join(r.value for r in cls)
            raise ValueError(f"unknown role {value!r} (one of: {known})") from None


#: The scope a principal of each role must hold: an agency, a jail, a state bureau or a field office
#: without one would see everyone's data. Other roles may hold scopes, but need none.
REQUIRED_SCOPE: dict[Role, str] = {
    Role.AGENCY: "ori", Role.JAIL: "ori", Role.SIB: "state",
    Role.FIELD_OFFICER: "area", Role.FIELD_SUPERVISOR: "area",
}


@dataclass(frozen=True)
class Principal:
    """An actor, its role and its scopes (``None`` = not limited on that axis)."""

    actor: str
    role: Role
    ori: str | None = None      # agency / jail ORI
    state: str | None = None    # two-letter state (SIB, state oversight)
    area: str | None = None     # field-office area of responsibility

    def __post_init__(self) -> None:
        if not isinstance(self.actor, str) or not self.actor.strip():
            raise ValueError("a principal needs an actor name")
        object.__setattr__(self, "role", Role.parse(self.role))
        if self.ori is not None:
            object.__setattr__(self, "ori", self.ori.strip().upper())
        if self.state is not None:
            object.__setattr__(self, "state", self.state.strip().upper())

    def sees(self, *, ori: str | None = None, state: str | None = None, area: str | None = None) -> bool:
        """Whether an object belonging to ``ori`` / ``state`` / ``area`` is inside this principal's scopes.

        Each scope the principal holds must match the object's value on that axis;
        an object with no value on an axis the principal is scoped on is outside.
        """
        for mine, theirs in ((self.ori, ori), (self.state, state), (self.area, area)):
            if mine is None:
                continue
            if theirs is None or mine != str(theirs).strip().upper() and mine != str(theirs).strip():
                return False
        return True

    def __str__(self) -> str:
        scopes = ",".join(f"{k}={v}" for k, v in (("ori", self.ori), ("state", self.state),
                                                    ("area", self.area)) if v)
        return f"{self.actor} ({self.role.value}{'; ' + scopes if scopes else ''})"


#: The pipeline's own identity.
PIPELINE = Principal(actor="pipeline", role=Role.SYSTEM)
