"""Pure ASGI middleware (cheap on the hot path): request and correlation ids, body limit, metrics."""

from __future__ import annotations

import json
import time
from typing import Any

import structlog
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from atrium.core import context

REQUEST_LATENCY = Histogram(
    "atrium_http_request_duration_seconds",
    "HTTP request latency by route template",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
REQUEST_ERRORS = Counter("atrium_http_errors_total", "HTTP responses with status >= 400", ["method", "route", "status"])
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_LATENCY: dict[tuple[str, str], Any] = {}
log = structlog.get_logger("atrium.http")


_WANTED = frozenset({b"x-request-id", b"x-correlation-id", b"content-length"})


def _headers(scope: Scope) -> dict[bytes, str]:
    """The request headers this middleware reads, in one pass over them (at most 64 characters)."""
    found: dict[bytes, str] = {}
    for key, value in scope.get("headers", ()):
        if key in _WANTED and key not in found:  # the first of a repeated header, as before
            found[key] = value.decode("latin-1")[:64]
    return found


class RequestContextMiddleware:
    """Gives every request an id (X-Request-ID, taken from the caller when sane) and a
    correlation id, binds both to logs and events, and echoes them on the response."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app, self.max_body_bytes = app, max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        incoming = headers.get(b"x-request-id")
        request_id = incoming if incoming and incoming.replace("-", "").isalnum() else context.new_request_id()
        correlation = headers.get(b"x-correlation-id") or request_id
        tokens = (context.request_id.set(request_id), context.correlation_id.set(correlation))
        started = time.perf_counter()
        status_holder = [500]

        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._too_large(scope, send, request_id, correlation)
            self._observe(scope, 413, started)
            self._reset(tokens)
            return

        received = 0
        too_large = False
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    too_large = True
                    raise _BodyTooLarge()
            return message

        async def send_with_ids(message: Message) -> None:
            if too_large:  # the app caught _BodyTooLarge (FastAPI makes it a 400): answer 413 instead
                if message["type"] == "http.response.start":
                    status_holder[0] = 413
                    await self._too_large(scope, send, request_id, correlation)
                return
            if message["type"] == "http.response.start":
                nonlocal response_started
                response_started = True
                status_holder[0] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                headers.append((b"x-correlation-id", correlation.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_ids)
        except _BodyTooLarge:
            if status_holder[0] != 413:
                status_holder[0] = 413
                await self._too_large(scope, send, request_id, correlation)
        except Exception:
            # Answered here rather than by Starlette's outermost handler, so that a 500 too
            # carries the request id the operator needs to find its log line.
            log.exception("request.unhandled", path=scope["path"])
            if response_started:
                raise
            status_holder[0] = 500
            await self._problem(
                send,
                scope,
                request_id,
                correlation,
                500,
                "internal-error",
                "Internal error",
                "an unexpected error occurred; quote the request id",
            )
        finally:
            self._observe(scope, status_holder[0], started)
            self._reset(tokens)

    def _observe(self, scope: Scope, status: int, started: float) -> None:
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        method = scope["method"]
        label = method if method in _METHODS else "OTHER"  # a client may send any word: not a new series
        elapsed = time.perf_counter() - started
        latency = _LATENCY.get((label, route))
        if latency is None:  # one labelled child per route: labels() takes a lock on every call
            latency = _LATENCY[(label, route)] = REQUEST_LATENCY.labels(label, route)
        latency.observe(elapsed)
        if status >= 400:
            REQUEST_ERRORS.labels(label, route, str(status)).inc()
        log.info("request", method=method, route=route, path=scope["path"], status=status, ms=round(elapsed * 1000, 2))

    @staticmethod
    def _reset(tokens: tuple[Any, Any]) -> None:
        context.request_id.reset(tokens[0])
        context.correlation_id.reset(tokens[1])

    async def _too_large(self, scope: Scope, send: Send, request_id: str, correlation: str) -> None:
        detail = f"request body exceeds {self.max_body_bytes} bytes"
        await self._problem(send, scope, request_id, correlation, 413, "payload-too-large", "Payload too large", detail)

    @staticmethod
    async def _problem(
        send: Send, scope: Scope, request_id: str, correlation: str, status: int, code: str, title: str, detail: str
    ) -> None:
        body = json.dumps(
            {
                "type": f"https://atrium.dev/problems/{code}",
                "title": title,
                "status": status,
                "detail": detail,
                "code": code,
                "instance": scope["path"],
                "request_id": request_id,
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"x-request-id", request_id.encode()),
                    (b"x-correlation-id", correlation.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _BodyTooLarge(Exception):
    pass
