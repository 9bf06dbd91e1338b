"""The fuzzing corpus (tests/corpus: the seeds and the inputs atheris kept for new coverage, merged to a
minimal set) replayed in CI under the harness's contract: every file is read or refused with
``TransactionRejected`` naming record, field and reason, and every parser does the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from securecomm.interchange import (TransactionRejected, parse_booking, parse_criminal_enrolment, parse_errt,
                                    parse_immigration_enrolment, parse_sre, read_transaction)
from securecomm.interchange.reader import inspect_transaction

CORPUS = sorted((Path(__file__).resolve().parents[1] / "corpus").iterdir())


def _named(exc: TransactionRejected) -> None:
    assert exc.errors and all(e.record and e.field and e.reason for e in exc.errors), exc.errors


def test_the_corpus_holds_the_seeds():
    assert {"car-text-only.an2", "sre.an2", "errt.an2"} <= {p.name for p in CORPUS}


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_every_corpus_input_is_read_or_refused_by_name(path):
    data = path.read_bytes()
    try:
        inspect_transaction(data)
        tx = read_transaction(data)
    except TransactionRejected as exc:
        _named(exc)
        return
    tx.finger_images()
    for parse in (parse_booking, parse_criminal_enrolment, parse_immigration_enrolment):
        try:
            parse(tx, min_fingers=0)
        except TransactionRejected as exc:
            _named(exc)
    for parse in (parse_sre, parse_errt):
        try:
            parse(tx)
        except TransactionRejected as exc:
            _named(exc)
