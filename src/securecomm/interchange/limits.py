"""Resource bounds of the reader: transaction size, pixels per image and per transaction.

A hostile sender can make a tiny file expand enormously (a 700-byte JPEG 2000
codestream that declares 9000 x 9000 pixels) or send a huge one. The bounds
below are checked before the work they bound: the size before a transaction is
stored, an image's pixel count from its headers before it is decoded. The
values are data (``data/limits.json``), overridable per deployment through
environment variables, and any caller can pass its own :class:`Limits`.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, fields
from importlib import resources

from .errors import TransactionError, TransactionRejected

__all__ = ["Limits", "default_limits", "check_transaction_size"]


@dataclass(frozen=True)
class Limits:
    """Bounds one read may use (see data/limits.json for how they were sized)."""

    max_transaction_bytes: int
    max_record_pixels: int
    max_transaction_pixels: int


@functools.lru_cache(maxsize=1)
def _data() -> dict:
    """data/limits.json, read once (package data: it does not change while the process runs)."""
    return json.loads(resources.files("securecomm.interchange").joinpath("data/limits.json").read_text("utf-8"))


def default_limits() -> Limits:
    """The configured limits: data/limits.json, each overridable by its environment variable (read at every
    call, so a deployment's setting applies as soon as it is made)."""
    data = _data()
    values: dict[str, int] = {}
    for f in fields(Limits):
        raw = os.environ.get(data["env"][f.name], "").strip()
        try:
            values[f.name] = int(raw) if raw else int(data[f.name])
        except ValueError:
            raise ValueError(f"{data['env'][f.name]}={raw!r} is not a whole number") from None
        if values[f.name] <= 0:
            raise ValueError(f"{f.name} must be positive, got {values[f.name]}")
    return Limits(**values)


def check_transaction_size(size: int, limits: Limits | None = None) -> None:
    """Raise :class:`TransactionRejected` when a transaction of ``size`` bytes exceeds the configured maximum."""
    limit = (limits or default_limits()).max_transaction_bytes
    if size > limit:
        raise TransactionRejected(TransactionError(
            "transaction", "1.001 LEN", f"{size} bytes exceeds the maximum transaction size of {limit} bytes"))
