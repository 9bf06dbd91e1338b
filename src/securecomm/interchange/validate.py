"""ANSI/NIST-ITL 1-2011 rules over tokenized records.

Every rule is general (record numbering, CNT consistency, IDC, mandatory fields,
field formats, binary headers, image content); nothing keys on a file name or
on particular values of a sample. Each finding names record, field and reason.
Errors make the transaction unacceptable; warnings are kept as findings.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import numpy as np

from . import images, text
from .errors import TransactionError
from .fields import binary_label, label
from .limits import Limits, default_limits
from .tokenizer import BINARY_TYPES, Record

#: Record types defined by ANSI/NIST-ITL 1-2011 (11 and 12 came with the 2013 update).
DEFINED_TYPES = frozenset({1, 2, 4, 7, 8, 9, 10, 13, 14, 15, 16, 17, 18, 19, 20, 21, 98, 99})
LATER_TYPES = frozenset({11, 12})
DEPRECATED_TYPES = frozenset({3, 5, 6})
VERSIONS = {"0500": "2011", "0501": "2011 Update 2013", "0502": "2011 Update 2015"}
OLD_VERSIONS = {"0200", "0201", "0300", "0400"}
#: Table 7 impression types allowed for exemplar fingers (Type-4 / Type-14).
EXEMPLAR_IMP = frozenset({0, 1, 2, 3, 8, *range(20, 30), 41, 42, 43})
LATENT_IMP = frozenset({4, 5, 6, 7, 12, 13, 14, 15, 28, 29, *range(32, 40)})
PALM_IMP = frozenset({10, 11, 12, 13, 14, 15, *range(20, 32), 41, 42, 43})
#: Table 8 codes a Type-14 14.013 FGP may hold (2011 Update 2013 Table 48: 0-19, 33, 36, 40-50).
FINGER_FGP = frozenset({*range(0, 20), 33, 36, *range(40, 51)})
#: Positions of a single finger inside an image (14.014 DFP, 14.021 FRSP, 14.023 FRQP, 14.024 FRMP...):
#: 1-10 and the extra digits 16/17 of Table 8; 0 (unknown finger) for quality entries of unknown images.
SEGMENT_FINGERS = frozenset({*range(1, 11), 16, 17})
#: How many possible positions 14.013 FGP may list (Table 48: "repeating values", 1-6).
MAX_FGP = 6
FIC = frozenset({"EJI", "TIP", "FV1", "FV2", "FV3", "FV4", "PRX", "DST", "MED"})
LOS = frozenset({"TIP", "PRX", "DST", "MED", "NA"})
DCS_NAMES = {0: "ASCII", 1: "8859-1", 2: "UTF-16", 3: "UTF-8", 4: "UTF-32"}
IMAGE_TYPES = frozenset({10, 13, 14, 15, 16, 17})
FRICTION_TYPES = frozenset({13, 14, 15})

_NSR = re.compile(r"^\d{2}\.\d{2}$")
_GMT = re.compile(r"^\d{14}Z$")
_HEX4 = re.compile(r"^[0-9A-Fa-f]{4}$")


class Checker:
    """Collects errors and warnings for one transaction."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.errors: list[TransactionError] = []
        self.warnings: list[TransactionError] = []
        self.images: dict[int, np.ndarray] = {}  # record position -> decoded pixels
        self.legacy = False  # VER before 0500: rules new in 2011 are not applied
        self.limits = limits or default_limits()
        self.pixels = 0  # decoded so far, against limits.max_transaction_pixels

    def decode(self, rec: Record, fld: str, data: bytes, comp: str | int, width: int, height: int, bpx: int = 8) -> None:
        """Decode one image within the pixel budgets (checked from the headers before decoding)."""
        n = width * height
        left = self.limits.max_transaction_pixels - self.pixels
        if n > self.limits.max_record_pixels:
            self.error(rec, fld, f"image of {width}x{height} = {n} pixels exceeds the per-image budget of "
                       f"{self.limits.max_record_pixels} pixels; not decoded")
            return
        if n > left:
            self.error(rec, fld, f"image of {width}x{height} = {n} pixels exceeds what is left ({max(left, 0)}) of the "
                       f"per-transaction budget of {self.limits.max_transaction_pixels} pixels; not decoded")
            return
        try:
            self.images[rec.position] = images.decode(data, comp, width=width, height=height, bpx=bpx, max_pixels=n)
            self.pixels += n
        except images.ImageDecodeError as exc:
            self.error(rec, fld, str(exc))

    def error(self, rec: Record | str, fld: str, reason: str) -> None:
        self.errors.append(TransactionError(rec if isinstance(rec, str) else rec.label, fld, reason))

    def warn(self, rec: Record | str, fld: str, reason: str) -> None:
        self.warnings.append(TransactionError(rec if isinstance(rec, str) else rec.label, fld, reason))


def parse_date(text: str) -> dt.date | None:
    """YYYYMMDD -> date, None when malformed."""
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def _int(text: str) -> int | None:
    t = text.strip()
    return int(t) if t.isdigit() and len(t) <= 9 else None


# -- generic field helpers -------------------------------------------------------------------

def _mandatory(c: Checker, rec: Record, numbers: tuple[int, ...]) -> None:
    for n in numbers:
        f = rec.fields.get(n)
        if f is None:
            c.error(rec, label(rec.rtype, n), "mandatory field missing")
        elif n != 999 and not any(item.strip() for sub in f.subfields for item in sub):
            c.error(rec, label(rec.rtype, n), "mandatory field is empty")


def _items(c: Checker, rec: Record, n: int, minimum: int, maximum: int | None = None,
           required: tuple[int, ...] = ()) -> list[list[str]]:
    """Check item counts per subfield and that the listed (1-based) items are not empty."""
    f = rec.fields.get(n)
    if f is None:
        return []
    for i, sub in enumerate(f.subfields, start=1):
        if len(sub) < minimum or (maximum is not None and len(sub) > maximum):
            want = f"{minimum}" if maximum == minimum else f"{minimum}-{maximum or 'n'}"
            c.error(rec, f.label, f"subfield {i} has {len(sub)} information items, expected {want}")
        for k in required:
            if len(sub) >= k and not sub[k - 1].strip():
                c.error(rec, f.label, f"subfield {i}: mandatory information item {k} is empty")
    return f.subfields


def _date_field(c: Checker, rec: Record, n: int) -> None:
    f = rec.fields.get(n)
    if f is not None and f.value and parse_date(f.value) is None:
        c.error(rec, f.label, f"{f.value!r} is not a valid date YYYYMMDD")


def _int_field(c: Checker, rec: Record, n: int, lo: int, hi: int, allowed: frozenset[int] | None = None) -> int | None:
    f = rec.fields.get(n)
    if f is None:
        return None
    v = _int(f.value)
    if v is None or not (lo <= v <= hi) or (allowed is not None and v not in allowed):
        rng = f"one of {sorted(allowed)}" if allowed is not None and len(allowed) < 12 else f"{lo}-{hi}"
        c.error(rec, f.label, f"{f.value!r} is not a valid value ({rng})")
        return None
    return v


# -- Type-1 ------------------------------------------------------------------------------------

def check_type1(c: Checker, t1: Record, records: list[Record]) -> None:
    _mandatory(c, t1, (1, 2, 3, 4, 5, 7, 8, 9, 11, 12))
    if t1.field_order[:2] != [1, 2] and 2 in t1.fields:
        c.error(t1, label(1, 2), "VER must be the second field of the Type-1 record")
    ver = t1.value(2)
    if ver:
        if not re.fullmatch(r"\d{4}", ver):
            c.error(t1, label(1, 2), f"{ver!r} is not a 4-digit version number (e.g. 0500)")
        elif ver in OLD_VERSIONS:
            c.warn(t1, label(1, 2), f"version {ver} predates ANSI/NIST-ITL 1-2011; read with 2011 rules")
        elif ver not in VERSIONS:
            c.error(t1, label(1, 2), f"unknown version {ver} (expected 0500, 0501 or 0502)")
    _check_cnt(c, t1, records)
    tot = t1.value(4)
    if tot and not re.fullmatch(r"[A-Za-z0-9]{1,16}", tot):
        c.error(t1, label(1, 4), f"TOT {tot!r} must be 1-16 alphanumeric characters")
    _date_field(c, t1, 5)
    _int_field(c, t1, 6, 1, 9)
    for n in (11, 12):
        f = t1.fields.get(n)
        if f is not None and f.value and not _NSR.match(f.value):
            c.error(t1, f.label, f"{f.value!r} is not a resolution in the form NN.NN (pixels per mm)")
    if 13 in t1.fields:
        _items(c, t1, 13, 1, 2, required=(1,))
    gmt = t1.fields.get(14)
    if gmt is not None:
        ok = bool(_GMT.match(gmt.value))
        if ok:
            try:
                dt.datetime.strptime(gmt.value[:14], "%Y%m%d%H%M%S")
            except ValueError:
                ok = False
        if not ok:
            c.error(t1, gmt.label, f"{gmt.value!r} is not a UTC time YYYYMMDDhhmmssZ")
    if 15 in t1.fields:
        subs = _items(c, t1, 15, 2, 3, required=(1, 2))
        if subs and len(subs[0]) >= 2:
            code, name = _int(subs[0][0]), subs[0][1].strip()
            if code is None or not (code in DCS_NAMES or 128 <= code <= 999):
                c.error(t1, label(1, 15), f"character encoding index {subs[0][0]!r} is not 0-4 or 128-999")
            elif code in DCS_NAMES and name.upper() != DCS_NAMES[code]:
                c.error(t1, label(1, 15), f"character encoding name {name!r} does not match index {code} ({DCS_NAMES[code]})")
    if 16 in t1.fields:
        _items(c, t1, 16, 3, 3, required=(1, 2, 3))
    if 17 in t1.fields:
        _items(c, t1, 17, 2, 2, required=(1, 2))
    has_low_res_binary = any(r.rtype in (3, 4, 5, 6) for r in records[1:])
    for n in (11, 12):
        f = t1.fields.get(n)
        if f is not None and _NSR.match(f.value) and not has_low_res_binary and f.value != "00.00":
            c.error(t1, f.label, f"must be 00.00 when the transaction holds no Type-3 to Type-6 records (found {f.value})")
    gns = t1.fields.get(18)
    if gns is not None and gns.value not in ("ISO", "GENC"):
        c.error(t1, gns.label, f"geographic name set {gns.value!r} must be ISO or GENC")
    for n in t1.fields:
        if n > 23 and n != 999:
            c.warn(t1, label(1, n), "field not defined for the Type-1 record")
    for n in t1.fields:
        if n <= 16 and not all(item.isascii() for sub in t1.fields[n].subfields for item in sub):
            c.error(t1, label(1, n), "this Type-1 field must be 7-bit ASCII")


def _check_cnt(c: Checker, t1: Record, records: list[Record]) -> None:
    cnt = t1.fields.get(3)
    if cnt is None:
        return
    subs = cnt.subfields
    first = subs[0] if subs else []
    if len(first) != 2 or first[0].strip() != "1":
        c.error(t1, cnt.label, f"first subfield must be '1' and the number of other records, found {'^'.join(first)!r}")
    elif _int(first[1]) != len(subs) - 1:
        c.error(t1, cnt.label, f"declares {first[1]} other records but lists {len(subs) - 1}")
    for pos, sub in enumerate(subs[1:], start=2):
        if len(sub) != 2:
            continue  # reported by the tokenizer
        rtype, idc = _int(sub[0]), _int(sub[1])
        rec_label = f"Type-{sub[0]} #{pos}"
        if rtype is None:
            continue
        if rtype == 1:
            c.error(rec_label, cnt.label, "only the first record may be Type-1")
        elif rtype in DEPRECATED_TYPES:
            c.error(rec_label, cnt.label, f"Type-{rtype} records are deprecated by ANSI/NIST-ITL 1-2011 and shall not be used")
        elif rtype in LATER_TYPES:
            if t1.value(2) == "0500":
                c.warn(rec_label, cnt.label, f"Type-{rtype} is defined only from the 2013 update (VER 0501)")
        elif rtype not in DEFINED_TYPES:
            c.error(rec_label, cnt.label, f"Type-{rtype} is not a record type of ANSI/NIST-ITL 1-2011")
        if idc is None or idc > 99:
            c.error(rec_label, cnt.label, f"IDC {sub[1]!r} must be 0-99")
        if pos - 1 < len(records):
            rec = records[pos - 1]
            if rec.idc is not None and idc is not None and rec.idc != idc:
                fld = label(rec.rtype, 2) if rec.tagged else binary_label(rec.rtype, "IDC")
                c.error(rec, fld, f"IDC {rec.idc} differs from the IDC {idc} given for this record in 1.003 CNT")


# -- other records ----------------------------------------------------------------------------

def check_tagged_common(c: Checker, rec: Record) -> None:
    _mandatory(c, rec, (1, 2))
    if rec.field_order[:2] != [1, 2] and 2 in rec.fields:
        c.error(rec, label(rec.rtype, 2), "IDC must be the second field of the record")
    _int_field(c, rec, 2, 0, 99)
    order = rec.header.get("_order_warnings")
    if order:
        c.warn(rec, str(order[0]), "fields are not in ascending tag order")  # type: ignore[index]


def check_type9(c: Checker, rec: Record) -> None:
    _mandatory(c, rec, (3, 4))
    _int_field(c, rec, 3, 0, 29)
    fmt = rec.value(4)
    if fmt and fmt not in ("S", "U"):
        c.error(rec, label(9, 4), f"FMT {fmt!r} must be S (standard) or U (user-defined)")
    elif fmt == "S" and not c.legacy and not any(n in rec.fields for n in range(5, 13)):
        # 2011 Table 27: S only for records carrying the legacy fields 9.005-9.012
        c.error(rec, label(9, 4), "FMT S is only allowed with the legacy minutiae fields 9.005-9.012")
    if any(300 <= n <= 399 for n in rec.fields):
        _check_efs(c, rec)


def _check_efs(c: Checker, rec: Record) -> None:
    """The extended feature set block (9.300-9.399, Table 30): when present, ROI and FPP are mandatory."""
    _mandatory(c, rec, (300, 302))
    for sub in _items(c, rec, 300, 2, 5, required=(1, 2)):
        for k, what in ((0, "ROI width EWI"), (1, "ROI height EHI")):
            v = _int(sub[k]) if len(sub) > k else None
            if len(sub) > k and sub[k].strip() and (v is None or not 1 <= v <= 50000):
                c.error(rec, label(9, 300), f"{what} {sub[k]!r} must be 1-50000")
    for sub in _items(c, rec, 302, 1, 4, required=(1,)):
        v = _int(sub[0]) if sub else None
        if sub and sub[0].strip() and (v is None or v > 99):
            c.error(rec, label(9, 302), f"friction ridge position {sub[0]!r} is not a Table 8 code")


def check_binary(c: Checker, rec: Record) -> None:
    t = rec.rtype
    if t == 7 or t in DEPRECATED_TYPES:
        return  # Type-7 is user-defined; deprecated types are reported on CNT
    if set(rec.header) <= {"LEN", "IDC"}:
        return  # a header shorter than its type's is reported by the tokenizer, not field by field
    if t == 8:
        if rec.header.get("SIG") not in (0, 1):
            c.error(rec, binary_label(8, "SIG"), f"signature type {rec.header.get('SIG')} must be 0 or 1")
        if rec.header.get("SRT") not in (0, 1, 2):
            c.error(rec, binary_label(8, "SRT"), f"signature representation type {rec.header.get('SRT')} must be 0-2")
        return
    h = rec.header
    if h["IMP"] not in EXEMPLAR_IMP:
        c.error(rec, binary_label(t, "IMP"), f"impression type {h['IMP']} is not an exemplar code of Table 7")
    fgp = h["FGP"]
    assert isinstance(fgp, list)
    if fgp[0] not in FINGER_FGP or fgp[0] > 14:
        c.error(rec, binary_label(t, "FGP"), f"finger position {fgp[0]} must be 0-14")
    for v in fgp[1:]:
        if v != 255 and v > 14:
            c.error(rec, binary_label(t, "FGP"), f"additional finger position {v} must be 0-14 or 255 (unused)")
    if h["ISR"] not in (0, 1):
        c.error(rec, binary_label(t, "ISR"), f"image scanning resolution flag {h['ISR']} must be 0 or 1")
    w, ht = int(h["HLL"]), int(h["VLL"])  # type: ignore[call-overload]
    if w <= 0 or ht <= 0:
        c.error(rec, binary_label(t, "HLL"), f"image size {w}x{ht} must be positive")
        return
    if h["GCA"] not in images.GCA_CODES:
        c.error(rec, binary_label(t, "GCA"), f"compression code {h['GCA']} is not 0-6 (Table 15)")
        return
    c.decode(rec, binary_label(t, "DATA"), rec.data, int(h["GCA"]), w, ht)  # type: ignore[call-overload]


def check_image_record(c: Checker, rec: Record) -> None:
    t = rec.rtype
    if t in FRICTION_TYPES:
        _mandatory(c, rec, (3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13))
    else:
        _mandatory(c, rec, (4, 6, 7, 8, 9, 10, 11))
    if t in FRICTION_TYPES:
        allowed = EXEMPLAR_IMP if t == 14 else LATENT_IMP if t == 13 else PALM_IMP
        imp = rec.fields.get(3)
        if imp is not None and (_int(imp.value) is None or _int(imp.value) not in allowed):
            kind = {14: "an exemplar finger", 13: "a latent", 15: "a palm"}[t]
            c.error(rec, imp.label, f"impression type {imp.value!r} is not {kind} code of Table 7")
        _date_field(c, rec, 5)
    elif t == 10:
        _date_field(c, rec, 5)
    # one range per field, so a bad size is reported once: the standard's minimum of 10 px for
    # friction ridge and face images, our decoder's MAX_SIDE as the maximum
    min_side = 10 if t in FRICTION_TYPES or t == 10 else 1
    w = _int_field(c, rec, 6, min_side, images.MAX_SIDE)
    h = _int_field(c, rec, 7, min_side, images.MAX_SIDE)
    _int_field(c, rec, 8, 0, 2)
    _int_field(c, rec, 9, 1, 99999)
    _int_field(c, rec, 10, 1, 99999)
    comp = None
    cga = rec.fields.get(11)
    if cga is not None:
        try:
            comp = images.normalise_compression(cga.value)
        except images.ImageDecodeError as exc:
            c.error(rec, cga.label, str(exc))
    if t in FRICTION_TYPES:
        _int_field(c, rec, 12, 8, 99)
        if rec.value(8) in ("1", "2") and rec.value(9) != rec.value(10):
            c.error(rec, label(t, 9), f"with SLC {rec.value(8)} THPS {rec.value(9)!r} and TVPS {rec.value(10)!r} must be equal")
        com = rec.fields.get(20)
        if com is not None and len(com.value) > 126:
            c.error(rec, com.label, "comment longer than 126 characters")
    if t == 14:
        _check_type14_specific(c, rec)
    elif t == 13:
        _check_type13_specific(c, rec)
    elif t == 10:
        _check_type10_specific(c, rec)
    data = rec.fields.get(999)
    if data is None:
        amputated = t == 14 and 18 in rec.fields
        if t in FRICTION_TYPES and not amputated:
            c.error(rec, label(t, 999), "mandatory image data field missing")
        return
    if w is None or h is None or comp is None:
        return
    bpx = _int(rec.value(12)) if t in FRICTION_TYPES or t in (16, 17) else 8
    if comp == "NONE" and t not in FRICTION_TYPES:
        return  # colour layouts of uncompressed face/iris images are not decoded here
    c.decode(rec, label(t, 999), rec.data, comp, w, h, bpx or 8)


def _check_type14_specific(c: Checker, rec: Record) -> None:
    fgp = rec.fields.get(13)
    positions: list[int] = []
    if fgp is not None:
        if len(fgp.subfields) > MAX_FGP:
            c.error(rec, fgp.label, f"at most {MAX_FGP} possible positions, found {len(fgp.subfields)}")
        elif len(fgp.subfields) > 1:
            c.warn(rec, fgp.label, f"{len(fgp.subfields)} possible positions; the first, {fgp.value!r}, is used")
        for sub in fgp.subfields:
            v = _int(sub[0]) if sub else None
            if v is None or v not in FINGER_FGP:
                c.error(rec, fgp.label, f"finger position {sub[0] if sub else ''!r} is not a Table 8 finger code")
            else:
                positions.append(v)
    if 14 in rec.fields:
        subs = _items(c, rec, 14, 2, 2, required=(1, 2))
        if 19 not in positions:
            c.error(rec, label(14, 14), "may only be present when the finger position is 19 (EJI or tip)")
        for sub in subs:
            if len(sub) >= 2:
                if _int(sub[0]) not in SEGMENT_FINGERS:
                    c.error(rec, label(14, 14), f"finger number {sub[0]!r} must be 1-10, 16 or 17")
                if sub[1].strip() not in FIC:
                    c.error(rec, label(14, 14), f"finger image code {sub[1]!r} is not one of {sorted(FIC)}")
    elif 19 in positions:
        c.error(rec, label(14, 14), "mandatory when finger position is 19 (EJI or tip)")
    if 15 in rec.fields and 19 not in positions:
        c.error(rec, label(14, 15), "may only be present when the finger position is 19 (EJI or tip)")
    if 15 in rec.fields:
        for sub in _items(c, rec, 15, 6, 6, required=(1, 2, 3, 4, 5, 6)):
            if len(sub) != 6:
                continue
            if sub[0] not in FIC - {"EJI", "TIP"} and sub[0] not in ("TIP",):
                c.error(rec, label(14, 15), f"full finger view {sub[0]!r} must be FV1-FV4 or TIP")
            if sub[1] not in LOS:
                c.error(rec, label(14, 15), f"location of segment {sub[1]!r} is not one of {sorted(LOS)}")
            nums = [_int(x) for x in sub[2:]]
            if any(n is None for n in nums):
                c.error(rec, label(14, 15), "segment coordinates must be numbers")
            elif not (nums[0] <= nums[1] and nums[2] <= nums[3]):  # type: ignore[operator]
                c.error(rec, label(14, 15), f"segment box {sub[2]}-{sub[3]} x {sub[4]}-{sub[5]}: "
                        "right must not be left of left, bottom not above top")
    ppd_fingers = {_int(sub[0]) for sub in rec.fields[14].subfields if sub} if 14 in rec.fields else set()
    allowed_fingers: set[int] = {0}
    for p in positions:
        allowed_fingers |= SLAP_FINGERS.get(p, set()) | {p}
        if p == 19:
            allowed_fingers |= {f for f in ppd_fingers if f is not None}
    seg_fingers: set[int] = set()
    if 21 in rec.fields:
        if not any(p in SLAP_FINGERS or p == 19 for p in positions):
            c.warn(rec, label(14, 21), "segmentation is meant for multi-finger images (FGP 13, 14, 15, 19, 40-50)")
        for sub in _items(c, rec, 21, 5, 5, required=(1, 2, 3, 4, 5)):
            nums = [_int(x) for x in sub]
            if len(sub) != 5 or any(n is None for n in nums):
                c.error(rec, label(14, 21), f"segment {'^'.join(sub)!r} must be five numbers FRSP^LHC^RHC^TVC^BVC")
                continue
            seg_fingers.add(nums[0])  # type: ignore[arg-type]
            _finger_in_record(c, rec, 21, sub[0], allowed_fingers)
            if not (nums[1] <= nums[2] and nums[3] <= nums[4]):  # type: ignore[operator]
                c.error(rec, label(14, 21), f"segment of finger {sub[0]}: right must not be left of left, bottom not above top")
    if 25 in rec.fields:
        for sub in _items(c, rec, 25, 8, None, required=(1, 2)):
            nop = _int(sub[1]) if len(sub) > 1 else None
            if nop is None or not 3 <= nop <= 99 or len(sub) != 2 + 2 * nop or any(_int(x) is None for x in sub):
                c.error(rec, label(14, 25), "each subfield must be FRAS^NOP then NOP (3-99) vertex coordinate pairs")
            else:
                seg_fingers.add(int(sub[0]))
                _finger_in_record(c, rec, 25, sub[0], allowed_fingers)
    if 26 in rec.fields:
        _int_field(c, rec, 26, 1, 255)
    if 18 in rec.fields:
        for sub in _items(c, rec, 18, 2, 2, required=(1, 2)):
            if len(sub) == 2 and sub[1].strip() not in ("XX", "UP"):
                c.error(rec, label(14, 18), f"amputation code {sub[1]!r} must be XX (amputated) or UP (unprintable)")
    if 22 in rec.fields:
        for sub in _items(c, rec, 22, 2, 2, required=(1, 2)):
            if len(sub) == 2:
                q = _int(sub[1])
                if q is None or not (1 <= q <= 5 or q in (254, 255)):
                    c.error(rec, label(14, 22), f"NIST quality {sub[1]!r} must be 1-5, 254 or 255")
                _finger_in_record(c, rec, 22, sub[0], allowed_fingers, unknown_ok=True)
    for n in (23, 24):
        if n in rec.fields:
            for sub in _items(c, rec, n, 4, 4, required=(1, 2, 3, 4)):
                if len(sub) != 4:
                    continue
                q, alg = _int(sub[1]), _int(sub[3])
                if q is None or not (q <= 100 or q in (254, 255)):
                    c.error(rec, label(14, n), f"quality value {sub[1]!r} must be 0-100, 254 or 255")
                if not _HEX4.match(sub[2]):
                    c.error(rec, label(14, n), f"algorithm vendor id {sub[2]!r} must be 4 hexadecimal digits")
                if alg is None or not (1 <= alg <= 65535):
                    c.error(rec, label(14, n), f"algorithm product code {sub[3]!r} must be 1-65535")
                if n == 23:
                    if _int(sub[0]) not in seg_fingers:
                        c.error(rec, label(14, 23), f"finger {sub[0]!r} has no segment in 14.021 SEG or 14.025 ASEG")
                else:
                    _finger_in_record(c, rec, 24, sub[0], allowed_fingers, unknown_ok=True)
    if 27 in rec.fields and rec.value(27) != "Y":
        c.error(rec, label(14, 27), f"stitched image flag {rec.value(27)!r} may only be Y")


def _check_type13_specific(c: Checker, rec: Record) -> None:
    fgp = rec.fields.get(13)
    positions = []
    if fgp is not None:
        for sub in fgp.subfields:
            v = _int(sub[0]) if sub else None
            if v is None or v > 99:
                c.error(rec, fgp.label, f"friction ridge position {sub[0] if sub else ''!r} is not a Table 8 code")
            else:
                positions.append(v)
    for n in (14, 15):
        if n in rec.fields and 19 not in positions:
            c.error(rec, label(13, n), "may only be present when a friction ridge position is 19 (EJI or tip)")
    if 14 in rec.fields:
        for sub in _items(c, rec, 14, 2, 2, required=(1, 2)):
            if len(sub) == 2 and sub[1].strip() not in FIC:
                c.error(rec, label(13, 14), f"finger image code {sub[1]!r} is not one of {sorted(FIC)}")
    if 24 in rec.fields:
        for sub in _items(c, rec, 24, 4, 4, required=(1, 2, 3, 4)):
            q = _int(sub[1]) if len(sub) == 4 else None
            if len(sub) == 4 and (q is None or not (q <= 100 or q in (254, 255)) or not _HEX4.match(sub[2])):
                c.error(rec, label(13, 24), f"quality entry {'^'.join(sub)!r} must be FRMP^QVU(0-100,254,255)^QAV(4 hex)^QAP")


IMT_VALUES = frozenset({
    "FACE", "SCAR", "MARK", "TATTOO", "FRONTAL-C", "REAR-C", "FRONTAL-N", "REAR-N", "TORSO-BACK", "TORSO-FRONT",
    "CONDITION", "MISSING", "OTHER", "CHEST", "FEET", "HANDS-PALM", "HANDS-BACK", "GENITALS", "BUTTOCKS",
    "RIGHT LEG", "LEFT LEG", "RIGHT ARM", "LEFT ARM", "HEAD", "EXTRAORAL", "INTRAORAL", "LIP"})
CSP_VALUES = frozenset({"GRAY", "RGB", "SRGB", "YCC", "SYCC", "UNK"})
SAP_VALUES = frozenset({0, 1, 10, 11, 12, 13, 14, 15, 20, 30, 32, 40, 42, 50, 51, 52})
POS_VALUES = frozenset({"F", "R", "L", "A", "D"})


def _check_type10_specific(c: Checker, rec: Record) -> None:
    _mandatory(c, rec, (3, 5, 12))
    imt = rec.value(3)
    if imt and imt not in IMT_VALUES:
        c.error(rec, label(10, 3), f"image type {imt!r} is not one of {sorted(IMT_VALUES)}")
    csp = rec.value(12)
    if csp and csp not in CSP_VALUES:
        c.error(rec, label(10, 12), f"colour space {csp!r} is not one of {sorted(CSP_VALUES)}")
    if 13 in rec.fields:
        _int_field(c, rec, 13, 0, 99, SAP_VALUES)
    elif imt == "FACE":
        c.error(rec, label(10, 13), "mandatory for a FACE image")
    pos = rec.value(20)
    if pos and pos not in POS_VALUES:
        c.error(rec, label(10, 20), f"subject pose {pos!r} must be one of F, R, L, A, D")
    poa = rec.fields.get(21)
    if poa is not None:
        try:
            ok = -180 <= float(poa.value) <= 180
        except ValueError:
            ok = False
        if not ok:
            c.error(rec, poa.label, f"pose offset angle {poa.value!r} must be between -180 and 180")


#: Fingers contained in a multi-finger image position (Table 8: 13/14 four-finger slaps with the hand's extra
#: digit 16/17, 15 both thumbs; 40-50 upper/lower joints and combinations are left open).
SLAP_FINGERS: dict[int, set[int]] = {13: {2, 3, 4, 5, 16}, 14: {7, 8, 9, 10, 17}, 15: {1, 6}, 11: {1}, 12: {6},
                                     **{p: set(range(0, 11)) for p in range(40, 51)}}


def _finger_in_record(c: Checker, rec: Record, n: int, value: str, allowed: set[int], *,
                      unknown_ok: bool = False) -> None:
    """A finger named inside an image: a Table 8 finger code (error otherwise); one this record's 14.013 FGP
    contains (warning otherwise: ANSI/NIST-ITL asks only for the code, and the image stays usable -- a slap
    may show an extra digit, an unknown-position image any finger)."""
    v = _int(value)
    if v is None or not (v in SEGMENT_FINGERS or (unknown_ok and v == 0)):
        c.error(rec, label(rec.rtype, n), f"finger {value!r} must be 1-10, 16 or 17 (Table 8)")
    elif v not in allowed and 0 not in _fgp_values(rec):
        c.warn(rec, label(rec.rtype, n), f"finger {value!r} is not part of this record's position "
               f"(14.013 FGP {rec.value(13)!r})")


def _fgp_values(rec: Record) -> set[int]:
    f = rec.fields.get(13)
    return {v for sub in f.subfields if sub and (v := _int(sub[0])) is not None} if f is not None else set()


def _charset(t1: Record) -> tuple[str, bool]:
    """(DCS name, whether only 7-bit ASCII may appear) from 1.015 DCS."""
    dcs = t1.fields.get(15)
    code = _int(dcs.value) if dcs is not None else 0
    if code in (None, 0):
        return "ASCII", True
    return DCS_NAMES.get(code, f"user-defined character set {code}"), False


def check_text(c: Checker, records: list[Record]) -> None:
    """Every text item of every tagged record: no control, format or bidi characters; DCS rules for non-ASCII.

    The ASCII rules of the Type-1 fields that must be ASCII are checked in ``check_type1``.
    """
    rules = text.rules()
    encoding, ascii_only = _charset(records[0])
    readable = encoding in ("ASCII", "8859-1", "UTF-8")
    for rec in records:
        if not rec.tagged:
            continue
        for n, f in rec.fields.items():
            if n == 999 or (rec.rtype == 1 and n == 1):
                continue
            tag = f"{rec.rtype}.{n:03d}"
            allowed = rules.allowed_controls(tag)
            for sub in f.subfields:
                reason = next((r for item in sub if (r := text.bad_character(
                    item, allowed=allowed, ascii_only=ascii_only or (rec.rtype == 1 and n <= 16),
                    encoding=encoding)) is not None), None)
                if reason is None and not readable and any(not item.isascii() for item in sub):
                    reason = f"non-ASCII text in {encoding} (1.015 DCS) cannot be read from the traditional encoding"
                if reason is not None:
                    c.error(rec, f.label, reason)
                    break


CHECKS: dict[int, Callable[[Checker, Record], None]] = {9: check_type9}


def validate(records: list[Record], limits: Limits | None = None) -> Checker:
    """Apply every rule; the returned checker holds errors, warnings and decoded images."""
    c = Checker(limits)
    if not records:
        return c
    c.legacy = records[0].value(2) in OLD_VERSIONS
    check_type1(c, records[0], records)
    check_text(c, records)
    seen: dict[tuple[int, int], Record] = {}
    for rec in records[1:]:
        if rec.idc is not None and rec.rtype not in DEPRECATED_TYPES:
            first = seen.setdefault((rec.rtype, rec.idc), rec)
            if first is not rec:
                fld = label(rec.rtype, 2) if rec.tagged else binary_label(rec.rtype, "IDC")
                # linked records (e.g. a tattoo and its zoom) may share an IDC: worth a look, not a rejection
                c.warn(rec, fld, f"IDC {rec.idc} is also used by {first.label}")
    for rec in records[1:]:
        if rec.tagged:
            check_tagged_common(c, rec)
            if rec.rtype in IMAGE_TYPES:
                check_image_record(c, rec)
            elif rec.rtype in CHECKS:
                CHECKS[rec.rtype](c, rec)
        elif rec.rtype in BINARY_TYPES:
            check_binary(c, rec)
    return c
