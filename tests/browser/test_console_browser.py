"""The console in a real browser: Playwright driving Debian's Chromium headless (``/usr/bin/chromium``).

One server (uvicorn on a free loopback port, a temporary SQLite store built by the services) and one
browser for the module; each test is one person's task done with the keyboard and mouse as they would:
sign in, upload a booking file, decide a review item, acknowledge a detainer, read a statistics chart.

The browser is the distribution's (``make test`` installs the ``chromium`` package when it is missing):
nothing is downloaded, and a missing browser fails these tests, never skips them. Screenshots go to a
temporary folder, or to ``docs/img`` with ``SECURECOMM_SCREENSHOTS=docs/img`` (how the pictures in
docs/console.md were made).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import select, update

from securecomm.api import create_app
from securecomm.domain.principal import Role
from securecomm.services import UnitOfWork, config, detainers, tokens, users
from securecomm.store.detainer_models import DetainerRow
from securecomm.store.models import AuditEntry, ImmigrationIdentity, ImmigrationTemplate
from securecomm.store.workflow_models import BookingTemplate, Job, Response, ReviewItem, Transaction

from tests.api.test_api import ORI_A, build, car
from tests.conftest import ROOT

CHROMIUM = "/usr/bin/chromium"
ORI_TX = "TX1010000"
CORPUS = ROOT / "tests" / "corpus"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser")
    engine, sessions, toks = build(f"sqlite:///{folder / 'console.db'}", folder)
    root = tokens.authenticate(sessions, toks["root"])
    (folder / "jail.csv").write_text(f"ori,name,state,county,field_office\n{ORI_TX},Harris County Jail,TX,Harris,"
                                     "Houston\n")
    with UnitOfWork(sessions, root, write=True) as uow:  # a jail under a law that honours holds
        config.load_agencies(uow, folder / "jail.csv")
        users.add_user(uow, "jail_tx", Role.JAIL, ori=ORI_TX)
        users.add_user(uow, "fo_houston", Role.FIELD_OFFICER, area="Houston")
        for name in ("jail_tx", "fo_houston"):
            toks[name], _ = tokens.issue_token(uow, name, label="browser test")
    app = create_app(sessions=sessions)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    assert server.started, "the console server did not start"
    # what the workers would have written for an earlier booking: an IAR to the Boston office
    from fastapi.testclient import TestClient

    api = TestClient(app)
    r = api.post("/api/v1/bookings", content=car(ORI_TX, "T-EARLIER"),
                 headers={"Authorization": f"Bearer {toks['root']}", "Content-Type": "application/octet-stream"})
    assert r.status_code == 202, r.text
    tcn = r.json()["tcn"]
    with sessions() as s:
        s.add(Response(tcn=tcn, kind="IAR", recipient="Houston", recipient_role="field_office", format="json",
                       payload=json.dumps({"tcn": tcn, "priority": 1}).encode(), summary={"priority": 1}))
        s.commit()
    review_tcn = _review_case(api, toks, sessions)
    with UnitOfWork(sessions, tokens.authenticate(sessions, toks["fo_houston"]), write=True) as uow:
        detainers.decide(uow, tcn, "detainer", basis={"warrant": "I-200", "probable_cause": "biometric match"})
    yield {"url": f"http://127.0.0.1:{port}", "toks": toks, "sessions": sessions, "tcn": tcn,
           "review_tcn": review_tcn}
    server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


def _review_case(api, toks, sessions) -> str:
    """A booking with a real (synthetic) finger image, its template, and an immigration candidate whose
    template comes from another impression of the same finger: what the match stage leaves for examiners."""
    from securecomm.domain.records import FingerImage
    from securecomm.engine.extract import extract
    from securecomm.interchange import parse_booking, read_transaction
    from securecomm.interchange.ebts import write_booking
    from securecomm.synth import make_person, render

    master = make_person(7).fingers[2]
    probe, mate = render(master, 1, "plain"), render(master, 2, "plain")
    base = parse_booking(read_transaction((CORPUS / "car-type14-one-finger.an2").read_bytes()), min_fingers=0)
    raw = write_booking(dataclasses.replace(base, tcn="T-REVIEW", fingers={
        2: FingerImage(position=2, pixels=probe.pixels, ppi=500.0, compression="WSQ")}))
    r = api.post("/api/v1/bookings", content=raw, headers={"Authorization": f"Bearer {toks['agency_a']}",
                                                           "Content-Type": "application/octet-stream"})
    assert r.status_code == 202, r.text
    tcn = r.json()["tcn"]
    with sessions() as s:
        t = extract(probe.pixels)
        s.add(BookingTemplate(tcn=tcn, position=2, template=t.to_bytes(), minutiae=len(t.x)))
        ident = ImmigrationIdentity(fin="FIN-0000042", last_name="SEED", first_name="ROBIN", dob=dt.date(1990, 1, 2),
                                    sex="X")
        ident.templates.append(ImmigrationTemplate(position=2, template=extract(mate.pixels).to_bytes()))
        s.add(ident)
        s.add(ReviewItem(tcn=tcn, kind="biometric", reason="immigration match in the examiner-review band",
                         score=0.31, candidate="FIN-0000042", details={}))
        s.execute(update(Job).where(Job.tcn == tcn).values(state="waiting"))  # as the match stage leaves it
        s.commit()
    return tcn


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `make test` installs Debian's chromium package"
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    target = os.environ.get("SECURECOMM_SCREENSHOTS")
    folder = (ROOT / target) if target else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _shot(page, folder: Path, name: str) -> None:
    """A small PNG of the page (palette-reduced with Pillow: a few tens of KB)."""
    from io import BytesIO

    from PIL import Image

    raw = page.screenshot(full_page=True)
    img = Image.open(BytesIO(raw)).convert("RGB").quantize(colors=64)
    img.save(folder / f"console-{name}.png", optimize=True)


def sign_in(browser, site, who: str):
    ctx = browser.new_context(viewport={"width": 1100, "height": 720})
    ctx.set_default_timeout(10_000)
    page = ctx.new_page()
    page.goto(site["url"] + "/console/bookings")  # a page that needs a session: sent to sign in
    assert page.url.endswith("/console/login")
    page.get_by_label("Your access token").fill(site["toks"][who])
    page.keyboard.press("Enter")
    page.wait_for_url("**/console/")
    return page


def test_sign_in_with_a_bad_token_then_a_good_one(browser, site, shots):
    ctx = browser.new_context(viewport={"width": 1100, "height": 600})
    ctx.set_default_timeout(10_000)
    page = ctx.new_page()
    page.goto(site["url"] + "/console/login")
    page.get_by_label("Your access token").fill("sc_" + "x" * 43)
    page.get_by_role("button", name="Sign in").click()
    assert "not known" in page.get_by_role("alert").inner_text()
    _shot(page, shots, "login")
    page.get_by_label("Your access token").fill(site["toks"]["agency_a"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console/")
    assert page.get_by_role("heading", level=1).inner_text() == "Welcome, agency_a"
    page.keyboard.press("Tab")  # the first stop is the skip link, visible when focused
    focused = page.evaluate("() => [document.activeElement.textContent, document.activeElement.getBoundingClientRect().left]")
    assert focused[0] == "Skip to content" and focused[1] >= 0
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.textContent") == "Bookings"  # then the sections
    nav = page.get_by_role("navigation", name="Sections").inner_text()
    assert "Submit a booking" in nav and "Audit" not in nav and "Review queue" not in nav
    ctx.close()


def test_agency_uploads_a_booking_file(browser, site, shots):
    page = sign_in(browser, site, "agency_a")
    page.get_by_role("link", name="Submit a booking").first.click()
    page.get_by_label("Booking file").set_input_files(str(CORPUS / "car-type14-one-finger.an2"))
    _shot(page, shots, "submit")
    page.get_by_role("button", name="Send the booking").click()
    page.wait_for_url("**/console/bookings/*")
    assert "queued for processing" in page.get_by_role("status").inner_text()
    with site["sessions"]() as s:
        row = s.scalar(select(Transaction).where(Transaction.sender_tcn == "SEED-1"))
        assert row is not None and row.ori == ORI_A and row.raw == (CORPUS / "car-type14-one-finger.an2").read_bytes()
    page.get_by_role("link", name="Bookings").first.click()
    assert "SEED-1" in page.get_by_role("table").inner_text()
    _shot(page, shots, "bookings")
    page.context.close()


def test_examiner_decides_a_review_item_with_the_keyboard(browser, site, shots):
    page = sign_in(browser, site, "examiner")
    page.get_by_role("link", name="Review queue").first.click()
    with site["sessions"]() as s:
        item = s.scalar(select(ReviewItem).where(ReviewItem.tcn == site["review_tcn"]))
    section = page.get_by_role("region", name=f"#{item.id}")
    section.get_by_role("link", name="Compare the fingers").click()
    picture = page.get_by_role("img", name="paired minutiae")
    picture.wait_for()
    page.wait_for_load_state("load")  # images included
    assert page.evaluate("img => img.complete && img.naturalWidth > 400", picture.element_handle())
    pairs = page.get_by_role("table", name="Paired minutiae").locator("tbody tr").count()
    assert pairs >= 4  # two impressions of one finger: the alignment explains several pairs
    _shot(page, shots, "review")
    page.get_by_label("Decision").select_option("reject")
    page.get_by_label("Note").fill("different pattern class on the right thumb")
    page.get_by_label("Note").press("Enter")  # the form submits from the keyboard
    assert f"Decision on item {item.id} recorded" in page.get_by_role("status").inner_text()
    with site["sessions"]() as s:
        row = s.get(ReviewItem, item.id)
        assert (row.state, row.resolved_by) == ("rejected", "examiner")
    page.context.close()


def test_jail_acknowledges_a_detainer_and_sees_the_hold_clock(browser, site, shots):
    page = sign_in(browser, site, "jail_tx")
    page.get_by_role("link", name="Detainers").first.click()
    with site["sessions"]() as s:
        did = s.scalar(select(DetainerRow.id).where(DetainerRow.tcn == site["tcn"]))
    row = page.locator(f"#detainer-{did}")
    assert "lodged" in row.inner_text()
    row.get_by_label("Scheduled release").fill("2030-01-04T15:00")  # a Friday: the weekend is not counted
    row.get_by_role("button", name="Acknowledge").click()
    page.wait_for_url("**/console/detainers?done=*")
    assert f"Detainer {did} acknowledged" in page.get_by_role("status").inner_text()
    text = page.locator(f"#detainer-{did}").inner_text()
    assert "2030-01-04 15:00 CST" in text and "2030-01-08 15:00 CST" in text  # Friday + 48 h counted: Tuesday
    assert "not released yet: the hold may last 2 d 0 h 00 min counted" in text
    with site["sessions"]() as s:
        d = s.get(DetainerRow, did)
        assert d.acknowledged_by == "jail_tx" and d.expires_at is not None
        assert s.scalar(select(AuditEntry).where(AuditEntry.actor == "jail_tx",
                                                 AuditEntry.action == "detainer:acknowledge"))
    _shot(page, shots, "detainers")
    page.context.close()


def test_oversight_reads_a_statistics_chart(browser, site, shots):
    page = sign_in(browser, site, "oversight")
    page.get_by_role("link", name="Statistics").first.click()
    page.get_by_label("Show figures by").select_option("ori")
    page.get_by_role("button", name="Show").click()
    chart = page.get_by_role("figure")
    assert chart.count() >= 1
    assert ORI_A in chart.first.inner_text()
    _shot(page, shots, "statistics")
    page.context.close()


def test_admin_issues_a_token_that_signs_in_and_revokes_it(browser, site, shots):
    page = sign_in(browser, site, "root")
    page.get_by_role("link", name="Users and tokens").first.click()
    page.get_by_label("Name").fill("clerk_browser")
    page.get_by_label("Role").select_option("agency")
    page.get_by_label("ORI (agency, jail)").fill(ORI_A)
    page.get_by_role("button", name="Add user").click()
    page.wait_for_url("**/console/users?done=*")
    assert "user clerk_browser added" in page.get_by_role("status").inner_text()
    page.get_by_label("For user").select_option("clerk_browser")
    page.get_by_label("What for").fill("browser test")
    page.get_by_role("button", name="Issue token").click()
    issued = page.get_by_label("Token", exact=True).input_value()
    assert issued.startswith("sc_")
    _shot(page, shots, "users")
    clerk = dict(site, toks={**site["toks"], "clerk_browser": issued})
    other = sign_in(browser, clerk, "clerk_browser")
    assert "Bookings" in other.get_by_role("navigation").inner_text()
    other.context.close()
    page.reload()  # the issue answer is not shown again
    with site["sessions"]() as s:
        from securecomm.store.models import ApiToken, User
        tid = s.scalar(select(ApiToken.id).join(User, User.id == ApiToken.user_id).where(User.name == "clerk_browser"))
    page.get_by_label(f"Reason for revoking token {tid}").fill("browser test over")
    page.get_by_label(f"Reason for revoking token {tid}").press("Enter")
    page.wait_for_url("**/console/users?done=*")
    assert f"token {tid} revoked" in page.get_by_role("status").inner_text()
    page.context.close()
