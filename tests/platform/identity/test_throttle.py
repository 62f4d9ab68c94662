"""The brute-force throttle, in process and shared through the real Redis: the limit, the doubling
wait, success clearing the count, and two replicas seeing the same count."""

from __future__ import annotations

import uuid

import pytest

from atrium.platform.identity.throttle import MemoryThrottle, RedisThrottle


async def _exercise(first: MemoryThrottle | RedisThrottle, second: MemoryThrottle | RedisThrottle) -> None:
    key, other = f"account:{uuid.uuid4().hex}", f"ip:{uuid.uuid4().hex}"
    for _ in range(3):
        assert await first.retry_after(key) == 0
        await second.failed(key)
    wait = await first.retry_after(key, other)
    assert 0.5 < wait <= 1.0  # the limit reached: wait 2**0 s
    await first.failed(key)
    assert 1.0 < await second.retry_after(key) <= 2.0  # one more failure doubles it
    assert await first.retry_after(other) == 0  # keys are independent
    await second.succeeded(key)
    assert await first.retry_after(key) == 0


async def test_in_process_throttle() -> None:
    throttle = MemoryThrottle(max_failures=3, window_seconds=60)
    await _exercise(throttle, throttle)


@pytest.mark.xdist_group("redis")
async def test_redis_throttle_is_shared_by_replicas(redis_url: str) -> None:
    one = RedisThrottle(redis_url, max_failures=3, window_seconds=60)
    two = RedisThrottle(redis_url, max_failures=3, window_seconds=60)
    try:
        await _exercise(one, two)
    finally:
        await one.close()
        await two.close()


async def test_redis_counts_expire_with_the_window(redis_url: str) -> None:
    throttle = RedisThrottle(redis_url, max_failures=1, window_seconds=1)
    key = f"account:{uuid.uuid4().hex}"
    try:
        await throttle.failed(key)
        await throttle.failed(key)
        assert await throttle.retry_after(key) > 0
        ttl = await throttle._redis.ttl(RedisThrottle.PREFIX + key)
        assert 0 < ttl <= 2  # nothing outlives the window in Redis
    finally:
        await throttle.close()
