"""The HTTP API through FastAPI's TestClient: tokens, scopes per party, errors, audit rows, the audit chain.

The store is built by the services (agencies, users, tokens) and holds two agencies in two field-office
areas; bookings are submitted through the API itself; the responses a worker would have written are added
to the store directly (the pipeline is tested elsewhere), so these tests stay fast.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text, update

from securecomm.api import create_app
from securecomm.domain.principal import Role
from securecomm.services import UnitOfWork, config, tokens, users
from securecomm.store.db import open_store
from securecomm.store import audit as audit_store
from securecomm.store.models import ApiToken, AuditEntry, User
from securecomm.store.workflow_models import Job, Response, ReviewItem

ORI_A, ORI_B = "MA0130100", "MA0350000"


def car(ori: str, tcn: str) -> bytes:
    return b"1.001:0\x1d1.004:CAR\x1d1.008:" + ori.encode() + b"\x1d1.009:" + tcn.encode() + b"\x1c"


def build(url: str, folder):
    engine, sessions = open_store(url)
    admin = users.bootstrap_admin(sessions, "root").principal()
    agencies = folder / "agencies.csv"
    agencies.write_text(f"ori,name,state,county,field_office\n{ORI_A},Harbor City PD,MA,Suffolk,Boston\n"
                        f"{ORI_B},Lowell PD,MA,Middlesex,Burlington\n")
    people = {"agency_a": (Role.AGENCY, {"ori": ORI_A}), "agency_b": (Role.AGENCY, {"ori": ORI_B}),
              "sib": (Role.SIB, {"state": "MA"}), "examiner": (Role.EXAMINER, {}),
              "fo_boston": (Role.FIELD_OFFICER, {"area": "Boston"}),
              "fo_burlington": (Role.FIELD_OFFICER, {"area": "Burlington"}),
              "oversight": (Role.OVERSIGHT, {}), "public": (Role.PUBLIC, {})}
    toks = {}
    with UnitOfWork(sessions, admin, write=True) as uow:
        config.load_agencies(uow, agencies)
        for name, (role, scopes) in people.items():
            users.add_user(uow, name, role, **scopes)
        for name in [*people, "root"]:
            toks[name], _ = tokens.issue_token(uow, name, label="test")
    return engine, sessions, toks


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    folder = tmp_path_factory.mktemp("api")
    engine, sessions, toks = build(f"sqlite:///{folder / 'api.db'}", folder)
    client = TestClient(create_app(sessions=sessions), raise_server_exceptions=False)
    for ori, tcn in ((ORI_A, "T-A-1"), (ORI_B, "T-B-1")):
        r = client.post("/api/v1/bookings", content=car(ori, tcn),
                        headers={**bearer(toks["agency_a" if ori == ORI_A else "agency_b"]),
                                 "Content-Type": "application/octet-stream"})
        assert r.status_code == 202, r.text
    with sessions() as s:  # what the workers would have sent: an SRE to each agency, an IAR to each area
        for tcn, ori, area in (("T-A-1", ORI_A, "Boston"), ("T-B-1", ORI_B, "Burlington")):
            s.add(Response(tcn=tcn, kind="SRE", recipient=ori, recipient_role="ori", format="json",
                           payload=json.dumps({"tcn": tcn, "result": "N"}).encode(), summary={"result": "N"}))
            s.add(Response(tcn=tcn, kind="IAR", recipient=area, recipient_role="field_office", format="json",
                           payload=json.dumps({"tcn": tcn, "priority": 1}).encode(), summary={"priority": 1}))
        s.add(ReviewItem(tcn="T-A-1", kind="biometric", reason="examiner band", details={}))
        s.execute(update(Job).where(Job.tcn == "T-A-1").values(state="waiting"))  # as the match stage leaves it
        s.commit()
        item = s.scalar(select(ReviewItem.id))
    yield client, sessions, toks, item
    engine.dispose()


def audit_rows(sessions, **where):
    with sessions() as s:
        q = select(AuditEntry)
        for k, v in where.items():
            q = q.where(getattr(AuditEntry, k) == v)
        return s.scalars(q).all()


def test_unauthenticated_and_forged_tokens_are_refused_and_audited(api):
    client, sessions, toks, _ = api
    before = len(audit_rows(sessions, action="refused", actor="(unauthenticated)"))
    r = client.get("/api/v1/bookings/T-A-1")
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")
    assert "Bearer" in r.headers["www-authenticate"] and "Authorization" in r.json()["detail"]
    r = client.get("/api/v1/bookings/T-A-1", headers=bearer("sc_" + "x" * 43))
    assert r.status_code == 401 and r.json()["detail"] == "the bearer token is not known"
    assert client.get("/api/v1/me", headers=bearer("not-a-token")).status_code == 401
    assert len(audit_rows(sessions, action="refused", actor="(unauthenticated)")) == before + 3


def test_agency_reads_its_own_booking_and_not_another_agencys(api):
    client, sessions, toks, _ = api
    mine = client.get("/api/v1/bookings/T-A-1", headers=bearer(toks["agency_a"]))
    assert mine.status_code == 200 and mine.json()["ori"] == ORI_A
    theirs = client.get("/api/v1/bookings/T-B-1", headers=bearer(toks["agency_a"]))
    assert theirs.status_code == 404  # not 403: another agency's TCN looks like no TCN at all
    assert client.get("/api/v1/bookings/T-B-1/responses", headers=bearer(toks["agency_a"])).status_code == 404
    resp = client.get("/api/v1/bookings/T-A-1/responses", headers=bearer(toks["agency_a"])).json()
    assert [i["kind"] for i in resp["items"]] == ["SRE", "IAR"]
    listing = client.get("/api/v1/bookings", headers=bearer(toks["agency_a"])).json()["items"]
    assert [b["tcn"] for b in listing] == ["T-A-1"]
    sib = client.get("/api/v1/bookings", headers=bearer(toks["sib"])).json()["items"]
    assert {b["tcn"] for b in sib} == {"T-A-1", "T-B-1"}
    # every read of personal data leaves a row naming the reader; the refused one too
    assert audit_rows(sessions, actor="agency_a", action="read", object_type="transaction", object_id="T-A-1")
    assert any(r.detail == "transaction outside scope" for r in audit_rows(sessions, actor="agency_a",
                                                                            action="refused"))


def test_submission_under_another_ori_is_forbidden_and_bad_bodies_are_4xx(api):
    client, sessions, toks, _ = api
    h = bearer(toks["agency_a"])
    r = client.post("/api/v1/bookings", content=car(ORI_B, "T-X"), headers={**h, "Content-Type":
                                                                             "application/octet-stream"})
    assert r.status_code == 403 and ORI_B in r.json()["detail"]
    r = client.post("/api/v1/bookings", content=b"{}", headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 415 and "application/octet-stream" in r.json()["detail"]
    r = client.post("/api/v1/bookings", content=b"", headers={**h, "Content-Type": "application/octet-stream"})
    assert r.status_code == 400
    small = TestClient(create_app(sessions=sessions, max_body=100), raise_server_exceptions=False)
    r = small.post("/api/v1/bookings", content=b"x" * 101, headers={**h, "Content-Type":
                                                                   "application/octet-stream"})
    assert r.status_code == 413
    again = client.post("/api/v1/bookings", content=car(ORI_A, "T-A-1"), headers={**h, "Content-Type":
                                                                                 "application/octet-stream"})
    assert again.status_code == 200 and again.json()["outcome"] == "duplicate"
    assert client.get("/api/v1/bookings/T-X", headers=h).status_code == 404  # nothing was stored


def test_examiner_works_the_queue_others_may_not(api):
    client, sessions, toks, item = api
    assert client.get("/api/v1/review", headers=bearer(toks["agency_a"])).status_code == 403
    items = client.get("/api/v1/review", headers=bearer(toks["examiner"])).json()["items"]
    assert item in [i["id"] for i in items]
    r = client.post(f"/api/v1/review/{item}/decision", json={"decision": "maybe"}, headers=bearer(toks["examiner"]))
    assert r.status_code == 422 and "maybe" in r.json()["detail"]
    r = client.post(f"/api/v1/review/{item}/decision", content=b"{not json", headers={
        **bearer(toks["examiner"]), "Content-Type": "application/json"})
    assert r.status_code == 422
    r = client.post(f"/api/v1/review/{item}/decision", json={"decision": "confirm"}, headers=bearer(toks["sib"]))
    assert r.status_code == 403
    r = client.post(f"/api/v1/review/{item}/decision", json={"decision": "confirm", "note": "ridge count"},
                    headers=bearer(toks["examiner"]))
    assert r.status_code == 200 and r.json()["state"] == "confirmed" and r.json()["resolved_by"] == "examiner"
    assert client.post("/api/v1/review/999999/decision", json={"decision": "confirm"},
                       headers=bearer(toks["examiner"])).status_code == 404


def test_field_office_sees_only_the_iars_of_its_area(api):
    client, sessions, toks, _ = api
    boston = client.get("/api/v1/iars", headers=bearer(toks["fo_boston"])).json()["items"]
    assert [i["tcn"] for i in boston] == ["T-A-1"] and boston[0]["recipient"] == "Boston"
    burl = client.get("/api/v1/iars", headers=bearer(toks["fo_burlington"])).json()["items"]
    assert [i["tcn"] for i in burl] == ["T-B-1"]
    assert client.get("/api/v1/iars", headers=bearer(toks["agency_a"])).status_code == 403
    assert client.get("/api/v1/bookings/T-A-1", headers=bearer(toks["fo_boston"])).status_code == 403
    assert audit_rows(sessions, actor="fo_boston", object_type="iars")


def test_statistics_audit_and_admin_endpoints_by_role(api):
    client, sessions, toks, _ = api
    assert client.get("/api/v1/statistics", headers=bearer(toks["public"])).status_code == 200
    assert client.get("/api/v1/statistics", headers=bearer(toks["agency_a"])).status_code == 403
    assert client.get("/api/v1/audit", headers=bearer(toks["public"])).status_code == 403
    trail = client.get("/api/v1/audit?object_type=transaction&limit=5", headers=bearer(toks["oversight"])).json()
    assert trail["total"] >= 1 and len(trail["items"]) <= 5
    assert client.get("/api/v1/users", headers=bearer(toks["oversight"])).status_code == 403
    r = client.post("/api/v1/users", json={"name": "agency_c", "role": "agency"}, headers=bearer(toks["root"]))
    assert r.status_code == 422 and "ori" in r.json()["detail"]
    r = client.post("/api/v1/tokens", json={"user": "public", "days": 1}, headers=bearer(toks["root"]))
    assert r.status_code == 201
    new = r.json()
    assert client.get("/api/v1/me", headers=bearer(new["token"])).json()["role"] == "public"
    assert "token" not in client.get("/api/v1/tokens", headers=bearer(toks["root"])).json()["items"][0]
    assert client.post(f"/api/v1/tokens/{new['id']}/revoke", json={"reason": "test over"},
                       headers=bearer(toks["root"])).status_code == 200
    r = client.get("/api/v1/me", headers=bearer(new["token"]))
    assert r.status_code == 401 and "revoked" in r.json()["detail"]


def test_etag_security_headers_and_openapi(api):
    client, sessions, toks, _ = api
    h = bearer(toks["agency_a"])
    first = client.get("/api/v1/bookings/T-A-1", headers=h)
    assert first.headers["x-content-type-options"] == "nosniff" and "access-control-allow-origin" not in first.headers
    again = client.get("/api/v1/bookings/T-A-1", headers={**h, "If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    doc = client.get("/openapi.json").json()
    assert "/api/v1/bookings" in doc["paths"] and "/api/v1/iars" in doc["paths"]
    r = client.get("/api/v1/bookings?limit=0", headers=h)
    assert r.status_code == 422 and "limit" in r.json()["detail"]
    assert client.get("/nowhere").json()["status"] == 404


def test_audit_chain_detects_an_edited_and_a_deleted_row(api):
    client, sessions, toks, _ = api
    ok = client.get("/api/v1/audit/verify", headers=bearer(toks["oversight"])).json()
    assert ok["ok"] and ok["rows"] > 10 and ok["problems"] == []
    with sessions() as s:
        victim = s.scalar(select(AuditEntry.id).where(AuditEntry.actor == "agency_a").order_by(AuditEntry.id))
        original = s.get(AuditEntry, victim).detail
        s.execute(update(AuditEntry).where(AuditEntry.id == victim).values(detail="nothing to see"))
        s.commit()
    bad = client.get("/api/v1/audit/verify", headers=bearer(toks["oversight"])).json()
    assert not bad["ok"] and any(f"audit row {victim} " in p and "edited" in p for p in bad["problems"])
    with sessions() as s:
        s.execute(update(AuditEntry).where(AuditEntry.id == victim).values(detail=original))
        s.commit()
        assert client.get("/api/v1/audit/verify", headers=bearer(toks["oversight"])).json()["ok"]
        s.execute(text("DELETE FROM audit_log WHERE id = :i"), {"i": victim})
        s.commit()
    gone = client.get("/api/v1/audit/verify", headers=bearer(toks["oversight"])).json()
    assert not gone["ok"] and any("deleted" in p for p in gone["problems"])


def test_scopes_and_chain_on_both_stores(db_url, tmp_path):
    engine, sessions, toks = build(db_url, tmp_path)
    client = TestClient(create_app(sessions=sessions), raise_server_exceptions=False)
    h = {"Content-Type": "application/octet-stream"}
    assert client.post("/api/v1/bookings", content=car(ORI_B, "T-B-9"),
                       headers={**h, **bearer(toks["agency_b"])}).status_code == 202
    assert client.get("/api/v1/bookings/T-B-9", headers=bearer(toks["agency_a"])).status_code == 404
    assert client.get("/api/v1/bookings/T-B-9", headers=bearer(toks["agency_b"])).status_code == 200
    rep = client.get("/api/v1/audit/verify", headers=bearer(toks["oversight"])).json()
    assert rep["ok"] and rep["unsealed"] == 0 and rep["rows"] >= 12
    with sessions() as s:
        n = s.scalar(select(func.count(AuditEntry.id)).where(AuditEntry.chain_seq.is_(None)))
    assert n == 0  # the verify row itself was sealed right after its unit of work committed
    engine.dispose()


def test_a_field_supervisor_sees_and_decides_only_its_areas_review_items(api):
    client, sessions, toks, _ = api
    admin = bearer(toks["root"])
    r = client.post("/api/v1/users", json={"name": "sup_boston", "role": "field_supervisor", "area": "Boston"},
                    headers=admin)
    assert r.status_code == 201
    sup = bearer(client.post("/api/v1/tokens", json={"user": "sup_boston"}, headers=admin).json()["token"])
    with sessions() as s:
        mine = ReviewItem(tcn="T-A-1", kind="status", reason="undecided", details={})
        theirs = ReviewItem(tcn="T-B-1", kind="status", reason="undecided", details={})
        s.add_all([mine, theirs])
        s.commit()
        ids = mine.id, theirs.id
    listed = [i["id"] for i in client.get("/api/v1/review", headers=sup).json()["items"]]
    assert ids[0] in listed and ids[1] not in listed
    r = client.post(f"/api/v1/review/{ids[1]}/decision", json={"decision": "no_action"}, headers=sup)
    assert r.status_code == 404 and r.json()["detail"] == "no such review item"


def test_rate_limit_answers_429_with_retry_after(api):
    client, sessions, toks, _ = api
    tight = TestClient(create_app(sessions=sessions, rate=0.01, burst=2, console=False),
                       raise_server_exceptions=False)
    h = bearer(toks["public"])
    assert [tight.get("/api/v1/me", headers=h).status_code for _ in range(2)] == [200, 200]
    r = tight.get("/api/v1/me", headers=h)
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1 and "requests per second" in r.json()["detail"]
    assert tight.get("/api/v1/me", headers=bearer(toks["oversight"])).status_code == 200  # per user


def test_detainer_endpoints_are_scoped_by_area_and_jail(api):
    client, sessions, toks, _ = api
    admin = bearer(toks["root"])
    client.post("/api/v1/users", json={"name": "jail_a", "role": "jail", "ori": ORI_A}, headers=admin)
    jail = bearer(client.post("/api/v1/tokens", json={"user": "jail_a"}, headers=admin).json()["token"])
    # another area's IAR: refused as if absent
    r = client.post("/api/v1/bookings/T-A-1/detainer-decision", json={"kind": "notification_request"},
                    headers=bearer(toks["fo_burlington"]))
    assert r.status_code == 404
    assert client.post("/api/v1/bookings/T-A-1/detainer-decision", json={"kind": "detainer"},
                       headers=bearer(toks["agency_a"])).status_code == 403
    r = client.post("/api/v1/bookings/T-A-1/detainer-decision", json={"kind": "maybe"},
                    headers=bearer(toks["fo_boston"]))
    assert r.status_code == 422 and "maybe" in r.json()["detail"]
    assert client.get("/api/v1/detainers", headers=jail).status_code == 200
    assert client.get("/api/v1/detainers", headers=bearer(toks["public"])).status_code == 403
    assert client.get("/api/v1/detainers/999999", headers=jail).status_code == 404
    assert client.post("/api/v1/detainers/999999/acknowledge", json={"release_at": "2026-12-03T10:00:00Z"},
                       headers=jail).status_code == 404
    basis = {"warrant": "I-200", "probable_cause": "biometric match and a final order"}
    r = client.post("/api/v1/bookings/T-A-1/detainer-decision", json={"kind": "detainer", "basis": basis},
                    headers=bearer(toks["fo_boston"]))
    assert r.status_code == 201 and r.json()["state"] == "lodged"
    did = r.json()["id"]
    assert client.get(f"/api/v1/detainers/{did}", headers=bearer(toks["fo_burlington"])).status_code == 404
    assert client.get("/api/v1/detainers", headers=bearer(toks["fo_burlington"])).json()["items"] == []
    release = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)).isoformat()  # after the lodging, always
    r = client.post(f"/api/v1/detainers/{did}/acknowledge", json={"release_at": release}, headers=jail)
    assert r.status_code == 200 and r.json()["jail"]["ori"] == ORI_A
    assert [d["id"] for d in client.get("/api/v1/detainers", headers=jail).json()["items"]] == [did]
    assert audit_rows(sessions, actor="jail_a", action="detainer:acknowledge")


def test_the_running_app_seals_in_batches_verify_seals_first_and_shutdown_seals_the_rest(tmp_path):
    engine, sessions, toks = build(f"sqlite:///{tmp_path / 'seal.db'}", tmp_path)

    def pending() -> int:
        with sessions() as s:
            return s.scalar(select(func.count(AuditEntry.id)).where(AuditEntry.chain_seq.is_(None)))

    assert pending() == 0
    app = create_app(sessions=sessions, seal_delay=600)  # the sealer's thread never fires during the test
    with TestClient(app, raise_server_exceptions=False) as client:
        for _ in range(4):
            assert client.get("/api/v1/bookings", headers=bearer(toks["agency_a"])).status_code == 200
        assert pending() == 4  # each request inserted its row; none paid for a seal
        assert client.get("/api/v1/me", headers=bearer("sc_" + "x" * 40)).status_code == 401
        assert pending() == 5  # the refusal's row waits for the sealer too
        rep = client.get("/api/v1/audit/verify", headers=bearer(toks["oversight"])).json()
        assert rep["ok"] and rep["unsealed"] == 0  # verify sealed the five first
        assert pending() == 1  # its own row
        assert app.state.sealer.running
    assert not app.state.sealer.running and pending() == 0  # shutdown sealed the rest
    with sessions() as s:
        assert audit_store.verify(s).ok
    engine.dispose()


def test_token_cache_skips_lookups_for_ttl_seconds_but_checks_expiry_each_time(tmp_path):
    from securecomm.domain.clock import FixedClock

    engine, sessions, toks = build(f"sqlite:///{tmp_path / 'tok.db'}", tmp_path)
    now = [0.0]
    cache = tokens.TokenCache(5.0, monotonic=lambda: now[0])
    with sessions() as s:
        token_id = s.scalar(select(ApiToken.id).join(User, User.id == ApiToken.user_id)
                            .where(User.name == "agency_a"))
        expires = s.get(ApiToken, token_id).expires_at
    clock = FixedClock(expires - dt.timedelta(hours=1))
    assert tokens.authenticate(sessions, toks["agency_a"], clock=clock, cache=cache).actor == "agency_a"
    with UnitOfWork(sessions, users.principal_for(sessions(), "root"), write=True) as uow:  # elsewhere
        tokens.revoke_token(uow, token_id, reason="left the agency")
    now[0] = 4.9  # within the TTL: still the cached principal (documented)
    assert tokens.authenticate(sessions, toks["agency_a"], clock=clock, cache=cache).actor == "agency_a"
    later = FixedClock(expires + dt.timedelta(hours=1))  # expiry is checked on the cached entry too
    with pytest.raises(tokens.InvalidToken, match="expired"):
        tokens.authenticate(sessions, toks["agency_a"], clock=later, cache=cache)
    now[0] = 5.0  # the TTL is over: looked up again, and refused
    with pytest.raises(tokens.InvalidToken, match="revoked"):
        tokens.authenticate(sessions, toks["agency_a"], clock=clock, cache=cache)
    with pytest.raises(tokens.InvalidToken, match="revoked"):  # refusals are not cached
        tokens.authenticate(sessions, toks["agency_a"], clock=clock, cache=cache)
    assert cache.hits == 2
    engine.dispose()
