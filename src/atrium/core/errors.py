"""One exception hierarchy; each error knows its HTTP status and a stable code (RFC 9457 `type`)."""

from __future__ import annotations

from typing import Any


class AtriumError(Exception):
    status_code = 500
    code = "internal-error"
    title = "Internal error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    def problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"https://atrium.dev/problems/{self.code}",
            "title": self.title,
            "status": self.status_code,
            "detail": self.detail,
            "code": self.code,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


class BadRequest(AtriumError):
    status_code = 400
    code = "bad-request"
    title = "Bad request"


class ValidationFailed(AtriumError):
    status_code = 422
    code = "validation-failed"
    title = "Validation failed"


class NotFound(AtriumError):
    status_code = 404
    code = "not-found"
    title = "Not found"


class Conflict(AtriumError):
    status_code = 409
    code = "conflict"
    title = "Conflict"


class Forbidden(AtriumError):
    status_code = 403
    code = "forbidden"
    title = "Forbidden"


class Unauthorized(AtriumError):
    status_code = 401
    code = "unauthorized"
    title = "Authentication required"


class PayloadTooLarge(AtriumError):
    status_code = 413
    code = "payload-too-large"
    title = "Payload too large"


class ServiceUnavailable(AtriumError):
    status_code = 503
    code = "service-unavailable"
    title = "Service unavailable"
