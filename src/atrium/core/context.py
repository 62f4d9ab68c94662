"""Per-request (or per-job) context: who acts, and the ids that tie logs, events and audit together."""

from __future__ import annotations

import uuid
from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
actor: ContextVar[str] = ContextVar("actor", default="system")
user_id: ContextVar[str | None] = ContextVar("user_id", default=None)


def new_request_id() -> str:
    return uuid.uuid4().hex
