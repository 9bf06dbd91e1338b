"""Bearer tokens of the HTTP API: issued to a user by an admin, stored hashed, revocable.

A token is 32 random bytes (``sc_`` + URL-safe base64); only its SHA-256 is
stored, so the plain token is shown once, at issue. :func:`authenticate` turns a
presented token into the principal of its user -- role and scopes read from the
``users`` row at that moment, never from the request -- or refuses it
(:class:`InvalidToken`: unknown, revoked, expired, or its user disabled).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from securecomm.domain.clock import SYSTEM_CLOCK, Clock
from securecomm.domain.principal import Principal, Role
from securecomm.services import sealing
from securecomm.services.token_cache import TokenCache, invalidate_on_commit
from securecomm.services.unit_of_work import NotFound, UnitOfWork
from securecomm.services.users import UserError
from securecomm.store import audit as audit_store
from securecomm.store.db import session_scope
from securecomm.store.models import ApiToken, User

__all__ = ["InvalidToken", "TokenCache", "TokenInfo", "issue_token", "list_tokens", "revoke_token", "authenticate",
           "audit_refusal", "PREFIX"]

PREFIX = "sc_"
#: Longest lifetime a token may be issued with.
MAX_DAYS = 366


class InvalidToken(PermissionError):
    """The presented token does not authenticate anyone (the message says why, without secrets)."""


@dataclass(frozen=True)
class TokenInfo:
    id: int
    user: str
    label: str
    created_at: dt.datetime
    created_by: str
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _info(row: ApiToken, user: str) -> TokenInfo:
    return TokenInfo(row.id, user, row.label, row.created_at, row.created_by, row.expires_at, row.revoked_at)


def issue_token(uow: UnitOfWork, user: str, *, label: str = "", days: int = 90) -> tuple[str, TokenInfo]:
    """A new token acting as ``user`` for ``days`` days (admin only; audited). Returns (plain token, info)."""
    uow.require("tokens.issue")
    name = " ".join(str(user or "").split())
    row = uow.session.scalar(select(User).where(User.name == name)) if name else None
    if row is None:
        raise UserError(f"no user {name or '(no name)'!r}")
    if not row.active:
        raise UserError(f"user {name!r} is disabled")
    if Role.parse(row.role) == Role.SYSTEM:
        raise UserError("the pipeline's system identity gets no API token")
    if not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise UserError(f"a token lives 1..{MAX_DAYS} days, not {days!r}")
    label = " ".join(str(label or "").split())[:100]
    plain = PREFIX + secrets.token_urlsafe(32)
    now = uow.now()
    tok = ApiToken(user_id=row.id, token_hash=digest(plain), label=label, created_at=now,
                   created_by=uow.principal.actor, expires_at=now + dt.timedelta(days=days))
    uow.session.add(tok)
    uow.session.flush()
    uow.audit("token_issue", "api_token", tok.id, detail=f"for {name}, {days} days" + (f", {label}" if label else ""))
    return plain, _info(tok, name)


def list_tokens(uow: UnitOfWork, *, user: str | None = None) -> list[TokenInfo]:
    """Tokens (of one user), newest first; never the tokens themselves (admin only; audited)."""
    uow.require("tokens.list")
    q = select(ApiToken, User.name).join(User, User.id == ApiToken.user_id).order_by(ApiToken.id.desc())
    if user:
        q = q.where(User.name == user)
    rows = [_info(t, n) for t, n in uow.session.execute(q).all()]
    uow.audit("read", "api_tokens", user or "all", detail=f"{len(rows)} tokens listed")
    return rows


def revoke_token(uow: UnitOfWork, token_id: int, *, reason: str) -> TokenInfo:
    """Revoke a token at once (admin only, with a reason; audited)."""
    uow.require("tokens.revoke")
    if not (reason or "").strip():
        raise UserError("revoking a token needs a reason")
    found = uow.session.execute(select(ApiToken, User.name).join(User, User.id == ApiToken.user_id)
                                .where(ApiToken.id == token_id)).one_or_none()
    if found is None:
        raise NotFound(f"no API token {token_id}")
    tok, name = found
    if tok.revoked_at is not None:
        raise UserError(f"token {token_id} is already revoked")
    tok.revoked_at, tok.revoked_by = uow.now(), uow.principal.actor
    uow.session.flush()
    invalidate_on_commit(uow)  # this process's token caches forget it once the revocation commits
    uow.audit("token_revoke", "api_token", tok.id, detail=f"of {name}: {reason.strip()}")
    return _info(tok, name)


def authenticate(sessions: Callable[[], Session], token: str, *, clock: Clock = SYSTEM_CLOCK,
                 cache: TokenCache | None = None) -> Principal:
    """The principal a presented token acts as; InvalidToken when it does not authenticate.

    With ``cache``, a token seen in the last ``cache.ttl`` seconds is not looked up again (see
    :class:`TokenCache` for what that means for revocation).
    """
    if not isinstance(token, str) or not token.startswith(PREFIX) or not 20 <= len(token) <= 200:
        raise InvalidToken("the bearer token is malformed")
    key = digest(token)
    hit = cache.get(key) if cache is not None else None
    if hit is not None:
        who, expires_at = hit
        if expires_at is not None and expires_at <= clock.now():
            raise InvalidToken("the bearer token has expired")
        return who
    generation = cache.generation if cache is not None else None  # before the read (see TokenCache.put)
    with sessions() as s:
        found = s.execute(select(ApiToken, User).join(User, User.id == ApiToken.user_id)
                          .where(ApiToken.token_hash == key)).one_or_none()
    if found is None:
        raise InvalidToken("the bearer token is not known")
    tok, user = found
    if tok.revoked_at is not None:
        raise InvalidToken("the bearer token was revoked")
    if tok.expires_at is not None and tok.expires_at <= clock.now():
        raise InvalidToken("the bearer token has expired")
    if not user.active:
        raise InvalidToken("the token's user is disabled")
    who = Principal(actor=user.name, role=Role.parse(user.role), ori=user.ori, state=user.state, area=user.area)
    if cache is not None:
        cache.put(key, who, tok.expires_at, generation=generation)
    return who


def audit_refusal(sessions: Callable[[], Session], what: str, why: str, *, clock: Clock = SYSTEM_CLOCK) -> None:
    """An audit row for a request refused before anyone was authenticated (``what``: method and path)."""
    with session_scope(sessions) as s:
        audit_store.record(s, actor="(unauthenticated)", role="none", action="refused", object_type="http",
                           object_id=what[:64], detail=why[:500], at=clock.now())
    sealing.after_commit(sessions, s.info)
