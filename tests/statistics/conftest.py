"""Fixtures of the statistics tests."""

from __future__ import annotations

import pytest
from stats_store import build


@pytest.fixture
def known_store(db_url):
    engine, Session = build(db_url)
    yield Session
    engine.dispose()
