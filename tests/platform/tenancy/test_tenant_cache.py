"""The registry cache never lets a request through on a tenant's stale status."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from atrium.platform.tenancy import provisioning
from atrium.platform.tenancy.models import Tenant
from atrium.platform.tenancy.provisioning import STEPS, Step
from tests.conftest import create_tenant
from tests.platform.tenancy.conftest import AppFactory
from tests.platform.tenancy.helpers import assert_problem

PLATFORM = "/api/v1/platform/tenants"


async def test_lifecycle_changes_apply_on_the_next_request_despite_a_long_ttl(app_factory: AppFactory) -> None:
    runtime, client = await app_factory(tenant_cache_ttl_seconds=3600)
    tenant = await create_tenant(client, "cached-co", "schema")
    notes = "/api/v1/tenants/cached-co/notes"
    assert (await client.get(notes)).status_code == 200

    # the cache is really in use: a change behind the service's back is not seen
    async with runtime.db.platform_session() as session, session.begin():
        await session.execute(update(Tenant).where(Tenant.id == tenant["id"]).values(name="Renamed Directly"))
    assert (await client.get("/api/v1/tenants/cached-co")).json()["name"] == "cached-co"

    assert (await client.post(f"{PLATFORM}/cached-co/suspend")).status_code == 200
    body = assert_problem(await client.get(notes), 403, "tenant-inactive")
    assert body["tenant_status"] == "suspended"
    assert_problem(await client.get(f"/api/v1/tenants/{tenant['id']}/notes"), 403, "tenant-inactive")

    assert (await client.post(f"{PLATFORM}/cached-co/resume")).status_code == 200
    assert (await client.get(notes)).status_code == 200
    assert (await client.get("/api/v1/tenants/cached-co")).json()["name"] == "Renamed Directly"

    assert (await client.post(f"{PLATFORM}/{tenant['id']}/archive")).status_code == 200
    assert_problem(await client.get(notes), 403, "tenant-inactive")
    assert (await client.delete(f"{PLATFORM}/cached-co")).status_code == 200
    assert_problem(await client.get(notes), 410, "tenant-deleted")
    assert_problem(await client.get(f"/api/v1/tenants/{tenant['id']}/notes"), 410, "tenant-deleted")


async def test_finished_provisioning_applies_on_the_next_request(
    app_factory: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, client = await app_factory(tenant_cache_ttl_seconds=3600)

    async def boom(rt: Any, ref: Any, tenant: Any) -> str:
        raise RuntimeError("not yet")

    monkeypatch.setattr(provisioning, "STEPS", [Step(s.name, boom) if s.name == "telemetry" else s for s in STEPS])
    created = await client.post(PLATFORM, json={"slug": "late-co", "isolation": "schema"})
    assert created.json()["status"] == "provisioning"
    assert_problem(await client.get("/api/v1/tenants/late-co/notes"), 409, "tenant-provisioning")  # now cached

    monkeypatch.setattr(provisioning, "STEPS", STEPS)
    assert (await client.post(f"{PLATFORM}/late-co/resume-provisioning")).json()["status"] == "active"
    assert (await client.get("/api/v1/tenants/late-co/notes")).status_code == 200
