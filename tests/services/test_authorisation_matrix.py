"""Every role against every service operation: allowed or refused exactly as PERMISSIONS (and docs/security.md) say.

Each operation is driven through its real service function with a principal
of each role (holding the scopes its role needs). "Refused" means the
service raised PermissionDenied; "allowed" means it got past the permission
check (it may still find nothing, or refuse the input: that is not a
permission decision).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from securecomm.domain.principal import Principal, Role
from securecomm.services import (NotFound, PermissionDenied, UnitOfWork, audit, bookings, config, detainers,
                                 enrolment, identity, jobs, pipeline, protections, review, simulation, statistics,
                                 tokens, users)
from securecomm.services.permissions import PERMISSIONS, allowed, matrix_markdown
from securecomm.store.db import open_store
from securecomm.store.workflow_models import Job, ReviewItem, Transaction

ORI = "MA0130100"
HEADER = b"1.001:0\x1d1.004:CAR\x1d1.008:" + ORI.encode() + b"\x1d1.009:T-MATRIX-1\x1c"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def principal(role: Role) -> Principal:
    scopes = {Role.AGENCY: {"ori": ORI}, Role.JAIL: {"ori": ORI}, Role.SIB: {"state": "MA"},
              Role.FIELD_OFFICER: {"area": "Boston"}, Role.FIELD_SUPERVISOR: {"area": "Boston"}}
    return Principal(f"{role.value} user", role, **scopes.get(role, {}))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("matrix")
    engine, sessions = open_store(f"sqlite:///{folder / 'm.db'}")
    admin = users.bootstrap_admin(sessions, "root").principal()
    agencies = folder / "agencies.csv"
    agencies.write_text(f"ori,name,state,county,field_office\n{ORI},Harbor City PD,MA,Suffolk,Boston\n")
    schedule = folder / "activations.csv"
    schedule.write_text("scope,value,effective_from\nstate,MA,2012-05-15\n")
    with UnitOfWork(sessions, admin, write=True) as uow:
        config.load_agencies(uow, agencies)
        users.add_user(uow, "target", Role.EXAMINER)
    with UnitOfWork(sessions, admin) as uow:
        bookings.submit(uow, HEADER)
    with sessions() as s:  # one open item of each kind, so a decision reaches its permission check
        for kind in ("biometric", "status"):
            s.add(ReviewItem(tcn="T-MATRIX-1", kind=kind, reason="matrix", details={}))
        s.commit()
        items = {i.kind: i.id for i in s.query(ReviewItem)}
    yield engine, sessions, {"agencies": agencies, "schedule": schedule, "items": items}
    engine.dispose()


def _uow(sessions, p, write=True):
    return UnitOfWork(sessions, p, purpose="authorisation matrix", write=write)


def drivers(engine, sessions, data):
    """operation -> a call of its service function as a given principal."""
    def in_uow(fn, write=True):
        def call(p):
            with _uow(sessions, p, write) as uow:
                fn(uow)
        return call

    return {
        "pipeline.run_stage": lambda p: pipeline.worker(engine, Principal("root", Role.ADMIN), acting_as=p),
        "pipeline.work": lambda p: pipeline.worker(engine, p),
        "booking.submit": in_uow(lambda u: bookings.submit(u, HEADER), write=False),
        "booking.status": in_uow(lambda u: bookings.status(u, "T-MATRIX-1")),
        "booking.responses": in_uow(lambda u: bookings.responses(u, "T-MATRIX-1")),
        "booking.list": in_uow(lambda u: bookings.list_bookings(u)),
        "iar.list": in_uow(lambda u: bookings.list_iars(u)),
        "tokens.issue": in_uow(lambda u: tokens.issue_token(u, "target")),
        "tokens.list": in_uow(lambda u: tokens.list_tokens(u)),
        "tokens.revoke": in_uow(lambda u: tokens.revoke_token(u, 999999, reason="matrix")),
        "audit.verify": in_uow(lambda u: audit.verify(u), write=False),  # as the API and CLI call it
        "enrolment.criminal": lambda p: enrolment.enroll_many(sessions, p, "criminal", [b"not a transaction"]),
        "enrolment.immigration": lambda p: enrolment.enroll_many(sessions, p, "immigration", [b"not one"]),
        "review.list": in_uow(lambda u: review.list_items(u)),
        "review.decide_biometric": in_uow(lambda u: review.decide(u, data["items"]["biometric"], "bogus")),
        "review.decide_status": in_uow(lambda u: review.decide(u, data["items"]["status"], "bogus")),
        "protection.flag": in_uow(lambda u: protections.flag_victim_witness(u, "0000000000", basis="case 1")),
        "protection.clear": in_uow(lambda u: protections.clear_victim_witness(
            u, "0000000000", reason="the case was closed in 2012")),
        "agencies.load": in_uow(lambda u: config.load_agencies(u, data["agencies"])),
        "agencies.list": in_uow(lambda u: config.list_agencies(u)),
        "activations.load": in_uow(lambda u: config.load_activations(u, data["schedule"])),
        "users.add": in_uow(lambda u: users.add_user(u, f"new {u.principal.role.value}", Role.PUBLIC)),
        "users.list": in_uow(lambda u: users.list_users(u)),
        "users.disable": in_uow(lambda u: users.disable_user(u, "nobody", reason="matrix")),
        "audit.read": in_uow(lambda u: audit.trail(u, object_type="user")),
        "statistics.read": lambda p: statistics.statistics(sessions, p),
        "simulation.run": lambda p: simulation.run(sessions, p, engine, None, run_id="matrix"),
        "jobs.list": in_uow(lambda u: jobs.list_jobs(u)),
        "jobs.retry": in_uow(lambda u: jobs.retry_job(u, "NO-SUCH-TCN")),
        "jobs.park": in_uow(lambda u: jobs.park_job(u, "NO-SUCH-TCN", "matrix")),
        "identity.consolidation_queue": in_uow(lambda u: identity.consolidation_queue(u)),
        "identity.merge": in_uow(lambda u: identity.merge_subjects(u, "000000000", "000000001", "matrix")),
        "detainer.decide": in_uow(lambda u: detainers.decide(u, "T-MATRIX-1", "detainer")),
        "detainer.cancel": in_uow(lambda u: detainers.cancel(u, 999999, reason="matrix cancellation")),
        "detainer.acknowledge": in_uow(lambda u: detainers.acknowledge(
            u, 999999, release_at=dt.datetime(2013, 7, 3, 21, tzinfo=dt.UTC))),
        "detainer.release": in_uow(lambda u: detainers.release(u, 999999, reason="bail")),
        "detainer.transfer": in_uow(lambda u: detainers.transfer(u, 999999)),
        "detainer.override_expiry": in_uow(lambda u: detainers.transfer(u, 999999, override="matrix: late pickup")),
        "detainer.list": in_uow(lambda u: detainers.list_detainers(u)),
        "detainer.expiry": in_uow(lambda u: detainers.expiry(u, ori=ORI, release_at=dt.datetime(2013, 7, 3, 17))),
        "detainer.timers": in_uow(lambda u: detainers.timers(u)),
    }


def test_every_operation_has_a_driver(store):
    engine, sessions, data = store
    assert set(drivers(engine, sessions, data)) == set(PERMISSIONS)


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_role_against_every_operation(store, role):
    engine, sessions, data = store
    p = principal(role)
    got = {}
    for operation, call in drivers(engine, sessions, data).items():
        try:
            call(p)
            got[operation] = True
        except PermissionDenied as exc:
            assert exc.operation.startswith(operation.split(".")[0])
            got[operation] = False
        except (NotFound, LookupError, ValueError):  # past the permission check: not a permission decision
            got[operation] = True
    assert got == {op: allowed(role, op) for op in PERMISSIONS}


def test_security_doc_shows_the_table_of_the_code():
    text = DOCS.read_text("utf-8")
    assert matrix_markdown() in text, "docs/security.md is out of date: regenerate its table from PERMISSIONS"
