"""Revoking a token or disabling a user acts at once in the process that did it, whoever called the service.

The token cache of a server process is registered on its session factory; ``tokens.revoke_token`` and
``users.disable_user`` invalidate it when their unit of work commits. These tests call the service functions
directly (as a future entry point would), never the API's own revoke / disable endpoints, and check that the
very next request with the token is refused by the API and the console of the same process.
"""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from securecomm.api import create_app
from securecomm.domain.clock import FixedClock
from securecomm.services import UnitOfWork, tokens, users
from securecomm.store.models import ApiToken, User

from tests.api.test_api import bearer, build


@pytest.fixture
def store(tmp_path):
    engine, sessions, toks = build(f"sqlite:///{tmp_path / 'inval.db'}", tmp_path)
    yield sessions, toks
    engine.dispose()


def token_id(sessions, name: str) -> int:
    with sessions() as s:
        return s.scalar(select(ApiToken.id).join(User, User.id == ApiToken.user_id).where(User.name == name))


def as_root(sessions) -> UnitOfWork:
    with sessions() as s:
        root = users.principal_for(s, "root")
    return UnitOfWork(sessions, root, write=True)


def test_a_token_revoked_through_the_service_is_refused_by_the_next_api_request(store):
    sessions, toks = store
    app = create_app(sessions=sessions, token_ttl=3600)  # a long TTL: only the invalidation can explain a 401
    client = TestClient(app, raise_server_exceptions=False)
    me = bearer(toks["agency_a"])
    assert client.get("/api/v1/me", headers=me).status_code == 200
    assert client.get("/api/v1/me", headers=me).status_code == 200 and app.state.token_cache.hits >= 1  # cached
    with as_root(sessions) as uow:
        tokens.revoke_token(uow, token_id(sessions, "agency_a"), reason="left the agency")
    r = client.get("/api/v1/me", headers=me)
    assert r.status_code == 401 and "revoked" in r.text
    assert client.get("/api/v1/me", headers=bearer(toks["agency_b"])).status_code == 200  # others still work


def test_a_user_disabled_through_the_service_is_refused_by_the_next_api_and_console_request(store):
    sessions, toks = store
    app = create_app(sessions=sessions, token_ttl=3600)
    client = TestClient(app, raise_server_exceptions=False)
    console = TestClient(app, raise_server_exceptions=False)
    assert console.post("/console/login", data={"token": toks["examiner"]}, follow_redirects=False).status_code == 303
    assert console.get("/console/review").status_code == 200
    assert client.get("/api/v1/review", headers=bearer(toks["examiner"])).status_code == 200
    with as_root(sessions) as uow:
        users.disable_user(uow, "examiner", reason="moved on")
    r = client.get("/api/v1/review", headers=bearer(toks["examiner"]))
    assert r.status_code == 401 and "disabled" in r.text
    r = console.get("/console/review", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/login?expired=1"


def test_every_app_on_the_factory_is_invalidated_and_a_rolled_back_revocation_invalidates_nothing(store):
    sessions, toks = store
    first, second = (create_app(sessions=sessions, token_ttl=3600, console=False) for _ in range(2))
    clients = [TestClient(a, raise_server_exceptions=False) for a in (first, second)]
    me = bearer(toks["sib"])
    for c in clients:
        assert c.get("/api/v1/me", headers=me).status_code == 200
    with pytest.raises(RuntimeError), as_root(sessions) as uow:  # the work fails after the revocation: rolled back
        tokens.revoke_token(uow, token_id(sessions, "sib"), reason="mistake")
        raise RuntimeError("later step failed")
    hits = [a.state.token_cache.hits for a in (first, second)]
    for c in clients:
        assert c.get("/api/v1/me", headers=me).status_code == 200  # still valid, still cached
    assert [a.state.token_cache.hits for a in (first, second)] == [h + 1 for h in hits]
    with as_root(sessions) as uow:
        tokens.revoke_token(uow, token_id(sessions, "sib"), reason="left")
    for c in clients:
        assert c.get("/api/v1/me", headers=me).status_code == 401


def test_a_lookup_that_raced_a_revocation_is_not_cached(store):
    """A principal read before a revocation committed must not be remembered after the cache was cleared."""
    sessions, toks = store
    cache = tokens.TokenCache.for_sessions(sessions, 3600)
    key = tokens.digest(toks["agency_b"])
    generation = cache.generation  # a lookup starts: the row it reads is still valid ...
    with as_root(sessions) as uow:  # ... a revocation commits and clears the cache meanwhile ...
        tokens.revoke_token(uow, token_id(sessions, "agency_b"), reason="left")
    who = users.principal_for(sessions(), "agency_b")
    cache.put(key, who, None, generation=generation)  # ... and the lookup's stale principal is dropped
    assert cache.get(key) is None
    with pytest.raises(tokens.InvalidToken, match="revoked"):
        tokens.authenticate(sessions, toks["agency_b"], cache=cache)


def test_a_factory_that_cannot_carry_the_cache_gets_no_cache(store):
    """Without a registration nothing would invalidate it, so it caches nothing (revocations act at once)."""
    sessions, toks = store
    cache = tokens.TokenCache.for_sessions(lambda: sessions(), 3600)
    assert cache.ttl == 0
    clock = FixedClock(dt.datetime.now(dt.UTC))
    assert tokens.authenticate(sessions, toks["oversight"], clock=clock, cache=cache).actor == "oversight"
    assert cache.get(tokens.digest(toks["oversight"])) is None
