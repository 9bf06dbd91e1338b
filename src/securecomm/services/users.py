"""Users: who may act, in which role and scopes; and the principal an entry point acts as.

An entry point never takes a role from its caller. The CLI names the
operating-system user (or ``$SECURECOMM_ACTOR``) and asks
:func:`principal_for`; the HTTP API will map a token to a user the same way.
An unknown or disabled name is refused with :class:`UnknownUser` /
:class:`DisabledUser`. ``securecomm init`` makes the first admin
(:func:`bootstrap_admin`); after that only an admin adds, lists or disables
users, and every change is audited in its own transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from securecomm.domain.clock import SYSTEM_CLOCK, Clock
from securecomm.domain.identifiers import InvalidIdentifier, validate_ori, validate_state
from securecomm.domain.principal import REQUIRED_SCOPE, Principal, Role
from securecomm.services.token_cache import invalidate_on_commit
from securecomm.services.unit_of_work import UnitOfWork
from securecomm.store import audit as audit_store
from securecomm.store.db import begin_write, session_scope
from securecomm.store.models import User

__all__ = ["UserError", "UnknownUser", "DisabledUser", "UserInfo", "principal_for", "add_user", "list_users",
           "disable_user", "bootstrap_admin", "local_actor_name", "ACTOR_ENV", "NAME_MAX"]

NAME_MAX = User.__table__.c.name.type.length
AREA_MAX = User.__table__.c.area.type.length


class UserError(ValueError):
    """A user record is malformed or contradicts what is stored (the message says what)."""


class UnknownUser(PermissionError):
    """No user of that name: the caller may not act at all."""


class DisabledUser(PermissionError):
    """The user exists but was disabled."""


@dataclass(frozen=True)
class UserInfo:
    """A user as services hand it out."""

    name: str
    role: Role
    ori: str | None
    state: str | None
    area: str | None
    active: bool
    created_at: dt.datetime
    created_by: str

    def principal(self) -> Principal:
        return Principal(actor=self.name, role=self.role, ori=self.ori, state=self.state, area=self.area)


def _info(row: User) -> UserInfo:
    at = row.created_at if row.created_at.tzinfo is not None else row.created_at.replace(tzinfo=dt.UTC)
    return UserInfo(row.name, Role.parse(row.role), row.ori, row.state, row.area, bool(row.active), at,
                    row.created_by or "")


def _name(name: object) -> str:
    text = " ".join(str(name or "").split())
    if not text:
        raise UserError("a user needs a name")
    if len(text) > NAME_MAX:
        raise UserError(f"user name {text[:20]!r}... is longer than {NAME_MAX} characters")
    return text


def _user(session: Session, name: str) -> User | None:
    return session.scalar(select(User).where(User.name == name))


# --------------------------------------------------------------------------- resolving the actor

#: Environment variable naming the user a local command acts as (default: the login name).
ACTOR_ENV = "SECURECOMM_ACTOR"


def local_actor_name() -> str:
    """The user a command on this machine acts as: ``$SECURECOMM_ACTOR``, else the login name ("" if none)."""
    import getpass
    import os

    name = os.environ.get(ACTOR_ENV, "").strip()
    if name:
        return name
    try:
        return getpass.getuser()
    except Exception:  # no login name at all (e.g. a container without a passwd entry)
        return ""



def principal_for(session: Session, name: str) -> Principal:
    """The principal of the active user called ``name``; UnknownUser / DisabledUser otherwise."""
    text = " ".join(str(name or "").split())
    row = _user(session, text) if text else None
    if row is None:
        raise UnknownUser(f"{text or '(no name)'!r} is not a securecomm user; an admin adds it with "
                          f"`securecomm users add {text or 'NAME'} --role ROLE`")
    if not row.active:
        raise DisabledUser(f"user {text!r} is disabled")
    return _info(row).principal()


# --------------------------------------------------------------------------- admin operations


def _scopes(role: Role, ori: str | None, state: str | None, area: str | None) -> dict[str, str | None]:
    try:
        out = {"ori": validate_ori(ori, "--ori") if ori else None,
               "state": validate_state(state, "--state") if state else None,
               "area": " ".join(area.split()) if area and area.strip() else None}
    except InvalidIdentifier as exc:
        raise UserError(str(exc)) from None
    if out["area"] is not None and len(out["area"]) > AREA_MAX:
        raise UserError(f"area {out['area'][:20]!r}... is longer than {AREA_MAX} characters")
    need = REQUIRED_SCOPE.get(role)
    if need is not None and out[need] is None:
        raise UserError(f"a {role.value} user needs its {need} scope (--{need})")
    return out


def add_user(uow: UnitOfWork, name: str, role: Role | str, *, ori: str | None = None, state: str | None = None,
             area: str | None = None) -> UserInfo:
    """Add a user with a role from the closed set and the scopes it needs (admin only; audited)."""
    uow.require("users.add")
    name = _name(name)
    try:
        role = Role.parse(role)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    scopes = _scopes(role, ori, state, area)
    if _user(uow.session, name) is not None:
        raise UserError(f"user {name!r} already exists")
    row = User(name=name, role=role.value, active=True, created_at=uow.now(), created_by=uow.principal.actor,
               **scopes)
    uow.session.add(row)
    uow.session.flush()
    detail = f"role {role.value}" + "".join(f", {k} {v}" for k, v in scopes.items() if v)
    uow.audit("user_add", "user", name, detail=detail)
    return _info(row)


def list_users(uow: UnitOfWork, *, include_disabled: bool = True) -> list[UserInfo]:
    """Every user, by name (admin only; the listing is audited)."""
    uow.require("users.list")
    q = select(User).order_by(User.name)
    if not include_disabled:
        q = q.where(User.active.is_(True))
    rows = [_info(r) for r in uow.session.scalars(q)]
    uow.audit("read", "users", "all", detail=f"{len(rows)} users listed")
    return rows


def disable_user(uow: UnitOfWork, name: str, *, reason: str) -> UserInfo:
    """Disable a user (admin only, with a reason; audited). An admin may not disable itself."""
    uow.require("users.disable")
    name = _name(name)
    if not (reason or "").strip():
        raise UserError("disabling a user needs a reason")
    row = _user(uow.session, name)
    if row is None:
        raise UserError(f"no user {name!r}")
    if name == uow.principal.actor:
        raise UserError("an admin may not disable itself (ask another admin)")
    if not row.active:
        raise UserError(f"user {name!r} is already disabled")
    row.active = False
    uow.session.flush()
    invalidate_on_commit(uow)  # its tokens stop at once in this process once this commits
    uow.audit("user_disable", "user", name, detail=reason.strip())
    return _info(row)


def bootstrap_admin(sessions: Callable[[], Session], name: str, *, clock: Clock = SYSTEM_CLOCK) -> UserInfo | None:
    """Make ``name`` the first admin of an empty users table; None when users already exist.

    The one operation without a principal: it only ever acts on a store that has
    no users at all, and it is audited like any other change.
    """
    name = _name(name)
    with session_scope(sessions) as s:
        begin_write(s)
        if s.scalar(select(func.count(User.id))):
            return None
        now = clock.now()
        row = User(name=name, role=Role.ADMIN.value, active=True, created_at=now, created_by="securecomm init")
        s.add(row)
        s.flush()
        audit_store.record(s, actor=name, role=Role.ADMIN.value, action="user_add", object_type="user",
                           object_id=name, detail="first admin, made by securecomm init", purpose="bootstrap", at=now)
        return _info(row)
