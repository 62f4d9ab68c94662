"""The tenant registry cache: a request resolves its tenant without a query most of the time."""

from __future__ import annotations

import time

from atrium.core.tenancy import Database, TenantRef
from atrium.platform.tenancy import repository
from atrium.platform.tenancy.models import Tenant


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

    def __init__(self, db: Database, ttl: float, max_entries: int = 20_000) -> None:
        self.db, self.ttl, self.max_entries = db, ttl, max_entries
        self._entries: dict[str, tuple[float, TenantRef]] = {}

    async def resolve(self, key: str) -> TenantRef | None:
        hit = self._entries.get(key)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            return hit[1]
        async with self.db.platform_session() as session:
            tenant = await repository.get_by_key(session, key)
        if tenant is None:
            return None
        ref = to_ref(tenant)
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[ref.id] = self._entries[ref.slug] = (now + self.ttl, ref)
        return ref

    def invalidate(self, ref: TenantRef | Tenant) -> None:
        self._entries.pop(ref.id, None)
        self._entries.pop(ref.slug, None)

    def clear(self) -> None:
        self._entries.clear()
