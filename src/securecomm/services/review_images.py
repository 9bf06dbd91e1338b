"""What an examiner looks at: the probe finger and the candidate's, side by side, paired minutiae drawn.

Issue 11 (the console's review page). For one review item and one finger position it gathers

* the probe: the booking's finger image, decoded from the transaction as received, and the template the
  ``extract`` stage stored for it (``booking_templates``);
* the candidate: the enrolled template of the FIN (immigration) or UCN (criminal) the item names, and a
  finger image where the store still has one: an immigration identity's IEN enrolment transaction, a
  criminal subject's earlier booking (else its CNA enrolment) in ``transactions``. Galleries keep templates,
  not images: a candidate whose files are gone is shown as its minutiae only;
* the paired minutiae: the cylinder (MCC) local similarity of every probe/candidate minutia pair, the best
  pairs taken greedily (each minutia once), and of those the largest set consistent with one rotation and
  translation of the finger (within :data:`PAIR_TOLERANCE_PX` and :data:`PAIR_TOLERANCE_RAD`). That is the
  same evidence the matcher consolidates; it is a picture for a person, the score stays the matcher's.

:func:`render_png` draws it (Pillow). Reading it is audited like any read of personal data.
"""

from __future__ import annotations

import dataclasses
import io
import math

import numpy as np
from sqlalchemy import select

from securecomm.engine.mcc import DEFAULT_PARAMS, cylinders
from securecomm.engine.template import Template
from securecomm.services.review import _owner, _scoped
from securecomm.services.unit_of_work import NotFound, UnitOfWork
from securecomm.store.models import (ArrestRow, AuditEntry, CriminalSubject, CriminalTemplate, ImmigrationIdentity,
                                     ImmigrationTemplate)
from securecomm.store.workflow_models import BookingTemplate, ReviewItem, Transaction

__all__ = ["PairView", "pair_view", "paired_minutiae", "render_png", "PAIR_TOLERANCE_PX", "PAIR_TOLERANCE_RAD"]

#: Largest distance (pixels at 500 ppi) and direction difference of a pair from the alignment it agrees with.
PAIR_TOLERANCE_PX = 20.0
PAIR_TOLERANCE_RAD = math.pi / 6
#: At most this many pairs are drawn (the matcher consolidates at most MCCParams.max_np = 12).
MAX_PAIRS = 12
#: Height in pixels of each panel of the picture.
PANEL_HEIGHT = 420


@dataclasses.dataclass(frozen=True)
class PairView:
    item_id: int
    tcn: str
    candidate: str
    position: int
    positions: tuple[int, ...]          # finger positions both sides have
    probe: Template
    candidate_template: Template
    probe_pixels: np.ndarray | None
    candidate_pixels: np.ndarray | None
    pairs: tuple[tuple[int, int, float], ...]  # (probe minutia, candidate minutia, local similarity)


def _popcount(words: np.ndarray) -> np.ndarray:
    return np.bitwise_count(words).sum(axis=-1).astype(np.int64)


def _local_similarity(a: Template, b: Template) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(similarity matrix, probe minutia index of each cylinder row, candidate index of each column)."""
    params = DEFAULT_PARAMS
    ca, cb = cylinders(a, params), cylinders(b, params)
    ia = _kept_index(a, ca.x, -ca.y)
    ib = _kept_index(b, cb.x, -cb.y)
    if len(ca) == 0 or len(cb) == 0:
        return np.zeros((len(ca), len(cb))), ia, ib
    sw = ca.valid.shape[1] // 6  # words of one spatial layer (the mask repeats per direction layer)
    shared = _popcount(ca.valid[:, None, :sw] & cb.valid[None, :, :sw])
    x1 = ca.bits[:, None, :] & cb.valid[None, :, :]
    x2 = cb.bits[None, :, :] & ca.valid[:, None, :]
    s_a, s_b, s_x = _popcount(x1), _popcount(x2), _popcount(x1 ^ x2)
    denom = np.sqrt(s_a) + np.sqrt(s_b)
    with np.errstate(divide="ignore", invalid="ignore"):
        sim = np.where(denom > 0, 1.0 - np.sqrt(s_x) / denom, 0.0)
    dphi = np.abs(np.angle(np.exp(1j * (ca.angle[:, None] - cb.angle[None, :]))))
    min_cells = params.min_me * params.cells_in_radius()
    sim[(dphi > params.delta_theta) | (shared < min_cells)] = 0.0
    return sim, ia, ib


def _kept_index(t: Template, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Which template minutiae the kept cylinders belong to (cylinders drop invalid ones, keeping order)."""
    out, j = [], 0
    for i in range(len(t.x)):
        if j < len(x) and abs(float(t.x[i]) - x[j]) < 1e-3 and abs(float(t.y[i]) - y[j]) < 1e-3:
            out.append(i)
            j += 1
    return np.array(out, dtype=np.int64)


def paired_minutiae(a: Template, b: Template, *, max_pairs: int = MAX_PAIRS) -> list[tuple[int, int, float]]:
    """Minutia pairs (index in ``a``, index in ``b``, local similarity) that one alignment explains, best first."""
    sim, ia, ib = _local_similarity(a, b)
    if sim.size == 0:
        return []
    order = np.argsort(-sim, axis=None, kind="stable")
    used_a, used_b, greedy = set(), set(), []
    for flat in order:
        i, j = divmod(int(flat), sim.shape[1])
        if sim[i, j] <= 0 or len(greedy) >= 4 * max_pairs:
            break
        if i in used_a or j in used_b:
            continue
        used_a.add(i)
        used_b.add(j)
        greedy.append((int(ia[i]), int(ib[j]), float(sim[i, j])))
    best: list[tuple[int, int, float]] = []
    for pa, pb, _ in greedy:  # each pair proposes an alignment; keep the one most pairs agree with
        rot = float(b.angle[pb]) - float(a.angle[pa])
        c, s = math.cos(rot), math.sin(rot)
        agree = []
        for qa, qb, g in greedy:
            dx, dy = float(a.x[qa] - a.x[pa]), float(a.y[qa] - a.y[pa])
            # the template's angles are counter-clockwise as seen on the image (y pointing down)
            px, py = float(b.x[pb]) + c * dx + s * dy, float(b.y[pb]) - s * dx + c * dy
            dang = abs(math.remainder(float(b.angle[qb]) - float(a.angle[qa]) - rot, 2 * math.pi))
            if math.hypot(px - float(b.x[qb]), py - float(b.y[qb])) <= PAIR_TOLERANCE_PX and \
                    dang <= PAIR_TOLERANCE_RAD:
                agree.append((qa, qb, g))
        if len(agree) > len(best):
            best = agree
    return sorted(best, key=lambda p: -p[2])[:max_pairs]


def _templates_of_candidate(uow: UnitOfWork, item: ReviewItem) -> dict[int, Template]:
    s = uow.session
    if item.kind == "biometric":
        ident = s.scalar(select(ImmigrationIdentity.id).where(ImmigrationIdentity.fin == item.candidate))
        rows = [] if ident is None else s.execute(select(ImmigrationTemplate.position, ImmigrationTemplate.template)
                                                  .where(ImmigrationTemplate.identity_id == ident)).all()
    else:
        subject = s.scalar(select(CriminalSubject.id).where(CriminalSubject.ucn == item.candidate))
        rows = [] if subject is None else s.execute(select(CriminalTemplate.position, CriminalTemplate.template)
                                                    .where(CriminalTemplate.subject_id == subject)).all()
    return {int(p): Template.from_bytes(bytes(t)) for p, t in rows}


def _finger_pixels(raw: bytes | None, position: int) -> np.ndarray | None:
    """The finger image at ``position`` of an ANSI/NIST-ITL booking or enrolment (CNA, IEN) (None when it
    cannot be read)."""
    if not raw:
        return None
    from securecomm.interchange import (parse_booking, parse_criminal_enrolment, parse_immigration_enrolment,
                                        read_transaction)

    try:
        tx = read_transaction(raw)
        parse = {"IEN": parse_immigration_enrolment, "CNA": parse_criminal_enrolment}.get(tx.tot, parse_booking)
        finger = parse(tx, min_fingers=0).fingers.get(position)
    except Exception:  # noqa: BLE001 - a picture is optional: an unreadable one is left out, never a 500
        return None
    if finger is None or finger.pixels is None or not finger.pixels.size:
        return None
    pixels = finger.pixels
    if finger.ppi and abs(finger.ppi - 500) > 1:  # templates are at 500 ppi: show the image at that scale
        from PIL import Image

        h, w = pixels.shape
        k = 500.0 / finger.ppi
        pixels = np.asarray(Image.fromarray(pixels).resize((max(1, round(w * k)), max(1, round(h * k)))))
    return pixels


def _enrolment_raw(uow: UnitOfWork, object_type: str, key: str) -> bytes | None:
    """The enrolment transaction (CNA / IEN) that put ``key`` in its repository, if the store still has it.

    The link is the enrolment's own audit row (``securecomm.services.enrolment`` writes ``enrol <object_type>
    <key>`` with detail ``TCN <tcn>`` in the transaction that enrols): a repository keeps templates, and the
    TCN of the file they were extracted from is named only there.
    """
    s = uow.session
    details = s.scalars(select(AuditEntry.detail).where(AuditEntry.object_type == object_type,
                                                       AuditEntry.object_id == key, AuditEntry.action == "enrol")
                        .order_by(AuditEntry.id.desc())).all()
    for detail in details:
        if not (detail or "").startswith("TCN "):
            continue
        raw = s.scalar(select(Transaction.raw).where(Transaction.tcn == detail[4:].strip()))
        if raw:
            return bytes(raw)
    return None


def _candidate_raw(uow: UnitOfWork, item: ReviewItem) -> bytes | None:
    """A finger image source for the candidate: an immigration identity's IEN enrolment; a criminal subject's
    latest earlier booking still in the store, else its CNA enrolment. None when none is left."""
    if item.kind == "biometric":
        return _enrolment_raw(uow, "immigration_identity", item.candidate)
    s = uow.session
    tcns = s.scalars(select(ArrestRow.tcn).join(CriminalSubject, CriminalSubject.id == ArrestRow.subject_id)
                     .where(CriminalSubject.ucn == item.candidate).order_by(ArrestRow.date.desc())).all()
    for tcn in tcns:
        if tcn == item.tcn:
            continue
        raw = s.scalar(select(Transaction.raw).where((Transaction.tcn == tcn) | (Transaction.sender_tcn == tcn)))
        if raw:
            return bytes(raw)
    return _enrolment_raw(uow, "criminal_subject", item.candidate)


def pair_view(uow: UnitOfWork, item_id: int, position: int | None = None) -> PairView:
    """The probe and candidate of one review item at one finger (default: the best-scoring common finger)."""
    from securecomm.engine.match import match

    uow.require("review.list")
    item = uow.session.get(ReviewItem, item_id)
    if item is None:
        raise NotFound(f"no review item {item_id}")
    if _scoped(uow):
        uow.require_scope("review.list", **_owner(uow, item.tcn), what="review item")
    if not item.candidate:
        raise NotFound(f"review item {item_id} names no candidate to compare with")
    probe = {int(p): Template.from_bytes(bytes(t)) for p, t in uow.session.execute(
        select(BookingTemplate.position, BookingTemplate.template).where(BookingTemplate.tcn == item.tcn)).all()}
    cand = _templates_of_candidate(uow, item)
    common = tuple(sorted(set(probe) & set(cand)))
    if not common:
        raise NotFound(f"review item {item_id}: the booking and candidate {item.candidate} share no finger "
                       "with a template")
    if position is None:
        position = max(common, key=lambda p: (match(probe[p], cand[p]), -p))
    elif position not in common:
        raise NotFound(f"finger {position} is not one both sides have (they have {', '.join(map(str, common))})")
    raw = uow.session.scalar(select(Transaction.raw).where(Transaction.tcn == item.tcn))
    view = PairView(item.id, item.tcn, item.candidate, position, common, probe[position], cand[position],
                    _finger_pixels(raw, position), _finger_pixels(_candidate_raw(uow, item), position),
                    tuple(paired_minutiae(probe[position], cand[position])))
    uow.audit("read", "review_item_images", item.id, detail=f"finger {position}; candidate {item.candidate}; "
                                                             f"{len(view.pairs)} paired minutiae")
    return view


_COLOURS = ((230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240),
            (240, 50, 230), (128, 128, 0), (0, 128, 128), (170, 110, 40), (128, 0, 0), (0, 0, 128))


def render_png(view: PairView) -> bytes:
    """Both fingers side by side (probe left), every minutia marked, paired ones numbered and joined."""
    from PIL import Image, ImageDraw

    panels, scales = [], []
    for t, pixels in ((view.probe, view.probe_pixels), (view.candidate_template, view.candidate_pixels)):
        if pixels is not None:
            img = Image.fromarray(np.asarray(pixels, dtype=np.uint8)).convert("RGB")
        else:  # no image kept: a pale panel of the template's size with its minutiae only
            img = Image.new("RGB", (max(int(t.width), 1), max(int(t.height), 1)), (236, 240, 245))
            ImageDraw.Draw(img).text((8, 8), "no image kept - minutiae only", fill=(90, 90, 90))
        k = PANEL_HEIGHT / img.height
        panels.append(img.resize((max(1, round(img.width * k)), PANEL_HEIGHT)))
        scales.append(k)
    gap = 24
    out = Image.new("RGB", (panels[0].width + gap + panels[1].width, PANEL_HEIGHT), (255, 255, 255))
    out.paste(panels[0], (0, 0))
    out.paste(panels[1], (panels[0].width + gap, 0))
    draw = ImageDraw.Draw(out)
    offsets = (0, panels[0].width + gap)
    paired = ({a for a, _, _ in view.pairs}, {b for _, b, _ in view.pairs})

    def point(side: int, t: Template, i: int) -> tuple[float, float]:
        return offsets[side] + float(t.x[i]) * scales[side], float(t.y[i]) * scales[side]

    for side, t in enumerate((view.probe, view.candidate_template)):
        for i in range(len(t.x)):
            if i in paired[side]:
                continue
            x, y = point(side, t, i)
            draw.ellipse((x - 3, y - 3, x + 3, y + 3), outline=(120, 120, 120))
    for n, (a, b, _) in enumerate(view.pairs):
        colour = _COLOURS[n % len(_COLOURS)]
        ends = [point(0, view.probe, a), point(1, view.candidate_template, b)]
        draw.line(ends, fill=colour, width=1)
        for side, (t, i) in enumerate(((view.probe, a), (view.candidate_template, b))):
            x, y = ends[side]
            ang = float(t.angle[i])
            draw.ellipse((x - 5, y - 5, x + 5, y + 5), outline=colour, width=2)
            draw.line((x, y, x + 12 * math.cos(ang), y - 12 * math.sin(ang)), fill=colour, width=2)
            draw.text((x + 6, y - 14), str(n + 1), fill=colour)
    buf = io.BytesIO()
    out.save(buf, format="PNG", optimize=True)
    return buf.getvalue()
