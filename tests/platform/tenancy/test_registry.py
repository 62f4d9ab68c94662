"""The tenant registry cache, alone and shared between processes through Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from atrium.cli.migrate import migrate_all
from atrium.platform.tenancy import service
from atrium.platform.tenancy.schemas import TenantCreate
from atrium.runtime import Runtime
from tests.conftest import make_settings


async def _eventually(predicate: Callable[[], Awaitable[bool]], seconds: float = 5.0) -> bool:
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.05)
    return False


async def test_cache_serves_without_query_until_invalidated(runtime: Runtime) -> None:
    runtime.tenants.ttl = 3600
    tenant = await service.create(runtime, TenantCreate(slug="cached"))
    first = await runtime.tenants.resolve("cached")
    assert first is not None and first.status == "active"
    assert await runtime.tenants.resolve(tenant.id) is first  # same cached object, by id too
    await service.change_status(runtime, "cached", "suspend")
    after = await runtime.tenants.resolve("cached")
    assert after is not None and after.status == "suspended"


async def test_a_change_in_one_process_reaches_the_others_through_redis(
    database_url: str, tmp_path: Path, redis_url: str
) -> None:
    settings = make_settings(database_url, tmp_path / "var", redis_url=redis_url, tenant_cache_ttl_seconds=3600)
    api_a, api_b = Runtime(settings), Runtime(settings)
    listener = asyncio.create_task(api_b.tenants.listen())
    try:
        await migrate_all(api_a, show_progress=False)
        await service.create(api_a, TenantCreate(slug="shared-cache"))
        cached = await api_b.tenants.resolve("shared-cache")
        assert cached is not None and cached.status == "active"
        await asyncio.sleep(0.2)  # let B's subscription settle
        await service.change_status(api_a, "shared-cache", "suspend")

        async def b_sees_suspension() -> bool:
            ref = await api_b.tenants.resolve("shared-cache")
            return ref is not None and ref.status == "suspended"

        assert await _eventually(b_sees_suspension), "process B kept serving the stale tenant"
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
        await api_a.close()
        await api_b.close()
