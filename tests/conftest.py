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
