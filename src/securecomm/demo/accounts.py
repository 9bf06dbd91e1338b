"""Demo accounts: after ``make demo``, one user and one API/console token per role (issue 11).

The demo's store is what ``securecomm serve`` opens by default; these accounts let a person sign in to
the console as each party at once. Scopes are taken from the demo's own data: the agency and jail with the
most bookings (the jail: the most detainers, when there are any), that agency's state bureau, the field
office the demo's IARs go to. Tokens live 30 days; they are printed once and written to
``<data>/demo/accounts.txt`` (mode 0600, for ``securecomm serve`` to show again) -- demo credentials for a
synthetic store, never for a real one.
"""

from __future__ import annotations

import os
from pathlib import Path

from rich.console import Console
from sqlalchemy import func, select

from securecomm.domain.principal import Principal, Role
from securecomm.services import tokens, users
from securecomm.services.unit_of_work import UnitOfWork
from securecomm.store.detainer_models import DetainerRow
from securecomm.store.models import Agency
from securecomm.store.workflow_models import Transaction

__all__ = ["issue_accounts", "ACCOUNTS_FILE", "read_accounts"]

ACCOUNTS_FILE = Path("demo") / "accounts.txt"
DAYS = 30


def _busiest(session, column, model) -> str | None:
    """The loaded agency with the most rows of ``model`` (enrolment senders such as IDENT are not agencies)."""
    row = session.execute(select(column, func.count()).select_from(model).where(column.in_(select(Agency.ori)))
                          .group_by(column).order_by(func.count().desc(), column).limit(1)).first()
    return row[0] if row else None


def issue_accounts(sessions, admin: Principal, data_dir: Path, area: str, console: Console) -> list[tuple[str, ...]]:
    """Create the demo's per-role users (re-using those the demo made) and one token each; print them."""
    with sessions() as s:
        ori = _busiest(s, Transaction.ori, Transaction) or ""
        jail = _busiest(s, DetainerRow.ori, DetainerRow) or ori
        state = s.scalar(select(Agency.state).where(Agency.ori == ori)) or (ori[:2] if ori else "")
    wanted: list[tuple[str, Role, dict[str, str]]] = [
        (admin.actor, Role.ADMIN, {}),
        ("demo-agency", Role.AGENCY, {"ori": ori}), ("demo-sib", Role.SIB, {"state": state}),
        ("demo-examiner", Role.EXAMINER, {}), ("demo-analyst", Role.LESC_ANALYST, {}),
        ("demo-field-officer", Role.FIELD_OFFICER, {"area": area}),
        ("demo-supervisor", Role.FIELD_SUPERVISOR, {"area": area}),
        ("demo-jail", Role.JAIL, {"ori": jail}), ("demo-oversight", Role.OVERSIGHT, {}),
        ("demo-public", Role.PUBLIC, {}),
    ]
    rows: list[tuple[str, ...]] = []
    with UnitOfWork(sessions, admin, purpose="demo accounts", write=True) as uow:
        known = {u.name for u in users.list_users(uow)}
        for name, role, scopes in wanted:
            if role in (Role.AGENCY, Role.JAIL) and not scopes.get("ori"):
                continue  # no bookings in this demo: no agency to act for
            if name not in known:
                users.add_user(uow, name, role, **scopes)
            plain, _ = tokens.issue_token(uow, name, label="demo", days=DAYS)
            rows.append((role.value, name, ", ".join(f"{k} {v}" for k, v in scopes.items()), plain))
    path = Path(data_dir) / ACCOUNTS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("# securecomm demo accounts (synthetic store; tokens valid %d days)\n" % DAYS)
        fh.write("# role\tuser\tscope\ttoken\n")
        for r in rows:
            fh.write("\t".join(r) + "\n")
    print_accounts(console, rows, path)
    return rows


def read_accounts(data_dir: Path) -> list[tuple[str, ...]]:
    """The accounts a demo left in ``data_dir`` (none: [])."""
    path = Path(data_dir) / ACCOUNTS_FILE
    if not path.is_file():
        return []
    return [tuple(line.rstrip("\n").split("\t")) for line in path.read_text("utf-8").splitlines()
            if line and not line.startswith("#") and line.count("\t") == 3]


def print_accounts(console: Console, rows: list[tuple[str, ...]], path: Path,
                   url: str = "http://127.0.0.1:8000/console/") -> None:
    """One line per account, never wrapped or cut (a token is only useful whole)."""
    console.print(f"[bold]Demo accounts[/bold]: run `securecomm serve`, open {url} and paste a token "
                  "(or send it as `Authorization: Bearer <token>` to /api/v1):", highlight=False, soft_wrap=True)
    width = [max(len(r[i]) for r in rows) for i in range(3)] if rows else [0, 0, 0]
    for r in rows:
        console.print("  " + "  ".join(r[i].ljust(width[i]) for i in range(3)) + "  " + r[3], highlight=False,
                      soft_wrap=True, markup=False)
    console.print(f"(also in {path}, readable by you only)", highlight=False, soft_wrap=True)
