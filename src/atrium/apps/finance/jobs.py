"""Finance work outside a request (the CLI, scheduled jobs, the demo seed): one unit of work in a
tenant, acting with every permission under a named actor."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from atrium.api.deps import TenantContext
from atrium.core.errors import NotFound
from atrium.platform.access.auth import Access, system_access
from atrium.runtime import Runtime


@asynccontextmanager
async def acting(rt: Runtime, tenant: str, actor: str = "system") -> AsyncIterator[Access]:
    """Commit when the block ends without error; roll back (close uncommitted) otherwise."""
    ref = await rt.tenants.resolve(tenant)
    if ref is None:
        raise NotFound(f"no tenant {tenant!r}", field="tenant")
    async with rt.db.tenant_unit_of_work(ref) as (session, platform):
        yield system_access(TenantContext(ref, session, platform), actor)
        await rt.db.commit_unit_of_work(session, platform)
