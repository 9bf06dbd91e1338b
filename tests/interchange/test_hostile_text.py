"""Hostile text in Type-2 fields and implausible facts: each an error naming record and field (issue 13)."""

from __future__ import annotations

import datetime as dt
import unicodedata

import pytest

from securecomm.domain.clock import FixedClock
from securecomm.interchange import TransactionRejected, parse_booking, read_transaction, write_booking, write_errt
from securecomm.interchange.ebts import parse_errt
from securecomm.interchange.errors import TransactionError
from securecomm.interchange.reader import inspect_transaction

from ic_helpers import booking, fingers, person

CLOCK = FixedClock(dt.datetime(2026, 3, 3, 12, tzinfo=dt.UTC))
CAR = write_booking(booking(fingers=fingers([1, 2])))


def _with_name(raw: bytes, name: bytes, *, dcs: bool = False) -> bytes:
    """``raw`` with 2.018 NAM replaced (lengths fixed up), optionally declaring UTF-8 in 1.015 DCS."""
    tx = read_transaction(raw)
    old = tx.type2().fields[18].raw
    out = raw.replace(b"2.018:" + old, b"2.018:" + name, 1)
    return _relen(out, dcs=dcs)


def _relen(raw: bytes, *, dcs: bool) -> bytes:
    """Recompute 1.001 and 2.001 LEN after a text edit (the Type-1 and Type-2 are the first two records)."""
    t1_end = raw.index(b"\x1c") + 1
    t1, rest = raw[:t1_end], raw[t1_end:]
    if dcs and b"\x1d1.015:" not in t1:
        t1 = t1[:-1] + b"\x1d1.015:3\x1fUTF-8\x1c"
    t2_end = rest.index(b"\x1c") + 1
    t2, rest = rest[:t2_end], rest[t2_end:]

    def fix(rec: bytes, tag: bytes) -> bytes:
        body = rec[rec.index(b"\x1d"):]
        for digits in range(1, 9):
            n = len(tag) + 1 + digits + len(body)
            if len(str(n)) == digits:
                return tag + b":" + str(n).encode() + body
        raise AssertionError

    return fix(t1, b"1.001") + fix(t2, b"2.001") + rest


def _errors(raw: bytes) -> list[TransactionError]:
    with pytest.raises(TransactionRejected) as info:
        parse_booking(read_transaction(raw), min_fingers=2, clock=CLOCK)
    return info.value.errors


def test_the_editing_helper_keeps_a_valid_booking_valid():
    b = parse_booking(_with_name(CAR, b"TESTER,ALEX Q"), min_fingers=2, clock=CLOCK)
    assert (b.person.last_name, b.person.first_name) == ("TESTER", "ALEX")


@pytest.mark.parametrize("name, dcs, words", [
    (b"TES\x00TER,ALEX", False, "U+0000"),
    (b"TESTER,\x1b[2J\x1b[31mALEX", False, "escape"),
    (b"TESTER,AL\x07EX", False, "control character"),
    (b"TESTER,ALEX\x7f", False, "control character"),
    ("TESTER,\u202eXELA".encode(), True, "bidirectional override"),
    ("TESTER,AL\u200bEX".encode(), True, "invisible formatting"),
    ("TESTER,ALEX\u2066".encode(), True, "bidirectional"),
    (b"TESTER,\x9b2JALEX", False, "U+009B"),  # a C1 CSI byte (a terminal escape without ESC)
    ("MÜLLER,ALEX".encode(), False, "non-ASCII"),  # UTF-8 without 1.015 DCS
    (b"M\xc3LLER,ALEX", True, "malformed UTF-8"),
])
def test_hostile_characters_in_the_name_are_rejected_naming_the_field(name, dcs, words):
    errors = _errors(_with_name(CAR, name, dcs=dcs))
    hits = [e for e in errors if e.field == "2.018 NAM"]
    assert hits and hits[0].record == "Type-2 #2", errors
    assert words in hits[0].reason, hits[0].reason


def test_inspect_names_every_bad_field_and_errt_can_quote_it():
    raw = _with_name(CAR, b"TES\x00TER,\x1b[0mALEX")
    ins = inspect_transaction(raw)
    assert not ins.valid and {e.field for e in ins.errors} == {"2.018 NAM"}
    # the ERRT echoing the problem carries no control characters itself and reads back
    errt = write_errt(tcn="E-1", tcr="T-1", ori="DCFBIWA0Z", dai="MA0130100", date=dt.date(2026, 3, 3),
                      errors=[TransactionError("Type-2 #2", "2.018 NAM", "bad name 'TES\x00TER\u202e'")])
    back = parse_errt(errt).errors[0]
    assert "\x00" not in back.reason and "\u202e" not in back.reason and "\\u0000" in back.reason


def test_non_ascii_name_with_utf8_dcs_is_accepted_and_normalised_to_nfc():
    decomposed = unicodedata.normalize("NFD", "MÜLLER,ZOË")
    assert decomposed != "MÜLLER,ZOË"
    b = parse_booking(_with_name(CAR, decomposed.encode(), dcs=True), min_fingers=2, clock=CLOCK)
    assert b.person.last_name == "MÜLLER" and b.person.first_name == "ZOË"
    assert unicodedata.is_normalized("NFC", b.person.last_name)


def test_latin1_dcs_is_read_as_latin1():
    raw = _relen(_with_name(CAR, "MÜLLER,ALEX".encode("latin-1")).replace(b"\x1c", b"\x1d1.015:1\x1f8859-1\x1c", 1),
                 dcs=False)
    assert parse_booking(raw, min_fingers=2, clock=CLOCK).person.last_name == "MÜLLER"


def test_utf16_dcs_text_cannot_be_read():
    raw = _relen(_with_name(CAR, "MÜLLER,ALEX".encode("utf-16-le").replace(b"\x00", b"")).replace(
        b"\x1c", b"\x1d1.015:2\x1fUTF-16\x1c", 1), dcs=False)
    assert any(e.field == "2.018 NAM" and "UTF-16" in e.reason for e in inspect_transaction(raw).errors)


def test_name_longer_than_its_field_allows_is_rejected():
    errors = _errors(_with_name(CAR, b"T" * 60 + b",ALEX"))
    assert any(e.field == "2.018 NAM" and "longer than the 50" in e.reason for e in errors)


def test_rap_sheet_keeps_its_line_breaks():
    from securecomm.interchange import parse_sre, write_sre

    sre = write_sre(tcn="S-1", tcr="T-1", ori="DCFBIWA0Z", dai="MA0130100", result="I", ucn="000000019",
                    rap_sheet="LINE 1\nLINE 2\r\n\tINDENTED", date=dt.date(2026, 3, 3))
    assert parse_sre(sre).rap_sheet == "LINE 1\nLINE 2\r\n\tINDENTED"


# -- implausible facts ---------------------------------------------------------------------------

def _car(**kw) -> bytes:
    return write_booking(booking(fingers=fingers([1, 2]), **kw))


@pytest.mark.parametrize("kw, field, words", [
    (dict(date=dt.date(2099, 1, 2), arrest_date=dt.date(2099, 1, 1)), "1.005 DAT", "future"),
    (dict(date=dt.date(2099, 1, 2), arrest_date=dt.date(2099, 1, 1)), "2.045 DOA", "future"),
    (dict(person=person().__class__(**{**person().__dict__, "dob": dt.date(2026, 2, 28)})), "2.022 DOB", "0 years old"),
    (dict(person=person().__class__(**{**person().__dict__, "dob": dt.date(2020, 3, 2)})), "2.022 DOB", "under 7"),
    (dict(person=person().__class__(**{**person().__dict__, "dob": dt.date(1890, 3, 2)})), "2.022 DOB", "over 120"),
])
def test_implausible_dates_are_rejected_naming_the_field(kw, field, words):
    errors = _errors(_car(**kw))
    assert any(e.field == field and words in e.reason for e in errors), errors


def test_dates_within_tolerance_and_plausible_ages_are_accepted():
    # the agency's local date may run ahead of UTC: tomorrow (UTC) is fine
    parse_booking(_car(date=dt.date(2026, 3, 4), arrest_date=dt.date(2026, 3, 4)), min_fingers=2, clock=CLOCK)
    eight = person().__class__(**{**person().__dict__, "dob": dt.date(2018, 3, 1)})
    parse_booking(_car(person=eight), min_fingers=2, clock=CLOCK)
    # the same booking read "in 2098" is not in the future any more: the clock decides, not the code
    later = FixedClock(dt.datetime(2099, 1, 2, tzinfo=dt.UTC))
    parse_booking(_car(date=dt.date(2099, 1, 2), arrest_date=dt.date(2099, 1, 1)), min_fingers=2, clock=later)


def test_every_ascii_character_is_judged_as_before_on_the_fast_path():
    """``text.bad_character`` passes printable ASCII (U+0020-U+007E, nearly every item of every transaction)
    without a look at each character; every other ASCII character is still refused with its position, unless
    the field allows it (a multiline field's controls)."""
    from securecomm.interchange.text import bad_character

    for o in range(128):
        ch = chr(o)
        verdict = bad_character("ab" + ch + "cd")
        if 32 <= o < 127:
            assert verdict is None, o
        else:
            assert verdict is not None and "at character 3" in verdict, o
            assert bad_character("ab" + ch + "cd", allowed=frozenset(ch)) is None
    lines = frozenset("\n\t")  # a multiline field's controls: passed too, and nothing else with them
    assert bad_character("a\nb\tc", allowed=lines) is None
    assert "at character 5" in bad_character("a\nb\t\x01", allowed=lines)
    assert "at character 2" in bad_character("a\nb", allowed=frozenset("\t"))
    assert bad_character("") is None and bad_character("caf\u00e9") is None
    assert "non-ASCII" in bad_character("caf\u00e9", ascii_only=True)
