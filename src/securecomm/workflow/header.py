"""Peek at a transaction's Type-1 header to key it (TCN, ORI, TOT) before full validation.

Submission must recognise a resubmitted TCN without decoding ten WSQ
images, and must still be able to record (and answer with an ERRT) a file
too damaged to parse. This reads only the tagged fields of the first
logical record of a traditional-encoding ANSI/NIST-ITL file; it never
decides whether the transaction is valid -- the validate stage does that
with the real reader.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

_GS, _FS = b"\x1d", b"\x1c"
_FIELD = re.compile(rb"^\s*1\.0*(\d+):(.*)$", re.S)
_TCN = re.compile(r"^[^\s]{1,40}$")
_ORI = re.compile(r"^[A-Z0-9]{9}$")


@dataclass(frozen=True)
class Header:
    """The keys of a submitted transaction; ``readable`` False when the Type-1 record is unreadable."""

    tcn: str
    ori: str
    tot: str
    sha256: str
    readable: bool


def _clean(value: bytes, limit: int) -> str:
    text = value.decode("ascii", errors="replace").strip()
    return "".join(ch for ch in text if ch.isprintable())[:limit]


def peek_header(raw: bytes) -> Header:
    """TCN (1.009), ORI (1.008) and TOT (1.004) of ``raw``; a damaged file gets ``UNREAD-<sha256>``.

    Readable means: a Type-1 with a TOT, a 9-character ORI and a TCN of 1..40 characters
    without spaces. Anything less reserves no TCN.
    """
    digest = hashlib.sha256(raw).hexdigest()
    fields: dict[int, bytes] = {}
    end = raw.find(_FS)
    if end > 0:
        for part in raw[:end].split(_GS):
            m = _FIELD.match(part)
            if m:
                fields.setdefault(int(m.group(1)), m.group(2))
    tcn = _clean(fields.get(9, b""), 41)
    ori = _clean(fields.get(8, b""), 16)
    tot = _clean(fields.get(4, b""), 8)
    # A TCN is scoped to its sender, so it is only read when the sender is too: a file whose
    # Type-1 lacks a well-formed ORI or a TOT reserves no TCN (it gets a server-made key).
    readable = bool(_TCN.match(tcn)) and bool(_ORI.match(ori.upper())) and bool(tot)
    if not readable:
        return Header(tcn=f"UNREAD-{digest[:24]}", ori=ori, tot=tot, sha256=digest, readable=False)
    return Header(tcn=tcn, ori=ori.upper(), tot=tot, sha256=digest, readable=True)
