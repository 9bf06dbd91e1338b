"""Errors for transactions: every problem names the record, the field and the reason.

An ERRT must tell the submitting agency exactly what to fix, so the reader never
lets an exception of another type (IndexError, struct.error, UnicodeDecodeError)
escape: everything becomes a :class:`TransactionError` inside a
:class:`TransactionRejected`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DecoderUnavailable", "TransactionError", "TransactionRejected"]


@dataclass(frozen=True)
class TransactionError:
    """One problem in a transaction.

    ``record`` names the record (``"Type-1"``, ``"Type-4 #3"`` = the third record of
    the file), ``field`` the field (``"2.018 NAM"``) or the binary header item
    (``"4.ISR"``), ``reason`` says what is wrong in plain words.
    """

    record: str
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.record}, field {self.field}: {self.reason}"


class TransactionRejected(ValueError):
    """A transaction that cannot be accepted; ``errors`` lists every problem found."""

    def __init__(self, errors: list[TransactionError] | TransactionError, message: str = "") -> None:
        if isinstance(errors, TransactionError):
            errors = [errors]
        self.errors: list[TransactionError] = list(errors)
        if not self.errors:
            raise ValueError("TransactionRejected needs at least one TransactionError")
        head = message or "transaction rejected"
        super().__init__(head + ": " + "; ".join(str(e) for e in self.errors))


class DecoderUnavailable(RuntimeError):
    """The image decoder could not answer (killed from outside, out of memory, timed out).

    Not a verdict on the data: the caller retries later, and never tells the submitter
    that its image is corrupt. Readers let it through instead of rejecting.
    """
