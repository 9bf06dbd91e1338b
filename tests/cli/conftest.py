"""Fixtures of the CLI tests: the workflow scenario's transactions written to files."""

from __future__ import annotations

import pytest

from securecomm.demo import scenario as scenario_mod


@pytest.fixture(scope="session")
def scenario(request):
    return scenario_mod.build_cached(request.config.cache.mkdir("securecomm-scenario"), extra=5)
