"""Alembic environment for securecomm: programmatic, works from an installed package.

``securecomm.store.db.migrate`` passes an open connection through
``config.attributes["connection"]``; without one, the URL comes from the
config's ``sqlalchemy.url`` or ``securecomm.store.db.default_url()``.
The target metadata is the one ``Base`` every securecomm table uses.
"""

from __future__ import annotations

import importlib

from alembic import context
from sqlalchemy import Connection

import securecomm.store.models  # noqa: F401  (registers the domain tables)
from securecomm.store.base import Base

for _module in ("securecomm.store.workflow_models", "securecomm.store.simulation_models",
                "securecomm.store.detainer_models"):
    try:  # the workflow and simulation tables, when those modules exist
        importlib.import_module(_module)
    except ModuleNotFoundError as exc:  # pragma: no cover - depends on the checkout
        if exc.name != _module:
            raise

config = context.config
target_metadata = Base.metadata


def _configure_and_run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place: batch mode copies the table.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    """Emit SQL to stdout (``alembic upgrade --sql``) without a database."""
    from securecomm.store.db import default_url

    context.configure(url=config.get_main_option("sqlalchemy.url") or default_url(),
                      target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
        return
    from securecomm.store.db import default_url, make_engine

    engine = make_engine(config.get_main_option("sqlalchemy.url") or default_url())
    try:
        with engine.begin() as conn:
            _configure_and_run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
