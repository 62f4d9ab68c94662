"""Every error path answers ``application/problem+json`` (RFC 9457)."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from atrium.core import context
from atrium.core.errors import AtriumError
from atrium.core.tenancy import TenantIsolationError

log = structlog.get_logger(__name__)
PROBLEM_JSON = "application/problem+json"


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_JSON


def wants_html(request: Request) -> bool:
    """Console pages get an HTML error page; the API (and anything asking for JSON) a problem."""
    return not request.url.path.startswith(("/api/", "/scim/")) and "text/html" in request.headers.get("accept", "")


def _html(request: Request, body: dict[str, Any]) -> Response:
    from atrium.web.console import templates

    return templates.TemplateResponse(
        request,
        "console/error.html",
        {**body, "csrf_token": "", "flashes": [], "tenant_choices": [], "admin_email": None},
        status_code=body["status"],
    )


def _respond(request: Request, body: dict[str, Any]) -> Response:
    return _html(request, body) if wants_html(request) else ProblemResponse(body, status_code=body["status"])


def problem(status: int, title: str, detail: str, code: str, request: Request, **extra: Any) -> Response:
    body = {
        "type": f"https://atrium.dev/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": request.url.path,
        "request_id": context.request_id.get(),
        **extra,
    }
    return _respond(request, body)


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or ".".join(str(p) for p in loc)


async def atrium_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AtriumError)
    body = exc.problem(request.url.path)
    body["request_id"] = context.request_id.get()
    return _respond(request, body)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": _field(tuple(e.get("loc", ()))), "message": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    if any(e["type"] == "json_invalid" for e in errors):
        return problem(
            400, "Malformed JSON", "the request body is not valid JSON", "malformed-json", request, errors=errors
        )
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem(422, "Validation failed", summary, "validation-failed", request, errors=errors)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    titles = {404: "Not found", 405: "Method not allowed", 413: "Payload too large"}
    explanations = {
        404: f"nothing at {request.url.path}",
        405: f"{request.method} is not allowed on {request.url.path}",
    }
    title = titles.get(exc.status_code, "HTTP error")
    generic = not isinstance(exc.detail, str) or exc.detail.lower() == title.lower()
    detail = explanations.get(exc.status_code, title) if generic else str(exc.detail)
    return problem(exc.status_code, title, detail, title.lower().replace(" ", "-"), request)


async def _isolation_error(request: Request, exc: Exception) -> Response:
    return problem(404, "Not found", "no such object in this tenant", "not-found", request)


async def _unhandled(request: Request, exc: Exception) -> Response:
    log.exception("request.unhandled", path=request.url.path)
    return problem(
        500, "Internal error", "an unexpected error occurred; quote the request id", "internal-error", request
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(AtriumError, atrium_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(TenantIsolationError, _isolation_error)
    app.add_exception_handler(Exception, _unhandled)
