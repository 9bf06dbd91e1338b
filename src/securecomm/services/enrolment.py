"""Enrolment into the criminal and immigration repositories: a configuration change, admin only, audited.

Image work (decode, extract) runs outside any transaction, possibly in a
process pool; each enrolment then commits in its own unit of work with its
audit row, so a rejected record rolls back alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from sqlalchemy.exc import IntegrityError

from securecomm.domain.clock import SYSTEM_CLOCK, Clock
from securecomm.domain.principal import Principal
from securecomm.services.permissions import require
from securecomm.services.unit_of_work import UnitOfWork
from securecomm.workflow import enrolment

__all__ = ["enroll_many", "OPERATION"]

#: The operation that guards each kind of enrolment.
OPERATION = {"criminal": "enrolment.criminal", "immigration": "enrolment.immigration"}
_OBJECT = {"criminal": "criminal_subject", "immigration": "immigration_identity"}


def enroll_many(sessions: Callable, principal: Principal, kind: str, raws: Iterable[bytes], *,
                processes: int = 1, min_fingers: int = 10, clock: Clock = SYSTEM_CLOCK,
                on_done: Callable[[enrolment.EnrolResult], None] | None = None) -> list[enrolment.EnrolResult]:
    """Enrol many transaction files as ``principal``; one audit row per subject / identity enrolled."""
    if kind not in OPERATION:
        raise ValueError(f"enrolment kind must be one of {', '.join(OPERATION)}, not {kind!r}")
    operation = OPERATION[kind]
    require(principal, operation)  # refuse before any image work

    def commit_one(item: enrolment.Prepared) -> enrolment.EnrolResult:
        from securecomm.repositories import RepositoryError

        try:
            with UnitOfWork(sessions, principal, clock=clock, purpose=f"{kind} enrolment", write=True) as uow:
                uow.require(operation)
                res = enrolment.write(uow.session, item, at=uow.now().replace(tzinfo=None))
                if res.outcome == "enrolled":
                    uow.audit("enrol", _OBJECT[kind], res.key, detail=f"TCN {item.tcn}")
                return res
        except RepositoryError as exc:
            return enrolment.EnrolResult(item.tcn, "rejected", message=str(exc))
        except IntegrityError:  # the same TCN enrolled concurrently: a plain duplicate, not a crash
            with sessions() as session:
                return enrolment.concurrent(session, item)

    return enrolment.enroll_many(None, kind, raws, processes=processes, min_fingers=min_fingers,
                                 on_done=on_done, commit_one=commit_one)
