"""Decode and encode the finger images carried in Type-4 / Type-14 (and other image) records.

WSQ goes through an isolated worker process (see ``_wsq_worker.py``: the C
decoder can abort the interpreter on corrupt input); PNG, JPEG and JPEG 2000
through Pillow; uncompressed images are checked against their declared size.
Every failure is an :class:`ImageDecodeError` with a plain reason, which the
reader turns into a TransactionError naming record and field.
"""

from __future__ import annotations

import atexit
import io
import os
import select
import signal
import struct
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np

from securecomm.interchange.errors import DecoderUnavailable

__all__ = ["ImageDecodeError", "decode", "encode_wsq", "normalise_compression", "peek_size", "GCA_CODES", "MAX_SIDE"]

#: Type-4 binary GCA codes and Type-14 CGA names (ANSI/NIST-ITL 1-2011 Table 15).
GCA_CODES = {0: "NONE", 1: "WSQ20", 2: "JPEGB", 3: "JPEGL", 4: "JP2", 5: "JP2L", 6: "PNG"}
_ALIASES = {"WSQ": "WSQ20", "WSQ20": "WSQ20", "NONE": "NONE", "JPEGB": "JPEGB", "JPEGL": "JPEGL",
            "JP2": "JP2", "JP2L": "JP2L", "PNG": "PNG"}
#: Largest image side accepted (pixels): 16 inches at 1000 ppi, plenty for a slap or palm.
MAX_SIDE = 16000
#: Largest WSQ frame accepted (pixels): a full palm at 1000 ppi; bounds the decoder's memory.
MAX_PIXELS = 64_000_000


class ImageDecodeError(ValueError):
    """An image that cannot be decoded; the message says why."""


#: Seconds one WSQ image may take to decode before the decoder is killed (a live decoder
#: takes well under a second for a ten-print finger; a hung one must not hang its stage).
WSQ_TIMEOUT = float(os.environ.get("SECURECOMM_WSQ_TIMEOUT", "60"))
#: Signals that mean the decoder was stopped from outside (OOM killer, operator), not by the data.
_EXTERNAL_SIGNALS = {signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGHUP}


def normalise_compression(value: str | int) -> str:
    """Map a GCA code or CGA name to the Table 15 name; ImageDecodeError when unknown."""
    if isinstance(value, int):
        if value in GCA_CODES:
            return GCA_CODES[value]
        raise ImageDecodeError(f"unknown compression code {value} (Table 15 allows 0-6)")
    name = str(value).strip().upper()
    if name in _ALIASES:
        return _ALIASES[name]
    raise ImageDecodeError(f"unknown compression {value!r} (Table 15: NONE, WSQ20, JPEGB, JPEGL, JP2, JP2L, PNG)")


# -- WSQ -----------------------------------------------------------------------------------

def wsq_frame_size(data: bytes) -> tuple[int, int]:
    """Walk the WSQ marker segments up to the frame header; (width, height).

    Rejects obviously broken streams before they reach the C decoder, with a precise reason.
    """
    if len(data) < 2 or data[:2] != b"\xff\xa0":
        raise ImageDecodeError("not a WSQ stream (missing SOI marker FFA0)")
    pos = 2
    while pos + 4 <= len(data):
        marker = data[pos:pos + 2]
        if marker[0] != 0xFF:
            raise ImageDecodeError(f"WSQ stream corrupt: expected a marker at byte {pos}")
        seglen = int.from_bytes(data[pos + 2:pos + 4], "big")
        if marker == b"\xff\xa2":  # SOF: length(2) A(1) B(1) Y(2) X(2) ...
            if pos + 10 > len(data):
                break
            h = int.from_bytes(data[pos + 6:pos + 8], "big")
            w = int.from_bytes(data[pos + 8:pos + 10], "big")
            if not (0 < w <= MAX_SIDE and 0 < h <= MAX_SIDE) or w * h > MAX_PIXELS:
                raise ImageDecodeError(f"WSQ frame header gives an impossible size {w}x{h}")
            if pos + 2 + seglen > len(data):
                break
            return w, h
        if marker not in (b"\xff\xa4", b"\xff\xa5", b"\xff\xa6", b"\xff\xa7", b"\xff\xa8"):
            raise ImageDecodeError(f"WSQ stream corrupt: unexpected marker {marker.hex().upper()} before the frame header")
        if seglen < 2:
            raise ImageDecodeError(f"WSQ stream corrupt: segment {marker.hex().upper()} has length {seglen}")
        pos += 2 + seglen
    raise ImageDecodeError("WSQ stream truncated before the frame header (SOF FFA2)")


class _WsqWorker:
    """One long-lived decoding process, restarted when corrupt input kills it."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._pid = os.getpid()  # a forked child must not share its parent's worker pipes
        self._lock = threading.Lock()
        atexit.register(self.close)

    def _start(self) -> subprocess.Popen[bytes]:
        script = Path(__file__).with_name("_wsq_worker.py")
        return subprocess.Popen([sys.executable, "-I", str(script)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                proc.stdin.close()  # type: ignore[union-attr]
                proc.wait(timeout=2)
            except Exception:  # noqa: BLE001 - shutting down
                proc.kill()

    def decode(self, data: bytes, timeout: float | None = None) -> tuple[np.ndarray, int]:
        """Pixels and ppi; ImageDecodeError when the data is bad, DecoderUnavailable when the
        decoder was killed from outside or did not answer within ``timeout`` seconds."""
        if self._pid != os.getpid():  # we are a forked child: start our own worker
            self._proc, self._pid, self._lock = None, os.getpid(), threading.Lock()
        deadline = time.monotonic() + (WSQ_TIMEOUT if timeout is None else timeout)
        with self._lock:
            for attempt in (1, 2):
                if self._proc is None or self._proc.poll() is not None:
                    self._proc = self._start()
                proc = self._proc
                try:
                    proc.stdin.write(struct.pack(">I", len(data)) + data)  # type: ignore[union-attr]
                    proc.stdin.flush()  # type: ignore[union-attr]
                    kind = _read_exact(proc, 1, deadline, partial=True)
                    if kind == b"K":
                        w, h, ppi = struct.unpack(">iii", _read_exact(proc, 12, deadline))
                        pixels = _read_exact(proc, w * h, deadline)
                        return np.frombuffer(pixels, dtype=np.uint8).reshape(h, w).copy(), ppi
                    if kind == b"E":
                        (n,) = struct.unpack(">I", _read_exact(proc, 4, deadline))
                        raise ImageDecodeError("WSQ decoder: "
                                               + _read_exact(proc, n, deadline).decode("utf-8", "replace"))
                except (BrokenPipeError, OSError):
                    kind = b""
                except _Stopped as stop:  # timed out, or the process died mid-reply
                    self._discard(proc)
                    if stop.timed_out:
                        raise DecoderUnavailable(f"WSQ decoder gave no answer within {stop.seconds:.0f} s; "
                                                 "it was stopped (not a verdict on the image)") from None
                    kind = b""
                # the worker died on this input: restart it, and do not retry the same bytes twice
                self._discard(proc)
                code = proc.returncode
                if code is not None and code < 0 and -code in _EXTERNAL_SIGNALS:
                    raise DecoderUnavailable(f"WSQ decoder was killed by signal {-code} (out of memory or "
                                             "stopped by an operator); not a verdict on the image")
                if attempt == 1 and kind == b"" and code in (None, 0):
                    continue  # it had exited for another reason; try once with a fresh worker
                raise ImageDecodeError("WSQ data is corrupt (the decoder aborted on it)")
        raise DecoderUnavailable("WSQ decoder unavailable")

    def _discard(self, proc: subprocess.Popen[bytes]) -> None:
        if self._proc is proc:
            self._proc = None
        if proc.poll() is None:
            proc.kill()
        proc.wait()


class _Stopped(Exception):
    def __init__(self, timed_out: bool, seconds: float = 0.0) -> None:
        self.timed_out, self.seconds = timed_out, seconds


def _read_exact(proc: subprocess.Popen[bytes], n: int, deadline: float, *, partial: bool = False) -> bytes:
    """``n`` bytes from the decoder's stdout by ``deadline`` (raw reads, so ``select`` sees the truth).

    A reply cut short means the decoder died mid-reply (``_Stopped``); with ``partial``
    an immediate end of stream returns b"" instead (the decoder died before answering).
    """
    fd = proc.stdout.fileno()  # type: ignore[union-attr]
    chunks: list[bytes] = []
    got = 0
    while got < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise _Stopped(True, WSQ_TIMEOUT)
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            if partial and got == 0:
                return b""
            raise _Stopped(False)
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


_WORKER = _WsqWorker()


def decode_wsq(data: bytes) -> tuple[np.ndarray, int]:
    """Pixels and the ppi recorded in the WSQ stream (-1 when absent)."""
    w, h = wsq_frame_size(data)
    pixels, ppi = _WORKER.decode(data)
    if pixels.shape != (h, w):
        raise ImageDecodeError(f"WSQ decoded to {pixels.shape[1]}x{pixels.shape[0]}, frame header says {w}x{h}")
    return pixels, ppi


def encode_wsq(pixels: np.ndarray, ppi: int = 500, bitrate: float = 0.75) -> bytes:
    """WSQ-compress 8-bit grayscale pixels (our own clean arrays only; in-process)."""
    import _wsq

    arr = np.ascontiguousarray(pixels, dtype=np.uint8)
    if arr.ndim != 2 or min(arr.shape) < 32:
        raise ValueError(f"WSQ needs a 2-D image of at least 32x32 pixels, got shape {arr.shape}")
    del ppi, bitrate  # the wsq binding fixes the bit rate and writes no ppi
    return bytes(_wsq.compress(arr.tobytes(), arr.shape[0], arr.shape[1], 12))


# -- image sizes from headers, before decoding ------------------------------------------------

def _png_size(data: bytes) -> tuple[int, int]:
    if len(data) < 24 or data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ImageDecodeError("not a PNG stream (missing signature or IHDR header)")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


#: JPEG start-of-frame markers (baseline, extended, progressive, lossless; not DHT C4, JPG C8, DAC CC).
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_size(data: bytes) -> tuple[int, int]:
    if len(data) < 4 or data[:2] != b"\xff\xd8":
        raise ImageDecodeError("not a JPEG stream (missing SOI marker FFD8)")
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise ImageDecodeError(f"JPEG stream corrupt: expected a marker at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            pos += 2
            continue
        seglen = int.from_bytes(data[pos + 2:pos + 4], "big")
        if marker in _JPEG_SOF:
            if pos + 9 > len(data):
                break
            return int.from_bytes(data[pos + 7:pos + 9], "big"), int.from_bytes(data[pos + 5:pos + 7], "big")
        if seglen < 2 or marker in (0xD9, 0xDA):
            break  # end of image or start of scan before any frame header
        pos += 2 + seglen
    raise ImageDecodeError("JPEG stream has no frame header (SOFn) before its image data")


def _jp2_size(data: bytes) -> tuple[int, int]:
    """From the codestream's SIZ segment (what the decoder allocates), in a raw codestream or a JP2 file."""
    i = data.find(b"\xff\x4f\xff\x51")
    if i < 0 or i + 4 + 2 + 2 + 16 > len(data):
        raise ImageDecodeError("not a JPEG 2000 stream (no SIZ header after the SOC marker)")
    p = i + 8  # SOC(2) SIZ marker(2) Lsiz(2) Rsiz(2)
    xsiz, ysiz, xo, yo = (int.from_bytes(data[p + k:p + k + 4], "big") for k in (0, 4, 8, 12))
    if xo >= xsiz or yo >= ysiz:
        raise ImageDecodeError(f"JPEG 2000 SIZ gives an empty image ({xsiz}x{ysiz} from offset {xo},{yo})")
    return xsiz - xo, ysiz - yo


def peek_size(data: bytes, compression: str | int) -> tuple[int, int]:
    """(width, height) read from the image's own header, without decoding; ImageDecodeError when unreadable."""
    name = normalise_compression(compression)
    if name == "WSQ20":
        return wsq_frame_size(data)
    if name == "PNG":
        return _png_size(data)
    if name in ("JPEGB", "JPEGL"):
        return _jpeg_size(data)
    if name in ("JP2", "JP2L"):
        return _jp2_size(data)
    raise ImageDecodeError(f"no header to read the size of a {name} image from")


# -- other codecs ---------------------------------------------------------------------------

#: Pillow format names allowed for each Table 15 compression: a record never gets another decoder.
_PILLOW_FORMATS = {"JPEGB": ("JPEG",), "JPEGL": ("JPEG",), "JP2": ("JPEG2000",), "JP2L": ("JPEG2000",), "PNG": ("PNG",)}


def _decode_pillow(data: bytes, name: str) -> np.ndarray:
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=_PILLOW_FORMATS.get(name))
            w, h = im.size
            if not (0 < w <= MAX_SIDE and 0 < h <= MAX_SIDE):
                raise ImageDecodeError(f"{name} image has an impossible size {w}x{h}")
            im.load()
    except ImageDecodeError:
        raise
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types on corrupt data
        raise ImageDecodeError(f"{name} data cannot be decoded ({type(exc).__name__}: {exc})") from None
    if im.mode not in ("L", "I;16", "1"):
        im = im.convert("L")
    arr = np.asarray(im)
    if arr.dtype != np.uint8:
        arr = (arr >> 8).astype(np.uint8) if arr.dtype == np.uint16 else arr.astype(np.uint8)
    return arr


def decode(data: bytes, compression: str | int, *, width: int, height: int, bpx: int = 8,
           max_pixels: int | None = None) -> np.ndarray:
    """Decode one image to 8-bit grayscale and check it against the declared width/height.

    Before any decoding, the size in the image's own header must equal the declared one and, with
    ``max_pixels``, stay within it: a small file cannot make the decoder allocate more than that.
    """
    name = normalise_compression(compression)
    if not data:
        raise ImageDecodeError("no image data")
    if max_pixels is not None and width * height > max_pixels:
        raise ImageDecodeError(f"image of {width}x{height} = {width * height} pixels exceeds the "
                               f"{max_pixels}-pixel budget")
    if name != "NONE":
        hw, hh = peek_size(data, name)
        if (hw, hh) != (width, height):
            raise ImageDecodeError(f"{name} header says {hw}x{hh}, the record declares {width}x{height}; not decoded")
    if name == "NONE":
        if bpx not in (8, 16, 24, 48) and bpx != 0:
            raise ImageDecodeError(f"uncompressed image with unsupported {bpx} bits per pixel")
        nbytes = width * height * max(bpx, 8) // 8
        if width <= 0 or height <= 0 or len(data) != nbytes:
            raise ImageDecodeError(f"uncompressed image of {len(data)} bytes does not match "
                                   f"{width}x{height} at {bpx or 8} bits per pixel ({nbytes} bytes)")
        if bpx in (0, 8):
            arr = np.frombuffer(data, dtype=np.uint8).reshape(height, width).copy()
        elif bpx == 16:
            arr = (np.frombuffer(data, dtype=">u2").reshape(height, width) >> 8).astype(np.uint8)
        else:
            arr = np.frombuffer(data, dtype=np.uint8).reshape(height, width, -1).mean(axis=2).astype(np.uint8)
        return arr
    if name == "WSQ20":
        arr, _ppi = decode_wsq(data)
    else:
        arr = _decode_pillow(data, name)
    if arr.shape[:2] != (height, width):
        raise ImageDecodeError(f"{name} image is {arr.shape[1]}x{arr.shape[0]}, the record declares {width}x{height}")
    return arr
