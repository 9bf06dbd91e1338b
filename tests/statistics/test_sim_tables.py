"""The 0003 simulation migration builds exactly the sim_runs / sim_truth models, on both back ends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from securecomm.store import db
from securecomm.store.base import Base
from securecomm.store.simulation_models import SIMULATION_TABLES


def _tables(diff) -> set[str]:
    out = set()
    for d in diff:
        item = d[0] if isinstance(d, list) else d
        for part in item[1:]:
            table = getattr(part, "table", None)
            name = getattr(table, "name", None) or getattr(part, "name", None) or (part if isinstance(part, str) else None)
            if name in SIMULATION_TABLES:
                out.add(name)
    return out


def test_simulation_tables_match_models(db_url):
    engine = db.make_engine(db_url)
    db.migrate(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert _tables(diff) == set()
    engine.dispose()
