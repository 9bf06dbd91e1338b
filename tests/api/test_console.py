"""The web console: sign-in with a token, CSRF on every form, each party's pages in its own scope."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from securecomm.api import create_app
from securecomm.store.models import AuditEntry
from securecomm.store.workflow_models import ReviewItem

from tests.api.test_api import api  # noqa: F401  (the module-scoped store with two agencies)

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def signed_in(sessions, token: str) -> TestClient:
    client = TestClient(create_app(sessions=sessions), raise_server_exceptions=False)
    r = client.post("/console/login", data={"token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    return client


def csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)


def test_sign_in_is_needed_and_a_bad_token_is_refused(api):  # noqa: F811
    client, sessions, toks, _ = api
    fresh = TestClient(create_app(sessions=sessions))
    r = fresh.get("/console/bookings", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/login"
    r = fresh.post("/console/login", data={"token": "sc_" + "y" * 43})
    assert r.status_code == 401 and "not known" in r.text
    assert "<form" in fresh.get("/console/login").text


def test_agency_inbox_shows_its_own_bookings_only(api):  # noqa: F811
    _, sessions, toks, _ = api
    c = signed_in(sessions, toks["agency_a"])
    page = c.get("/console/bookings").text
    assert "T-A-1" in page and "T-B-1" not in page
    assert "SRE" in c.get("/console/bookings/T-A-1").text
    other = c.get("/console/bookings/T-B-1")
    assert other.status_code == 404 and "no such transaction" in other.text
    assert c.get("/console/audit").status_code == 403


def test_examiner_decides_with_the_form_and_csrf_is_checked(api):  # noqa: F811
    _, sessions, toks, _ = api
    with sessions() as s:
        item = ReviewItem(tcn="T-B-1", kind="criminal_biometric", reason="console test", details={})
        s.add(item)
        s.commit()
        item_id = item.id
    c = signed_in(sessions, toks["examiner"])
    page = c.get("/console/review").text
    assert f"#{item_id}" in page
    r = c.post(f"/console/review/{item_id}", data={"decision": "reject", "csrf": "0" * 32})
    assert r.status_code == 403 and "CSRF" in r.text
    r = c.post(f"/console/review/{item_id}", data={"decision": "reject", "note": "pattern differs",
                                                   "csrf": csrf(page)})
    assert r.status_code == 200 and f"Decision on item {item_id} recorded" in r.text
    with sessions() as s:
        row = s.get(ReviewItem, item_id)
        assert (row.state, row.resolved_by) == ("rejected", "examiner")
        assert s.scalar(select(AuditEntry).where(AuditEntry.actor == "examiner",
                                                 AuditEntry.action == "review:reject"))


def test_field_office_statistics_and_audit_pages(api):  # noqa: F811
    _, sessions, toks, _ = api
    fo = signed_in(sessions, toks["fo_burlington"]).get("/console/iars").text
    assert "T-B-1" in fo and "T-A-1" not in fo
    stats = signed_in(sessions, toks["public"]).get("/console/statistics?level=state")
    assert stats.status_code == 200 and "<table" in stats.text
    audit = signed_in(sessions, toks["oversight"]).get("/console/audit?verify=1")
    assert audit.status_code == 200 and "chain" in audit.text


@pytest.mark.parametrize("path", ["/console/", "/console/bookings", "/console/review"])
def test_pages_are_keyboard_reachable_html(api, path):  # noqa: F811
    _, sessions, toks, _ = api
    page = signed_in(sessions, toks["root"]).get(path)
    assert page.headers["content-type"].startswith("text/html")
    assert 'href="#main"' in page.text and '<html lang="en">' in page.text


def test_upload_form_checks_csrf_content_type_and_the_file(api):  # noqa: F811
    _, sessions, toks, _ = api
    c = signed_in(sessions, toks["agency_a"])
    page = c.get("/console/submit")
    assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.text
    token = csrf(page.text)
    doc = b"1.001:0\x1d1.004:CAR\x1d1.008:MA0130100\x1d1.009:T-UP-1\x1c"
    r = c.post("/console/submit", files={"file": ("a.an2", doc)}, data={"csrf": "0" * 32})
    assert r.status_code == 403 and "CSRF" in r.text
    r = c.post("/console/submit", data={"csrf": token})  # urlencoded: not an upload
    assert r.status_code == 422 and "multipart/form-data" in r.text
    r = c.post("/console/submit", files={"file": ("a.an2", b"")}, data={"csrf": token})
    assert r.status_code == 422 and "choose the booking" in r.text
    r = c.post("/console/submit", content=b"--x\r\nno headers", headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert r.status_code == 422 and "malformed" in r.text
    r = c.post("/console/submit", files={"file": ("a.an2", doc)}, data={"csrf": token}, follow_redirects=False)
    assert r.status_code == 303 and "/console/bookings/" in r.headers["location"]
    assert "queued" in c.get(r.headers["location"]).text
    theirs = doc.replace(b"MA0130100", b"MA0350000").replace(b"T-UP-1", b"T-UP-2")
    r = c.post("/console/submit", files={"file": ("b.an2", theirs)}, data={"csrf": token})
    assert r.status_code == 403  # another agency's ORI: refused, nothing stored
    assert signed_in(sessions, toks["examiner"]).get("/console/submit").status_code == 403


def test_detainer_board_is_scoped_and_the_stylesheet_is_served(api):  # noqa: F811
    _, sessions, toks, _ = api
    assert signed_in(sessions, toks["public"]).get("/console/detainers").status_code == 403
    board = signed_in(sessions, toks["fo_burlington"]).get("/console/detainers")
    assert board.status_code == 200 and "Detainer board for Burlington" in board.text
    css = signed_in(sessions, toks["public"]).get("/console/static/console.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    page = signed_in(sessions, toks["public"]).get("/console/statistics?level=state&figure=nonsense")
    assert page.status_code == 200 and "style=" not in page.text  # the CSP forbids inline styles


def test_admin_activates_an_agency_and_lists_policies(api):  # noqa: F811
    _, sessions, toks, _ = api
    c = signed_in(sessions, toks["root"])
    page = c.get("/console/admin")
    assert page.status_code == 200 and "Harbor City PD" in page.text and "(in force)" in page.text
    token = csrf(page.text)
    r = c.post("/console/admin/activations", data={"csrf": token, "scope": "county", "value": "Suffolk",
                                                    "effective_from": "2026-01-01"})
    assert r.status_code == 422 and "ST/County" in r.text
    r = c.post("/console/admin/activations", data={"csrf": token, "scope": "ori", "value": "ma0350000",
                                                    "effective_from": "01/02/2026"})
    assert r.status_code == 422 and "YYYY-MM-DD" in r.text
    r = c.post("/console/admin/activations", data={"csrf": token, "scope": "ori", "value": "ma0350000",
                                                    "effective_from": "2026-01-01", "note": "console"})
    assert r.status_code == 200 and "Activated: ori MA0350000" in r.text
    assert signed_in(sessions, toks["oversight"]).get("/console/admin").status_code == 403
    with sessions() as s:
        assert s.scalar(select(AuditEntry).where(AuditEntry.actor == "root", AuditEntry.action == "activate"))


def test_field_office_decides_an_iar_in_its_area_only(api):  # noqa: F811
    _, sessions, toks, _ = api
    c = signed_in(sessions, toks["fo_burlington"])
    page = c.get("/console/iars")
    assert "Decide T-B-1" in page.text
    token = csrf(page.text)
    r = c.post("/console/iars/T-A-1/decision", data={"csrf": token, "kind": "no_action"})
    assert r.status_code == 404  # another area's booking: as if absent
    r = c.post("/console/iars/T-B-1/decision", data={"csrf": token, "kind": "maybe"})
    assert r.status_code == 422 and "maybe" in r.text
    r = c.post("/console/iars/T-B-1/decision", data={"csrf": token, "kind": "notification_request",
                                                      "probable_cause": "biometric match"})
    assert r.status_code == 422 and "requires warrant" in r.text  # the form in force names what it needs
    r = c.post("/console/iars/T-B-1/decision", data={"csrf": token, "kind": "notification_request",
                                                      "warrant": "I-200", "probable_cause": "biometric match"})
    assert r.status_code == 200 and "Decision recorded on T-B-1: notification_request" in r.text, r.text[-600:]
    assert "T-B-1" in c.get("/console/detainers").text


def test_jail_records_a_release_on_the_board(api):  # noqa: F811
    client, sessions, toks, _ = api
    from securecomm.services import UnitOfWork, detainers, tokens, users
    from securecomm.store.detainer_models import DetainerRow
    from tests.api.test_api import ORI_B

    root = tokens.authenticate(sessions, toks["root"])
    with UnitOfWork(sessions, root, write=True) as uow:
        users.add_user(uow, "jail_b_console", "jail", ori=ORI_B)
        tok, _ = tokens.issue_token(uow, "jail_b_console")
    with sessions() as s:
        row = s.scalars(select(DetainerRow).where(DetainerRow.tcn == "T-B-1", DetainerRow.state != "closed")).first()
    if row is None:
        with UnitOfWork(sessions, tokens.authenticate(sessions, toks["fo_burlington"]), write=True) as uow:
            row = detainers.decide(uow, "T-B-1", "notification_request",
                                   basis={"warrant": "I-200", "probable_cause": "match"})
    c = signed_in(sessions, tok)
    page = c.get("/console/detainers").text
    token = csrf(page)
    r = c.post(f"/console/detainers/{row.id}/acknowledge", data={"csrf": token, "release_at": "2030-01-04T15:00"})
    assert r.status_code == 200, r.text[-400:]
    assert "Record release" in r.text
    r = c.post(f"/console/detainers/{row.id}/explode", data={"csrf": token})
    assert r.status_code == 404
    r = c.post(f"/console/detainers/{row.id}/release", data={"csrf": token, "at": "yesterday"})
    assert r.status_code == 422 and "not a date and time" in r.text
    r = c.post(f"/console/detainers/{row.id}/release", data={"csrf": token, "at": "2030-01-04T16:00", "reason": "bail"})
    assert r.status_code == 200 and f"Detainer {row.id}: release recorded" in r.text
    with sessions() as s:
        d = s.get(DetainerRow, row.id)
        assert d.state == "closed" and d.outcome_by == "jail_b_console"


def test_admin_manages_users_and_tokens_on_the_console(api):  # noqa: F811
    _, sessions, toks, _ = api
    c = signed_in(sessions, toks["root"])
    page = c.get("/console/users")
    assert page.status_code == 200 and "agency_a" in page.text
    assert not re.search(r"\bsc_[A-Za-z0-9_-]{40}", page.text)  # no token secrets listed
    token = csrf(page.text)
    r = c.post("/console/users", data={"csrf": token, "name": "clerk_c", "role": "agency"})
    assert r.status_code == 422 and "ori" in r.text  # an agency user needs its ORI
    r = c.post("/console/users", data={"csrf": "0" * 32, "name": "clerk_c", "role": "agency", "ori": "MA0130100"})
    assert r.status_code == 403 and "CSRF" in r.text
    r = c.post("/console/users", data={"csrf": token, "name": "clerk_c", "role": "agency", "ori": "MA0130100"})
    assert r.status_code == 200 and "user clerk_c added" in r.text
    r = c.post("/console/tokens", data={"csrf": token, "user": "clerk_c", "label": "console test", "days": "7"})
    assert r.status_code == 200 and "shown only this once" in r.text
    plain = re.search(r'value="(sc_[A-Za-z0-9_-]+)"', r.text).group(1)
    clerk = signed_in(sessions, plain)
    assert "T-A-1" in clerk.get("/console/bookings").text
    assert plain not in c.get("/console/users").text  # never shown again
    with sessions() as s:
        from securecomm.store.models import ApiToken, User
        tid = s.scalar(select(ApiToken.id).join(User, User.id == ApiToken.user_id).where(User.name == "clerk_c"))
    r = c.post(f"/console/tokens/{tid}/revoke", data={"csrf": token, "reason": "console test over"})
    assert r.status_code == 200 and f"token {tid} revoked" in r.text
    fresh = TestClient(create_app(sessions=sessions), raise_server_exceptions=False)
    r = fresh.get("/api/v1/me", headers={"Authorization": f"Bearer {plain}"})
    assert r.status_code == 401 and "revoked" in r.text
    r = c.post("/console/users/clerk_c/disable", data={"csrf": token, "reason": "left"})
    assert r.status_code == 200 and "user clerk_c disabled" in r.text
    assert c.post("/console/users/root/disable", data={"csrf": token, "reason": "x"}).status_code == 422
    assert signed_in(sessions, toks["oversight"]).get("/console/users").status_code == 403
    with sessions() as s:
        actions = set(s.scalars(select(AuditEntry.action).where(AuditEntry.actor == "root")))
    assert {"user_add", "token_issue", "token_revoke", "user_disable"} <= actions


def test_protections_page_flags_and_only_a_supervisor_clears(api):  # noqa: F811
    import datetime as dt

    from securecomm.services import UnitOfWork, tokens, users
    from securecomm.store.models import ImmigrationIdentity

    _, sessions, toks, _ = api
    with sessions() as s:
        s.add(ImmigrationIdentity(fin="FINPROT1", last_name="X", first_name="Y", dob=dt.date(1980, 1, 1), sex="F"))
        s.commit()
    with UnitOfWork(sessions, tokens.authenticate(sessions, toks["root"]), write=True) as uow:
        users.add_user(uow, "supervisor_b", "field_supervisor", area="Burlington")
        sup_token, _ = tokens.issue_token(uow, "supervisor_b")
    fo = signed_in(sessions, toks["fo_boston"])
    page = fo.get("/console/protections")
    assert page.status_code == 200 and "Flag an identity" in page.text and "Clear a victim" not in page.text
    token = csrf(page.text)
    r = fo.post("/console/protections/flag", data={"csrf": token, "fin": "FINPROT1", "basis": ""})
    assert r.status_code == 422 and "basis" in r.text
    r = fo.post("/console/protections/flag", data={"csrf": token, "fin": "NOSUCHFIN", "basis": "case 12-345"})
    assert r.status_code == 404
    r = fo.post("/console/protections/flag", data={"csrf": token, "fin": "finprot1", "basis": "witness, case 12-345"})
    assert r.status_code == 200 and "protection set on FINPROT1" in r.text
    r = fo.post("/console/protections/clear", data={"csrf": token, "fin": "FINPROT1", "reason": "case closed long ago"})
    assert r.status_code == 403  # an officer may flag, not clear
    sup = signed_in(sessions, sup_token)
    token = csrf(sup.get("/console/protections").text)
    r = sup.post("/console/protections/clear", data={"csrf": token, "fin": "FINPROT1", "reason": "short"})
    assert r.status_code == 422
    r = sup.post("/console/protections/clear", data={"csrf": token, "fin": "FINPROT1",
                                                      "reason": "certification withdrawn by the court"})
    assert r.status_code == 200 and "cleared from FINPROT1" in r.text
    assert signed_in(sessions, toks["agency_a"]).get("/console/protections").status_code == 403
    with sessions() as s:
        assert s.scalar(select(ImmigrationIdentity.victim_witness).where(ImmigrationIdentity.fin == "FINPROT1")) is False
        assert [a for a in s.scalars(select(AuditEntry.action).where(AuditEntry.object_id == "FINPROT1"))] == \
            ["protection_set", "protection_clear"]


@pytest.mark.parametrize("path, who, operation", [("/console/submit", "examiner", "booking.submit"),
                                                   ("/console/admin", "oversight", "activations.load"),
                                                   ("/console/protections", "agency_a", "protection.flag")])
def test_a_page_that_needs_an_operation_signs_in_first_then_refuses_by_name(api, path, who, operation):  # noqa: F811
    _, sessions, toks, _ = api
    fresh = TestClient(create_app(sessions=sessions), raise_server_exceptions=False)
    r = fresh.get(path, follow_redirects=False)  # no session: to the sign-in page before any permission check
    assert r.status_code == 303 and r.headers["location"] == "/console/login"
    r = signed_in(sessions, toks[who]).get(path)
    assert r.status_code == 403 and f"may not {operation}." in r.text and f'href="{path}"' not in r.text
