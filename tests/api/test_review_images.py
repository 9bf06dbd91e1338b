"""The examiner's picture: paired minutiae found on a known transformation, the PNG, and who may see it."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from fastapi.testclient import TestClient

from securecomm.api import create_app
from securecomm.engine.template import Template
from securecomm.services import review_images
from securecomm.store.models import AuditEntry, ImmigrationIdentity, ImmigrationTemplate
from securecomm.store.workflow_models import BookingTemplate, ReviewItem

from tests.api.test_api import api  # noqa: F401
from tests.api.test_console import signed_in


def _finger(seed: int = 3, n: int = 45) -> Template:
    rng = np.random.default_rng(seed)
    return Template(x=rng.uniform(40, 360, n), y=rng.uniform(40, 400, n), angle=rng.uniform(0, 2 * math.pi, n),
                    kind=np.ones(n, np.uint8), quality=np.full(n, 80, np.uint8), width=400, height=440)


def _moved(t: Template, rot: float, shift: tuple[float, float], keep: slice, seed: int = 9) -> tuple[Template, np.ndarray]:
    """The same finger turned by ``rot`` (counter-clockwise on the image) and shifted, with jitter; only
    the minutiae in ``keep`` survive, plus five spurious ones. Returns it and the index of each survivor."""
    rng = np.random.default_rng(seed)
    idx = np.arange(len(t.x))[keep]
    cx, cy = 200.0, 220.0
    dx, dy = t.x[idx] - cx, t.y[idx] - cy
    c, s = math.cos(rot), math.sin(rot)
    x = cx + c * dx + s * dy + shift[0] + rng.normal(0, 1.5, idx.size)
    y = cy - s * dx + c * dy + shift[1] + rng.normal(0, 1.5, idx.size)
    a = np.mod(t.angle[idx] + rot + rng.normal(0, 0.05, idx.size), 2 * math.pi)
    extra = 5
    x = np.concatenate([x, rng.uniform(40, 360, extra)])
    y = np.concatenate([y, rng.uniform(40, 400, extra)])
    a = np.concatenate([a, rng.uniform(0, 2 * math.pi, extra)])
    m = x.size
    return Template(x=x, y=y, angle=a, kind=np.ones(m, np.uint8), quality=np.full(m, 80, np.uint8), width=440,
                    height=480), idx


def test_pairs_follow_the_true_correspondence_and_strangers_pair_little():
    probe = _finger()
    mate, idx = _moved(probe, rot=math.radians(12), shift=(18, -10), keep=slice(3, 42))
    pairs = review_images.paired_minutiae(probe, mate)
    assert len(pairs) >= 8
    right = sum(1 for a, b, _ in pairs if b < idx.size and idx[b] == a)
    assert right >= len(pairs) - 1  # every pair but at most one is a true correspondence
    assert [g for *_, g in pairs] == sorted((g for *_, g in pairs), reverse=True)
    stranger = review_images.paired_minutiae(probe, _finger(seed=77))
    assert len(stranger) < len(pairs) // 2


def test_review_item_page_draws_the_pair_for_examiners_only(api):  # noqa: F811
    client, sessions, toks, _ = api
    probe = _finger()
    mate, _ = _moved(probe, rot=math.radians(-8), shift=(5, 12), keep=slice(0, 40))
    with sessions() as s:
        s.add(BookingTemplate(tcn="T-B-1", position=3, template=probe.to_bytes(), minutiae=len(probe.x)))
        ident = ImmigrationIdentity(fin="FIN-7", last_name="X", first_name="Y", dob=dt.date(1980, 1, 1), sex="M")
        ident.templates.append(ImmigrationTemplate(position=3, template=mate.to_bytes()))
        s.add(ident)
        item = ReviewItem(tcn="T-B-1", kind="biometric", reason="pair test", candidate="FIN-7", details={})
        s.add(item)
        s.commit()
        item_id = item.id
    ex = signed_in(sessions, toks["examiner"])
    page = ex.get(f"/console/review/{item_id}")
    assert page.status_code == 200 and f'pair.png?finger=3' in page.text and "paired minutiae" in page.text
    png = ex.get(f"/console/review/{item_id}/pair.png?finger=3")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png" and png.content[:4] == b"\x89PNG"
    assert ex.get(f"/console/review/{item_id}/pair.png?finger=4").status_code == 404  # not a common finger
    assert ex.get(f"/console/review/{item_id}/pair.png?finger=x").status_code == 422
    assert ex.get("/console/review/999999/pair.png").status_code == 404
    assert signed_in(sessions, toks["agency_a"]).get(f"/console/review/{item_id}/pair.png").status_code == 403
    assert TestClient(create_app(sessions=sessions)).get(f"/console/review/{item_id}/pair.png",
                                                         follow_redirects=False).status_code == 303
    with sessions() as s:
        assert s.query(AuditEntry).filter_by(actor="examiner", object_type="review_item_images",
                                             object_id=str(item_id)).count() >= 2


def test_an_immigration_candidate_is_shown_on_its_enrolment_image(api):  # noqa: F811
    """The IEN enrolment that put the FIN in IDENT is still in the store: its finger image is the candidate's
    panel (found through the enrolment's audit row, which names the TCN); without it, minutiae only."""
    from securecomm.domain.records import Biographic, Encounter, FingerImage, ImmigrationEnrolment
    from securecomm.interchange.ebts import write_immigration_enrolment
    from securecomm.services import UnitOfWork, tokens
    from securecomm.store.workflow_models import Transaction

    client, sessions, toks, _ = api
    probe = _finger(seed=5)
    mate, _ = _moved(probe, rot=math.radians(6), shift=(-4, 9), keep=slice(2, 41))
    yy, xx = np.mgrid[0:480, 0:440]
    pixels = (128 + 100 * np.sin(xx / 7.0 + yy / 11.0)).astype(np.uint8)  # a stand-in finger image
    person = Biographic("ROE", "RICH", dt.date(1984, 2, 3), "M", "MX")
    raw = write_immigration_enrolment(ImmigrationEnrolment(
        tcn="IEN-PAIR-1", person=person, encounters=(Encounter("admission", dt.date(2009, 5, 1)),),
        fingers={3: FingerImage(3, pixels, 500.0)}), date=dt.date(2009, 5, 1))
    from tests.api.test_api import ORI_A, bearer, car

    assert client.post("/api/v1/bookings", content=car(ORI_A, "T-PAIR-1"), headers={
        **bearer(toks["agency_a"]), "Content-Type": "application/octet-stream"}).status_code == 202
    with sessions() as s:
        s.add(BookingTemplate(tcn="T-PAIR-1", position=3, template=probe.to_bytes(), minutiae=len(probe.x)))
        ident = ImmigrationIdentity(fin="FINPAIR8", last_name="ROE", first_name="RICH", dob=dt.date(1984, 2, 3),
                                    sex="M")
        ident.templates.append(ImmigrationTemplate(position=3, template=mate.to_bytes()))
        s.add(ident)
        s.add(Transaction(tcn="IEN-PAIR-1", sender_tcn="IEN-PAIR-1", ori="DCIDENT00", tot="IEN", state="done",
                          raw=raw, sha256="0" * 64, received_at=dt.datetime(2009, 5, 1, tzinfo=dt.UTC)))
        item = ReviewItem(tcn="T-PAIR-1", kind="biometric", reason="ident pair", candidate="FINPAIR8", details={})
        s.add(item)
        s.commit()
        item_id = item.id
    root = tokens.authenticate(sessions, toks["root"])
    with UnitOfWork(sessions, root, write=True) as uow:  # as services.enrolment records an enrolment
        uow.audit("enrol", "immigration_identity", "FINPAIR8", detail="TCN IEN-PAIR-1")
    examiner = tokens.authenticate(sessions, toks["examiner"])
    with UnitOfWork(sessions, examiner) as uow:
        view = review_images.pair_view(uow, item_id, 3)
    assert view.candidate_pixels is not None and view.candidate_pixels.shape == (480, 440)
    assert np.array_equal(view.candidate_pixels, review_images._finger_pixels(raw, 3))
    ex = signed_in(sessions, toks["examiner"])
    assert "No image of the candidate" not in ex.get(f"/console/review/{item_id}").text
    png = ex.get(f"/console/review/{item_id}/pair.png?finger=3")
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
    with sessions() as s:  # the enrolment file purged: minutiae on a blank panel, said so
        s.query(Transaction).filter_by(tcn="IEN-PAIR-1").delete()
        s.query(ReviewItem).filter_by(id=item_id).delete()
        s.commit()
        item = ReviewItem(tcn="T-PAIR-1", kind="biometric", reason="ident pair", candidate="FINPAIR8", details={})
        s.add(item)
        s.commit()
        item_id = item.id
    with UnitOfWork(sessions, examiner) as uow:
        assert review_images.pair_view(uow, item_id, 3).candidate_pixels is None
    assert "No image of the candidate" in ex.get(f"/console/review/{item_id}").text
