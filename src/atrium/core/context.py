"""Per-request (or per-job) context: who acts, and the ids that tie logs, events and audit together."""

from __future__ import annotations

import random
from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
actor: ContextVar[str] = ContextVar("actor", default="system")
user_id: ContextVar[str | None] = ContextVar("user_id", default=None)


def new_request_id() -> str:
    """128 random bits as 32 hex digits. From Python's generator (seeded by the OS, and again in
    a forked child), not ``os.urandom``: an id is not a secret, and this runs on every request."""
    return f"{random.getrandbits(128):032x}"
