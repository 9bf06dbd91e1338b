"""Fixtures of the CLI tests: the workflow scenario's transactions written to files."""

from __future__ import annotations

import pytest

from securecomm.demo import scenario as scenario_mod


@pytest.fixture(scope="session")
def scenario(request, tmp_path_factory):
    cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    folder = cache.mkdir("securecomm-scenario") if cache is not None else tmp_path_factory.mktemp("scenario")
    return scenario_mod.build_cached(folder, extra=5)
