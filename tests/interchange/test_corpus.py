"""The fuzzing corpus (tests/corpus: the seeds and the inputs atheris kept for new coverage, merged to a
minimal set) replayed in CI under the harness's contract (securecomm.interchange.contract, the one
fuzz/fuzz_reader.py checks): every file is read or refused with ``TransactionRejected`` naming record, field
and reason, every parser does the same, an accepted transaction stays within the pixel budget and an
accepted name holds no control, format or bidi character."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from securecomm.interchange import TransactionError, TransactionRejected, contract
from securecomm.interchange.limits import default_limits

CORPUS = sorted((Path(__file__).resolve().parents[1] / "corpus").iterdir())


def test_the_corpus_holds_the_seeds():
    assert {"car-text-only.an2", "sre.an2", "errt.an2"} <= {p.name for p in CORPUS}


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_every_corpus_input_is_read_or_refused_by_name(path):
    assert contract.check(path.read_bytes()) in ("read", "refused")


def test_the_contract_refuses_what_it_must(monkeypatch):
    """The oracle itself can fail: a refusal that names no field; a reader that accepts more pixels than the
    budget (simulated: the oracle holds it to a budget of 10 pixels the reader does not know of)."""
    with pytest.raises(contract.ContractViolation):
        contract.check_rejection(TransactionRejected([TransactionError("Type-2", "", "no field named")]))
    seed = next(p for p in CORPUS if p.name == "car-type14-one-finger.an2").read_bytes()
    assert contract.check(seed) == "read"
    tiny = dataclasses.replace(default_limits(), max_transaction_pixels=10)
    assert contract.check(seed, limits=tiny) == "refused"  # the reader held to the same budget refuses it
    monkeypatch.setattr(contract, "default_limits", lambda: tiny)
    with pytest.raises(contract.ContractViolation, match="pixel"):
        contract.check(seed)
