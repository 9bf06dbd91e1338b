"""A migrated store and a session on it, for SQLite and PostgreSQL alike."""

from __future__ import annotations

import pytest

from securecomm.store.db import open_store


@pytest.fixture
def store(db_url):
    engine, factory = open_store(db_url)
    yield factory
    engine.dispose()


@pytest.fixture
def session(store):
    with store() as s:
        yield s
