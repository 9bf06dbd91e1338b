"""Fixtures of the workflow tests: the small scenario, built once (cached on disk), and a store set up from it."""

from __future__ import annotations

import pytest

from securecomm.demo import scenario as scenario_mod
from securecomm.store.db import make_engine, migrate

#: Extra re-arrest bookings the kill test adds to the scenario's five.
EXTRA = 5


@pytest.fixture(scope="session")
def scenario(request, tmp_path_factory):
    """The scenario's transactions (synthetic fingerprints, real ANSI/NIST-ITL), with extra bookings."""
    cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    folder = cache.mkdir("securecomm-scenario") if cache is not None else tmp_path_factory.mktemp("scenario")
    return scenario_mod.build_cached(folder, extra=EXTRA)


@pytest.fixture(scope="session")
def prepared(scenario):
    """The enrolments read and extracted once for the session (the writes happen per store)."""
    return scenario_mod.prepare_enrolments(scenario)


@pytest.fixture
def store(db_url, scenario, prepared):
    """A migrated store (SQLite or PostgreSQL) with agencies, activations and the enrolments loaded."""
    engine = make_engine(db_url)
    migrate(engine)
    scenario_mod.setup_store(engine, scenario, prepared)
    yield engine
    engine.dispose()
