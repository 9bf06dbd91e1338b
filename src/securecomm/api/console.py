"""The web console: the same parties, the same services, as server-rendered pages (Jinja2, no script).

A person signs in by pasting the API token an admin issued them; the console keeps it in an
``HttpOnly``, ``SameSite=Strict`` cookie and authenticates every page with it exactly like the API
(:func:`securecomm.services.tokens.authenticate`). Every form carries a CSRF token derived from the
session's token (an attacker's page knows neither), checked on every POST. Pages are plain HTML forms
and tables: they work with a keyboard and without JavaScript.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from jinja2 import Environment, FileSystemLoader, select_autoescape

from securecomm.domain.detainers import RELEASE_REASONS
from securecomm.domain.principal import Principal, Role
from securecomm.services import NotFound, PermissionDenied, UnitOfWork
from securecomm.services import audit as audit_service
from securecomm.services import audit_export
from securecomm.services import (bookings, config, detainers, holds, policies, protections, review, review_images,
                                 statistics, tokens, users)
from securecomm.services.permissions import allowed

COOKIE = "sc_session"
PREFIX = "/console"
TEMPLATES = Path(__file__).with_name("templates")
#: Pages of the console: (path, title, operation that shows it).
PAGES = (("/bookings", "Bookings", "booking.list"), ("/submit", "Submit a booking", "booking.submit"),
         ("/review", "Review queue", "review.list"), ("/iars", "IARs", "iar.list"),
         ("/detainers", "Detainers", "detainer.list"), ("/statistics", "Statistics", "statistics.read"),
         ("/protections", "Protections", "protection.flag"), ("/audit", "Audit", "audit.read"),
         ("/admin", "Administration", "activations.load"), ("/users", "Users and tokens", "users.list"))
FORM_MAX = 64 * 1024
#: Largest booking file the upload form takes (the API's own limit is larger; a CAR is well under this).
UPLOAD_MAX = 8 * 1024 * 1024
#: Width in pixels of the longest bar of a statistics chart.
BAR_MAX = 420

_env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]))


def parse_multipart(body: bytes, content_type: str) -> dict[str, tuple[str | None, bytes]]:
    """``multipart/form-data`` fields as name -> (file name or None, bytes); ValueError when malformed."""
    params = dict(p.strip().partition("=")[::2] for p in content_type.split(";")[1:])
    boundary = params.get("boundary", "").strip('"')
    if not boundary or len(boundary) > 70:
        raise ValueError("the upload has no multipart boundary: send the form as the page does")
    fields: dict[str, tuple[str | None, bytes]] = {}
    parts = body.split(b"--" + boundary.encode("latin-1"))
    if len(parts) < 3 or not parts[-1].startswith(b"--"):
        raise ValueError("the upload is cut short or malformed: send it again")
    for part in parts[1:-1]:
        head, sep, data = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not sep:
            raise ValueError("a part of the upload has no headers")
        disposition = next((line.split(b":", 1)[1].decode("utf-8", "replace") for line in head.split(b"\r\n")
                            if line.lower().startswith(b"content-disposition:")), "")
        attrs = {k.strip().lower(): v.strip().strip('"') for k, _, v in
                 (a.partition("=") for a in disposition.split(";")[1:])}
        if "name" in attrs:
            fields[attrs["name"]] = (attrs.get("filename"), data.removesuffix(b"\r\n"))
    return fields


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
            return tokens.authenticate(sessions, token, clock=clock, cache=app.state.token_cache), token
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

    class Visit:
        """The signed-in person on one console request, as :func:`page` hands it to a page."""

        def __init__(self, request: Request, who: Principal, token: str) -> None:
            self.request, self.who, self.token, self.csrf = request, who, token, csrf_for(token)

        def render(self, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
            """The template with the navigation, the principal and the CSRF token of this session."""
            return render(self.request, name, status, me=self.who, csrf=self.csrf, **ctx)

        async def form(self) -> dict[str, str]:
            """The posted form, its CSRF token checked against this session's."""
            return await form(self.request, self.token)

        def uow(self, purpose: str, *, write: bool = False) -> UnitOfWork:
            return UnitOfWork(sessions, self.who, clock=clock, purpose=purpose, write=write)

    def page(need: str | None = None, *, public: bool = False):
        """A console page ``fn(request, visit)``: the person is signed in from the cookie (no or a bad one:
        to the sign-in page, the refusal audited) and, with ``need``, must be allowed that operation (403)
        before the page runs. ``public``: the sign-in pages, ``fn(request)``. Refusals and absences become a
        page saying so (no internals)."""
        def wrap(fn):
            async def wrapped(request: Request) -> Response:
                try:
                    if public:
                        return await fn(request)
                    who, token = session(request)
                    if need is not None and not allowed(who.role, need):
                        raise PermissionDenied(who, need)
                    return await fn(request, Visit(request, who, token))
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
        return wrap

    @page(public=True)
    async def login_page(request: Request) -> Response:
        return render(request, "login.html", expired=request.query_params.get("expired") == "1")

    @page(public=True)
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

    @page()
    async def logout(request: Request, me: Visit) -> Response:
        await me.form()
        resp = RedirectResponse(f"{PREFIX}/login", status_code=303)
        resp.delete_cookie(COOKIE, path=PREFIX)
        return resp

    @page()
    async def home(request: Request, me: Visit) -> Response:
        return me.render("home.html")

    @page()
    async def bookings_page(request: Request, me: Visit) -> Response:
        with me.uow("console inbox") as u:
            rows = bookings.list_bookings(u, limit=100)
        return me.render("bookings.html", rows=rows)

    @page()
    async def booking_page(request: Request, me: Visit) -> Response:
        tcn = request.path_params["tcn"]
        with me.uow("console booking") as u:
            info = bookings.status(u, tcn)
        answers = []
        if allowed(me.who.role, "booking.responses"):
            with me.uow("console booking responses") as u:
                for r in bookings.responses(u, tcn):
                    message = json.dumps(json.loads(r.payload), indent=2) if r.format == "json" else \
                        f"ANSI/NIST-ITL, {len(r.payload)} bytes"
                    answers.append({"kind": r.kind, "recipient": r.recipient, "at": r.created_at,
                                    "message": message})
        return me.render("booking.html", info=info, answers=answers, submitted=request.query_params.get("submitted"))

    @page("booking.submit")
    async def submit_page(request: Request, me: Visit) -> Response:
        return me.render("submit.html", limit=UPLOAD_MAX)

    @page()
    async def submit(request: Request, me: Visit) -> Response:
        ctype = request.headers.get("content-type", "")
        if ctype.split(";")[0].strip().lower() != "multipart/form-data":
            raise ValueError("the booking file is sent as multipart/form-data (the page's form does that)")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > UPLOAD_MAX + FORM_MAX:
                raise ValueError(f"the file is too large: a booking file is at most {UPLOAD_MAX // 1024 // 1024} MiB")
        fields = parse_multipart(bytes(body), ctype)
        if not hmac.compare_digest(fields.get("csrf", (None, b""))[1].decode("ascii", "replace"), me.csrf):
            raise PermissionError("the form's CSRF token is missing or wrong: reload the page and try again")
        name, raw = fields.get("file", (None, b""))
        if not raw:
            raise ValueError("choose the booking's ANSI/NIST-ITL file (.an2 / .eft / .nist) before sending")
        with me.uow(f"console submit {name or 'file'}"[:200]) as u:
            res = bookings.submit(u, raw)
        if res.outcome in ("queued", "duplicate") and res.tcn:
            return RedirectResponse(f"{PREFIX}/bookings/{quote(res.tcn, safe='')}?submitted={res.outcome}",
                                    status_code=303)
        return me.render("message.html", 409 if res.outcome == "conflict" else 422, title="Booking not accepted",
                         message=res.message or res.outcome)

    @page()
    async def detainers_page(request: Request, me: Visit) -> Response:
        with me.uow("console detainer board") as u:
            rows = detainers.list_detainers(u, limit=200)
            board = [{"row": r, "clock": holds.clock_of(u, r)} for r in rows]
        return me.render("detainers.html", board=board,
                         may_ack=allowed(me.who.role, "detainer.acknowledge"), done=request.query_params.get("done"),
                         may_release=allowed(me.who.role, "detainer.release"), reasons=RELEASE_REASONS,
                         ended=request.query_params.get("ended"), what=request.query_params.get("what"))

    @page()
    async def detainer_acknowledge(request: Request, me: Visit) -> Response:
        fields = await me.form()
        detainer_id = int(request.path_params["detainer_id"])
        text = fields.get("release_at", "").strip()
        try:
            release_at = dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"the release time {text!r} is not a date and time (YYYY-MM-DD HH:MM)") from None
        with me.uow(f"console acknowledge detainer {detainer_id}", write=True) as u:
            detainers.acknowledge(u, detainer_id, release_at=release_at)
        return RedirectResponse(f"{PREFIX}/detainers?done={detainer_id}", status_code=303)

    @page()
    async def detainer_end(request: Request, me: Visit) -> Response:
        """The jail records the release, or the hand-over to the immigration agency (``what``)."""
        fields = await me.form()
        detainer_id, what = int(request.path_params["detainer_id"]), request.path_params["what"]
        if what not in ("release", "transfer"):
            raise NotFound(f"no such action {what!r} on a detainer")
        text = fields.get("at", "").strip()
        try:
            at = dt.datetime.fromisoformat(text) if text else None
        except ValueError:
            raise ValueError(f"the time {text!r} is not a date and time (YYYY-MM-DD HH:MM)") from None
        override = fields.get("override", "").strip()[:1000]
        with me.uow(f"console {what} on detainer {detainer_id}", write=True) as u:
            if what == "release":
                detainers.release(u, detainer_id, at=at, reason=fields.get("reason", "other"), override=override)
            else:
                detainers.transfer(u, detainer_id, at=at, override=override)
        return RedirectResponse(f"{PREFIX}/detainers?ended={detainer_id}&what={what}", status_code=303)

    @page()
    async def review_page(request: Request, me: Visit) -> Response:
        with me.uow("console review queue") as u:
            items = review.list_items(u)
        return me.render("review.html", items=items, done=request.query_params.get("done"))

    def _finger(request: Request) -> int | None:
        text = request.query_params.get("finger", "")
        if not text:
            return None
        if not text.isdigit() or not 1 <= int(text) <= 10:
            raise ValueError(f"finger {text!r} is not a finger position (1-10)")
        return int(text)

    @page()
    async def review_item_page(request: Request, me: Visit) -> Response:
        item_id = int(request.path_params["item_id"])
        with me.uow(f"console review item {item_id}") as u:
            item = next((i for i in review.list_items(u, state=None) if i.id == item_id), None)
            if item is None:
                raise NotFound(f"no review item {item_id}")
            view, why = None, ""
            if item.candidate:
                try:
                    view = review_images.pair_view(u, item_id, _finger(request))
                except NotFound as exc:
                    why = str(exc)
        return me.render("review_item.html", i=item, view=view, why=why)

    @page()
    async def review_item_png(request: Request, me: Visit) -> Response:
        item_id = int(request.path_params["item_id"])
        with me.uow(f"console review images {item_id}") as u:
            view = review_images.pair_view(u, item_id, _finger(request))
        return Response(await run_in_threadpool(review_images.render_png, view), media_type="image/png",
                        headers={"Cache-Control": "private, no-store"})

    @page()
    async def review_decide(request: Request, me: Visit) -> Response:
        fields = await me.form()
        item_id = int(request.path_params["item_id"])
        with me.uow(f"console review item {item_id}", write=True) as u:
            review.decide(u, item_id, fields.get("decision", ""), note=fields.get("note", "")[:1000])
        return RedirectResponse(f"{PREFIX}/review?done={item_id}", status_code=303)

    @page()
    async def iars_page(request: Request, me: Visit) -> Response:
        with me.uow("console IARs") as u:
            rows = [{"tcn": r.tcn, "at": r.created_at, "summary": r.summary} for r in bookings.list_iars(u)]
        return me.render("iars.html", rows=rows,
                         may_decide=allowed(me.who.role, "detainer.decide"), done=request.query_params.get("done"),
                         kind=request.query_params.get("kind"))

    @page()
    async def detainer_decide(request: Request, me: Visit) -> Response:
        fields = await me.form()
        tcn = request.path_params["tcn"]
        basis = {k: fields[k].strip()[:1000] for k in ("warrant", "probable_cause", "note") if fields.get(k, "").strip()}
        with me.uow(f"console detainer decision {tcn}"[:200], write=True) as u:
            row = detainers.decide(u, tcn, fields.get("kind", ""), basis=basis,
                                   review_note=fields.get("review_note", "")[:1000])
        return RedirectResponse(f"{PREFIX}/iars?done={quote(row.tcn, safe='')}&kind={row.kind}", status_code=303)

    @page("activations.load")
    async def admin_page(request: Request, me: Visit) -> Response:
        with me.uow("console admin") as u:
            agencies = config.list_agencies(u)
            versions = policies.list_policies(u)
        return me.render("admin.html", agencies=agencies, policies=versions, done=request.query_params.get("done"))

    @page()
    async def admin_activate(request: Request, me: Visit) -> Response:
        fields = await me.form()
        scope, value = fields.get("scope", ""), fields.get("value", "").strip()
        if scope not in ("state", "county", "ori") or not value:
            raise ValueError("choose what to activate (a state, a county as ST/County, or an ORI) and name it")
        where: dict[str, str | None] = {"state": None, "county": None, "ori": None}
        if scope == "county":
            state, _, county = value.partition("/")
            if not county.strip():
                raise ValueError(f"a county is named as ST/County (e.g. MA/Suffolk), not {value!r}")
            where.update(state=state.strip().upper(), county=county.strip())
        else:
            where[scope] = value.upper()
        try:
            start = dt.date.fromisoformat(fields.get("effective_from", ""))
            end = dt.date.fromisoformat(fields["effective_to"]) if fields.get("effective_to") else None
        except ValueError:
            raise ValueError("the dates are written YYYY-MM-DD") from None
        with me.uow("console activation", write=True) as u:
            row = config.activate(u, **where, effective_from=start, effective_to=end, note=fields.get("note", "")[:500])
        return RedirectResponse(f"{PREFIX}/admin?done={quote(f'{row.scope} {row.value}', safe='')}", status_code=303)

    # ------------------------------------------------------------------ users and tokens (admin)
    def users_view(me: Visit, status: int = 200, **extra: Any) -> HTMLResponse:
        with me.uow("console users and tokens") as u:
            people = users.list_users(u)
            toks = tokens.list_tokens(u)
        return me.render("users.html", status, users=people, tokens=toks,
                         roles=[r.value for r in Role if r is not Role.SYSTEM], now=clock.now(), **extra)

    @page()
    async def users_page(request: Request, me: Visit) -> Response:
        return users_view(me, done=request.query_params.get("done"))

    @page()
    async def users_add(request: Request, me: Visit) -> Response:
        fields = await me.form()
        with me.uow("console add user", write=True) as u:
            row = users.add_user(u, fields.get("name", ""), fields.get("role", ""),
                                 **{k: fields.get(k, "").strip() or None for k in ("ori", "state", "area")})
        return RedirectResponse(f"{PREFIX}/users?done={quote(f'user {row.name} added', safe='')}", status_code=303)

    @page()
    async def users_disable(request: Request, me: Visit) -> Response:
        fields = await me.form()
        name = request.path_params["name"]
        with me.uow(f"console disable user {name}"[:200], write=True) as u:
            users.disable_user(u, name, reason=fields.get("reason", "")[:500])
        return RedirectResponse(f"{PREFIX}/users?done={quote(f'user {name} disabled', safe='')}", status_code=303)

    @page()
    async def tokens_issue(request: Request, me: Visit) -> Response:
        fields = await me.form()
        days_text = fields.get("days", "90").strip() or "90"
        if not days_text.isdigit():
            raise ValueError(f"a token's lifetime is a number of days, not {days_text!r}")
        with me.uow("console issue token", write=True) as u:
            plain, info = tokens.issue_token(u, fields.get("user", ""), label=fields.get("label", "")[:100],
                                             days=int(days_text))
        return users_view(me, issued={"token": plain, "info": info})  # shown once, never stored

    @page()
    async def tokens_revoke(request: Request, me: Visit) -> Response:
        fields = await me.form()
        token_id = int(request.path_params["token_id"])
        with me.uow(f"console revoke token {token_id}", write=True) as u:
            tokens.revoke_token(u, token_id, reason=fields.get("reason", "")[:500])
        return RedirectResponse(f"{PREFIX}/users?done={quote(f'token {token_id} revoked', safe='')}", status_code=303)

    # ------------------------------------------------------------------ victim / witness protections
    @page("protection.flag")
    async def protections_page(request: Request, me: Visit) -> Response:
        return me.render("protections.html", done=request.query_params.get("done"),
                         may_clear=allowed(me.who.role, "protection.clear"))

    @page()
    async def protection_change(request: Request, me: Visit) -> Response:
        fields = await me.form()
        what, fin = request.path_params["what"], fields.get("fin", "").strip().upper()
        if what not in ("flag", "clear"):
            raise NotFound(f"no such action {what!r} on a protection")
        if not fin:
            raise ValueError("name the identity by its FIN")
        with me.uow(f"console protection {what} {fin}"[:200], write=True) as u:
            if what == "flag":
                protections.flag_victim_witness(u, fin, basis=fields.get("basis", "")[:1000])
            else:
                protections.clear_victim_witness(u, fin, reason=fields.get("reason", "")[:1000])
        done = f"victim/witness protection {'set on' if what == 'flag' else 'cleared from'} {fin}"
        return RedirectResponse(f"{PREFIX}/protections?done={quote(done, safe='')}", status_code=303)

    @page()
    async def statistics_page(request: Request, me: Visit) -> Response:
        level = request.query_params.get("level", "state")
        stats = statistics.statistics(sessions, me.who, level=level, clock=clock)
        records = stats.records()
        wanted = request.query_params.get("figure", "")
        key = wanted if wanted in stats.figures else \
            "submissions" if "submissions" in stats.figures else (stats.figures[0] if stats.figures else "")
        top = max([r.get(key) or 0 for r in records] + [1])
        bars = [{"label": (" ".join(str(r[c]) for c in stats.key_columns if c in r) or "all")[:28],
                 "value": r.get(key), "width": int(BAR_MAX * (r.get(key) or 0) / top)} for r in records[:40]]
        return me.render("statistics.html", stats=stats, records=records, key=key, bars=bars, level=level)

    def _audit_filter(request: Request) -> audit_export.AuditFilter:
        q = request.query_params

        def day(name: str) -> dt.datetime | None:
            text = q.get(name, "").strip()
            if not text:
                return None
            try:
                return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(0), tzinfo=dt.UTC)
            except ValueError:
                raise ValueError(f"{name} {text!r} is not a date (YYYY-MM-DD)") from None
        until = day("until")
        return audit_export.AuditFilter(since=day("since"), until=until + dt.timedelta(days=1) if until else None,
                                        actor=q.get("actor") or None, action=q.get("action") or None,
                                        object_type=q.get("object_type") or None)

    @page()
    async def audit_export_page(request: Request, me: Visit) -> Response:
        fmt = request.query_params.get("format", "csv")
        with me.uow("console audit export") as u:
            media, name, body = audit_export.export(u, _audit_filter(request), fmt)
        return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @page()
    async def audit_page(request: Request, me: Visit) -> Response:
        actor = request.query_params.get("actor") or None
        filters = _audit_filter(request)
        with me.uow("console audit") as u:
            rows = [r for r in audit_service.trail(u, actor=actor, object_type=filters.object_type,
                                                   since=filters.since)
                    if (filters.until is None or r.at < filters.until)
                    and (filters.action is None or r.action == filters.action)][-200:]
        report = None
        if request.query_params.get("verify") == "1":
            with me.uow("console audit verify") as u:
                report = audit_service.verify(u)
        query = {k: v for k, v in request.query_params.items() if k in ("actor", "action", "object_type", "since", "until") and v}
        return me.render("audit.html", rows=rows, report=report, actor=actor or "",
                         q=query, export_query="&".join(f"{k}={quote(v, safe='')}" for k, v in query.items()))

    css = (TEMPLATES / "console.css").read_bytes()

    async def stylesheet(request: Request) -> Response:
        return Response(css, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})

    routes = [("/static/console.css", stylesheet, ["GET"]), ("/login", login_page, ["GET"]), ("/login", login, ["POST"]), ("/logout", logout, ["POST"]),
              ("/", home, ["GET"]), ("/bookings", bookings_page, ["GET"]),
              ("/bookings/{tcn}", booking_page, ["GET"]), ("/review", review_page, ["GET"]),
              ("/review/{item_id:int}", review_decide, ["POST"]), ("/review/{item_id:int}", review_item_page, ["GET"]),
              ("/review/{item_id:int}/pair.png", review_item_png, ["GET"]), ("/iars", iars_page, ["GET"]),
              ("/submit", submit_page, ["GET"]), ("/submit", submit, ["POST"]),
              ("/detainers", detainers_page, ["GET"]), ("/iars/{tcn}/decision", detainer_decide, ["POST"]),
              ("/admin", admin_page, ["GET"]), ("/admin/activations", admin_activate, ["POST"]),
              ("/detainers/{detainer_id:int}/acknowledge", detainer_acknowledge, ["POST"]),
              ("/detainers/{detainer_id:int}/{what:str}", detainer_end, ["POST"]),
              ("/statistics", statistics_page, ["GET"]), ("/audit", audit_page, ["GET"]),
              ("/audit/export", audit_export_page, ["GET"]),
              ("/users", users_page, ["GET"]), ("/users", users_add, ["POST"]),
              ("/users/{name}/disable", users_disable, ["POST"]), ("/tokens", tokens_issue, ["POST"]),
              ("/tokens/{token_id:int}/revoke", tokens_revoke, ["POST"]),
              ("/protections", protections_page, ["GET"]), ("/protections/{what:str}", protection_change, ["POST"])]
    for path, fn, methods in routes:
        app.add_api_route(PREFIX + path, fn, methods=methods, include_in_schema=False, response_class=HTMLResponse)
