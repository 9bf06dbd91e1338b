"""Errors as RFC 9457 problem documents: what is wrong, never how the server is built.

Input the caller can fix -> 4xx naming the field or value; refusals -> 401/403/404;
a busy or unreachable store -> 503 with ``Retry-After``; anything else -> 500 with an
opaque incident id (the details go to the server log only).
"""

from __future__ import annotations

import logging
import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from securecomm.services import NotFound, PermissionDenied
from securecomm.services.tokens import InvalidToken

log = logging.getLogger("securecomm.api")

PROBLEM = "application/problem+json"
RETRY_AFTER_S = 5


class ApiError(Exception):
    """An error the API answers as it is (status, title, detail, extra headers)."""

    def __init__(self, status: int, title: str, detail: str = "", headers: dict[str, str] | None = None) -> None:
        super().__init__(detail or title)
        self.status, self.title, self.detail, self.headers = status, title, detail, headers or {}


def problem(status: int, title: str, detail: str = "", *, headers: dict[str, str] | None = None,
            **extra) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError):
        return problem(exc.status, exc.title, exc.detail, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException):
        titles = {404: "Not Found", 405: "Method Not Allowed", 413: "Payload Too Large"}
        return problem(exc.status_code, titles.get(exc.status_code, "Error"),
                       exc.detail if isinstance(exc.detail, str) else "", headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError):
        errors = [{"where": ".".join(str(p) for p in e.get("loc", ())), "problem": e.get("msg", "")}
                  for e in exc.errors()][:20]
        what = "; ".join(f"{e['where']}: {e['problem']}" for e in errors)
        return problem(422, "Invalid request", what[:500], errors=errors)

    @app.exception_handler(InvalidToken)
    async def _token(_: Request, exc: InvalidToken):
        return problem(401, "Unauthorized", str(exc), headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})

    @app.exception_handler(PermissionDenied)
    async def _denied(_: Request, exc: PermissionDenied):
        return problem(403, "Forbidden", f"role {exc.principal.role.value} may not {exc.operation}"
                       + (f": {exc.why}" if exc.why and exc.why != "no such operation" else ""))

    @app.exception_handler(LookupError)
    async def _missing(_: Request, exc: LookupError):
        text = str(exc.args[0]) if exc.args else "not found"
        return problem(404, "Not Found", text if isinstance(exc, NotFound) or "TCN" in text else "not found")

    @app.exception_handler(ValueError)
    async def _value(_: Request, exc: ValueError):
        return problem(422, "Unprocessable request", str(exc)[:500])

    @app.exception_handler(OperationalError)
    async def _busy(request: Request, exc: OperationalError):
        log.warning("store unavailable on %s %s: %s", request.method, request.url.path, str(exc).splitlines()[0])
        return problem(503, "Service Unavailable", "the store is busy or unreachable; retry shortly",
                       headers={"Retry-After": str(RETRY_AFTER_S)})

    @app.exception_handler(SQLAlchemyError)
    async def _store(request: Request, exc: SQLAlchemyError):
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            return await _busy(request, exc)  # type: ignore[arg-type]
        return _incident(request, exc)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception):
        return _incident(request, exc)


def _incident(request: Request, exc: Exception) -> JSONResponse:
    incident = uuid.uuid4().hex[:12]
    log.error("incident %s on %s %s", incident, request.method, request.url.path, exc_info=exc)
    return problem(500, "Internal Server Error", f"an unexpected error; quote incident {incident}",
                   incident=incident)
