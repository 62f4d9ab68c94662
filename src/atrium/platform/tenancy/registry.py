"""The tenant registry cache: a request resolves its tenant without a query most of the time.

With ``ATRIUM_REDIS_URL`` set, a lifecycle change in one process is announced on a Redis channel
and every other process drops its cached entry at once (instead of after the TTL).
"""

from __future__ import annotations

import json
import time
from typing import Any

import structlog

from atrium.core.tenancy import Database, TenantRef
from atrium.platform.tenancy import repository
from atrium.platform.tenancy.models import Tenant

INVALIDATION_CHANNEL = "atrium:tenants:invalidate"
log = structlog.get_logger(__name__)


def to_ref(tenant: Tenant) -> TenantRef:
    return TenantRef(
        id=tenant.id,
        slug=tenant.slug,
        name=tenant.name,
        isolation=tenant.isolation,
        region=tenant.region,
        status=tenant.status,
        storage_name=tenant.storage_name,
    )


class TenantRegistry:
    """Maps id or slug to a TenantRef; entries live ``ttl`` seconds and are dropped on change."""

    def __init__(self, db: Database, ttl: float, redis_url: str | None = None, max_entries: int = 20_000) -> None:
        self.db, self.ttl, self.max_entries = db, ttl, max_entries
        self._entries: dict[str, tuple[float, TenantRef]] = {}
        self._generation = 0  # bumped by every invalidation
        self._redis: Any = None
        if redis_url:
            import redis.asyncio as redis

            self._redis = redis.from_url(redis_url)

    async def resolve(self, key: str) -> TenantRef | None:
        hit = self._entries.get(key)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            return hit[1]
        generation = self._generation
        async with self.db.platform_session() as session:
            tenant = await repository.get_by_key(session, key)
        if tenant is None:
            return None
        ref = to_ref(tenant)
        if generation != self._generation:
            return ref  # a change landed while we read: answer, but do not cache what may be stale
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[ref.id] = self._entries[ref.slug] = (now + self.ttl, ref)
        return ref

    def _drop(self, *keys: str) -> None:
        self._generation += 1
        for key in keys:
            self._entries.pop(key, None)

    async def invalidate(self, ref: TenantRef | Tenant) -> None:
        """Forget a tenant here and, through Redis, in every other process."""
        self._drop(ref.id, ref.slug)
        if self._redis is not None:
            try:
                await self._redis.publish(INVALIDATION_CHANNEL, json.dumps([ref.id, ref.slug]))
            except Exception as exc:  # the TTL still bounds staleness
                log.warning("tenants.invalidation_not_published", error=repr(exc))

    async def listen(self) -> None:
        """Run in a background task: apply other processes' invalidations as they arrive."""
        if self._redis is None:
            return
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(INVALIDATION_CHANNEL)
        try:
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    self._drop(*json.loads(message["data"]))
        finally:
            await pubsub.aclose()

    def clear(self) -> None:
        self._entries.clear()

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
