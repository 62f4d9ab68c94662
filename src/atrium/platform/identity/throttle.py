"""Brute-force defence: failed attempts counted per key (an account, an IP, a client) in a
sliding window; past the limit the caller must wait, and the wait doubles with every further
failure (capped at the window).

Two stores with one interface: in-process (one api replica, the embedded default) and Redis
(counts shared by every replica, so an attacker gains nothing by spreading attempts over them).
Redis keeps each key's failure times in a sorted set that expires with the window.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict, deque
from typing import Any, Protocol


def _wait(times: list[float], now: float, max_failures: int, window: float) -> float:
    excess = len(times) - max_failures
    if excess < 0 or not times:
        return 0.0
    return max(times[-1] + min(2.0**excess, window) - now, 0.0)


class LoginThrottle(Protocol):
    async def retry_after(self, *keys: str) -> float:
        """Seconds the caller must still wait (0 when it may try)."""

    async def failed(self, *keys: str) -> None: ...

    async def succeeded(self, *keys: str) -> None: ...


class MemoryThrottle:
    """Counts in this process only."""

    def __init__(self, max_failures: int, window_seconds: float) -> None:
        self.max_failures, self.window = max_failures, window_seconds
        self._failures: defaultdict[str, deque[float]] = defaultdict(deque)

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures[key]
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures

    async def retry_after(self, *keys: str) -> float:
        now = time.monotonic()
        return max((_wait(list(self._recent(k, now)), now, self.max_failures, self.window) for k in keys), default=0.0)

    async def failed(self, *keys: str) -> None:
        now = time.monotonic()
        for key in keys:
            self._recent(key, now).append(now)

    async def succeeded(self, *keys: str) -> None:
        for key in keys:
            self._failures.pop(key, None)


class RedisThrottle:
    """Counts shared through Redis (wall-clock times, so every replica agrees)."""

    PREFIX = "atrium:throttle:"

    def __init__(self, redis_url: str, max_failures: int, window_seconds: float) -> None:
        import redis.asyncio as redis

        self.max_failures, self.window = max_failures, window_seconds
        self._redis: Any = redis.from_url(redis_url)

    async def retry_after(self, *keys: str) -> float:
        now = time.time()
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.zrangebyscore(self.PREFIX + key, now - self.window, "+inf", withscores=True)
            results = await pipe.execute()
        return max(
            (_wait([score for _, score in rows], now, self.max_failures, self.window) for rows in results),
            default=0.0,
        )

    async def failed(self, *keys: str) -> None:
        now = time.time()
        async with self._redis.pipeline(transaction=True) as pipe:
            for key in keys:
                name = self.PREFIX + key
                pipe.zremrangebyscore(name, "-inf", now - self.window)
                pipe.zadd(name, {uuid.uuid4().hex: now})
                pipe.expire(name, int(self.window) + 1)
            await pipe.execute()

    async def succeeded(self, *keys: str) -> None:
        await self._redis.delete(*(self.PREFIX + k for k in keys))

    async def close(self) -> None:
        await self._redis.aclose()


def make_throttle(redis_url: str | None, max_failures: int, window_seconds: float) -> MemoryThrottle | RedisThrottle:
    if redis_url:
        return RedisThrottle(redis_url, max_failures, window_seconds)
    return MemoryThrottle(max_failures, window_seconds)
