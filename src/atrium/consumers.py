"""Event consumers shipped with the platform (importing this module registers them)."""

from __future__ import annotations

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.core.events.consumers import registry
from atrium.core.events.envelope import CloudEvent

TENANT_EVENTS = Counter("atrium_tenant_lifecycle_events_total", "Tenant lifecycle events consumed", ["type"])


@registry.register("ops.tenant-lifecycle-metrics", "tenant.events")
async def count_tenant_lifecycle(session: AsyncSession, event: CloudEvent) -> None:
    """Feeds the operators' dashboard with tenant lifecycle counts."""
    TENANT_EVENTS.labels(event.type).inc()
