"""The application: authentication, the endpoints of each party, security headers.

Each endpoint is a thin adapter: take the principal from the bearer token
(:func:`principal`), open a :class:`~securecomm.services.UnitOfWork` with it,
call one service function, shape the answer. Nothing here decides who may see
what: the services do, the same way for the CLI.
"""


import contextlib
import datetime as dt
import hashlib
import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from securecomm.api import errors
from securecomm.api.errors import ApiError
from securecomm.api.limits import RateLimiter, retry_after
from securecomm.domain.clock import SYSTEM_CLOCK, Clock
from securecomm.domain.principal import Principal
from securecomm.services import UnitOfWork
from securecomm.services import audit as audit_service
from securecomm.services import audit_export
from securecomm.services import bookings, config, detainers, review, sealing, statistics, tokens, users
from securecomm.store.db import open_store

API = "/api/v1"
#: Largest request body accepted (a ten-print CAR with WSQ images is well under 2 MiB).
MAX_BODY = 16 * 1024 * 1024
#: Requests per second per user (sustained) and burst; per client address for requests without a valid token.
RATE, BURST = 50.0, 200
#: Content types a booking submission may carry.
NIST_TYPES = ("application/octet-stream", "application/x-ansi-nist", "application/vnd.ansi-nist")
#: Seconds a committed audit row waits for the batch sealer (it seals all rows waiting then, at once).
SEAL_DELAY = 0.5
#: Seconds an authenticated token is remembered (revocation elsewhere takes effect within this).
TOKEN_TTL = 5.0
#: Headers every answer carries (unless the endpoint set its own).
SECURITY_HEADERS = ((b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"), (b"cache-control", b"no-store"),
                    (b"content-security-policy", b"default-src 'self'; frame-ancestors 'none'"))


class SecurityHeaders:
    """ASGI middleware: refuse a declared body over ``max_body`` (413) and add :data:`SECURITY_HEADERS`.

    Plain ASGI (no ``BaseHTTPMiddleware``: that costs a task and a stream per request).
    """

    def __init__(self, app, *, max_body: int) -> None:
        self.app, self.max_body = app, max_body

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            resp = errors.problem(413, "Payload Too Large", f"request bodies are limited to {self.max_body} bytes")
            await resp(scope, receive, self._with_headers(send))
            return
        await self.app(scope, receive, self._with_headers(send))

    @staticmethod
    def _with_headers(send):
        async def sending(message) -> None:
            if message["type"] == "http.response.start":
                have = {k.lower() for k, _ in message.get("headers", ())}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in have]
                if extra:
                    message = {**message, "headers": [*message.get("headers", ()), *extra]}
            await send(message)
        return sending


class Decision(BaseModel):
    decision: str = Field(min_length=1, max_length=32, description="biometric: confirm | reject; status: "
                                                                   "no_action | notification_request | detainer")
    note: str = Field(default="", max_length=1000)


class NewUser(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    role: str = Field(min_length=1, max_length=40)
    ori: str | None = Field(default=None, max_length=9)
    state: str | None = Field(default=None, max_length=2)
    area: str | None = Field(default=None, max_length=100)


class Reason(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


class NewToken(BaseModel):
    user: str = Field(min_length=1, max_length=100)
    label: str = Field(default="", max_length=100)
    days: int = Field(default=90, ge=1, le=tokens.MAX_DAYS)


class DetainerDecision(BaseModel):
    kind: str = Field(min_length=1, max_length=32, description="no_action | notification_request | detainer")
    basis: dict[str, Any] = Field(default_factory=dict, description="the form's required basis fields")
    review_note: str = Field(default="", max_length=1000)


class Acknowledgment(BaseModel):
    release_at: dt.datetime = Field(description="the scheduled release time (with its UTC offset)")


class Ending(BaseModel):
    at: dt.datetime | None = None
    reason: str = Field(default="other", max_length=500)
    override: str = Field(default="", max_length=1000)


class Activation(BaseModel):
    state: str | None = Field(default=None, max_length=2)
    county: str | None = Field(default=None, max_length=100)
    ori: str | None = Field(default=None, max_length=9)
    effective_from: dt.date
    effective_to: dt.date | None = None
    note: str = Field(default="", max_length=500)


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (dt.datetime, dt.date)) else value


def _json(request: Request, doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer with a strong ETag; ``If-None-Match`` with the same tag gets 304."""
    body = json.dumps(doc, default=_iso, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    tag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    extra = {"ETag": tag, **(headers or {})}
    if status == 200 and tag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=extra)
    return Response(body, status_code=status, media_type="application/json", headers=extra)


def create_app(url: str | None = None, *, sessions: Callable[[], Session] | None = None,
               clock: Clock = SYSTEM_CLOCK, max_body: int = MAX_BODY, console: bool = True,
               rate: float = RATE, burst: int = BURST, seal_delay: float = SEAL_DELAY,
               token_ttl: float = TOKEN_TTL) -> FastAPI:
    """The API on the store at ``url`` (migrated to head) or on an existing session factory.

    While the application runs (its lifespan: uvicorn, or ``with TestClient(app)``), a
    :class:`~securecomm.services.sealing.BatchSealer` puts the audit rows of its requests on the hash chain
    ``seal_delay`` seconds after they commit, many in one transaction (``seal_delay`` 0: no sealer, each
    request seals its own rows right after its commit, as the CLI does). Authenticated tokens are remembered
    for ``token_ttl`` seconds (:class:`~securecomm.services.token_cache.TokenCache`; 0: looked up every time),
    in a cache registered on ``sessions``: the services that revoke a token or disable a user clear it when
    their work commits, whoever called them (a factory that is not a ``sessionmaker`` gets no cache).
    """
    if sessions is None:
        _, sessions = open_store(url)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        sealer = sealing.BatchSealer(sessions, delay=seal_delay).start() if seal_delay > 0 else None
        _app.state.sealer = sealer
        try:
            yield
        finally:
            if sealer is not None:
                await run_in_threadpool(sealer.stop)

    app = FastAPI(title="securecomm", version="1", description="Secure Communities: bookings, review, IARs, "
                  "statistics and the audit, each party scoped to its own part. Authenticate with "
                  "`Authorization: Bearer <token>` (issued by `securecomm tokens issue`).",
                  docs_url="/docs", redoc_url=None, lifespan=lifespan)
    app.state.sessions, app.state.clock, app.state.max_body = sessions, clock, max_body
    app.state.sealer = None
    token_cache = app.state.token_cache = tokens.TokenCache.for_sessions(sessions, token_ttl)
    limiter = app.state.limiter = RateLimiter(rate, burst)
    errors.install(app)

    app.add_middleware(SecurityHeaders, max_body=max_body)

    def principal(request: Request) -> Principal:
        """The principal of the bearer token; 401 (and an audit row) for a missing or bad token."""
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        try:
            if scheme.lower() != "bearer" or not token.strip():
                raise tokens.InvalidToken("an `Authorization: Bearer <token>` header is required")
            who = tokens.authenticate(sessions, token.strip(), clock=clock, cache=token_cache)
        except tokens.InvalidToken as exc:
            _limit(f"addr:{request.client.host if request.client else '-'}")
            tokens.audit_refusal(sessions, f"{request.method} {request.url.path}", str(exc), clock=clock)
            raise
        _limit(f"user:{who.actor}")
        return who

    def _limit(key: str) -> None:
        wait = limiter.take(key)
        if wait:
            raise ApiError(429, "Too Many Requests", f"slow down: at most {limiter.rate:g} requests per second "
                           f"(bursts of {limiter.burst})", headers={"Retry-After": retry_after(wait)})

    Who = Annotated[Principal, Depends(principal)]

    def uow(p: Principal, purpose: str, *, write: bool = False) -> UnitOfWork:
        return UnitOfWork(sessions, p, clock=clock, purpose=purpose[:200], write=write)

    Limit = Annotated[int, Query(ge=1, le=bookings.LIST_MAX)]
    Offset = Annotated[int, Query(ge=0)]

    # ------------------------------------------------------------------------------ everyone
    @app.get("/healthz", tags=["service"], summary="Liveness and store reachability")
    def healthz() -> dict[str, str]:
        from sqlalchemy import text

        with sessions() as s:
            s.execute(text("SELECT 1"))
        return {"status": "ok"}

    @app.get(f"{API}/me", tags=["service"], summary="Who the token acts as")
    def me(p: Who) -> dict[str, Any]:
        return {"actor": p.actor, "role": p.role.value, "ori": p.ori, "state": p.state, "area": p.area}

    # ------------------------------------------------------------------------------ booking agencies
    @app.post(f"{API}/bookings", tags=["bookings"], status_code=202,
              summary="Submit a booking (ANSI/NIST-ITL CAR bytes); 202 with its TCN and a status link",
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
    async def submit(request: Request, p: Who) -> Response:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype not in NIST_TYPES:
            raise ApiError(415, "Unsupported Media Type",
                           f"send the ANSI/NIST-ITL transaction as application/octet-stream, not {ctype or 'nothing'}")
        raw = bytearray()
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > max_body:
                raise ApiError(413, "Payload Too Large", f"request bodies are limited to {max_body} bytes")
        if not raw:
            raise ApiError(400, "Bad Request", "the body is empty: send the bytes of one ANSI/NIST-ITL transaction")

        def work():
            with uow(p, "API submit") as u:
                return bookings.submit(u, bytes(raw))

        res = await run_in_threadpool(work)
        doc = {"tcn": res.tcn, "outcome": res.outcome, "state": res.state, "message": res.message,
               "links": {"status": f"{API}/bookings/{res.tcn}", "responses": f"{API}/bookings/{res.tcn}/responses"}}
        code = {"queued": 202, "duplicate": 200, "conflict": 409, "refused": 413}.get(res.outcome, 202)
        return JSONResponse(doc, status_code=code, headers={"Location": doc["links"]["status"]}
                            if code in (200, 202) else None)

    @app.get(f"{API}/bookings", tags=["bookings"], summary="Your bookings (agency: its ORI; SIB: its state)")
    def list_bookings(request: Request, p: Who, since: dt.datetime | None = None, until: dt.datetime | None = None,
                      limit: Limit = 100, offset: Offset = 0) -> Response:
        with uow(p, "API bookings list") as u:
            rows = bookings.list_bookings(u, since=_aware(since), until=_aware(until), limit=limit, offset=offset)
        return _json(request, {"items": rows, "limit": limit, "offset": offset})

    @app.get(f"{API}/bookings/{{tcn}}", tags=["bookings"], summary="Where one transaction stands")
    def booking_status(request: Request, tcn: str, p: Who) -> Response:
        with uow(p, "API status") as u:
            info = bookings.status(u, _tcn(tcn))
        return _json(request, info)

    @app.get(f"{API}/bookings/{{tcn}}/responses", tags=["bookings"], summary="The responses of one transaction")
    def booking_responses(request: Request, tcn: str, p: Who) -> Response:
        with uow(p, "API responses") as u:
            rows = bookings.responses(u, _tcn(tcn))
            doc = [_response(r, i) for i, r in enumerate(rows)]
        return _json(request, {"tcn": tcn, "items": doc})

    @app.get(f"{API}/bookings/{{tcn}}/responses/{{index}}", tags=["bookings"],
             summary="One response's payload as sent (ANSI/NIST-ITL bytes or JSON)")
    def booking_response_payload(tcn: str, index: int, p: Who) -> Response:
        with uow(p, "API response payload") as u:
            rows = bookings.responses(u, _tcn(tcn))
        if not 0 <= index < len(rows):
            raise ApiError(404, "Not Found", f"transaction {tcn} has {len(rows)} responses (0..{len(rows) - 1})")
        r = rows[index]
        media = "application/octet-stream" if r.format == "nist" else "application/json"
        return Response(r.payload, media_type=media,
                        headers={"Content-Disposition": f'attachment; filename="{r.kind}.{index}.'
                                 f'{"an2" if r.format == "nist" else "json"}"'})

    # ------------------------------------------------------------------------------ examiners / LESC
    @app.get(f"{API}/review", tags=["review"], summary="The manual review queue")
    def review_list(request: Request, p: Who, state: Annotated[str, Query(pattern="^(open|confirmed|rejected|resolved|all)$")] = "open"
                    ) -> Response:
        with uow(p, "API review queue") as u:
            items = review.list_items(u, state=None if state == "all" else state)
            doc = [_item(i) for i in items]
        return _json(request, {"items": doc})

    @app.post(f"{API}/review/{{item_id}}/decision", tags=["review"], summary="Decide one review item")
    def review_decide(item_id: int, body: Decision, p: Who) -> dict[str, Any]:
        with uow(p, f"API review item {item_id}", write=True) as u:
            row = review.decide(u, item_id, body.decision, note=body.note)
            return _item(row)

    # ------------------------------------------------------------------------------ field offices
    @app.get(f"{API}/iars", tags=["field office"], summary="IARs addressed to your area of responsibility")
    def iars(request: Request, p: Who, since: dt.datetime | None = None, until: dt.datetime | None = None,
             limit: Limit = 100, offset: Offset = 0) -> Response:
        with uow(p, "API IARs") as u:
            rows = bookings.list_iars(u, since=_aware(since), until=_aware(until), limit=limit, offset=offset)
            doc = [{"tcn": r.tcn, "recipient": r.recipient, "created_at": r.created_at, "summary": r.summary,
                    "message": json.loads(r.payload) if r.format == "json" else None} for r in rows]
        return _json(request, {"items": doc, "limit": limit, "offset": offset})

    # ------------------------------------------------------------------------------ detainers (issue 10)
    def _doc(row) -> dict[str, Any]:
        return json.loads(detainers.document_json(row))

    @app.post(f"{API}/bookings/{{tcn}}/detainer-decision", tags=["detainers"], status_code=201,
              summary="The field office's decision on a booking's IAR (no_action, notification_request, detainer)")
    def detainer_decide(tcn: str, body: DetainerDecision, p: Who) -> dict[str, Any]:
        with uow(p, f"API detainer decision {tcn}", write=True) as u:
            return _doc(detainers.decide(u, _tcn(tcn), body.kind, basis=body.basis, review_note=body.review_note))

    @app.get(f"{API}/detainers", tags=["detainers"], summary="Detainers in your scope (jail: its ORI; office: "
                                                               "its area)")
    def detainers_list(request: Request, p: Who, ori: str | None = None, field_office: str | None = None,
                       state: str | None = None, open_only: bool = False, limit: Limit = 100) -> Response:
        with uow(p, "API detainers") as u:
            rows = [_doc(r) for r in detainers.list_detainers(u, ori=ori, field_office=field_office, state=state,
                                                               open_only=open_only, limit=limit)]
        return _json(request, {"items": rows})

    @app.get(f"{API}/detainers/{{detainer_id}}", tags=["detainers"], summary="One detainer document")
    def detainer_show(request: Request, detainer_id: int, p: Who) -> Response:
        with uow(p, f"API detainer {detainer_id}") as u:
            return _json(request, detainers.show(u, detainer_id))

    @app.post(f"{API}/detainers/{{detainer_id}}/acknowledge", tags=["detainers"],
              summary="The jail's acknowledgment with the scheduled release time")
    def detainer_acknowledge(detainer_id: int, body: Acknowledgment, p: Who) -> dict[str, Any]:
        with uow(p, f"API acknowledge detainer {detainer_id}", write=True) as u:
            return _doc(detainers.acknowledge(u, detainer_id, release_at=_aware(body.release_at)))

    @app.post(f"{API}/detainers/{{detainer_id}}/release", tags=["detainers"], summary="The person was released")
    def detainer_release(detainer_id: int, body: Ending, p: Who) -> dict[str, Any]:
        with uow(p, f"API release on detainer {detainer_id}", write=True) as u:
            return _doc(detainers.release(u, detainer_id, at=_aware(body.at), reason=body.reason,
                                          override=body.override))

    @app.post(f"{API}/detainers/{{detainer_id}}/transfer", tags=["detainers"],
              summary="Custody transferred to the immigration agency")
    def detainer_transfer(detainer_id: int, body: Ending, p: Who) -> dict[str, Any]:
        with uow(p, f"API transfer on detainer {detainer_id}", write=True) as u:
            return _doc(detainers.transfer(u, detainer_id, at=_aware(body.at), override=body.override))

    @app.post(f"{API}/detainers/{{detainer_id}}/cancel", tags=["detainers"], summary="The field office withdraws")
    def detainer_cancel(detainer_id: int, body: Reason, p: Who) -> dict[str, Any]:
        with uow(p, f"API cancel detainer {detainer_id}", write=True) as u:
            return _doc(detainers.cancel(u, detainer_id, reason=body.reason))

    # ------------------------------------------------------------------------------ oversight / public
    @app.get(f"{API}/statistics", tags=["statistics"], summary="Programme statistics (public: small cells hidden)")
    def stats(request: Request, p: Who, level: str = "nation", period: str = "all", state: str | None = None,
              county: str | None = None, ori: str | None = None, start: dt.date | None = None,
              end: dt.date | None = None) -> Response:
        result = statistics.statistics(sessions, p, level=level, period=period, state=state, county=county, ori=ori,
                                       start=start, end=end, clock=clock)
        return _json(request, result.to_dict())

    @app.get(f"{API}/audit", tags=["audit"], summary="The audit trail (oversight, admin)")
    def audit_trail(request: Request, p: Who, object_type: str | None = None, object_id: str | None = None,
                    actor: str | None = None, since: dt.datetime | None = None,
                    limit: Annotated[int, Query(ge=1, le=5000)] = 1000, offset: Offset = 0) -> Response:
        with uow(p, "API audit") as u:
            rows = audit_service.trail(u, object_type=object_type, object_id=object_id, actor=actor,
                                       since=_aware(since))
        page = rows[offset:offset + limit]
        return _json(request, {"total": len(rows), "limit": limit, "offset": offset,
                               "items": [r.__dict__ for r in page]})

    @app.get(f"{API}/audit/export", tags=["audit"], summary="Export the audit trail for oversight (CSV or JSON, "
                                                           "filtered, with each row's chain hashes)")
    def audit_export_endpoint(p: Who, format: Annotated[str, Query(pattern="^(csv|json)$")] = "csv",
                              since: dt.datetime | None = None, until: dt.datetime | None = None,
                              actor: Annotated[str | None, Query(max_length=100)] = None,
                              role: Annotated[str | None, Query(max_length=40)] = None,
                              action: Annotated[str | None, Query(max_length=40)] = None,
                              object_type: Annotated[str | None, Query(max_length=40)] = None,
                              object_id: Annotated[str | None, Query(max_length=64)] = None,
                              after_id: Offset = 0,
                              limit: Annotated[int, Query(ge=1, le=audit_export.EXPORT_MAX)] = audit_export.EXPORT_MAX
                              ) -> Response:
        filters = audit_export.AuditFilter(since=_aware(since), until=_aware(until), actor=actor, role=role,
                                           action=action, object_type=object_type, object_id=object_id,
                                           after_id=after_id, limit=limit)
        with uow(p, "API audit export") as u:
            media, name, body = audit_export.export(u, filters, format)
        return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @app.get(f"{API}/audit/verify", tags=["audit"], summary="Check the audit hash chain")
    def audit_verify(p: Who) -> dict[str, Any]:
        with uow(p, "API audit verify") as u:
            rep = audit_service.verify(u)
        return {"ok": rep.ok, "rows": rep.rows, "unsealed": rep.unsealed, "head_seq": rep.head_seq,
                "head_hash": rep.head_hash, "problems": rep.problems}

    # ------------------------------------------------------------------------------ admin
    @app.get(f"{API}/agencies", tags=["admin"], summary="Agencies and whether each is activated today")
    def agencies(request: Request, p: Who, state: str | None = None) -> Response:
        with uow(p, "API agencies") as u:
            rows = [a.__dict__ for a in config.list_agencies(u, state)]
        return _json(request, {"items": rows})

    @app.post(f"{API}/activations", tags=["admin"], status_code=201, summary="Activate a state, county or ORI")
    def activate(body: Activation, p: Who) -> dict[str, Any]:
        with uow(p, "API activation", write=True) as u:
            row = config.activate(u, state=body.state, county=body.county, ori=body.ori,
                                  effective_from=body.effective_from, effective_to=body.effective_to, note=body.note)
            return {"scope": row.scope, "value": row.value, "effective_from": row.effective_from,
                    "effective_to": row.effective_to}

    @app.get(f"{API}/users", tags=["admin"], summary="Users, roles and scopes")
    def users_list(p: Who) -> dict[str, Any]:
        with uow(p, "API users") as u:
            rows = users.list_users(u)
        return {"items": [{"name": r.name, "role": r.role.value, "ori": r.ori, "state": r.state, "area": r.area,
                           "active": r.active, "created_at": r.created_at, "created_by": r.created_by}
                          for r in rows]}

    @app.post(f"{API}/users", tags=["admin"], status_code=201, summary="Add a user")
    def users_add(body: NewUser, p: Who) -> dict[str, Any]:
        with uow(p, "API users add", write=True) as u:
            r = users.add_user(u, body.name, body.role, ori=body.ori, state=body.state, area=body.area)
        return {"name": r.name, "role": r.role.value, "ori": r.ori, "state": r.state, "area": r.area}

    @app.post(f"{API}/users/{{name}}/disable", tags=["admin"], summary="Disable a user (and all its tokens)")
    def users_disable(name: str, body: Reason, p: Who) -> dict[str, Any]:
        with uow(p, "API users disable", write=True) as u:
            r = users.disable_user(u, name, reason=body.reason)
        return {"name": r.name, "active": r.active}

    @app.post(f"{API}/tokens", tags=["admin"], status_code=201, summary="Issue a token (shown once)")
    def tokens_issue(body: NewToken, p: Who) -> dict[str, Any]:
        with uow(p, "API token issue", write=True) as u:
            plain, info = tokens.issue_token(u, body.user, label=body.label, days=body.days)
        return {"token": plain, **_token(info)}

    @app.get(f"{API}/tokens", tags=["admin"], summary="Tokens (never the secrets)")
    def tokens_list(p: Who, user: str | None = None) -> dict[str, Any]:
        with uow(p, "API tokens") as u:
            return {"items": [_token(t) for t in tokens.list_tokens(u, user=user)]}

    @app.post(f"{API}/tokens/{{token_id}}/revoke", tags=["admin"], summary="Revoke a token")
    def tokens_revoke(token_id: int, body: Reason, p: Who) -> dict[str, Any]:
        with uow(p, "API token revoke", write=True) as u:
            info = tokens.revoke_token(u, token_id, reason=body.reason)
        return _token(info)

    if console:
        from securecomm.api import console as console_module

        console_module.mount(app)
    return app


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


def _tcn(tcn: str) -> str:
    if not tcn or len(tcn) > 64 or any(not ch.isprintable() or ch in "/\\" for ch in tcn):
        raise ApiError(404, "Not Found", "no such transaction")
    return tcn


def _response(r, index: int) -> dict[str, Any]:
    out = {"index": index, "kind": r.kind, "recipient": r.recipient, "role": r.recipient_role, "format": r.format,
           "created_at": r.created_at, "summary": r.summary}
    if r.format == "json":
        out["message"] = json.loads(r.payload)
    else:
        out["bytes"] = len(r.payload)
    return out


def _item(i) -> dict[str, Any]:
    return {"id": i.id, "tcn": i.tcn, "kind": i.kind, "reason": i.reason, "band": i.band, "score": i.score,
            "candidate": i.candidate, "state": i.state, "decision": i.decision, "resolved_by": i.resolved_by,
            "created_at": i.created_at, "resolved_at": i.resolved_at}


def _token(t: tokens.TokenInfo) -> dict[str, Any]:
    return {"id": t.id, "user": t.user, "label": t.label, "created_at": t.created_at, "created_by": t.created_by,
            "expires_at": t.expires_at, "revoked_at": t.revoked_at}


