"""SCIM error responses (RFC 7644 §3.12): ``application/scim+json`` bodies of the Error message,
status as a string and a ``scimType`` where one applies. IdPs read these, not problem+json."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from scim2_models import Context, Error, InvalidValueException, SCIMException
from starlette.exceptions import HTTPException

from atrium.api.routing import APIRoute
from atrium.core.errors import AtriumError

SCIM_JSON = "application/scim+json"


class ScimResponse(JSONResponse):
    media_type = SCIM_JSON


def error_response(error: Error) -> ScimResponse:
    status = error.status or 500
    headers = {"WWW-Authenticate": 'Bearer realm="Atrium SCIM"'} if status == 401 else None
    return ScimResponse(error.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE), status_code=status, headers=headers)


def as_error(exc: Exception) -> Error | None:
    """The SCIM error an exception stands for, or None for an unexpected one (a 500 elsewhere)."""
    if isinstance(exc, SCIMException):
        return exc.to_error()
    if isinstance(exc, AtriumError):
        return Error(status=exc.status_code, detail=exc.detail)
    if isinstance(exc, RequestValidationError):
        return InvalidValueException(detail=str(exc.errors()[0].get("msg", "invalid request"))).to_error()
    if isinstance(exc, HTTPException):
        return Error(status=exc.status_code, detail=str(exc.detail))
    return None


class ScimRoute(APIRoute):
    """A route whose failures (its dependencies' too) answer SCIM errors instead of problem+json."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def scim_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                error = as_error(exc)
                if error is None:
                    raise
                return error_response(error)

        return scim_handler
