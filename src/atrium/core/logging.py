"""Structured logs (structlog): JSON lines carrying request and correlation ids."""

from __future__ import annotations

import logging
import sys

import structlog

from atrium.core import context


def _ids(logger: object, method: str, event: structlog.typing.EventDict) -> structlog.typing.EventDict:
    """The request (or job) and correlation ids, read from ``core.context`` where the request
    middleware and the workers set them: nothing to bind and unbind per request."""
    request_id, correlation_id = context.request_id.get(), context.correlation_id.get()
    if request_id is not None:
        event.setdefault("request_id", request_id)
    if correlation_id is not None:
        event.setdefault("correlation_id", correlation_id)
    return event


def configure(level: str = "INFO", json_lines: bool = True) -> None:
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json_lines else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            _ids,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
