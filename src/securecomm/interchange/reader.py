"""Read an ANSI/NIST-ITL transaction: tokenize, validate, decode images.

``read_transaction`` is the one entry point for incoming bytes. Whatever the
input, it returns a :class:`NistTransaction` or raises :class:`TransactionRejected`
(a ValueError) whose errors name record, field and reason; any other exception
escaping is a bug, and the fuzz tests look for exactly that.
"""

from __future__ import annotations

import datetime as dt
import warnings
from dataclasses import dataclass, field

import numpy as np

from .errors import DecoderUnavailable, TransactionError, TransactionRejected
from .images import GCA_CODES
from .limits import Limits, check_transaction_size, default_limits
from securecomm.domain.records import FingerImage
from .tokenizer import Record, tokenize
from .validate import parse_date, validate

__all__ = ["NistTransaction", "Inspection", "inspect_transaction", "read_transaction"]


@dataclass
class Inspection:
    """Everything known about a file, valid or not (what ``securecomm nist inspect`` shows)."""

    size: int
    records: list[Record]
    errors: list[TransactionError]
    warnings: list[TransactionError]
    images: dict[int, np.ndarray] = field(default_factory=dict)  # record position -> pixels

    @property
    def valid(self) -> bool:
        return not self.errors


def inspect_transaction(data: bytes, limits: Limits | None = None, *, crosscheck: bool = True) -> Inspection:
    """Tokenize and validate without raising on rule violations (only on unreadable Type-1).

    ``limits`` bounds the size and the decoded pixels (the configured :func:`default_limits` when None).
    ``crosscheck``: a valid file is parsed by ``nistitl`` too, a disagreement becoming a warning finding
    (never an error). Off only for bytes ``nistitl`` itself has just written (the writers' read-back,
    which keeps no findings): the verdict is the same either way.
    """
    limits = limits or default_limits()
    if isinstance(data, (bytes, bytearray, memoryview)):
        check_transaction_size(len(data), limits)
    try:
        records, errors = tokenize(data)
        checker = validate(records, limits)
    except (TransactionRejected, DecoderUnavailable, MemoryError):
        raise  # a rejection, or the machine's trouble (retried later), never the data's verdict
    except Exception as exc:  # noqa: BLE001 - a reader bug must still surface as a rejection
        raise TransactionRejected(TransactionError("transaction", "-", f"unreadable ({type(exc).__name__}: {exc})")) from exc
    all_errors = errors + [e for e in checker.errors if e not in errors]
    findings = list(checker.warnings)
    if not all_errors and crosscheck:
        findings += _nistitl_crosscheck(bytes(data))
    return Inspection(len(data), records, all_errors, findings, checker.images)


def _nistitl_crosscheck(data: bytes) -> list[TransactionError]:
    """Parse with nistitl too; a disagreement is worth a warning, not a rejection."""
    try:
        import nistitl

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nistitl.Message().parse(data)
    except Exception as exc:  # noqa: BLE001 - nistitl raises many types
        return [TransactionError("transaction", "-", f"nistitl could not parse it ({type(exc).__name__}: {exc})")]
    return []


class NistTransaction:
    """A valid transaction: its Type-1 header, records, decoded images and non-fatal findings."""

    def __init__(self, inspection: Inspection) -> None:
        self._ins = inspection
        self.records: list[Record] = inspection.records
        self.findings: list[TransactionError] = inspection.warnings
        t1 = self.records[0]
        self.type1 = t1
        self.version: str = t1.value(2)
        self.tot: str = t1.value(4)
        self.date: dt.date = parse_date(t1.value(5)) or dt.date.min
        self.priority: str = t1.value(6)
        self.dai: str = t1.value(7)
        self.ori: str = t1.value(8)
        self.tcn: str = t1.value(9)
        self.tcr: str = t1.value(10)

    @property
    def images(self) -> dict[int, np.ndarray]:
        return self._ins.images

    def records_of(self, rtype: int) -> list[Record]:
        return [r for r in self.records if r.rtype == rtype]

    def type2(self) -> Record | None:
        """The first Type-2 record (EBTS puts the descriptive text in exactly one)."""
        recs = self.records_of(2)
        return recs[0] if recs else None

    def _ppi_type4(self, rec: Record) -> float:
        """ISR 0: the image is at the minimum scanning resolution, 19.69 ppmm (500 ppi);
        ISR 1: at the native resolution given in 1.012 NTR (ppmm)."""
        if rec.header.get("ISR") != 1:
            return 500.0
        try:
            ppmm = float(self.type1.value(12))
        except ValueError:
            return 500.0
        return round(ppmm * 25.4, 1) if ppmm > 0 else 500.0

    @staticmethod
    def _ppi_tagged(rec: Record) -> float:
        slc, hps = rec.value(8), rec.value(9)
        try:
            v = float(hps)
        except ValueError:
            return 500.0
        if slc == "1":
            return v
        if slc == "2":
            return round(v * 2.54, 1)
        return 500.0  # SLC 0: only the aspect ratio is known; assume the nominal 500 ppi

    def finger_images(self) -> list[FingerImage]:
        """Every exemplar finger image (Type-4 and Type-14), decoded, in file order."""
        out: list[FingerImage] = []
        for rec in self.records:
            if rec.rtype == 4 and not rec.tagged and rec.position in self.images:
                fgp = rec.header["FGP"][0]  # type: ignore[index]
                out.append(FingerImage(position=int(fgp), pixels=self.images[rec.position],
                                       ppi=self._ppi_type4(rec), impression=int(rec.header["IMP"]),  # type: ignore[call-overload]
                                       compression=GCA_CODES.get(int(rec.header["GCA"]), "?"),  # type: ignore[call-overload]
                                       record=rec.label))
            elif rec.rtype == 14 and rec.tagged:
                fgp = int(rec.value(13) or 0)
                if rec.position in self.images:
                    out.append(FingerImage(position=fgp, pixels=self.images[rec.position],
                                           ppi=self._ppi_tagged(rec), impression=int(rec.value(3) or 0),
                                           compression=rec.value(11).upper() or "NONE", record=rec.label))
                elif 18 in rec.fields and 999 not in rec.fields:
                    out.append(FingerImage(position=fgp, pixels=np.zeros((0, 0), np.uint8), ppi=0.0,
                                           impression=int(rec.value(3) or 0), record=rec.label, amputated=True))
        return out

    def __repr__(self) -> str:
        return f"NistTransaction(tot={self.tot!r}, tcn={self.tcn!r}, ori={self.ori!r}, records={len(self.records)})"


def read_transaction(data: bytes, limits: Limits | None = None, *, crosscheck: bool = True) -> NistTransaction:
    """Parse and validate ``data``; raise :class:`TransactionRejected` naming every problem
    (``crosscheck``: as :func:`inspect_transaction`'s)."""
    ins = inspect_transaction(data, limits, crosscheck=crosscheck)
    if ins.errors:
        raise TransactionRejected(ins.errors)
    return NistTransaction(ins)
