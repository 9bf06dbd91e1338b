"""ANSI/NIST-ITL interchange: transactions in and out, and the records they carry.

Public API: :func:`read_transaction` (parse + validate any ANSI/NIST-ITL 1-2011
traditional-encoding file), the EBTS transaction readers/writers (CAR booking,
CNA criminal enrolment, securecomm IEN immigration enrolment, SRE, ERRT) and
the errors every problem becomes.
"""

from .errors import TransactionError, TransactionRejected
from .reader import NistTransaction, inspect_transaction, read_transaction

__all__ = [
    "TransactionError", "TransactionRejected", "NistTransaction", "read_transaction", "inspect_transaction",
]

from .ebts import (
    ErrorResponse, SubmissionResult, parse_booking, parse_criminal_enrolment, parse_errt,
    parse_immigration_enrolment, parse_sre, write_booking, write_criminal_enrolment, write_errt,
    write_immigration_enrolment, write_sre,
)

__all__ += [
    "ErrorResponse", "SubmissionResult", "parse_booking", "parse_criminal_enrolment", "parse_immigration_enrolment",
    "parse_errt", "parse_sre", "write_booking", "write_criminal_enrolment", "write_errt",
    "write_immigration_enrolment", "write_sre",
]
