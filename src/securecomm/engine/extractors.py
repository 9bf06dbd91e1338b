"""The extractor a deployment uses: ``classical``, ``learned`` or ``fused``, chosen once.

``classical``
    :func:`securecomm.engine.extract.extract` (numpy / OpenCV / numba, ~50 ms).
``learned``
    LEADER through onnxruntime (:mod:`securecomm.engine.learned`); image quality
    from :mod:`securecomm.engine.quality` on the classical analysis is not computed,
    so the score is the learned quality only (:func:`learned_quality`, which does
    not predict match scores as well: docs/engine.md).
``fused``
    both, kept side by side in one template (:func:`combine`; ``Template.split``
    separates them). Two fused templates are compared set by set and the scores
    fused (:mod:`securecomm.engine.fusion`); against a classical template a fused one
    compares its classical set. Score fusion won over a template merge and over either
    extractor alone (docs/benchmarks.md). In a booking, only the
    :data:`LEARNED_POSITIONS` fingers pay for the network (the CPU budget); the
    others get classical templates.

Every template records its extractor (``Template.extractor``, stored in its bytes)
and its source resolution (``Template.source_ppi``).

Choosing: :func:`get` by name, or :func:`configured` from ``$SECURECOMM_EXTRACTOR``
(default :data:`DEFAULT`), read once per process so every worker of a deployment
agrees. ``$SECURECOMM_EXTRACTOR_FALLBACK=classical`` makes a learned or fused
deployment whose model cannot be loaded run the classical extractor instead (with a
warning); its templates then say ``classical``, never ``learned``. Without it a
missing or broken model is one :class:`~securecomm.engine.errors.ExtractorUnavailable`
at start (the first :func:`get`), not a wrong template.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from securecomm.engine import learned as _learned
from securecomm.engine.errors import ExtractorUnavailable, ImageError
from securecomm.engine.template import MAX_MINUTIAE, Template

NAMES = ("classical", "learned", "fused")
#: The extractor of a deployment that does not choose.
DEFAULT = "fused"
ENV = "SECURECOMM_EXTRACTOR"
FALLBACK_ENV = "SECURECOMM_EXTRACTOR_FALLBACK"
THREADS_ENV = "SECURECOMM_ONNX_THREADS"

#: Finger positions that get the learned model in a fused deployment (the others classical only):
#: the two index fingers. They are the fingers of two-print (IDENT) enrolments, so the immigration
#: search rests on them alone, with far less evidence to fuse than a ten-print criminal search has;
#: that is where single-finger accuracy changes decisions. It also keeps a ten-print booking within
#: its CPU budget (docs/benchmarks.md). ``$SECURECOMM_LEARNED_FINGERS`` overrides ("all", or a comma
#: list of positions).
LEARNED_POSITIONS = frozenset({2, 7})
POSITIONS_ENV = "SECURECOMM_LEARNED_FINGERS"

log = logging.getLogger(__name__)


def combine(classical: Template, det: _learned.Detections, quality: int) -> Template:
    """A fused template: the learned minutiae first, then the classical ones (``split`` between them)."""
    cols = [np.concatenate([getattr(det, c), getattr(classical, c)]) for c in ("x", "y", "angle", "kind", "quality")]
    return Template(*cols, width=classical.width, height=classical.height, ppi=classical.ppi,
                    image_quality=quality, extractor="fused", source_ppi=classical.source_ppi, split=len(det),
                    meta=dict(classical.meta, learned_minutiae=len(det), classical_minutiae=len(classical)))


def _positions(value: str | None) -> frozenset[int] | None:
    if value is None or not value.strip():
        return LEARNED_POSITIONS
    if value.strip().lower() == "all":
        return None
    try:
        out = frozenset(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"learned finger positions must be 'all' or a comma list of 1..10, got {value!r}") from None
    if not all(1 <= p <= 10 for p in out):
        raise ValueError(f"learned finger positions must lie in 1..10, got {value!r}")
    return out


@dataclass
class Extractor:
    """A configured extractor; ``extract_many`` handles a booking's fingers together (one batch)."""

    name: str
    model: _learned.LeaderModel | None = None
    fallback_reason: str = ""
    #: fused only: positions that get the learned model when the caller names positions (None: all)
    learned_positions: frozenset[int] | None = LEARNED_POSITIONS
    cpu_s: float = field(default=0.0, repr=False)  # CPU seconds spent, for benchmarks

    @property
    def label(self) -> str:
        """What the evidence of a match names: matcher and extractor."""
        return f"securecomm-mcc/{self.name}"

    def extract(self, pixels: object, ppi: float = 500) -> Template:
        out = self.extract_many([(pixels, ppi)])[0]
        if isinstance(out, Exception):
            raise out
        return out

    def extract_many(self, items: Sequence[tuple[object, float]],
                     positions: Sequence[int] | None = None) -> list[Template | ImageError]:
        """Templates of several images (a booking's fingers, run through the network as one batch).

        An image that cannot be processed gives its ImageError in place. With ``positions`` (the
        finger position of each item), a fused extractor runs the learned model only on
        ``learned_positions`` and gives classical templates for the others.
        """
        t0 = time.process_time()
        try:
            if self.name == "classical":
                return [_guard(lambda p=p, r=r: _classical(p, r)) for p, r in items]
            return self._learned_many(items, positions)
        finally:
            self.cpu_s += time.process_time() - t0

    def _learned_many(self, items: Sequence[tuple[object, float]],
                      positions: Sequence[int] | None) -> list[Template | ImageError]:
        from securecomm.engine.extract import analyse

        out: list[Template | ImageError | None] = [None] * len(items)
        todo: list[tuple[int, object]] = []
        for i, (pixels, ppi) in enumerate(items):
            try:
                if self.name == "fused":
                    a = analyse(pixels, ppi)
                    classical = _classical_from(a, ppi)
                    if positions is not None and self.learned_positions is not None \
                            and positions[i] not in self.learned_positions:
                        out[i] = classical
                        continue
                    todo.append((i, (a.image, a.mask, classical)))
                else:
                    img, _ = _learned.prepared(pixels, ppi)
                    todo.append((i, (img, _learned.foreground(img), None)))
            except ImageError as exc:
                out[i] = exc
        dets = _learned.detect_many(self.model, [t[1][0] for t in todo], [t[1][1] for t in todo]) if todo else []
        for (i, (img, mask, classical)), det in zip(todo, dets):
            ppi = items[i][1]
            q = learned_quality(det)
            if classical is not None:  # fused: the image's quality model (it predicts fused scores too)
                out[i] = combine(classical, det, classical.image_quality)
            else:
                h, w = img.shape
                out[i] = Template(det.x, det.y, det.angle, det.kind, det.quality, width=w, height=h, ppi=500,
                                  image_quality=q, extractor="learned", source_ppi=int(round(float(ppi))),
                                  meta={"source_ppi": float(ppi), "foreground_fraction": round(float(mask.mean()), 4)})
        return out  # type: ignore[return-value]


def learned_quality(det: _learned.Detections) -> int:
    """Image quality 0..100 from the network's confidence: mean of the 20 most confident minutiae
    times min(count / 20, 1). A clear print gives many confident minutiae; a smudged, dry or tiny one
    few, or only doubtful ones. (How well it predicts match scores: docs/engine.md.)"""
    if len(det) == 0:
        return 0
    q = np.sort(det.quality.astype(np.float64))[::-1]
    return int(np.clip(round(q[:20].mean() * min(len(q) / 20.0, 1.0)), 0, 100))


def _guard(fn):
    try:
        return fn()
    except ImageError as exc:
        return exc


def _classical(pixels: object, ppi: float) -> Template:
    from securecomm.engine.extract import extract

    return extract(pixels, ppi)


def _classical_from(a, ppi: float) -> Template:
    from securecomm.engine.extract import template_of

    return template_of(a, ppi)


def get(name: str | None = None, *, threads: int | None = None, model_path: str | None = None,
        fallback: str | None = None) -> Extractor:
    """The extractor called ``name`` (default ``$SECURECOMM_EXTRACTOR`` or DEFAULT), model loaded and checked."""
    name = (name or os.environ.get(ENV) or DEFAULT).strip().lower()
    if name not in NAMES:
        raise ValueError(f"unknown extractor {name!r}: choose one of {', '.join(NAMES)}")
    if name == "classical":
        return Extractor("classical")
    threads = int(threads or os.environ.get(THREADS_ENV) or 1)
    fallback = fallback if fallback is not None else os.environ.get(FALLBACK_ENV, "")
    learned_positions = _positions(os.environ.get(POSITIONS_ENV))
    try:
        return Extractor(name, _learned.load_model(model_path, threads), learned_positions=learned_positions)
    except ExtractorUnavailable as exc:
        if fallback.strip().lower() != "classical":
            raise
        log.warning("extractor %s unavailable (%s); falling back to classical", name, exc)
        return Extractor("classical", fallback_reason=str(exc))


_CONFIGURED: Extractor | None = None


def configured() -> Extractor:
    """The process's extractor from the environment (built once)."""
    global _CONFIGURED
    if _CONFIGURED is None:
        _CONFIGURED = get()
    return _CONFIGURED


__all__ = ["DEFAULT", "NAMES", "Extractor", "combine", "configured", "get"]
