"""Brute-force defence: failed sign-ins counted per account and per IP in a sliding window; past
the limit the caller must wait, and the wait doubles with every further failure."""

from __future__ import annotations

import time
from collections import defaultdict, deque


class LoginThrottle:
    """In-process (per api replica); a Redis-backed variant will share counts across replicas."""

    def __init__(self, max_failures: int, window_seconds: float) -> None:
        self.max_failures, self.window = max_failures, window_seconds
        self._failures: defaultdict[str, deque[float]] = defaultdict(deque)

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures[key]
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures

    def retry_after(self, *keys: str) -> float:
        """Seconds the caller must still wait (0 when it may try)."""
        now = time.monotonic()
        wait = 0.0
        for key in keys:
            failures = self._recent(key, now)
            excess = len(failures) - self.max_failures
            if excess >= 0:
                backoff = min(2.0**excess, self.window)
                wait = max(wait, failures[-1] + backoff - now)
        return max(wait, 0.0)

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        for key in keys:
            self._recent(key, now).append(now)

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self._failures.pop(key, None)
