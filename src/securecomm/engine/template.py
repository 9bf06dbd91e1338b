"""The compact minutiae template every engine step exchanges.

A template is a set of minutiae in a fixed frame: pixel coordinates at
500 ppi with the origin at the top-left of the image and y pointing down,
and directions in radians in [0, 2*pi) measured counter-clockwise from the
x axis *as seen on the image* (the ISO/IEC 19794-2 convention: a direction
of pi/2 points up the image, i.e. towards smaller y). Columns are separate
numpy arrays so that galleries pack into contiguous blocks without copies.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from securecomm.engine.errors import TemplateError

#: Minutia types, with the ISO/IEC 19794-2 codes.
OTHER, ENDING, BIFURCATION = 0, 1, 2

#: ISO/IEC 19794-2 holds at most 255 minutiae per finger view; more is not a fingerprint.
MAX_MINUTIAE = 255

#: Largest image side we accept, in pixels at 500 ppi (a rolled print is ~ 800 px).
MAX_SIDE = 4096

#: Extractors a template can come from; the code stored in the bytes is the index. "" is not
#: recorded (ISO records, synthetic ground truth, templates stored before the field existed).
EXTRACTORS = ("", "classical", "learned", "fused")

_MAGIC_V1 = b"SCT1"
_HEADER_V1 = struct.Struct("<4sHHHhB")  # magic, width, height, ppi, image_quality, count
_MAGIC = b"SCT2"
_HEADER = struct.Struct("<4sHHHhHHBH")  # magic, width, height, ppi, image_quality, count, split,
#                                         extractor code, source resolution (ppi, 0 unknown)


@dataclass(frozen=True, eq=False)
class Template:
    """Minutiae of one finger view, columns as arrays of equal length."""

    x: np.ndarray  # float32, pixels at 500 ppi
    y: np.ndarray  # float32
    angle: np.ndarray  # float32 radians in [0, 2*pi)
    kind: np.ndarray  # uint8: OTHER, ENDING, BIFURCATION
    quality: np.ndarray  # uint8: 0..100 reliability
    width: int
    height: int
    ppi: int = 500
    image_quality: int = -1  # 0..100, -1 when unknown
    meta: dict = field(default_factory=dict, compare=False)
    extractor: str = ""  # one of EXTRACTORS: what made the minutiae ("" not recorded)
    source_ppi: int = 0  # resolution of the image before resampling to ``ppi`` (0 unknown)
    #: ``fused`` templates carry both minutiae sets, compared separately and the scores fused
    #: (engine.match): minutiae [0, split) are the learned ones, [split, n) the classical ones.
    split: int = 0

    def __post_init__(self) -> None:
        cols = {}
        for name, dtype in (("x", np.float32), ("y", np.float32), ("angle", np.float32),
                            ("kind", np.uint8), ("quality", np.uint8)):
            value = np.asarray(getattr(self, name))
            if value.ndim != 1:
                raise TemplateError(f"template column {name!r} must be 1-D, got shape {value.shape}")
            if name in ("kind", "quality") and value.size and not np.issubdtype(value.dtype, np.integer):
                if not np.all(np.equal(np.mod(value, 1), 0)):
                    raise TemplateError(f"template column {name!r} must hold integers")
            cols[name] = np.ascontiguousarray(value, dtype=dtype)
            object.__setattr__(self, name, cols[name])
        n = cols["x"].size
        if any(c.size != n for c in cols.values()):
            raise TemplateError("template columns differ in length: "
                                + ", ".join(f"{k}={v.size}" for k, v in cols.items()))
        split = int(self.split)
        if self.extractor != "fused" and split:
            raise TemplateError("only a fused template has a split between learned and classical minutiae")
        if not 0 <= split <= n:
            raise TemplateError(f"split {split} is outside 0..{n}")
        if max(split, n - split) > MAX_MINUTIAE:
            raise TemplateError(f"{max(split, n - split)} minutiae is more than the {MAX_MINUTIAE} "
                                "a finger view can hold")
        if not (0 < int(self.width) <= MAX_SIDE and 0 < int(self.height) <= MAX_SIDE):
            raise TemplateError(f"image size {self.width}x{self.height} is outside 1..{MAX_SIDE}")
        if not np.all(np.isfinite(cols["x"])) or not np.all(np.isfinite(cols["y"])) \
                or not np.all(np.isfinite(cols["angle"])):
            raise TemplateError("template holds non-finite coordinates or angles")
        if n and (cols["x"].min() < 0 or cols["y"].min() < 0
                  or cols["x"].max() >= self.width or cols["y"].max() >= self.height):
            raise TemplateError("minutia outside the image bounds")
        if n and (cols["angle"].min() < 0 or cols["angle"].max() >= 2 * np.pi + 1e-6):
            raise TemplateError("minutia angle outside [0, 2*pi)")
        if n and cols["kind"].max() > BIFURCATION:
            raise TemplateError("minutia type must be 0 (other), 1 (ending) or 2 (bifurcation)")
        if n and cols["quality"].max() > 100:
            raise TemplateError("minutia quality must be 0..100")
        if not -1 <= int(self.image_quality) <= 100:
            raise TemplateError("image quality must be -1 (unknown) or 0..100")
        if self.extractor not in EXTRACTORS:
            raise TemplateError(f"unknown extractor {self.extractor!r} (one of {EXTRACTORS[1:]})")
        if not 0 <= int(self.source_ppi) <= 65535:
            raise TemplateError(f"source resolution {self.source_ppi} is outside 0..65535 ppi")

    def __len__(self) -> int:
        return int(self.x.size)

    def parts(self) -> dict[str, "Template"]:
        """The minutiae sets by extractor: a fused template's learned and classical halves, else itself."""
        if self.extractor != "fused":
            return {self.extractor: self}
        out = {}
        for name, sl in (("learned", slice(0, self.split)), ("classical", slice(self.split, None))):
            out[name] = Template(self.x[sl], self.y[sl], self.angle[sl], self.kind[sl], self.quality[sl],
                                 self.width, self.height, self.ppi, self.image_quality, extractor=name,
                                 source_ppi=self.source_ppi)
        return out

    @classmethod
    def empty(cls, width: int, height: int, ppi: int = 500, image_quality: int = -1, **kw) -> "Template":
        z = np.zeros(0, np.float32)
        return cls(z, z, z, np.zeros(0, np.uint8), np.zeros(0, np.uint8), width, height, ppi, image_quality,
                   **kw)

    def to_bytes(self) -> bytes:
        """Compact storage form (about 14 bytes per minutia), for the store and galleries."""
        head = _HEADER.pack(_MAGIC, int(self.width), int(self.height), int(self.ppi),
                            int(self.image_quality), len(self), int(self.split),
                            EXTRACTORS.index(self.extractor), int(self.source_ppi))
        return head + self.x.tobytes() + self.y.tobytes() + self.angle.tobytes() \
            + self.kind.tobytes() + self.quality.tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Template":
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TemplateError(f"template bytes expected, got {type(data).__name__}")
        data = bytes(data)
        header = _HEADER if data[:4] == _MAGIC else _HEADER_V1
        if len(data) < header.size:
            raise TemplateError(f"template truncated: {len(data)} bytes, header needs {header.size}")
        magic, w, h, ppi, iq, n, *rest = header.unpack_from(data)
        if magic not in (_MAGIC, _MAGIC_V1):
            raise TemplateError(f"not a securecomm template (magic {magic!r})")
        split, code, source_ppi = rest if rest else (0, 0, 0)
        if code >= len(EXTRACTORS):
            raise TemplateError(f"template names an unknown extractor (code {code})")
        need = header.size + n * 14
        if len(data) != need:
            raise TemplateError(f"template of {n} minutiae needs {need} bytes, got {len(data)}")
        off = header.size
        cols = []
        for dtype, size in ((np.float32, 4), (np.float32, 4), (np.float32, 4), (np.uint8, 1), (np.uint8, 1)):
            cols.append(np.frombuffer(data, dtype, n, off).copy())
            off += n * size
        return cls(*cols, width=w, height=h, ppi=ppi, image_quality=iq, extractor=EXTRACTORS[code],
                   source_ppi=source_ppi, split=split)
