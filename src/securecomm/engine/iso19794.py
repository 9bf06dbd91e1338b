"""ISO/IEC 19794-2:2005 finger minutiae records ("FMR"), read and write.

The interchange form other systems (and the FVC2002 SDK templates) use. We read
every finger view a record holds, validate each length and field against the
bytes actually present, and convert to :class:`Template` (coordinates rescaled
from the record's pixels-per-centimetre to 500 ppi). Angles are kept in the
standard's convention, which is also ours: counter-clockwise as seen on the
image, in units of 360/256 degrees.

Layout (all big-endian)::

    record header (24 bytes)
      'FMR\\0' | ' 20\\0' | record length u32 | capture equipment u16
      | width u16 | height u16 | x res u16 | y res u16 (pixels/cm)
      | number of finger views u8 | reserved u8
    per finger view
      finger position u8 | view (4 bits) + impression type (4 bits) u8
      | finger quality u8 | number of minutiae u8
      minutiae, 6 bytes each:
        type (2 bits) + x (14 bits) | reserved (2 bits) + y (14 bits)
        | angle u8 (360/256 deg) | quality u8
      extended data block length u16 (+ that many bytes)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from securecomm.engine.errors import TemplateError
from securecomm.engine.template import BIFURCATION, ENDING, OTHER, Template

_MAGIC = b"FMR\x00"
_VERSION = b" 20\x00"
_RECORD = struct.Struct(">4s4sIHHHHHBB")  # 24 bytes
_VIEW = struct.Struct(">BBBB")
_MINUTIA = struct.Struct(">HHBB")
_CM_PER_INCH = 2.54
#: 500 ppi expressed in the record's unit (pixels per centimetre), rounded as writers do.
PPCM_500 = 197

# ISO type codes (2 bits) <-> template kinds.
_ISO_TO_KIND = {0: OTHER, 1: ENDING, 2: BIFURCATION}
_KIND_TO_ISO = {OTHER: 0, ENDING: 1, BIFURCATION: 2}


@dataclass(frozen=True)
class FingerView:
    """One finger view of a record, with its header fields kept for callers that need them."""

    finger_position: int  # 0 unknown, 1..10 as in ANSI/NIST
    view_number: int
    impression_type: int
    finger_quality: int
    template: Template


def read_views(data: bytes) -> list[FingerView]:
    """Parse a whole FMR record; raises TemplateError naming the first malformed field."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TemplateError(f"ISO 19794-2 record: bytes expected, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < _RECORD.size:
        raise TemplateError(f"ISO 19794-2 record truncated: {len(data)} bytes, the header needs {_RECORD.size}")
    magic, version, length, _equip, width, height, xres, yres, nviews, _res = _RECORD.unpack_from(data)
    if magic != _MAGIC:
        raise TemplateError(f"ISO 19794-2 record: format identifier is {magic!r}, expected b'FMR\\x00'")
    if version != _VERSION:
        raise TemplateError(f"ISO 19794-2 record: version {version!r} is not ' 20' (2005 edition)")
    if length != len(data):
        what = "truncated" if length > len(data) else "has trailing bytes"
        raise TemplateError(f"ISO 19794-2 record {what}: record length field says {length}, got {len(data)} bytes")
    if width == 0 or height == 0:
        raise TemplateError(f"ISO 19794-2 record: image size {width}x{height} must be non-zero")
    if xres == 0 or yres == 0:
        raise TemplateError(f"ISO 19794-2 record: resolution {xres}x{yres} pixels/cm must be non-zero")
    if nviews == 0:
        raise TemplateError("ISO 19794-2 record: number of finger views is 0")
    # Writers store 500 ppi as 197 pixels/cm; round to whole ppi so that 197 means exactly 500.
    sx = 500.0 / max(1, round(xres * _CM_PER_INCH))
    sy = 500.0 / max(1, round(yres * _CM_PER_INCH))
    # Output frame at 500 ppi; keep at least one pixel.
    out_w = max(1, int(round(width * sx)))
    out_h = max(1, int(round(height * sy)))
    ppi = int(round(xres * _CM_PER_INCH))
    off = _RECORD.size
    views: list[FingerView] = []
    for v in range(nviews):
        if off + _VIEW.size > len(data):
            raise TemplateError(f"ISO 19794-2 record truncated in finger view {v} header (offset {off})")
        pos, view_imp, fq, n = _VIEW.unpack_from(data, off)
        off += _VIEW.size
        if pos > 10:
            raise TemplateError(f"ISO 19794-2 finger view {v}: finger position {pos} is not 0..10")
        if fq > 100:
            raise TemplateError(f"ISO 19794-2 finger view {v}: finger quality {fq} is not 0..100")
        need = n * _MINUTIA.size + 2
        if off + need > len(data):
            raise TemplateError(f"ISO 19794-2 finger view {v}: {n} minutiae need {need} bytes at offset {off}, "
                                f"only {len(data) - off} left (truncated or absurd minutiae count)")
        raw = np.frombuffer(data, dtype=">u2", count=3 * n, offset=off).reshape(n, 3) if n else \
            np.zeros((0, 3), ">u2")
        off += n * _MINUTIA.size
        tx = raw[:, 0].astype(np.int64)
        ty = raw[:, 1].astype(np.int64)
        aq = raw[:, 2].astype(np.int64)
        codes = tx >> 14
        if np.any(codes == 3):
            i = int(np.argmax(codes == 3))
            raise TemplateError(f"ISO 19794-2 finger view {v}, minutia {i}: type code 3 is reserved")
        px = tx & 0x3FFF
        py = ty & 0x3FFF
        if n and (px.max() >= width or py.max() >= height):
            i = int(np.argmax((px >= width) | (py >= height)))
            raise TemplateError(f"ISO 19794-2 finger view {v}, minutia {i}: position ({px[i]}, {py[i]}) "
                                f"outside the {width}x{height} image")
        qual = aq & 0xFF
        if n and qual.max() > 100:
            i = int(np.argmax(qual > 100))
            raise TemplateError(f"ISO 19794-2 finger view {v}, minutia {i}: quality {qual[i]} is not 0..100")
        angle = (aq >> 8).astype(np.float64) * (2.0 * np.pi / 256.0)
        kind = np.array([_ISO_TO_KIND[int(c)] for c in codes], np.uint8)
        (ext_len,) = struct.unpack_from(">H", data, off)
        off += 2
        if off + ext_len > len(data):
            raise TemplateError(f"ISO 19794-2 finger view {v}: extended data block of {ext_len} bytes "
                                f"runs past the end of the record")
        off += ext_len
        x = np.minimum(px * sx, out_w - 1e-3).astype(np.float32)
        y = np.minimum(py * sy, out_h - 1e-3).astype(np.float32)
        t = Template(x, y, angle.astype(np.float32), kind, qual.astype(np.uint8), out_w, out_h, ppi, -1)
        views.append(FingerView(pos, view_imp >> 4, view_imp & 0x0F, fq, t))
    if off != len(data):
        raise TemplateError(f"ISO 19794-2 record: {len(data) - off} unexplained bytes after the last finger view")
    return views


def read_iso(data: bytes, view: int = 0) -> Template:
    """The template of one finger view (the first by default) of an FMR record."""
    views = read_views(data)
    if not 0 <= view < len(views):
        raise TemplateError(f"ISO 19794-2 record holds {len(views)} finger view(s); view {view} requested")
    return views[view].template


def read_iso_file(path) -> Template:
    """Read the first finger view of an ``.iso`` file; the error names the file."""
    with open(path, "rb") as fh:
        data = fh.read()
    try:
        return read_iso(data)
    except TemplateError as exc:
        raise TemplateError(f"{path}: {exc}") from None


def write_iso(template: Template | list[Template], finger_position: int = 0, finger_quality: int | None = None,
              capture_equipment: int = 0) -> bytes:
    """Encode one template (or several as successive views of one finger) as an FMR record at 500 ppi.

    Angles are rounded to the standard's 1.40625-degree unit; coordinates to whole pixels.
    """
    temps = [template] if isinstance(template, Template) else list(template)
    if not temps:
        raise TemplateError("ISO 19794-2 record needs at least one finger view")
    if not 0 <= finger_position <= 10:
        raise TemplateError(f"finger position {finger_position} is not 0..10")
    if len(temps) > 15:
        raise TemplateError(f"{len(temps)} finger views: at most 15 fit the 4-bit view number")
    width = max(t.width for t in temps)
    height = max(t.height for t in temps)
    if width > 0x3FFF or height > 0x3FFF:
        raise TemplateError(f"image size {width}x{height} does not fit 14-bit coordinates")
    body = bytearray()
    for vnum, t in enumerate(temps):
        fq = finger_quality if finger_quality is not None else (t.image_quality if t.image_quality >= 0 else 0)
        if not 0 <= fq <= 100:
            raise TemplateError(f"finger quality {fq} is not 0..100")
        body += _VIEW.pack(finger_position, (vnum << 4) | 0, fq, len(t))
        xs = np.clip(np.rint(t.x), 0, t.width - 1).astype(np.int64)
        ys = np.clip(np.rint(t.y), 0, t.height - 1).astype(np.int64)
        an = np.rint(t.angle.astype(np.float64) * (256.0 / (2.0 * np.pi))).astype(np.int64) % 256
        for i in range(len(t)):
            code = _KIND_TO_ISO[int(t.kind[i])]
            body += _MINUTIA.pack((code << 14) | int(xs[i]), int(ys[i]), int(an[i]), int(t.quality[i]))
        body += b"\x00\x00"  # no extended data
    length = _RECORD.size + len(body)
    head = _RECORD.pack(_MAGIC, _VERSION, length, capture_equipment, width, height, PPCM_500, PPCM_500,
                        len(temps), 0)
    return head + bytes(body)
