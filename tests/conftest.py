"""Shared test fixtures: data locations and the PostgreSQL server.

Tests marked ``postgres`` use ``SECURECOMM_TEST_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``). A missing server is an error,
never a skip: CI must run them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SECURECOMM_SHARED", ROOT.parent / "shared"))
FVC2002 = SHARED / "data" / "fvc2002"
ANSI_NIST = SHARED / "data" / "ansi-nist"
EXAMPLES = ROOT / "examples"
POSTGRES_URL = os.environ.get("SECURECOMM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")

# The workflow and demo tests exercise queues, crashes and responses, not extraction accuracy: they run
# the classical extractor (the learned network would cost ~0.4 CPU-s per finger in every one of them).
# tests/engine/test_learned.py covers the learned and fused extractors, and
# tests/workflow/test_pipeline.py::test_a_fused_deployment_names_its_extractor_in_the_evidence runs the
# pipeline with the default (fused) extractor.
os.environ.setdefault("SECURECOMM_EXTRACTOR", "classical")


@pytest.fixture(scope="session")
def fvc2002() -> Path:
    assert FVC2002.is_dir(), f"FVC2002 data missing at {FVC2002}"
    return FVC2002


@pytest.fixture(scope="session")
def ansi_nist() -> Path:
    assert ANSI_NIST.is_dir(), f"ANSI/NIST-ITL samples missing at {ANSI_NIST}"
    return ANSI_NIST


@pytest.fixture(scope="session")
def examples() -> Path:
    return EXAMPLES


def _postgres_admin_url() -> str:
    return POSTGRES_URL


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path) -> str:
    """A fresh, empty database URL: SQLite in tmp_path, or a new PostgreSQL database.

    The PostgreSQL variant creates a uniquely named database on the server at
    ``SECURECOMM_TEST_POSTGRES_URL`` and drops it afterwards. An unreachable
    server fails the test: these tests must run in CI.
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'securecomm.db'}"
        return
    import uuid

    import psycopg
    from sqlalchemy.engine import make_url

    admin = make_url(_postgres_admin_url())
    name = f"sc_test_{uuid.uuid4().hex[:12]}"
    conninfo = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        conn = psycopg.connect(conninfo, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:  # pragma: no cover - CI must have the server
        pytest.fail(f"PostgreSQL server unreachable at {admin!r}: {exc}")
    with conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield admin.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
