"""A tolerant tokenizer for ANSI/NIST-ITL traditional encoding.

Why our own and not only ``nistitl``: nistitl raises generic exceptions without
saying which record and field is wrong, trusts the CNT to find binary records,
and accepts some invalid input. An ERRT must name record and field, so this
tokenizer walks the bytes itself and reports every structural problem as a
:class:`TransactionError`. It never raises anything but
:class:`TransactionRejected`.

Layout: tagged records are ``T.NNN:value`` fields separated by GS (0x1D); a
field's subfields are separated by RS (0x1E) and their items by US (0x1F); a
record ends with FS (0x1C) and its first field ``T.001`` gives its length in
bytes. A tagged record may end in a binary ``T.999`` DATA field. Binary records
(Types 3-8) start with a 4-byte big-endian length and a 1-byte IDC; their type
is known only from the Type-1 CNT (1.003).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .errors import TransactionError, TransactionRejected
from .fields import binary_label, label

FS, GS, RS, US = 0x1C, 0x1D, 0x1E, 0x1F
BINARY_TYPES = frozenset({3, 4, 5, 6, 7, 8})
#: Tagged record types whose field 999 (DATA) is binary and runs to the end of the record.
DATA_TYPES = frozenset({10, 11, 12, 13, 14, 15, 16, 17, 19, 20, 21, 99})
#: Types 3-8 share an 18-byte header except Type-7 (user-defined: LEN and IDC only)
#: and Type-8 (signature: LEN IDC SIG SRT ISR HLL VLL = 12 bytes).
BINARY_HEADER_SIZE = {3: 18, 4: 18, 5: 18, 6: 18, 7: 5, 8: 12}

_TAG = re.compile(rb"(\d{1,3})\.(\d{1,9}):")


@dataclass
class Field:
    """One tagged field: its subfields, each a list of information items (text)."""

    rtype: int
    number: int
    subfields: list[list[str]]
    raw: bytes = b""  # the undecoded value (the image for DATA fields)

    @property
    def label(self) -> str:
        return label(self.rtype, self.number)

    @property
    def value(self) -> str:
        """The first item of the first subfield ('' when empty): most fields have one."""
        return self.subfields[0][0] if self.subfields and self.subfields[0] else ""

    def text(self) -> str:
        """The whole field as display text (RS -> ' | ', US -> '^')."""
        if self.number == 999:
            return f"<{len(self.raw)} bytes>"
        return " | ".join("^".join(items) for items in self.subfields)


@dataclass
class Record:
    """One logical record of a transaction."""

    rtype: int
    position: int  # 1-based position in the file (the CNT subfield index)
    offset: int  # byte offset in the file
    length: int  # declared LEN
    tagged: bool
    fields: dict[int, Field] = field(default_factory=dict)
    header: dict[str, object] = field(default_factory=dict)  # binary records: IDC, IMP, FGP...
    data: bytes = b""  # image / binary payload
    field_order: list[int] = field(default_factory=list)

    @property
    def label(self) -> str:
        return "Type-1" if self.rtype == 1 else f"Type-{self.rtype} #{self.position}"

    @property
    def idc(self) -> int | None:
        if not self.tagged:
            v = self.header.get("IDC")
            return v if isinstance(v, int) else None
        f = self.fields.get(2)
        if self.rtype == 1 or f is None or not f.value.isdigit():
            return None
        return int(f.value)

    def get(self, number: int) -> Field | None:
        return self.fields.get(number)

    def value(self, number: int, default: str = "") -> str:
        f = self.fields.get(number)
        return f.value if f is not None else default


def _decode(raw: bytes, encoding: str) -> str:
    if encoding == "utf-8":
        return raw.decode("utf-8", errors="replace")
    return raw.decode("latin-1")


def _split(raw: bytes, encoding: str) -> list[list[str]]:
    return [[_decode(item, encoding) for item in sub.split(b"\x1f")] for sub in raw.split(b"\x1e")]


class _Walker:
    """Walks the buffer record by record, collecting errors rather than stopping at the first."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.errors: list[TransactionError] = []
        self.records: list[Record] = []
        self.encoding = "latin-1"

    def err(self, record: str, fld: str, reason: str) -> None:
        self.errors.append(TransactionError(record, fld, reason))

    # -- tagged records ---------------------------------------------------------------
    def tagged(self, offset: int, expected_type: int | None, position: int) -> Record | None:
        data = self.data
        rec_label = "Type-1" if position == 1 else (
            f"Type-{expected_type} #{position}" if expected_type is not None else f"record #{position}")
        m = _TAG.match(data, offset)
        if not m:
            self.err(rec_label, "LEN", f"expected a tagged record starting 'N.001:' at byte {offset}, "
                     f"found {data[offset:offset + 12]!r}")
            return None
        rtype = int(m.group(1))
        if expected_type is not None and rtype != expected_type:
            self.err(rec_label, "1.003 CNT",
                     f"CNT declares record {position} as Type-{expected_type} but the record is Type-{rtype}")
            # continue with the type found, so the remaining records can still be checked
        rec_label = "Type-1" if position == 1 else f"Type-{rtype} #{position}"
        if int(m.group(2)) != 1:
            self.err(rec_label, label(rtype, 1), f"first field is {m.group(0)[:-1].decode()}, must be {rtype}.001 LEN")
            return None
        # LEN value: digits up to the first separator
        p = m.end()
        q = p
        while q < len(data) and data[q] not in (GS, FS) and q - p < 12:
            q += 1
        len_text = data[p:q]
        if not len_text.isdigit():
            self.err(rec_label, label(rtype, 1), f"record length {len_text[:12]!r} is not a number")
            return None
        length = int(len_text)
        end = offset + length
        if length < q - offset + 1:
            self.err(rec_label, label(rtype, 1), f"record length {length} is shorter than the LEN field itself")
            return None
        if end > len(data):
            self.err(rec_label, label(rtype, 1),
                     f"record length {length} runs past the end of the transaction ({len(data) - offset} bytes left): truncated")
            return None
        if data[end - 1] != FS:
            fs = data.find(bytes([FS]), offset)
            where = f"the record's FS separator is at {fs - offset + 1} bytes" if fs >= 0 else "no FS separator found"
            self.err(rec_label, label(rtype, 1), f"declared length {length} does not end on an FS separator ({where})")
            return None
        rec = Record(rtype=rtype, position=position, offset=offset, length=length, tagged=True)
        body_end = end - 1  # index of the FS
        pos = offset
        last_number = 0
        while pos < body_end:
            tm = _TAG.match(data, pos, body_end)
            if not tm:
                snippet = data[pos:min(pos + 12, body_end)]
                self.err(rec_label, f"after {label(rtype, last_number)}" if last_number else "LEN",
                         f"malformed field tag {snippet!r} (expected '{rtype}.NNN:')")
                return rec if rec.fields else None
            frec, fnum = int(tm.group(1)), int(tm.group(2))
            tag_text = tm.group(0)[:-1].decode()
            vstart = tm.end()
            if fnum == 999 and frec == rtype and rtype in DATA_TYPES:
                raw = data[vstart:body_end]
                vend = body_end
            else:
                g = data.find(bytes([GS]), vstart, body_end)
                vend = body_end if g < 0 else g
                raw = data[vstart:vend]
                if FS in raw:
                    self.err(rec_label, label(rtype, fnum), "field contains an FS separator inside the record: LEN is wrong")
            if frec != rtype:
                self.err(rec_label, tag_text, f"field tag {tag_text} has record number {frec} inside a Type-{rtype} record")
            elif fnum in rec.fields:
                self.err(rec_label, label(rtype, fnum), "field appears twice")
            else:
                if fnum < last_number:
                    rec.header.setdefault("_order_warnings", []).append(label(rtype, fnum))  # type: ignore[union-attr]
                if fnum == 999:
                    rec.fields[fnum] = Field(rtype, fnum, [[f"<{len(raw)} bytes>"]], raw)
                    rec.data = raw
                else:
                    rec.fields[fnum] = Field(rtype, fnum, _split(raw, self.encoding), raw)
                rec.field_order.append(fnum)
                last_number = max(last_number, fnum)
            pos = vend + 1
        return rec

    # -- binary records -----------------------------------------------------------------
    def binary(self, offset: int, rtype: int, position: int) -> Record | None:
        data = self.data
        rec_label = f"Type-{rtype} #{position}"
        size = BINARY_HEADER_SIZE[rtype]
        if offset + 5 > len(data):
            self.err(rec_label, binary_label(rtype, "LEN"), "truncated: fewer than 5 bytes left for LEN and IDC")
            return None
        length = int.from_bytes(data[offset:offset + 4], "big")
        if length < size:
            self.err(rec_label, binary_label(rtype, "LEN"),
                     f"record length {length} is shorter than the {size}-byte Type-{rtype} header")
            # a deprecated/odd record may still be skippable when LEN >= 5
            if length >= 5 and offset + length <= len(data):
                return Record(rtype=rtype, position=position, offset=offset, length=length, tagged=False,
                              header={"LEN": length, "IDC": data[offset + 4]}, data=data[offset + 5:offset + length])
            return None
        if offset + length > len(data):
            self.err(rec_label, binary_label(rtype, "LEN"),
                     f"record length {length} runs past the end of the transaction ({len(data) - offset} bytes left): truncated")
            return None
        h = data[offset:offset + size]
        header: dict[str, object] = {"LEN": length, "IDC": h[4]}
        if size == 18:
            header.update(IMP=h[5], FGP=list(h[6:12]), ISR=h[12], HLL=int.from_bytes(h[13:15], "big"),
                          VLL=int.from_bytes(h[15:17], "big"), GCA=h[17])
        elif rtype == 8:
            header.update(SIG=h[5], SRT=h[6], ISR=h[7], HLL=int.from_bytes(h[8:10], "big"),
                          VLL=int.from_bytes(h[10:12], "big"))
        return Record(rtype=rtype, position=position, offset=offset, length=length, tagged=False,
                      header=header, data=data[offset + size:offset + length])


def _cnt_entries(type1: Record, errors: list[TransactionError]) -> list[tuple[int, int | None]] | None:
    """(type, idc) per record from 1.003 CNT, the Type-1 itself first; None when unusable."""
    cnt = type1.fields.get(3)
    if cnt is None:
        errors.append(TransactionError("Type-1", label(1, 3), "mandatory field missing: the file content list"))
        return None
    entries: list[tuple[int, int | None]] = []
    for i, sub in enumerate(cnt.subfields, start=1):
        if len(sub) != 2 or not sub[0].strip().isdigit() or not sub[1].strip().isdigit():
            errors.append(TransactionError("Type-1", label(1, 3),
                                           f"subfield {i} {'^'.join(sub)!r} is not two numeric items (record type, IDC/count)"))
            return None
        entries.append((int(sub[0]), int(sub[1])))
    return entries


def tokenize(data: bytes) -> tuple[list[Record], list[TransactionError]]:
    """Split a transaction into records. Returns the records found and every structural error.

    Raises :class:`TransactionRejected` only when not even the Type-1 can be read.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TransactionRejected(TransactionError("transaction", "-", f"expected bytes, got {type(data).__name__}"))
    data = bytes(data)
    if not data:
        raise TransactionRejected(TransactionError("Type-1", "1.001 LEN", "empty transaction"))
    w = _Walker(data)
    t1 = w.tagged(0, 1, 1)
    if t1 is None or t1.rtype != 1:
        if not w.errors:
            w.err("Type-1", "1.001 LEN", "the transaction does not start with a Type-1 record")
        raise TransactionRejected(w.errors)
    w.records.append(t1)
    dcs = t1.fields.get(15)
    if dcs is not None and dcs.value.strip() == "3":
        w.encoding = "utf-8"
    entries = _cnt_entries(t1, w.errors)
    if entries is None:
        raise TransactionRejected(w.errors)
    offset = t1.length
    for position, (rtype, _idc) in enumerate(entries[1:], start=2):
        if offset >= len(data):
            w.err(f"Type-{rtype} #{position}", "1.003 CNT",
                  f"CNT lists {len(entries)} records but the transaction ends after record {position - 1}: truncated")
            break
        if rtype in BINARY_TYPES:
            rec = w.binary(offset, rtype, position)
        else:
            rec = w.tagged(offset, rtype, position)
        if rec is None:
            break  # cannot find where the next record starts
        w.records.append(rec)
        offset = rec.offset + rec.length
    else:
        if offset < len(data):
            w.err("Type-1", "1.003 CNT",
                  f"{len(data) - offset} bytes follow the last record listed in CNT ({len(entries)} records)")
    return w.records, w.errors
