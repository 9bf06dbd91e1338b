"""Detainer tests: a store with agencies under different laws and bookings that already have their IAR."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
from sqlalchemy.orm import Session

from securecomm.domain.principal import Principal, Role
from securecomm.services import UnitOfWork, config
from securecomm.store.workflow_models import Response, ReviewItem, StageRun, Transaction

AGENCIES = """ori,name,state,county,field_office
MA0130100,Harbor City PD,MA,Suffolk,Boston
MA0090000,Essex County Sheriff,MA,Essex,Boston
CA0190000,Los Angeles County Sheriff,CA,Los Angeles,Los Angeles
IL0160000,Cook County Sheriff,IL,Cook,Chicago
"""
OFFICE = {"MA": "Boston", "CA": "Los Angeles", "IL": "Chicago"}
ADMIN = Principal("root", Role.ADMIN)


def officer(state: str = "MA", role: Role = Role.FIELD_OFFICER) -> Principal:
    return Principal(f"{role.value}-{state}", role, area=OFFICE[state])


def jail(ori: str = "MA0130100") -> Principal:
    return Principal(f"jail-{ori}", Role.JAIL, ori=ori)


def load_agencies(sessions, tmp_path) -> None:
    path = tmp_path / "agencies.csv"
    path.write_text(AGENCIES)
    with UnitOfWork(sessions, ADMIN, write=True) as uow:
        config.load_agencies(uow, path)


def seed_iar(session: Session, tcn: str, *, ori: str = "MA0130100", booked: dt.datetime, level: str = "L1",
             action: str = "detainer", protected: tuple[str, ...] = (), band: str = "confident",
             review_decision: str | None = None, office: str | None = None) -> str:
    """A booking that has been through the pipeline up to its IAR (rows as the stages write them)."""
    raw = tcn.encode()
    office = office or OFFICE[ori[:2]]
    session.add(Transaction(tcn=tcn, sender_tcn=tcn, ori=ori, tot="CAR", state="done", raw=raw,
                            sha256=hashlib.sha256(raw).hexdigest(), booking_date=booked.date(),
                            captured_at=booked, received_at=booked))
    session.flush()
    facts = {"status": "removable", "level": level, "action": action, "protected_flags": list(protected),
             "band": band, "manual_review": review_decision is not None}
    session.add(StageRun(tcn=tcn, stage="status_determination", status="done", output=facts, finished_at=booked))
    session.add(Response(tcn=tcn, kind="IAR", recipient=office, recipient_role="field_office", format="json",
                         payload=json.dumps({"recommended_action": action}).encode(),
                         summary={"action": action, "level": level}, created_at=booked))
    if review_decision is not None:
        session.add(ReviewItem(tcn=tcn, kind="status", reason="protected", band=band, details=facts,
                               state="resolved", decision=review_decision, resolved_by="analyst-1",
                               resolved_at=booked))
    session.commit()
    return tcn
