"""Dump a SQLite store row for row, for before/after checks of changes that must not change what is stored.

    .venv/bin/python benchmarks/dump_store.py /tmp/before/securecomm.db /tmp/before.txt
    .venv/bin/python benchmarks/dump_store.py /tmp/after/securecomm.db /tmp/after.txt && cmp /tmp/before.txt /tmp/after.txt

Every table of the schema in primary-key order, row ids included; left out: timestamp columns (``*_at`` and
every DateTime), lease tokens and the audit chain's row hashes (they differ run to run by design); ISO and
NIST (``YYYYMMDDhhmmssZ``) timestamps inside payloads and JSON are masked. Then every figure of
``statistics.compute`` at nation, state, county and ORI level, whole run and by month, but the booking-to-IAR
times (this machine's latency). Prints the row count of each table. Used for docs/simulation.md, "Throughput".
"""

from __future__ import annotations

import json
import re
import sys

from sqlalchemy import DateTime, create_engine, select
from sqlalchemy.orm import Session

import securecomm.store.detainer_models  # noqa: F401 -- every table of the schema
import securecomm.store.models  # noqa: F401
import securecomm.store.simulation_models  # noqa: F401
import securecomm.store.workflow_models  # noqa: F401
from securecomm.statistics import compute
from securecomm.store.base import Base, UTCDateTime

SKIP = {"lease_token", "row_hash", "prev_hash"}
STAMPS = [re.compile(rb"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?"), re.compile(rb"\d{14}Z")]


def _mask(value):
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value)
        for stamp in STAMPS:
            value = stamp.sub(b"<T>", value)
        return value.decode("latin-1")
    if isinstance(value, str):
        return _mask(value.encode()).encode("latin-1").decode()
    if isinstance(value, (dict, list)):
        return _mask(json.dumps(value, sort_keys=True, default=str))
    return value


def dump(db: str, out: str) -> dict[str, int]:
    engine = create_engine(f"sqlite:///{db}")
    counts = {}
    with engine.connect() as conn, open(out, "w") as f:
        for table in Base.metadata.sorted_tables:
            cols = [c for c in table.columns if not isinstance(c.type, (DateTime, UTCDateTime))
                    and c.name not in SKIP and not c.name.endswith("_at")]
            rows = conn.execute(select(*cols).order_by(*table.primary_key.columns)).all()
            counts[table.name] = len(rows)
            f.write(f"== {table.name} {[c.name for c in cols]}\n")
            for row in rows:
                f.write(json.dumps([_mask(v) for v in row], default=str) + "\n")
    with Session(engine) as s, open(out, "a") as f:
        for level in ("nation", "state", "county", "ori"):
            for period in ("all", "month"):
                for row in compute(s, level=level, period=period).rows:
                    figures = {k: v for k, v in row.figures.items() if not k.startswith("booking_to_iar")}
                    f.write(json.dumps(["stats", level, period, row.jurisdiction, str(row.period), figures],
                                       sort_keys=True, default=str) + "\n")
    engine.dispose()
    return counts


if __name__ == "__main__":
    print(json.dumps(dump(sys.argv[1], sys.argv[2])))
