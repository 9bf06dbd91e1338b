"""Where the store lives and how to open it: SQLite in the data folder, or PostgreSQL by URL.

One engine factory for both back ends so every caller (CLI, workers, tests)
gets the same connection settings: SQLite in WAL mode with a generous busy
timeout (several worker processes write the same file) and foreign keys on;
PostgreSQL through psycopg 3. Schema changes only ever come from Alembic
(``migrate``), never from ``create_all``, so a deployed database and a test
database are built the same way.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

#: Environment variable naming the database URL; overrides the SQLite default.
URL_ENV = "SECURECOMM_DATABASE_URL"
#: Environment variable naming the data folder that holds the SQLite file.
DATA_ENV = "SECURECOMM_DATA"
#: SQLite busy timeout: a writer waits this long for another process's lock.
SQLITE_BUSY_TIMEOUT_MS = 30_000

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class StoreError(RuntimeError):
    """The store cannot be opened or migrated as asked."""


def default_url(data_dir: Path | None = None) -> str:
    """The database URL to use: ``$SECURECOMM_DATABASE_URL``, else SQLite in the data folder.

    The data folder is ``data_dir``, else ``$SECURECOMM_DATA``, else ``./data``;
    it is created when missing so a first run needs no set-up.
    """
    env = os.environ.get(URL_ENV, "").strip()
    if env:
        return normalise_url(env)
    folder = Path(data_dir) if data_dir is not None else Path(os.environ.get(DATA_ENV, "data"))
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(folder / 'securecomm.db').resolve()}"


def normalise_url(url: str) -> str:
    """Route PostgreSQL URLs to psycopg 3 (``postgresql+psycopg://``); reject unknown back ends."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy.exc.ArgumentError and friends
        raise StoreError(f"not a database URL: {url!r} ({exc})") from exc
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        return parsed.render_as_string(hide_password=False)
    if backend == "postgres":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if backend == "sqlite":
        return parsed.render_as_string(hide_password=False)
    raise StoreError(f"unsupported database {backend!r} in {url!r}: use sqlite:/// or postgresql://")


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    """WAL lets readers run beside one writer; foreign keys are off by default in SQLite."""
    cur = dbapi_conn.cursor()
    try:
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
    finally:
        cur.close()


def make_engine(url: str | None = None, **kwargs) -> Engine:
    """An engine for ``url`` (default: ``default_url()``) with the store's connection settings."""
    url = normalise_url(url) if url else default_url()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database or ""
        if db and db != ":memory:" and not db.startswith("file:"):
            Path(db).parent.mkdir(parents=True, exist_ok=True)
        connect_args = dict(kwargs.pop("connect_args", {}))
        connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def alembic_config(engine: Engine | None = None, connection=None):
    """A programmatic Alembic config pointing at the packaged migrations (no alembic.ini needed)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if engine is not None:
        cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` (default: the newest) with Alembic.

    On SQLite, a migration that changes a constraint copies the table and drops the old one
    (Alembic's batch mode); with foreign keys enforced, dropping a table other rows refer to
    fails, so a populated store could not be upgraded. Foreign keys are switched off for the
    migration (SQLite allows that only outside a transaction), checked with
    ``PRAGMA foreign_key_check`` before the commit, and switched on again.
    """
    from alembic import command

    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            conn.exec_driver_sql("PRAGMA foreign_keys = OFF")
            conn.commit()
        try:
            with conn.begin():
                command.upgrade(alembic_config(engine, conn), revision)
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise StoreError(f"migration to {revision} left rows without their parents: {broken[:5]}")
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys = ON")
                conn.commit()


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at, or None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Session factory: objects stay readable after commit (workers hand them on)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def factory_info(factory: sessionmaker[Session] | Callable[[], Session]) -> dict[str, Any]:
    """What every session ``factory`` makes finds in its ``Session.info`` ({} for a plain callable)."""
    kw = getattr(factory, "kw", None)
    return dict(kw.get("info") or {}) if isinstance(kw, dict) else {}


def set_factory_info(factory: sessionmaker[Session] | Callable[[], Session], key: str, value: Any) -> bool:
    """Register ``value`` under ``key`` in the ``info`` of every session ``factory`` makes from now on (``None``
    removes it): how a process attaches its audit sealer or its token caches to the sessions its work opens.
    False when ``factory`` is not a ``sessionmaker`` (nothing can be registered on a plain callable)."""
    configure, kw = getattr(factory, "configure", None), getattr(factory, "kw", None)
    if configure is None or not isinstance(kw, dict):
        return False
    info = {k: v for k, v in factory_info(factory).items() if k != key}
    if value is not None:
        info[key] = value
    configure(info=info)
    return True


@contextmanager
def session_scope(factory: sessionmaker[Session] | Callable[[], Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error (also the base of ``write_session``)."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def begin_write(session: Session) -> None:
    """Open ``session``'s transaction as a write transaction.

    On SQLite a plain (deferred) transaction that reads first and writes
    later can fail with ``database is locked`` when another process wrote in
    between; ``BEGIN IMMEDIATE`` takes the write lock up front (waiting up to
    the busy timeout). On PostgreSQL row locks do this job and nothing is
    needed. When the engine already issued its own ``BEGIN`` (a driver in
    explicit-transaction mode), every write path here starts with a write
    statement, which takes the lock just as early.
    """
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        return
    dbapi = conn.connection.dbapi_connection
    conn.exec_driver_sql("PRAGMA busy_timeout = 60000")
    if dbapi is not None and not dbapi.in_transaction:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def open_store(url: str | None = None, *, data_dir: Path | None = None,
               upgrade: bool = True) -> tuple[Engine, sessionmaker[Session]]:
    """Engine and session factory for the store, migrated to head unless ``upgrade=False``."""
    engine = make_engine(url or default_url(data_dir))
    if upgrade:
        migrate(engine)
    return engine, make_sessionmaker(engine)
