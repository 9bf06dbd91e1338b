"""The authorisation matrix over HTTP: every role x every endpoint, on SQLite and PostgreSQL.

One table (:data:`ENDPOINTS`) names, for each endpoint, the operation of ``docs/security.md`` that guards
it, the object it targets (whose ORI / state / field-office area decides the scope) and what an allowed,
in-scope caller gets. The expected answer of every (principal, endpoint) pair follows from the table and
the permission allow-list alone:

* the role may not perform the operation -> 403 (the operation named);
* it may, but the object is outside the principal's scopes (another agency's booking, another area's IAR,
  another jail's detainer) -> 404, exactly like an absent object;
* otherwise the row's ``ok`` statuses. Write endpoints are sent requests the service refuses *after* its
  permission and scope checks (a decision that does not exist, a detainer without the basis its form
  requires, a release time before the booking, a detainer already closed), so the matrix changes nothing but the audit trail; submissions and the user /
  token endpoints use fresh names.

The principals cover every role, with a second agency, area and jail for the cross-scope attempts.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from securecomm.api import create_app
from securecomm.domain.principal import Role
from securecomm.services import UnitOfWork, detainers, tokens, users
from securecomm.services.permissions import PERMISSIONS, allowed
from securecomm.store.detainer_models import DetainerRow
from securecomm.store.models import AuditEntry
from securecomm.store.workflow_models import Response, ReviewItem

from tests.api.test_api import ORI_A, ORI_B, bearer, build, car
from tests.conftest import POSTGRES_URL

#: Principals: name -> (role, scopes). Every role; a second agency, area and jail for cross-scope attempts.
PEOPLE: dict[str, tuple[Role, dict[str, str]]] = {
    "agency_a": (Role.AGENCY, {"ori": ORI_A}), "agency_b": (Role.AGENCY, {"ori": ORI_B}),
    "sib": (Role.SIB, {"state": "MA"}), "sib_ny": (Role.SIB, {"state": "NY"}),
    "examiner": (Role.EXAMINER, {}), "lesc": (Role.LESC_ANALYST, {}),
    "fo_boston": (Role.FIELD_OFFICER, {"area": "Boston"}), "fo_burlington": (Role.FIELD_OFFICER, {"area": "Burlington"}),
    "sup_boston": (Role.FIELD_SUPERVISOR, {"area": "Boston"}),
    "sup_burlington": (Role.FIELD_SUPERVISOR, {"area": "Burlington"}),
    "jail_a": (Role.JAIL, {"ori": ORI_A}), "jail_b": (Role.JAIL, {"ori": ORI_B}),
    "oversight": (Role.OVERSIGHT, {}), "public": (Role.PUBLIC, {}), "root": (Role.ADMIN, {}),
}
#: Where the targeted objects belong: booking T-A-1, its IAR, review item and detainers are agency A's.
HOME = {"ori": ORI_A, "state": "MA", "area": "Boston"}
OLD = "1990-01-01T00:00:00Z"  # before every booking: refused by the detainer services after their checks


@dataclasses.dataclass(frozen=True)
class Endpoint:
    method: str
    path: str            # {review}, {open}, {closed}: ids made by the fixture; {n}: a fresh suffix
    op: str | None       # the guarding operation (None: any valid token)
    ok: frozenset[int]   # what an allowed, in-scope caller gets
    body: Any = None     # JSON body, or bytes (a booking)
    owner: dict[str, str] | None = None  # the targeted object's scope values (None: a listing or no object)


def E(method, path, op, ok, body=None, owner=None) -> Endpoint:
    return Endpoint(method, path, op, frozenset(ok if isinstance(ok, (set, tuple)) else {ok}), body, owner)


ENDPOINTS = [
    E("GET", "/api/v1/me", None, 200),
    E("POST", "/api/v1/bookings", "booking.submit", 202, body="car"),
    E("GET", "/api/v1/bookings", "booking.list", 200),
    E("GET", "/api/v1/bookings/T-A-1", "booking.status", 200, owner=HOME),
    E("GET", "/api/v1/bookings/T-A-1/responses", "booking.responses", 200, owner=HOME),
    E("GET", "/api/v1/bookings/T-A-1/responses/0", "booking.responses", 200, owner=HOME),
    E("GET", "/api/v1/review", "review.list", 200),
    E("POST", "/api/v1/review/{review}/decision", "review.decide_biometric", 422,
      body={"decision": "maybe"}, owner=HOME),
    E("GET", "/api/v1/iars", "iar.list", 200),
    E("POST", "/api/v1/bookings/T-A-1/detainer-decision", "detainer.decide", 422, body={"kind": "detainer"},
      owner={"area": "Boston"}),
    E("GET", "/api/v1/detainers", "detainer.list", 200),
    E("GET", "/api/v1/detainers/{open}", "detainer.list", 200, owner=HOME),
    E("POST", "/api/v1/detainers/{open}/acknowledge", "detainer.acknowledge", 422, body={"release_at": OLD},
      owner=HOME),
    E("POST", "/api/v1/detainers/{closed}/release", "detainer.release", 422, body={"at": OLD}, owner=HOME),
    E("POST", "/api/v1/detainers/{closed}/transfer", "detainer.transfer", 422, body={"at": OLD}, owner=HOME),
    E("POST", "/api/v1/detainers/{closed}/cancel", "detainer.cancel", 422, body={"reason": "matrix test"},
      owner=HOME),
    E("GET", "/api/v1/statistics", "statistics.read", 200),
    E("GET", "/api/v1/audit?limit=5", "audit.read", 200),
    E("GET", "/api/v1/audit/verify", "audit.verify", 200),
    E("GET", "/api/v1/audit/export?format=json&limit=5", "audit.read", 200),
    E("GET", "/api/v1/agencies", "agencies.list", 200),
    E("POST", "/api/v1/activations", "activations.load", 201,
      body={"ori": ORI_B, "effective_from": "2031-01-01", "note": "matrix test"}),
    E("GET", "/api/v1/users", "users.list", 200),
    E("POST", "/api/v1/users", "users.add", 201, body={"name": "mx-{n}", "role": "public"}),
    # an unknown user is a 422 from the users service ("no user 'x'"); admin is unscoped, nothing leaks
    E("POST", "/api/v1/users/no-such-user/disable", "users.disable", 422, body={"reason": "matrix test"}),
    E("POST", "/api/v1/tokens", "tokens.issue", 422, body={"user": "no-such-user"}),
    E("GET", "/api/v1/tokens", "tokens.list", 200),
    E("POST", "/api/v1/tokens/999999/revoke", "tokens.revoke", 404, body={"reason": "matrix test"}),
]


def test_the_table_covers_every_api_route_and_names_real_operations():
    app = create_app("sqlite://", console=False)
    routes = {(m, r.path) for r in app.routes if getattr(r, "path", "").startswith("/api/v1")
              for m in getattr(r, "methods", ()) if m in ("GET", "POST")}
    import re

    def shape(path: str) -> str:
        path = path.split("?")[0]
        return re.sub(r"/(T-A-1|\{[a-z]+\}|\d+|no-such-user)(?=/|$)", "/{}", path)

    table = {(e.method, shape(e.path)) for e in ENDPOINTS}
    assert {(m, re.sub(r"\{[a-z_]+\}", "{}", p)) for m, p in routes} == table
    assert all(e.op is None or e.op in PERMISSIONS for e in ENDPOINTS)
    assert set(Role) - {Role.SYSTEM} == {role for role, _ in PEOPLE.values()}  # system: workers, no tokens


def _expected(role: Role, scopes: dict[str, str], e: Endpoint) -> frozenset[int]:
    if e.op is not None and not allowed(role, e.op):
        return frozenset({403})
    if e.owner is not None:
        for axis, mine in scopes.items():
            if e.owner.get(axis) != mine:
                return frozenset({404})
    if e.body == "car" and scopes.get("ori") not in (None, ORI_A):
        return frozenset({403})  # a booking under another agency's ORI
    return e.ok


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("matrix")
    dropper = None
    if request.param == "sqlite":
        url = f"sqlite:///{folder / 'matrix.db'}"
    else:
        import psycopg
        from sqlalchemy.engine import make_url

        admin = make_url(POSTGRES_URL)
        name = f"sc_matrix_{uuid.uuid4().hex[:10]}"
        conninfo = admin.set(drivername="postgresql").render_as_string(hide_password=False)
        try:
            with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
        except psycopg.OperationalError as exc:  # pragma: no cover - CI has the server
            pytest.fail(f"PostgreSQL server unreachable at {admin!r}: {exc}")
        url = admin.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)

        def dropper():
            with psycopg.connect(conninfo, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    engine, sessions, toks = build(url, folder)
    root = tokens.authenticate(sessions, toks["root"])
    with UnitOfWork(sessions, root, write=True) as uow:
        for name, (role, scopes) in PEOPLE.items():
            if name not in toks:
                users.add_user(uow, name, role, **scopes)
                toks[name], _ = tokens.issue_token(uow, name, label="matrix")
    client = TestClient(create_app(sessions=sessions, rate=1e6, burst=10**6), raise_server_exceptions=False)
    for ori, tcn, who in ((ORI_A, "T-A-1", "agency_a"), (ORI_B, "T-B-1", "agency_b")):
        r = client.post("/api/v1/bookings", content=car(ori, tcn),
                        headers={**bearer(toks[who]), "Content-Type": "application/octet-stream"})
        assert r.status_code == 202, r.text
    with sessions() as s:
        for tcn, ori, area in (("T-A-1", ORI_A, "Boston"), ("T-B-1", ORI_B, "Burlington")):
            s.add(Response(tcn=tcn, kind="SRE", recipient=ori, recipient_role="ori", format="json",
                           payload=json.dumps({"tcn": tcn, "result": "N"}).encode(), summary={"result": "N"}))
            s.add(Response(tcn=tcn, kind="IAR", recipient=area, recipient_role="field_office", format="json",
                           payload=json.dumps({"tcn": tcn}).encode(), summary={}))
        item = ReviewItem(tcn="T-A-1", kind="biometric", reason="matrix", details={})
        s.add(item)
        s.commit()
        review_id = item.id
    basis = {"warrant": "I-200", "probable_cause": "biometric match"}
    with UnitOfWork(sessions, tokens.authenticate(sessions, toks["fo_boston"]), write=True) as uow:
        closed = detainers.decide(uow, "T-A-1", "detainer", basis=basis).id
        detainers.cancel(uow, closed, reason="closed for the matrix")
        opened = detainers.decide(uow, "T-A-1", "detainer", basis=basis).id
    ids = {"review": review_id, "open": opened, "closed": closed}
    yield client, sessions, toks, ids
    engine.dispose()
    if dropper is not None:
        dropper()


def _call(client, e: Endpoint, token: str, ids: dict[str, int], n: str):
    path = e.path.format(**ids, n=n)
    headers = bearer(token)
    if e.body == "car":
        return client.post(path, content=car(ORI_A, f"T-MX-{n}"),
                           headers={**headers, "Content-Type": "application/octet-stream"})
    if e.method == "GET":
        return client.get(path, headers=headers)
    body = json.loads(json.dumps(e.body).replace("{n}", n))
    return client.post(path, json=body, headers=headers)


def test_every_role_on_every_endpoint(world):
    client, sessions, toks, ids = world
    with sessions() as s:
        before = s.scalars(select(DetainerRow.state).order_by(DetainerRow.id)).all()
    wrong = []
    for name, (role, scopes) in PEOPLE.items():
        for k, e in enumerate(ENDPOINTS):
            r = _call(client, e, toks[name], ids, f"{name}-{k}")
            want = _expected(role, scopes, e)
            if r.status_code not in want:
                wrong.append(f"{name:15} {e.method} {e.path}: got {r.status_code}, want {sorted(want)} "
                             f"({r.text[:120]})")
            elif r.status_code in (403, 404):
                assert r.headers["content-type"].startswith("application/problem+json")
                assert "Traceback" not in r.text and "sqlalchemy" not in r.text.lower()
    assert not wrong, f"{len(wrong)} of {len(PEOPLE) * len(ENDPOINTS)} answers differ:\n" + "\n".join(wrong)
    with sessions() as s:  # the refused and rejected writes changed no detainer
        assert s.scalars(select(DetainerRow.state).order_by(DetainerRow.id)).all() == before
        refused = s.scalars(select(AuditEntry.actor).where(AuditEntry.action == "refused")).all()
    # every cross-scope attempt on personal data left a refusal naming who tried
    for name in ("agency_b", "fo_burlington", "sup_burlington", "jail_b", "sib_ny"):
        assert name in refused, name


def test_without_a_token_every_endpoint_is_401(world):
    client, _, _, ids = world
    for k, e in enumerate(ENDPOINTS):
        r = _call(client, e, "", ids, f"anon-{k}")
        assert r.status_code == 401, (e.method, e.path, r.status_code)
