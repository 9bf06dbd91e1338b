"""The reader's contract with hostile input: which outcomes of reading some bytes are acceptable.

One definition, checked by the coverage-guided fuzzer (``fuzz/fuzz_reader.py``, atheris, not run in
CI) on every input it makes and by the corpus replay in CI (``tests/interchange/test_corpus.py``) on
every input the fuzzer kept. Whatever the bytes:

* ``inspect_transaction`` and ``read_transaction`` return, or raise :class:`TransactionRejected`
  whose errors each name record, field and reason;
* a transaction the reader accepts has its finger images decoded within the transaction's pixel
  budget (``interchange.limits``);
* each of the five Type-2 parsers (CAR booking, CNA and IEN enrolments, SRE, ERRT) returns or raises
  such a ``TransactionRejected``; a person a parser accepts has no control, format or bidi
  character in a name.

Any other exception (it propagates from :func:`check`), a crash or a hang is a finding;
:class:`ContractViolation` reports an outcome that came out but is not acceptable.
"""

from __future__ import annotations

from securecomm.interchange import (TransactionRejected, parse_booking, parse_criminal_enrolment, parse_errt,
                                    parse_immigration_enrolment, parse_sre, read_transaction, text)
from securecomm.interchange.limits import Limits, default_limits
from securecomm.interchange.reader import inspect_transaction

#: The parsers of a person-carrying transaction (called with ``min_fingers=0``) and of the responses.
PERSON_PARSERS = (parse_booking, parse_criminal_enrolment, parse_immigration_enrolment)
RESPONSE_PARSERS = (parse_sre, parse_errt)


class ContractViolation(AssertionError):
    """An outcome of reading hostile bytes that the contract does not allow."""


def check_rejection(exc: TransactionRejected) -> None:
    """A refusal must name, for every error, the record, the field and the reason."""
    if not exc.errors or not all(e.record and e.field and e.reason for e in exc.errors):
        raise ContractViolation(f"rejection without record/field/reason: {exc.errors!r}")


def check(data: bytes, *, limits: Limits | None = None) -> str:
    """Read ``data`` as the pipeline's reader and every parser would, checking each outcome.

    ``limits``: the reader's bounds (default: the configured ones), which the pixel check holds it to.
    Returns ``"refused"`` (the reader refused the bytes, naming why) or ``"read"`` (the reader accepted
    them; each parser then returned or refused by name). Raises :class:`ContractViolation` for an
    outcome the contract does not allow; any other exception is let through (a finding as well).
    """
    try:
        inspect_transaction(data, limits)
        tx = read_transaction(data, limits)
    except TransactionRejected as exc:
        check_rejection(exc)
        return "refused"
    tx.finger_images()
    if sum(a.size for a in tx.images.values()) > (limits or default_limits()).max_transaction_pixels:
        raise ContractViolation("decoded pixels beyond the transaction budget")
    for parse in PERSON_PARSERS:
        try:
            person = parse(tx, min_fingers=0).person  # type: ignore[operator]
        except TransactionRejected as exc:
            check_rejection(exc)
            continue
        for name in (person.last_name, person.first_name, person.middle_name):
            if text.bad_character(name, encoding="UTF-8") is not None:
                raise ContractViolation(f"accepted name with a bad character: {name!r}")
    for parse in RESPONSE_PARSERS:
        try:
            parse(tx)  # type: ignore[operator]
        except TransactionRejected as exc:
            check_rejection(exc)
    return "read"


__all__ = ["ContractViolation", "PERSON_PARSERS", "RESPONSE_PARSERS", "check", "check_rejection"]
