"""``securecomm serve`` (the HTTP API under uvicorn), ``securecomm tokens`` (API bearer tokens) and
``securecomm audit verify`` (the audit hash chain). Tokens and verification go through the service
layer as the user at the keyboard, like every other command.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.table import Table

from securecomm.cli.pipeline import DataOpt, DbOpt, _acting, _engine, _fail, _url, console

tokens_app = typer.Typer(help="HTTP API bearer tokens (admin): issue, list, revoke", no_args_is_help=True)


def serve(host: Annotated[str, typer.Option("--host", help="address to listen on")] = "127.0.0.1",
          port: Annotated[int, typer.Option("--port", help="TCP port")] = 8000,
          workers: Annotated[int, typer.Option("--workers", help="uvicorn worker processes")] = 1,
          rate: Annotated[float, typer.Option("--rate", help="requests per second per user (0: no limit)")] = 50.0,
          db: DbOpt = None, data: DataOpt = None) -> None:
    """Serve the HTTP API (OpenAPI at /openapi.json, docs at /docs) on the store."""
    import os

    import uvicorn

    url = _url(db, data)
    _engine(db, data).dispose()  # migrate once, here
    os.environ["SECURECOMM_DATABASE_URL"] = url
    os.environ["SECURECOMM_API_RATE"] = str(rate)
    console.print(f"securecomm API on http://{host}:{port}/ (OpenAPI: /openapi.json); console: "
                  f"http://{host}:{port}/console/", highlight=False)
    if db is None:  # the store of a `make demo`: show its accounts again
        from pathlib import Path

        from securecomm.demo.accounts import ACCOUNTS_FILE, print_accounts, read_accounts

        folder = data or Path(os.environ.get("SECURECOMM_DATA", "data"))
        rows = read_accounts(folder)
        if rows:
            print_accounts(console, rows, folder / ACCOUNTS_FILE, url=f"http://{host}:{port}/console/")
    uvicorn.run("securecomm.api.server:app", host=host, port=port, workers=max(1, workers), log_level="warning",
                server_header=False, proxy_headers=False)


@tokens_app.command("issue")
def tokens_issue(user: Annotated[str, typer.Argument(help="the user the token acts as")],
                 label: Annotated[str, typer.Option("--label", help="what the token is for")] = "",
                 days: Annotated[int, typer.Option("--days", help="lifetime in days")] = 90,
                 db: DbOpt = None, data: DataOpt = None) -> None:
    """Issue a token for USER; it is printed once and stored only as its SHA-256."""
    from securecomm.services import tokens

    with _acting(_engine(db, data), "tokens issue", write=True) as uow:
        plain, info = tokens.issue_token(uow, user, label=label, days=days)
    console.print(f"token {info.id} for {info.user}, expires {info.expires_at:%Y-%m-%d} (shown only now):",
                  highlight=False)
    print(plain)


@tokens_app.command("list")
def tokens_list(user: Annotated[Optional[str], typer.Option("--user", help="one user's tokens")] = None,
                db: DbOpt = None, data: DataOpt = None) -> None:
    """Tokens (ids, users, expiry, revocation; never the tokens themselves)."""
    from securecomm.services import tokens

    with _acting(_engine(db, data), "tokens list") as uow:
        rows = tokens.list_tokens(uow, user=user)
    table = Table("id", "user", "label", "created", "by", "expires", "revoked")
    for t in rows:
        table.add_row(str(t.id), t.user, t.label, f"{t.created_at:%Y-%m-%d %H:%M}", t.created_by,
                      f"{t.expires_at:%Y-%m-%d}" if t.expires_at else "-",
                      f"{t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "")
    console.print(table)


@tokens_app.command("revoke")
def tokens_revoke(token_id: Annotated[int, typer.Argument(help="token id (tokens list)")],
                  reason: Annotated[str, typer.Option("--reason", help="why (audited)")],
                  db: DbOpt = None, data: DataOpt = None) -> None:
    """Revoke a token at once."""
    from securecomm.services import tokens

    with _acting(_engine(db, data), "tokens revoke", write=True) as uow:
        tokens.revoke_token(uow, token_id, reason=reason)
    console.print(f"revoked token {token_id}")


def audit_verify(expect: Annotated[Optional[str], typer.Option("--expect-head", help="SEQ:HASH printed by an "
                                                                                     "earlier verify")] = None,
                 seal: Annotated[bool, typer.Option("--seal/--no-seal", help="seal pending rows first "
                                                    "(--no-seal: check the chain exactly as stored)")] = True,
                 db: DbOpt = None, data: DataOpt = None) -> None:
    """Seal pending rows, then check the audit hash chain: any edited, inserted or deleted sealed row is
    named; exit 3 if broken. Rows still pending are counted (not yet protected)."""
    from securecomm.services import audit as audit_service

    head = None
    if expect:
        seq, _, digest = expect.partition(":")
        if not seq.isdigit() or len(digest) != 64:
            _fail("--expect-head takes SEQ:HASH (as printed by `securecomm audit verify`)")
        head = (int(seq), digest)
    with _acting(_engine(db, data), "audit verify") as uow:
        rep = audit_service.verify(uow, expect_head=head, seal_first=seal)
    for p in rep.problems:
        console.print(f"[red]broken:[/red] {p}", highlight=False)
    console.print(f"{rep.rows} rows on the chain ({rep.sealed_now} sealed just now), {rep.unsealed} not yet "
                  f"sealed; head {rep.head_seq}:{rep.head_hash}", highlight=False, soft_wrap=True)
    if not rep.ok:
        raise typer.Exit(3)
    console.print("the audit chain is intact")


def audit_seal(db: DbOpt = None, data: DataOpt = None) -> None:
    """Put every pending audit row on the hash chain now (after a crash, before a backup or an export)."""
    from securecomm.services import audit as audit_service

    with _acting(_engine(db, data), "audit seal") as uow:
        res = audit_service.seal(uow)
    console.print(f"{res.sealed} rows sealed; head {res.head_seq}:{res.head_hash}; {res.pending} pending",
                  highlight=False, soft_wrap=True)


def register(app: typer.Typer, audit_app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(tokens_app, name="tokens")
    audit_app.command("verify")(audit_verify)
    audit_app.command("seal")(audit_seal)
