"""One function per pipeline stage: read what earlier stages recorded, compute, say what to commit.

A stage returns a :class:`StageOutcome` -- its recorded output, the
responses to send, a review item to open, the domain writes to make
(``apply``), the next stage -- and the worker (``securecomm.workflow.pipeline``)
commits all of that together with the job's advance in ONE transaction. The
heavy stages (validate, extract, the two searches) compute outside any write
transaction and only hand over ``apply``; the light ones (``INLINE_STAGES``)
run inside the commit transaction, so their audited reads land with them.
That is what makes a crash at any moment safe: either nothing of the stage
is in the database (the stage is redone) or all of it is (the stage is
skipped). See docs/pipeline.md.

Order: validate -> extract -> criminal_search -> sre -> immigration_search
-> idr -> iaq -> status_determination -> iar. A booking from an ORI not
activated on its date stops after ``sre``; a no-match stops after ``idr``;
an immigration match in the examiner-review band waits in the manual queue
before ``idr``; a status the rules do not decide waits before ``iar``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from securecomm.domain.actions import NO_ACTION, check_action
from securecomm.domain.clock import SYSTEM_CLOCK, Clock
from securecomm.domain.records import Booking
from securecomm.interchange.errors import TransactionError, TransactionRejected
from securecomm.store.workflow_models import BookingTemplate, ReviewItem, Transaction

#: The stages in order; ``next_stage`` of each outcome names one of these.
STAGES = ("validate", "extract", "criminal_search", "sre", "immigration_search", "idr", "iaq",
          "status_determination", "iar")

#: Recipient name of the status determination centre (the LESC has no booking ORI of its own here).
LESC = "LESC"
#: Named in the biometric evidence of every IDR/IAQ: matcher/extractor. The extract stage records the
#: label of the extractor it ran (engine.extractors.Extractor.label); this is for bookings extracted before.
MATCHER = "securecomm-mcc/classical"


@dataclass(frozen=True)
class PipelineConfig:
    """Settings every worker of one deployment must share."""

    min_fingers: int = 8  # a booking with fewer usable fingers is rejected (ERRT)
    stage_deadline: float = 300.0  # seconds a heavy stage may compute before its lease is let go
    candidates: int = 5  # candidates kept per search
    cjis_ori: str = "DCFBIWA0Z"  # the criminal repository, sender of SRE/ERRT (interchange.ebts.FBI_ORI)
    lesc: str = LESC
    # what-if replays (securecomm whatif): one policy version for every booking instead of the one in force
    # on its date, and/or a file of state limits (policy/data/state_limits.json format) instead of the packaged one
    policy_version: str | None = None
    state_limits: str | None = None
    # the candidate index (engine.index) the workers of one machine map from disk: the folder holding
    # criminal/ and immigration/ (workflow.gallery.prepare_index keeps it up to date); None: exhaustive search
    index_dir: str | None = None


@dataclass(frozen=True)
class OutgoingResponse:
    """One message to commit to the outbox (``responses``)."""

    kind: str
    recipient: str
    role: str
    format: str  # "nist" or "json"
    payload: bytes
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReviewSpec:
    """A manual-queue item to open."""

    kind: str  # biometric | criminal_biometric | status
    reason: str
    band: str = ""
    score: float | None = None
    candidate: str = ""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class StageOutcome:
    """Everything one stage wants committed, atomically with its job's advance."""

    status: str  # done | skipped | rejected | review
    output: dict[str, Any]
    next_stage: str | None
    job_state: str = "ready"  # ready (go on) | waiting (human) | done
    responses: list[OutgoingResponse] = field(default_factory=list)
    review: ReviewSpec | None = None
    tx_state: str | None = None  # new transactions.state, when it changes
    tx_error: str | None = None
    booking_date: dt.date | None = None
    arrest_date: dt.date | None = None  # the booking's date of arrest (2.045), kept on the transaction
    captured_at: dt.datetime | None = None  # the booking's capture time (1.014 GMT), kept on the transaction
    templates: dict[int, tuple[bytes, int]] = field(default_factory=dict)  # position -> (bytes, minutiae)
    apply: Callable[[Session], dict[str, Any]] | None = None  # domain writes; returns output additions


class Rejected(Exception):
    """Bad input found by a stage: answered with an ERRT naming record, field and reason."""

    def __init__(self, errors: list[TransactionError]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(str(e) for e in self.errors))


@dataclass
class StageContext:
    """What a stage may read: the transaction, earlier outputs, resolved reviews, the galleries."""

    session: Session
    tx: Transaction
    outputs: dict[str, dict[str, Any]]
    config: PipelineConfig
    galleries: Any  # securecomm.workflow.gallery.Galleries
    reviews: dict[str, ReviewItem] = field(default_factory=dict)
    worker: str = "worker"  # who reads personal data, for the audit trail
    clock: Clock = SYSTEM_CLOCK  # "now" for every message this stage writes
    #: the booking's stored templates once read (a context that serves several stages of one job reads them
    #: once: ``extract`` writes them, nothing changes them afterwards; the worker drops this when a stage
    #: records templates)
    stored_templates: dict[int, bytes] | None = None
    #: those templates parsed, once for the context's stages (a booking's two searches); reset with them
    parsed_templates: dict[int, Any] | None = None

    @property
    def tcn(self) -> str:
        """The transaction's key in the store (its TCN, or ``TCN@ORI``, or ``UNREAD-...``)."""
        return self.tx.tcn

    @property
    def sender_tcn(self) -> str:
        """The TCN as the sender wrote it (what responses refer to in their TCR), else the key."""
        return self.tx.sender_tcn or self.tx.tcn

    def booking(self) -> Booking:
        """The parsed booking (cached per worker: later stages need it without re-decoding WSQ).

        Only ``validate`` applies the finger-count requirement; once a booking is accepted,
        every later stage (on any worker, whatever its settings) reads it without one.
        """
        return _booking_cache(self.tx, self.config.min_fingers if "validate" not in self.outputs else 0)

    def template_bytes(self) -> dict[int, bytes]:
        """The booking's stored templates as stored (extracted once, by the ``extract`` stage), unparsed."""
        if self.stored_templates is None:
            rows = self.session.execute(_TEMPLATES, {"tcn": self.tcn}).all()
            self.stored_templates = {int(pos): bytes(data) for pos, data in rows}
        return dict(self.stored_templates)

    def templates(self) -> dict[int, Any]:
        """The booking's stored templates, parsed for searching."""
        from securecomm.engine.template import Template

        if self.parsed_templates is None or self.stored_templates is None:
            self.parsed_templates = {pos: Template.from_bytes(data) for pos, data in self.template_bytes().items()}
        return dict(self.parsed_templates)  # templates are immutable; the mapping is the caller's


#: A booking's stored templates (built once: ``StageContext.template_bytes`` runs for every booking).
_TEMPLATES = select(BookingTemplate.position, BookingTemplate.template).where(BookingTemplate.tcn == bindparam("tcn"))

#: (TCN, sha256) -> (parsed booking, highest finger requirement it was parsed under, bytes of its pixels).
_CACHE: OrderedDict[tuple[str, str], tuple[Booking, int, int]] = OrderedDict()
#: Bounds of the parse cache: bookings kept, and bytes of decoded pixels kept (the newest entry always stays,
#: it is the booking in hand; the reader's pixel budget bounds it).
CACHE_MAX_ENTRIES = 16
CACHE_MAX_BYTES = 256 * 1024 * 1024


def _booking_cache(tx: Transaction, min_fingers: int) -> Booking:
    """Parse once per worker: the finger requirement only adds a check, so a booking accepted under
    ``validate``'s requirement serves every later stage (requirement 0) without decoding its WSQ again."""
    from securecomm.interchange import parse_booking, read_transaction

    key = (tx.tcn, tx.sha256)
    hit = _CACHE.get(key)
    if hit is not None and min_fingers <= hit[1]:
        _CACHE.move_to_end(key)
        return hit[0]
    _CACHE.pop(key, None)
    booking = parse_booking(read_transaction(tx.raw), min_fingers=min_fingers)
    size = sum(f.pixels.nbytes for f in booking.fingers.values())
    _CACHE[key] = (booking, max(min_fingers, hit[1]) if hit is not None else min_fingers, size)
    while len(_CACHE) > 1 and (len(_CACHE) > CACHE_MAX_ENTRIES or
                               sum(v[2] for v in _CACHE.values()) > CACHE_MAX_BYTES):
        _CACHE.popitem(last=False)
    return booking


def forget_booking(tx: Transaction) -> None:
    """Drop a booking from the parse cache (it was rejected: no later stage will read it)."""
    _CACHE.pop((tx.tcn, tx.sha256), None)


def _forget_on_reject(stage: Callable[[StageContext], StageOutcome]) -> Callable[[StageContext], StageOutcome]:
    """A stage that rejects its booking also frees the booking's decoded pixels."""
    def run(ctx: StageContext) -> StageOutcome:
        try:
            return stage(ctx)
        except (Rejected, TransactionRejected):
            forget_booking(ctx.tx)
            raise
    run.__name__, run.__doc__, run.__wrapped__ = stage.__name__, stage.__doc__, stage  # type: ignore[attr-defined]
    return run


# ----------------------------------------------------------------------------------- helpers


def _sib(session: Session, booking: Booking) -> tuple[str, str]:
    """The state bureau that gets copies, and why a requested one was refused ("" if none was).

    A booking may name one in 2.007 SCO, but copies carry the rap sheet, so only a loaded
    agency of kind ``SIB`` in the sender's own state qualifies; otherwise (and when no SCO
    is given) the copy goes to the bureau configured for the agency, under the same rule.
    """
    from securecomm.jurisdictions import agency

    sender = agency(session, booking.ori)
    state = sender.state if sender is not None else booking.ori[:2]

    def bureau(ori: str | None) -> str:
        row = agency(session, ori) if ori else None
        return row.ori if row is not None and row.kind == "SIB" and row.state == state else ""

    refused = ""
    if booking.sib_ori:
        chosen = bureau(booking.sib_ori)
        if chosen:
            return chosen, ""
        refused = f"2.007 SCO {booking.sib_ori} is not a loaded state bureau of {state}: no copy sent there"
    return bureau(sender.sib_ori if sender is not None else None), refused


def _recipients(*pairs: tuple[str | None, str]) -> list[tuple[str, str]]:
    """(recipient, role) pairs without blanks or repeats: one copy per recipient, first role wins."""
    out: dict[str, str] = {}
    for recipient, role in pairs:
        if recipient and recipient not in out:
            out[recipient] = role
    return list(out.items())


def _field_office(session: Session, ori: str) -> str:
    from securecomm.jurisdictions import agency

    row = agency(session, ori)
    return (row.field_office or "") if row is not None else ""


def _json(model: Any) -> bytes:
    if hasattr(model, "model_dump_json"):
        return model.model_dump_json().encode()
    return json.dumps(model, default=str, sort_keys=True).encode()


def _candidates(result: Any) -> list[dict[str, Any]]:
    return [{"subject": c.subject_id, "score": round(float(c.score), 4),
             "finger_scores": {str(p): round(float(s), 4) for p, s in c.finger_scores.items()}}
            for c in result.candidates]


_ORI = re.compile(r"^[A-Z0-9]{9}$")


def safe_tcn(tcn: str) -> str:
    """A TCN as the writers accept it (letters, digits, '-'; 1..40): how a response refers to it."""
    return (re.sub(r"[^A-Za-z0-9-]", "-", tcn) or "UNKNOWN")[:40]


def response_tcn(tcn: str, kind: str) -> str:
    """The TCN of a response: the submission's TCN (made safe) and the kind, at most 40 characters."""
    return f"{safe_tcn(tcn)[:39 - len(kind)]}-{kind}"


def errt_outcome(ctx: StageContext, errors: list[TransactionError], stage: str) -> StageOutcome:
    """Reject the transaction: one ERRT to the submitter naming every problem; nothing else happens.

    A submitter whose ORI cannot even be read gets its ERRT kept under recipient ``UNKNOWN``
    (addressed, in the file, back to the criminal repository itself) for an operator to route.
    """
    from securecomm.interchange import write_errt
    from securecomm.jurisdictions import local_date_for

    ori = (ctx.tx.ori or "").strip().upper()
    known = bool(_ORI.match(ori))
    date = ctx.tx.booking_date or local_date_for(ctx.session, ori if known else "", ctx.tx.received_at)
    payload = write_errt(tcn=response_tcn(ctx.tcn, "ERRT"), tcr=safe_tcn(ctx.sender_tcn), ori=ctx.config.cjis_ori,
                         dai=ori if known else ctx.config.cjis_ori, errors=errors, date=date)
    detail = [{"record": e.record, "field": e.field, "reason": e.reason} for e in errors]
    return StageOutcome(
        status="rejected", output={"errors": detail, "stage": stage}, next_stage=None, job_state="done",
        responses=[OutgoingResponse("ERRT", ori if known else "UNKNOWN", "ori", "nist", payload,
                                    {"errors": detail})],
        tx_state="rejected", tx_error="; ".join(str(e) for e in errors))


# ----------------------------------------------------------------------------------- stages


@_forget_on_reject
def validate(ctx: StageContext) -> StageOutcome:
    """Read and check the transaction: TOT, mandatory fields, NCIC codes, known ORI, enough fingers."""
    from securecomm.domain import offenses
    from securecomm.jurisdictions import agency
    from securecomm.repositories import CriminalRepository

    try:
        booking = ctx.booking()
    except TransactionRejected as exc:
        raise Rejected(exc.errors) from exc
    errors: list[TransactionError] = []
    if agency(ctx.session, booking.ori) is None:
        errors.append(TransactionError("Type-1", "1.008 ORI", f"ORI {booking.ori!r} is not a known agency"))
    for i, charge in enumerate(booking.charges, start=1):
        if not offenses.is_valid(charge.ncic):
            errors.append(TransactionError("Type-2", "2.901 NOC",
                                           f"charge {i}: {charge.ncic!r} is not an NCIC offense code"))
    if booking.tcn != ctx.sender_tcn:
        errors.append(TransactionError("Type-1", "1.009 TCN", "TCN differs from the submitted header"))
    elif CriminalRepository(ctx.session).ucn_for_tcn(booking.tcn, booking.ori) is not None:
        # this agency's TCN already names an arrest on file (an enrolled history): never inherit
        # that subject's UCN; whose it is, is not said
        errors.append(TransactionError("Type-1", "1.009 TCN", "TCN already names an arrest of this agency on "
                                       "file; resubmit with a new TCN"))
    if errors:
        raise Rejected(errors)
    fingers = sorted(p for p, f in booking.fingers.items() if not f.amputated)
    sib, refused = _sib(ctx.session, booking)
    output = {"ori": booking.ori, "date": booking.date.isoformat(), "fingers": fingers,
              "charges": [c.ncic for c in booking.charges], "sib": sib, "min_fingers": ctx.config.min_fingers}
    if refused:
        output["warnings"] = [refused]
    return StageOutcome(status="done", next_stage="extract", tx_state="accepted", booking_date=booking.date,
                        arrest_date=booking.arrest_date, captured_at=booking.captured_at, output=output)


@_forget_on_reject
def extract(ctx: StageContext) -> StageOutcome:
    """Extract one template per finger, once; they are stored so a restart never re-extracts."""
    from securecomm.engine.errors import ImageError
    from securecomm.engine.extractors import configured

    booking = ctx.booking()
    from securecomm.engine.quality import TOO_POOR_TO_SEARCH

    stored: dict[int, tuple[bytes, int]] = {}
    quality: dict[int, int] = {}
    failed: list[str] = []
    extractor = configured()  # the deployment's extractor (a broken model fails here, not per finger)
    fingers = [(pos, img) for pos, img in sorted(booking.fingers.items()) if not img.amputated and 1 <= pos <= 10]
    # extract_many gives an unusable image's ImageError in place (the submitter's problem, reported below)
    for (pos, _), tpl in zip(fingers, extractor.extract_many([(img.pixels, img.ppi) for _, img in fingers],
                                                                   positions=[pos for pos, _ in fingers])):
        if isinstance(tpl, ImageError):
            failed.append(f"finger {pos}: {tpl}")
            continue
        # any other exception is a bug or the machine's trouble: it propagates (retried, then
        # parked for an operator), never blamed on the submitter's finger
        stored[pos] = (tpl.to_bytes(), int(tpl.x.size))
        quality[pos] = int(tpl.image_quality)
    usable = [p for p, (_, n) in stored.items() if n >= 4]
    # the requirement the booking was accepted under, whichever worker runs this stage
    amputated = sum(1 for f in booking.fingers.values() if f.amputated)
    required = min(int(ctx.outputs["validate"].get("min_fingers", ctx.config.min_fingers)), 10 - amputated)
    if len(usable) < required:
        raise Rejected([TransactionError(
            "Type-4/14", "DATA", f"only {len(usable)} finger images yield usable minutiae; "
            f"{required} required" + (f" ({'; '.join(failed)})" if failed else ""))])
    output: dict[str, Any] = {"fingers": sorted(stored), "minutiae": {str(p): n for p, (_, n) in stored.items()},
                              "failed": failed, "matcher": extractor.label,
                              "quality": {str(p): q for p, q in quality.items()}}
    # the engine's quality predicts the finger's match scores (docs/engine.md section 7); a finger under
    # TOO_POOR_TO_SEARCH is still searched (leaving it out costs more than it saves), but flagged for re-capture
    poor = sorted(p for p, q in quality.items() if 0 <= q < TOO_POOR_TO_SEARCH)
    if poor:
        output["recapture"] = poor
        output["warnings"] = [f"finger {p}: image quality {quality[p]} is under {TOO_POOR_TO_SEARCH}; "
                              "re-take the print at the next booking" for p in poor]
    return StageOutcome(status="done", next_stage="criminal_search", templates=stored, output=output)


def criminal_search(ctx: StageContext) -> StageOutcome:
    """1:N against the criminal master file; identify (append the arrest) or enrol a new subject.

    Search-then-enrol cannot split a person: the search runs outside the write transaction,
    so another worker may enrol the same person meanwhile. ``apply`` therefore takes the
    enrolment lock (held until the stage commits) and, before enrolling, searches again
    the subjects enrolled since this search's watermark; a hit there identifies the
    booking instead. Every booking of one person that races ends on one UCN.
    """
    booking = ctx.booking()
    probe = ctx.templates()
    if _activated(ctx, booking):  # the booking's immigration search, started now where the galleries allow it
        ctx.galleries.immigration_ahead(probe, ctx.config.candidates)
    gallery = ctx.galleries.criminal
    result = gallery.search(ctx.session, probe, k=ctx.config.candidates)
    watermark = gallery.watermark  # every subject up to this row id was searched
    output: dict[str, Any] = {"decision": result.decision, "candidates": _candidates(result)}
    if result.reason:
        output["reason"] = result.reason
    templates = {p: t.to_bytes() for p, t in probe.items()}
    outcome = StageOutcome(status="done", next_stage="sre", output=output)
    if result.decision == "hit":
        outcome.apply = _identify(booking, gallery.key_of(result.best.subject_id))
    else:
        outcome.review = _criminal_review(gallery, result, output["candidates"])
        outcome.apply = _resolve_then_enrol(ctx, outcome, booking, probe, templates, watermark)
    return outcome


def _identify(booking: Booking, ucn: str) -> Callable[[Session], dict[str, Any]]:
    from securecomm.repositories import CriminalRepository

    def apply(session: Session) -> dict[str, Any]:
        repo = CriminalRepository(session)
        current = repo.resolve(ucn)  # a subject merged since the search: its survivor
        repo.append_arrest(current, booking)
        return {"result": "I", "ucn": current}
    return apply


def _criminal_review(gallery: Any, result: Any, candidates: list[dict[str, Any]]) -> ReviewSpec | None:
    """A weak criminal match: never an identification, but a consolidation candidate for examiners."""
    if result.decision != "review":
        return None
    return ReviewSpec(kind="criminal_biometric", band="review", score=float(result.best.score),
                      candidate=gallery.key_of(result.best.subject_id),
                      reason="criminal repository candidate in the examiner-review band: "
                             "a consolidation candidate (confirm merges the two subjects)"
                             + (f"; {result.reason}" if result.reason else ""),
                      details={"candidates": candidates})


def _resolve_then_enrol(ctx: StageContext, outcome: StageOutcome, booking: Booking, probe: dict[int, Any],
                        templates: dict[int, bytes], watermark: int) -> Callable[[Session], dict[str, Any]]:
    from securecomm.repositories import CriminalRepository

    gallery = ctx.galleries.criminal
    k = ctx.config.candidates

    def apply(session: Session) -> dict[str, Any]:
        repo = CriminalRepository(session)
        repo.lock_enrolments()  # from here on no one enrols until we commit; all earlier ones are visible
        late = gallery.search_since(session, probe, watermark, k=k)
        if late is not None and late.decision == "hit":
            ucn = repo.resolve(gallery.key_of(late.best.subject_id))
            repo.append_arrest(ucn, booking)
            outcome.review = None  # identified after all: nothing for examiners to consolidate
            return {"result": "I", "ucn": ucn, "resolved_by": "re-search under the enrolment lock",
                    "late_candidates": _candidates(late)}
        if late is not None and late.decision == "review" and outcome.review is None:
            outcome.review = _criminal_review(gallery, late, _candidates(late))
        ucn = repo.create_subject_from_booking(booking, templates)
        extra: dict[str, Any] = {"result": "N", "ucn": ucn}
        if late is not None:  # searched again under the lock: say what was seen
            extra["late_candidates"] = _candidates(late)
        if outcome.review is not None:  # the consolidation candidate names both subjects
            outcome.review = dataclasses.replace(outcome.review, details={**outcome.review.details, "ucn": ucn})
        return extra
    return apply


def sre(ctx: StageContext) -> StageOutcome:
    """Submission Results -- Electronic to the booking agency, copy to the state bureau."""
    from securecomm.interchange import write_sre
    from securecomm.repositories import CriminalRepository, render_rap_sheet

    booking = ctx.booking()
    found = ctx.outputs["criminal_search"]
    sheet = CriminalRepository(ctx.session).rap_sheet(found["ucn"], actor=ctx.worker, role="criminal_repository",
                                                      purpose=f"SRE for {ctx.tcn}")
    rap = render_rap_sheet(sheet)
    sib = ctx.outputs["validate"].get("sib", "")
    responses = []
    for recipient, role in _recipients((booking.ori, "ori"), (sib, "sib")):
        payload = write_sre(tcn=response_tcn(ctx.tcn, "SRE"), tcr=safe_tcn(ctx.sender_tcn), ori=ctx.config.cjis_ori,
                            dai=recipient, result=found["result"], ucn=found["ucn"], rap_sheet=rap,
                            date=booking.date)
        responses.append(OutgoingResponse("SRE", recipient, role, "nist", payload,
                                          {"result": found["result"], "ucn": found["ucn"]}))
    return StageOutcome(status="done", next_stage="immigration_search", responses=responses,
                        output={"result": found["result"], "ucn": found["ucn"],
                                "recipients": [r.recipient for r in responses]})


def _activated(ctx: StageContext, booking: Booking) -> bool:
    """Whether the booking's ORI was activated on the booking's date (its prints go to the immigration side)."""
    from securecomm.jurisdictions import is_activated

    return is_activated(ctx.session, booking.ori, booking.date)


def immigration_search(ctx: StageContext) -> StageOutcome:
    """If the ORI was activated on the booking's date, search the immigration repository."""
    booking = ctx.booking()
    if not _activated(ctx, booking):
        return StageOutcome(status="skipped", next_stage=None, job_state="done", tx_state="done",
                            output={"activated": False})
    probe = ctx.templates()
    result = ctx.galleries.immigration.search(ctx.session, probe, k=ctx.config.candidates)
    best = result.best
    thresholds = ctx.galleries.immigration.gallery.thresholds
    output: dict[str, Any] = {"activated": True, "decision": result.decision, "candidates": _candidates(result),
                              "threshold": thresholds.hit, "review_threshold": thresholds.review}
    if result.reason:
        output["reason"] = result.reason
    if best is not None and result.decision != "no_hit":
        output.update(fin=ctx.galleries.immigration.key_of(best.subject_id), score=round(float(best.score), 4),
                      finger_scores={str(p): round(float(s), 4) for p, s in best.finger_scores.items()})
    if result.decision == "review":
        # Never an automatic IAQ on a weak match: a human examiner decides first (see `securecomm review`).
        return StageOutcome(
            status="review", next_stage="idr", job_state="waiting", output=output,
            review=ReviewSpec(kind="biometric", band="review", score=float(best.score), candidate=output["fin"],
                              reason="immigration match in the examiner-review band: confirm before any IAQ"
                                     + (f"; {result.reason}" if result.reason else ""),
                              details={"candidates": output["candidates"], "threshold": thresholds.hit}))
    return StageOutcome(status="done", next_stage="idr", output=output)


def _evidence(ctx: StageContext, found: dict[str, Any]) -> Any:
    """The biometric evidence every match carries: fused score, threshold, per-finger scores, examiner."""
    from securecomm.interchange.messages import BiometricEvidence, FingerEvidence

    item = ctx.reviews.get("biometric")
    confirmed = item is not None and item.decision == "confirm"
    fingers = tuple(FingerEvidence(position=int(p), score=max(0.0, float(s)))
                    for p, s in sorted(found.get("finger_scores", {}).items(), key=lambda kv: int(kv[0])))
    return BiometricEvidence(score=max(0.0, float(found["score"])), threshold=float(found["threshold"]),
                             matcher=ctx.outputs.get("extract", {}).get("matcher", MATCHER), fingers=fingers, examiner_confirmed=confirmed,
                             examiner_id=(item.resolved_by or "") if confirmed else "")


def _immigration_match(ctx: StageContext) -> tuple[bool, dict[str, Any]]:
    found = ctx.outputs["immigration_search"]
    if found["decision"] == "hit":
        return True, found
    if found["decision"] == "review":
        item = ctx.reviews.get("biometric")
        return (item is not None and item.decision == "confirm"), found
    return False, found


def idr(ctx: StageContext) -> StageOutcome:
    """IDENT Data Response to the booking agency and the state bureau: match or no match.

    A review-band result reaches here only after the examiner decided: confirmed, it is a
    match (with the examiner named in the evidence); rejected, it is a no-match.
    """
    from securecomm.interchange.messages import IDR
    from securecomm.policy.retention import retention_policy_for
    from securecomm.repositories import ImmigrationRepository

    booking = ctx.booking()
    matched, found = _immigration_match(ctx)
    sib = ctx.outputs["validate"].get("sib", "") or None
    fin = found.get("fin", "") if matched else ""
    message = IDR(tcn=response_tcn(ctx.tcn, "IDR"), tcr=safe_tcn(ctx.sender_tcn), ori=booking.ori, sib_ori=sib,
                  created=ctx.clock.now(), result="match" if matched else "no_match", fin=fin or None,
                  evidence=_evidence(ctx, found) if matched else None,
                  examiner_review=found["decision"] == "review")
    payload = _json(message)
    responses = [OutgoingResponse("IDR", r, role, "json", payload, {"match": matched, "fin": fin})
                 for r, role in _recipients((booking.ori, "ori"), (sib, "sib"))]
    if matched:
        return StageOutcome(status="done", next_stage="iaq", responses=responses,
                            output={"match": True, "fin": fin, "band": found["decision"]})
    # The immigration side keeps no prints of people it did not match, unless retention policy says so.
    policy = retention_policy_for(booking.date)
    kept = ImmigrationRepository(ctx.session).retain_unmatched(booking, ctx.template_bytes(), policy)
    return StageOutcome(status="done", next_stage=None, job_state="done", tx_state="done",
                        responses=responses, output={"match": False, "retained": kept is not None,
                                                     "retention_policy": policy.version})


def _most_serious(booking: Booking) -> str:
    """The NCIC code of the booking's most serious charge under the policy of the booking's date."""
    from securecomm.policy.model import policy_for

    return policy_for(booking.date).most_serious_charge(booking.charges).ncic


def iaq(ctx: StageContext) -> StageOutcome:
    """Immigration Alien Query to the status determination centre (only on a confident or confirmed match)."""
    from securecomm.domain import offenses
    from securecomm.interchange.messages import IAQ
    from securecomm.repositories import ImmigrationRepository

    booking = ctx.booking()
    fin = ctx.outputs["idr"]["fin"]
    record = ImmigrationRepository(ctx.session).identity(fin, actor=ctx.worker, role="immigration_repository",
                                                         purpose=f"IAQ for {ctx.tcn}")
    code = _most_serious(booking)
    sre_ucn = ctx.outputs["criminal_search"].get("ucn")
    person = booking.person
    message = IAQ(tcn=response_tcn(ctx.tcn, "IAQ"), idr_tcn=response_tcn(ctx.tcn, "IDR"),
                  booking_tcn=safe_tcn(ctx.sender_tcn), created=ctx.clock.now(), ori=booking.ori,
                  sib_ori=ctx.outputs["validate"].get("sib") or None, last_name=person.last_name,
                  first_name=person.first_name, middle_name=person.middle_name, dob=person.dob, sex=person.sex,
                  pob=(person.pob or "XX")[:2].upper(), custody_status=booking.custody or "IN CUSTODY",
                  most_serious_ncic=code, most_serious_literal=offenses.describe(code), ucn=sre_ucn or None,
                  a_number=record.a_number or None, fin=fin,
                  evidence=_evidence(ctx, ctx.outputs["immigration_search"]))
    return StageOutcome(status="done", next_stage="status_determination",
                        responses=[OutgoingResponse("IAQ", ctx.config.lesc, "lesc", "json", _json(message),
                                                    {"fin": fin, "ncic": code})],
                        output={"fin": fin, "most_serious_ncic": code})


def status_determination(ctx: StageContext) -> StageOutcome:
    """Apply the status rules; whatever they cannot decide (and every protected person) goes to a human."""
    from securecomm.jurisdictions import agency
    from securecomm.repositories import CriminalRepository, ImmigrationRepository
    from securecomm.workflow.status_determination import determine

    booking = ctx.booking()
    fin = ctx.outputs["idr"]["fin"]
    ucn = ctx.outputs["criminal_search"]["ucn"]
    found = ctx.outputs["immigration_search"]
    purpose = f"status determination for {ctx.tcn}"
    record = ImmigrationRepository(ctx.session).identity(fin, actor=ctx.worker, role="lesc", purpose=purpose)
    sheet = CriminalRepository(ctx.session).rap_sheet(ucn, actor=ctx.worker, role="lesc", purpose=purpose)
    row = agency(ctx.session, booking.ori)
    det = determine(record=record, rap_sheet=sheet, booking=booking, band=found["decision"],
                    score=float(found.get("score", 0.0)), state=row.state if row is not None else None,
                    **_overrides(ctx.config))
    output = {"status": det.status, "removable": det.removable, "level": det.offense_level,
              "priority": det.priority, "priority_label": det.priority_label,
              "protected_flags": sorted(det.protected_flags), "action": det.action,
              "action_before_safeguards": det.action_before_safeguards, "manual_review": bool(det.manual_review),
              "reasons": list(det.reasons), "policy_version": det.policy_version, "band": det.band,
              "score": det.score, "state_limit": det.state_limit, "a_number": record.a_number}
    if det.manual_review:
        return StageOutcome(status="review", next_stage="iar", job_state="waiting", output=output,
                            review=ReviewSpec(kind="status", reason="; ".join(det.reasons), band=det.band,
                                              score=det.score, candidate=fin, details=output))
    return StageOutcome(status="done", next_stage="iar", output=output)


def _overrides(config: PipelineConfig) -> dict[str, Any]:
    """The what-if overrides of a deployment's config, as ``determine`` keyword arguments."""
    from securecomm.policy.model import load_policy, load_state_limits

    out: dict[str, Any] = {}
    if config.policy_version:
        out["policy"] = load_policy(config.policy_version)
    if config.state_limits:
        out["state_limits"] = load_state_limits(config.state_limits)
    return out


def iar(ctx: StageContext) -> StageOutcome:
    """Immigration Alien Response to the field office, the booking agency and the state bureau."""
    from securecomm.interchange.messages import IAR

    booking = ctx.booking()
    det = dict(ctx.outputs["status_determination"])
    reasons = list(det.get("reasons", []))
    action = check_action(det["action"], "determined action")
    removable = det.get("removable")
    if det.get("manual_review"):
        item = ctx.reviews.get("status")
        if item is None or item.state != "resolved":
            raise RuntimeError(f"{ctx.tcn}: IAR before its status review was resolved")
        action = check_action(item.decision, "analyst's decision")
        reasons.append(f"analyst {item.resolved_by} decided {item.decision}")
        if removable is None:  # the analyst's research settles what the rules left open
            removable = action != NO_ACTION
    office = _field_office(ctx.session, booking.ori) or "UNASSIGNED"
    sib = ctx.outputs["validate"].get("sib", "") or None
    priority = det.get("priority")
    message = IAR(tcn=response_tcn(ctx.tcn, "IAR"), iaq_tcn=response_tcn(ctx.tcn, "IAQ"),
                  booking_tcn=safe_tcn(ctx.sender_tcn), created=ctx.clock.now(), fin=ctx.outputs["idr"]["fin"],
                  a_number=det.get("a_number") or None, immigration_status=det["status"],
                  removable=bool(removable), criminal_level=det["level"],
                  enforcement_priority=int(priority) if str(priority) in ("1", "2", "3") else None,
                  policy_version=det["policy_version"],
                  protected_flags=tuple(sorted(det.get("protected_flags", ()))),
                  recommended_action=action, manual_review=bool(det.get("manual_review")),
                  review_reasons=tuple(reasons) if det.get("manual_review") else (), field_office=office,
                  originating_agency=booking.ori, sib_ori=sib)
    payload = _json(message)
    summary = {"status": det["status"], "action": action, "level": det["level"], "priority": priority,
               "manual_review": bool(det.get("manual_review"))}
    responses = [OutgoingResponse("IAR", r, role, "json", payload, summary)
                 for r, role in _recipients((office, "field_office"), (booking.ori, "ori"), (sib, "sib"))]
    return StageOutcome(status="done", next_stage=None, job_state="done", tx_state="done",
                        responses=responses, output=summary)


#: Stages that only read and write rows (no image work, no search): they run inside the commit
#: transaction itself, so their audited reads and their outputs land together.
INLINE_STAGES = frozenset({"sre", "idr", "iaq", "status_determination", "iar"})

#: Stage name -> function.
RUNNERS: dict[str, Callable[[StageContext], StageOutcome]] = {
    "validate": validate, "extract": extract, "criminal_search": criminal_search, "sre": sre,
    "immigration_search": immigration_search, "idr": idr, "iaq": iaq,
    "status_determination": status_determination, "iar": iar,
}
