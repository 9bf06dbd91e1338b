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
