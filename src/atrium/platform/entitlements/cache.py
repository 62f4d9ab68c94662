"""The per-process cache of entitlement snapshots: a request's check is a dict lookup.

A write in this process drops the tenant's entry at once (after its commit, so no request can
re-cache the old value in between); other processes see the change when their entry expires,
``CACHE_SECONDS`` at most.
"""

from __future__ import annotations

from time import monotonic
from typing import TYPE_CHECKING

from atrium.platform.entitlements.source import Entitlements, EntitlementSource, TableSource

if TYPE_CHECKING:
    from atrium.core.tenancy import Database

CACHE_SECONDS = 5.0


class EntitlementCache:
    """tenant id → (monotonic deadline, snapshot), read through an ``EntitlementSource``."""

    def __init__(
        self, source: EntitlementSource | None = None, ttl: float = CACHE_SECONDS, max_entries: int = 20_000
    ) -> None:
        self.source: EntitlementSource = source or TableSource()
        self.ttl, self.max_entries = ttl, max_entries
        self._entries: dict[str, tuple[float, Entitlements]] = {}
        self._generation = 0  # bumped by every invalidation

    async def get(self, db: Database, tenant_id: str) -> Entitlements:
        hit = self._entries.get(tenant_id)
        if hit is not None and hit[0] > monotonic():
            return hit[1]
        return await self._load(db, tenant_id)

    async def _load(self, db: Database, tenant_id: str) -> Entitlements:
        generation = self._generation
        async with db.platform_session() as session:
            found = await self.source.snapshot(session, tenant_id)
        if generation != self._generation:
            return found  # a change landed while we read: answer, but do not cache what may be stale
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[tenant_id] = (monotonic() + self.ttl, found)
        return found

    def invalidate(self, tenant_id: str) -> None:
        self._generation += 1
        self._entries.pop(tenant_id, None)

    def use_source(self, source: EntitlementSource) -> None:
        """Switch the source (billing's plans, a test's stub); every cached snapshot is dropped."""
        self.source = source
        self.clear()

    def clear(self) -> None:
        self._generation += 1
        self._entries.clear()
