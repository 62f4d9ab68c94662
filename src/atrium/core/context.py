"""Per-request (or per-job) context: who acts, and the ids that tie logs, events and audit together."""

from __future__ import annotations

import os
import random
from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
actor: ContextVar[str] = ContextVar("actor", default="system")
user_id: ContextVar[str | None] = ContextVar("user_id", default=None)


# Request ids are not secrets, and one is made on every request: a generator of their own (seeded
# by the OS, again in a forked child) rather than os.urandom. Their own, so that ids echoed to
# callers tell nothing about the state of the random module anything else might draw from.
_ids = random.Random()
os.register_at_fork(after_in_child=_ids.seed)


def new_request_id() -> str:
    """128 random bits as 32 hex digits."""
    return f"{_ids.getrandbits(128):032x}"
