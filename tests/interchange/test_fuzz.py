"""Fuzzing the reader: whatever the bytes, only TransactionRejected may come out."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from securecomm.interchange import (
    TransactionRejected, parse_booking, parse_criminal_enrolment, parse_errt, parse_immigration_enrolment,
    parse_sre, read_transaction,
)

from ic_helpers import booking, fingers
from securecomm.interchange import write_booking

SMALL_CAR = write_booking(booking(fingers=fingers([1, 2])), image_type=14)
SMALL_CAR4 = write_booking(booking(fingers=fingers([3])), image_type=4)
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _read_all(data: bytes) -> None:
    try:
        tx = read_transaction(data)
    except TransactionRejected as exc:
        assert exc.errors and all(e.record and e.field and e.reason for e in exc.errors)
        return
    tx.finger_images()
    for parse in (parse_booking, parse_criminal_enrolment, parse_immigration_enrolment, parse_sre, parse_errt):
        try:
            parse(tx)
        except TransactionRejected as exc:
            assert exc.errors


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes(data):
    _read_all(data)


@FUZZ
@given(st.sampled_from([SMALL_CAR, SMALL_CAR4]), st.integers(min_value=0))
def test_truncations(base, cut):
    _read_all(base[: cut % len(base)])


@FUZZ
@given(st.sampled_from([SMALL_CAR, SMALL_CAR4]),
       st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), min_size=1, max_size=8))
def test_byte_flips(base, flips):
    data = bytearray(base)
    for pos, value in flips:
        data[pos % len(data)] = value
    _read_all(bytes(data))


@FUZZ
@given(st.sampled_from([SMALL_CAR, SMALL_CAR4]), st.integers(min_value=0), st.binary(min_size=1, max_size=30))
def test_insertions(base, pos, junk):
    i = pos % len(base)
    _read_all(base[:i] + junk + base[i:])


def test_conformance_files_mutated(ansi_nist):
    """Flip bytes of the small conformance files in a fixed pattern (cheap, deterministic)."""
    import random

    rnd = random.Random(7)
    for path in sorted((ansi_nist / "fail").iterdir()) + [ansi_nist / "pass" / "pass-type-1.an2"]:
        base = path.read_bytes()
        for _ in range(40):
            data = bytearray(base)
            for _ in range(rnd.randint(1, 4)):
                data[rnd.randrange(len(data))] = rnd.randrange(256)
            _read_all(bytes(data))


def _rebuild(records, data: bytes) -> bytes:
    """Re-serialise tokenized records with correct LEN values (so mutations reach the validator)."""
    out = b""
    for r in records:
        if not r.tagged:
            out += data[r.offset:r.offset + r.length]
            continue
        body = b"\x1d".join(f"{r.rtype}.{n:03d}:".encode() + r.fields[n].raw for n in r.field_order if n != 1)
        head = f"{r.rtype}.001:".encode()
        length = len(head) + 1 + len(body) + 1
        while len(head) + len(str(length)) + 1 + len(body) + 1 != length:
            length = len(head) + len(str(length)) + 1 + len(body) + 1
        out += head + str(length).encode() + b"\x1d" + body + b"\x1c"
    return out


VALUES = st.one_of(st.sampled_from(["", "0", "-1", "99999999999", "19", "1\x1f2", "20120230", "00.00", "ÿ",
                                    "FV1\x1fNA\x1f1\x1f2\x1f3", "x" * 300, "3\x1fUTF-8"]),
                   st.text(alphabet=st.characters(max_codepoint=255, blacklist_characters="\x1c\x1d"), max_size=20))


@FUZZ
@given(st.sampled_from([SMALL_CAR, SMALL_CAR4]), st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=0),
                                                                   VALUES), min_size=1, max_size=4))
def test_field_mutations_keep_structure(base, edits):
    """Well-formed records with bad field values: the validator and EBTS layer must name the field."""
    from securecomm.interchange.tokenizer import tokenize

    records, errors = tokenize(base)
    assert not errors
    tagged = [r for r in records if r.tagged]
    for ri, fi, value in edits:
        rec = tagged[ri % len(tagged)]
        numbers = [n for n in rec.field_order if n not in (1, 999)]
        rec.fields[numbers[fi % len(numbers)]].raw = value.encode("latin-1")
    _read_all(_rebuild(records, base))
    assert _rebuild(tokenize(base)[0], base) == base
