"""Rules for the text of tagged fields: which characters may appear, how text is normalised, how long it may be.

Hostile or careless input hides in text: a NUL byte that a database refuses,
ESC and terminal escape sequences that rewrite an operator's screen, a
right-to-left override (U+202E) that makes a name read differently from what
is stored. ANSI/NIST-ITL 1-2011 allows none of these in a text information
item, so each is an error naming record, field and the offending character.

Non-ASCII text follows the directory of character sets (1.015 DCS): without a
DCS (or with DCS 0) a transaction is 7-bit ASCII; DCS 1 is ISO 8859-1 and
DCS 3 UTF-8 (the tokenizer decodes with it, and a malformed UTF-8 sequence is
an error here); UTF-16/UTF-32 (DCS 2/4) cannot be carried by the traditional
encoding's byte separators. Accepted text is normalised to Unicode NFC so one
name is stored one way. Which fields may hold several lines, and how long a
field may be, is data (``data/text_rules.json``), not code.
"""

from __future__ import annotations

import json
import unicodedata
from functools import lru_cache
from importlib import resources

__all__ = ["TextRules", "rules", "bad_character", "normalise", "printable"]

#: Unicode categories that never belong in a text item: controls, format characters
#: (bidi overrides and isolates, zero-width joiners...), surrogates, private use.
_BAD_CATEGORIES = {"Cc": "control character", "Cf": "invisible formatting character",
                   "Cs": "surrogate code point", "Co": "private-use character",
                   "Zl": "line separator", "Zp": "paragraph separator"}
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


class TextRules:
    """The versioned text rules (see module doc)."""

    def __init__(self, data: dict) -> None:
        self.version: str = data["version"]
        self.multiline: frozenset[str] = frozenset(data["multiline"])
        self.multiline_controls: frozenset[str] = frozenset(data["multiline_controls"])
        self.default_max_length: int = int(data["default_max_length"])
        self.max_length: dict[str, int] = {k: int(v) for k, v in data["max_length"].items()}

    def max_len(self, tag: str) -> int:
        """Largest length (characters) of field ``tag`` (e.g. ``"2.018"``)."""
        return self.max_length.get(tag, self.default_max_length)

    def allowed_controls(self, tag: str) -> frozenset[str]:
        return self.multiline_controls if tag in self.multiline else frozenset()


@lru_cache(maxsize=1)
def rules() -> TextRules:
    text = resources.files("securecomm.interchange").joinpath("data/text_rules.json").read_text("utf-8")
    return TextRules(json.loads(text))


def _describe(ch: str) -> str:
    name = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X}" + (f" {name}" if name else "")


@lru_cache(maxsize=8)
def _deletions(allowed: frozenset[str]) -> dict[int, None]:
    """A ``str.translate`` table that deletes the ``allowed`` characters."""
    return {ord(ch): None for ch in allowed}


def bad_character(text: str, *, allowed: frozenset[str] = frozenset(), ascii_only: bool = False,
                  encoding: str = "") -> str | None:
    """Why ``text`` is not acceptable as a text item, or None when it is.

    ``ascii_only``: the transaction declares no character set beyond 7-bit ASCII.
    ``encoding``: the DCS name, for the message about malformed bytes.
    """
    if text.isascii() and (text.isprintable() or (allowed and text.translate(_deletions(allowed)).isprintable())):
        return None  # U+0020-U+007E and allowed controls only (nearly every item): each passes the loop's test
    for i, ch in enumerate(text):
        o = ord(ch)
        if 32 <= o < 127 or ch in allowed:
            continue
        at = f" at character {i + 1}"
        if ch == "\ufffd" and encoding == "UTF-8":
            return f"malformed UTF-8 byte sequence{at} (1.015 DCS declares UTF-8)"
        if ch in _BIDI:
            return f"bidirectional override {_describe(ch)}{at} (it changes how the text reads)"
        if o == 0x1B:
            return f"escape character U+001B{at} (terminal escape sequence)"
        cat = unicodedata.category(ch)
        if cat in _BAD_CATEGORIES:
            return f"{_BAD_CATEGORIES[cat]} {_describe(ch)}{at}"
        if o >= 0xFFFE and (o & 0xFFFE) == 0xFFFE or 0xFDD0 <= o <= 0xFDEF:
            return f"noncharacter {_describe(ch)}{at}"
        if ascii_only and o > 127:
            return (f"non-ASCII character {_describe(ch)}{at}: the transaction declares no character set "
                    "beyond 7-bit ASCII (1.015 DCS)")
    return None


def normalise(text: str) -> str:
    """Unicode NFC, so composed and decomposed spellings of one name compare and store equal."""
    return unicodedata.normalize("NFC", text) if not text.isascii() else text


def printable(text: str) -> str:
    """``text`` with every character :func:`bad_character` refuses written as ``\\uXXXX``: safe to echo back."""
    out = []
    for ch in text:
        if 32 <= ord(ch) < 127 or (ord(ch) > 127 and bad_character(ch) is None):
            out.append(ch)
        else:
            out.append(f"\\u{ord(ch):04x}")
    return "".join(out)
