"""The web console: the same parties, the same services, as server-rendered pages (Jinja2, no script).

A person signs in by pasting the API token an admin issued them; the console keeps it in an
``HttpOnly``, ``SameSite=Strict`` cookie and authenticates every page with it exactly like the API
(:func:`securecomm.services.tokens.authenticate`). Every form carries a CSRF token derived from the
session's token (an attacker's page knows neither), checked on every POST. Pages are plain HTML forms
and tables: they work with a keyboard and without JavaScript.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from securecomm.domain.principal import Principal
from securecomm.services import NotFound, PermissionDenied, UnitOfWork
from securecomm.services import audit as audit_service
from securecomm.services import bookings, review, statistics, tokens
from securecomm.services.permissions import allowed

COOKIE = "sc_session"
PREFIX = "/console"
TEMPLATES = Path(__file__).with_name("templates")
#: Pages of the console: (path, title, operation that shows it).
PAGES = (("/bookings", "Bookings", "booking.list"), ("/review", "Review queue", "review.list"),
         ("/iars", "IARs", "iar.list"), ("/statistics", "Statistics", "statistics.read"),
         ("/audit", "Audit", "audit.read"))
FORM_MAX = 64 * 1024

_env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]))


def csrf_for(token: str) -> str:
    return hashlib.sha256(b"securecomm-csrf:" + token.encode("utf-8")).hexdigest()[:32]


class _Redirect(Exception):
    def __init__(self, to: str) -> None:
        self.to = to


def mount(app: FastAPI) -> None:
    sessions, clock = app.state.sessions, app.state.clock

    def render(request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        p: Principal | None = ctx.get("me")
        pages = [(PREFIX + path, title) for path, title, op in PAGES if p is not None and allowed(p.role, op)]
        html = _env.get_template(name).render(pages=pages, prefix=PREFIX, path=request.url.path, **ctx)
        return HTMLResponse(html, status_code=status)

    def session(request: Request) -> tuple[Principal, str]:
        token = request.cookies.get(COOKIE, "")
        if not token:
            raise _Redirect(f"{PREFIX}/login")
        try:
            return tokens.authenticate(sessions, token, clock=clock), token
        except tokens.InvalidToken as exc:
            tokens.audit_refusal(sessions, f"{request.method} {request.url.path}", str(exc), clock=clock)
            raise _Redirect(f"{PREFIX}/login?expired=1") from None

    async def form(request: Request, token: str | None) -> dict[str, str]:
        body = await request.body()
        if len(body) > FORM_MAX:
            raise ValueError("the form is too large")
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
            raise ValueError("forms are sent as application/x-www-form-urlencoded")
        fields = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
        if token is not None and not hmac.compare_digest(fields.get("csrf", ""), csrf_for(token)):
            raise PermissionError("the form's CSRF token is missing or wrong: reload the page and try again")
        return fields

    def page(fn):
        """Wrap a page: sign-in redirect, and refusals / absences as a page saying so (no internals)."""
        async def wrapped(request: Request) -> Response:
            try:
                return await fn(request)
            except _Redirect as r:
                return RedirectResponse(r.to, status_code=303)
            except PermissionDenied as exc:
                return render(request, "message.html", 403, me=exc.principal, title="Not allowed",
                              message=f"Your role ({exc.principal.role.value}) may not {exc.operation}.")
            except PermissionError as exc:
                return render(request, "message.html", 403, title="Refused", message=str(exc))
            except (NotFound, LookupError) as exc:
                return render(request, "message.html", 404, title="Not found",
                              message=str(exc.args[0]) if exc.args else "not found")
            except ValueError as exc:
                return render(request, "message.html", 422, title="Cannot do that", message=str(exc))
        wrapped.__name__ = fn.__name__
        return wrapped

    def uow(p: Principal, purpose: str, *, write: bool = False) -> UnitOfWork:
        return UnitOfWork(sessions, p, clock=clock, purpose=purpose, write=write)

    @page
    async def login_page(request: Request) -> Response:
        return render(request, "login.html", expired=request.query_params.get("expired") == "1")

    @page
    async def login(request: Request) -> Response:
        fields = await form(request, None)
        token = fields.get("token", "").strip()
        try:
            tokens.authenticate(sessions, token, clock=clock)
        except tokens.InvalidToken as exc:
            tokens.audit_refusal(sessions, "POST /console/login", str(exc), clock=clock)
            return render(request, "login.html", 401, error=str(exc))
        resp = RedirectResponse(f"{PREFIX}/", status_code=303)
        resp.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https",
                        path=PREFIX, max_age=12 * 3600)
        return resp

    @page
    async def logout(request: Request) -> Response:
        p, token = session(request)
        await form(request, token)
        resp = RedirectResponse(f"{PREFIX}/login", status_code=303)
        resp.delete_cookie(COOKIE, path=PREFIX)
        return resp

    @page
    async def home(request: Request) -> Response:
        p, token = session(request)
        return render(request, "home.html", me=p, csrf=csrf_for(token))

    @page
    async def bookings_page(request: Request) -> Response:
        p, token = session(request)
        with uow(p, "console inbox") as u:
            rows = bookings.list_bookings(u, limit=100)
        return render(request, "bookings.html", me=p, csrf=csrf_for(token), rows=rows)

    @page
    async def booking_page(request: Request) -> Response:
        p, token = session(request)
        tcn = request.path_params["tcn"]
        with uow(p, "console booking") as u:
            info = bookings.status(u, tcn)
        answers = []
        if allowed(p.role, "booking.responses"):
            with uow(p, "console booking responses") as u:
                for r in bookings.responses(u, tcn):
                    message = json.dumps(json.loads(r.payload), indent=2) if r.format == "json" else \
                        f"ANSI/NIST-ITL, {len(r.payload)} bytes"
                    answers.append({"kind": r.kind, "recipient": r.recipient, "at": r.created_at,
                                    "message": message})
        return render(request, "booking.html", me=p, csrf=csrf_for(token), info=info, answers=answers)

    @page
    async def review_page(request: Request) -> Response:
        p, token = session(request)
        with uow(p, "console review queue") as u:
            items = review.list_items(u)
        return render(request, "review.html", me=p, csrf=csrf_for(token), items=items,
                      done=request.query_params.get("done"))

    @page
    async def review_decide(request: Request) -> Response:
        p, token = session(request)
        fields = await form(request, token)
        item_id = int(request.path_params["item_id"])
        with uow(p, f"console review item {item_id}", write=True) as u:
            review.decide(u, item_id, fields.get("decision", ""), note=fields.get("note", "")[:1000])
        return RedirectResponse(f"{PREFIX}/review?done={item_id}", status_code=303)

    @page
    async def iars_page(request: Request) -> Response:
        p, token = session(request)
        with uow(p, "console IARs") as u:
            rows = [{"tcn": r.tcn, "at": r.created_at, "summary": r.summary} for r in bookings.list_iars(u)]
        return render(request, "iars.html", me=p, csrf=csrf_for(token), rows=rows)

    @page
    async def statistics_page(request: Request) -> Response:
        p, token = session(request)
        level = request.query_params.get("level", "state")
        stats = statistics.statistics(sessions, p, level=level, clock=clock)
        records = stats.records()
        key = "bookings" if "bookings" in stats.figures else (stats.figures[0] if stats.figures else "")
        top = max([r.get(key) or 0 for r in records] + [1])
        bars = [{"label": " ".join(str(r[c]) for c in stats.key_columns if c in r) or "all",
                 "value": r.get(key), "width": int(300 * (r.get(key) or 0) / top)} for r in records]
        return render(request, "statistics.html", me=p, csrf=csrf_for(token), stats=stats, records=records,
                      key=key, bars=bars, level=level)

    @page
    async def audit_page(request: Request) -> Response:
        p, token = session(request)
        actor = request.query_params.get("actor") or None
        with uow(p, "console audit") as u:
            rows = audit_service.trail(u, actor=actor)[-200:]
        report = None
        if request.query_params.get("verify") == "1":
            with uow(p, "console audit verify") as u:
                report = audit_service.verify(u)
        return render(request, "audit.html", me=p, csrf=csrf_for(token), rows=rows, report=report, actor=actor or "")

    routes = [("/login", login_page, ["GET"]), ("/login", login, ["POST"]), ("/logout", logout, ["POST"]),
              ("/", home, ["GET"]), ("/bookings", bookings_page, ["GET"]),
              ("/bookings/{tcn}", booking_page, ["GET"]), ("/review", review_page, ["GET"]),
              ("/review/{item_id:int}", review_decide, ["POST"]), ("/iars", iars_page, ["GET"]),
              ("/statistics", statistics_page, ["GET"]), ("/audit", audit_page, ["GET"])]
    for path, fn, methods in routes:
        app.add_api_route(PREFIX + path, fn, methods=methods, include_in_schema=False, response_class=HTMLResponse)
