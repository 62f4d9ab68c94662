"""Scale guards: bounded engines for database-mode tenants, no SQLite attach limit for schema tenants."""

from __future__ import annotations

import asyncio

import httpx

from atrium.runtime import Runtime
from tests.conftest import create_tenant
from tests.platform.tenancy.conftest import AppFactory
from tests.platform.tenancy.helpers import sqlite_only


async def _round_trip(client: httpx.AsyncClient, slug: str, title: str) -> list[str]:
    created = await client.post(f"/api/v1/tenants/{slug}/notes", json={"title": title})
    assert created.status_code == 201, created.text
    listed = await client.get(f"/api/v1/tenants/{slug}/notes")
    assert listed.status_code == 200, listed.text
    return sorted(n["title"] for n in listed.json())


async def test_engine_cache_stays_bounded(app_factory: AppFactory) -> None:
    runtime, client = await app_factory(tenant_engine_cache_size=2)
    slugs = [f"db-{i}" for i in range(4)]
    for slug in slugs:
        await create_tenant(client, slug, "database")
        assert len(runtime.db.tenant_engines) <= 2
    for slug in slugs:
        assert await _round_trip(client, slug, "first") == ["first"]
        assert len(runtime.db.tenant_engines) <= 2
    # evicted engines come back on demand, in any order, also concurrently
    for slug in reversed(slugs):
        assert await _round_trip(client, slug, "second") == ["first", "second"]
        assert len(runtime.db.tenant_engines) <= 2
    results = await asyncio.gather(*(client.get(f"/api/v1/tenants/{s}/notes") for s in slugs * 2))
    assert [r.status_code for r in results] == [200] * 8
    assert [len(r.json()) for r in results] == [2] * 8
    assert len(runtime.db.tenant_engines) == 2


@sqlite_only
async def test_more_schema_tenants_than_sqlites_attach_limit(runtime: Runtime, client: httpx.AsyncClient) -> None:
    slugs = [f"many-{i:02d}" for i in range(12)]  # SQLite attaches at most 10 databases per connection
    for slug in slugs:
        await create_tenant(client, slug, "schema")
    for slug in slugs:
        assert await _round_trip(client, slug, f"note of {slug}") == [f"note of {slug}"]
    assert len({p.name for p in runtime.db.tenants_dir.glob("*.db")}) == 12

    # two tenants at once, then all of them at once, reading and writing
    pair = await asyncio.gather(_round_trip(client, slugs[0], "together"), _round_trip(client, slugs[11], "together"))
    assert pair == [[f"note of {slugs[0]}", "together"], [f"note of {slugs[11]}", "together"]]
    writes = await asyncio.gather(*(client.post(f"/api/v1/tenants/{s}/notes", json={"title": "burst"}) for s in slugs))
    assert [w.status_code for w in writes] == [201] * 12
    for slug in slugs:
        titles = [n["title"] for n in (await client.get(f"/api/v1/tenants/{slug}/notes")).json()]
        assert titles.count("burst") == 1
        assert f"note of {slug}" in titles
        assert not [t for t in titles if t.startswith("note of") and t != f"note of {slug}"]
