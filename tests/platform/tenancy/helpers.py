"""Shared helpers of the tenancy tests: problem checks and where a tenant's storage lives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from atrium.core.db import TenantBase
from atrium.platform.tenancy import repository
from atrium.platform.tenancy.models import ProvisioningStep, Tenant
from atrium.platform.tenancy.registry import to_ref
from atrium.runtime import Runtime

ISOLATIONS = ["pooled", "schema", "database"]

# narrow the conftest's `backend` fixture to one backend
postgres_only = pytest.mark.parametrize(
    "backend", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
sqlite_only = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def assert_problem(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status (and code); returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["detail"], body
    if code is not None:
        assert body["code"] == code, body
    return body


async def tenant_row(runtime: Runtime, key: str) -> Tenant:
    async with runtime.db.platform_session() as session:
        tenant = await repository.get_by_key(session, key)
    assert tenant is not None, key
    return tenant


async def pooled_row_count(runtime: Runtime, tenant_id: str) -> int:
    """Rows carrying ``tenant_id`` in the shared tables (read as the owner, so RLS does not hide any)."""
    total = 0
    async with runtime.db.engine.connect() as conn:
        for table in TenantBase.metadata.sorted_tables:
            total += (await conn.execute(select(func.count()).where(table.c.tenant_id == tenant_id))).scalar_one()
    return total


def tenant_file(runtime: Runtime, tenant: Tenant) -> Path:
    """SQLite only: the file holding a schema- or database-mode tenant."""
    assert tenant.storage_name
    if tenant.isolation == "schema":
        return runtime.db.sqlite_tenant_file(tenant.storage_name)
    return Path(make_url(runtime.db.tenant_database_url(to_ref(tenant))).database or "")


async def postgres_schemas(runtime: Runtime) -> set[str]:
    async with runtime.db.engine.connect() as conn:
        rows = await conn.execute(text("SELECT schema_name FROM information_schema.schemata"))
        return {r[0] for r in rows}


async def postgres_databases(runtime: Runtime) -> set[str]:
    """Databases of this test's tenants (other tests create theirs on the same server meanwhile)."""
    prefix = (make_url(runtime.db.url).database or "")[:30]
    async with runtime.db.engine.connect() as conn:
        rows = await conn.execute(text("SELECT datname FROM pg_database WHERE starts_with(datname, :p)"), {"p": prefix})
        return {r[0] for r in rows}


async def storage_exists(runtime: Runtime, tenant: Tenant) -> bool:
    """Whether anything of the tenant's data remains where its isolation mode puts it."""
    if tenant.isolation == "pooled":
        return await pooled_row_count(runtime, tenant.id) > 0
    assert tenant.storage_name
    if runtime.db.is_sqlite:
        return tenant_file(runtime, tenant).exists()
    if tenant.isolation == "schema":
        return tenant.storage_name in await postgres_schemas(runtime)
    return tenant.storage_name in await postgres_databases(runtime)


async def footprint(runtime: Runtime) -> dict[str, Any]:
    """Everything a tenant creation could leave behind: registry rows, schemas, databases, files."""
    async with runtime.db.platform_session() as session:
        slugs = set((await session.execute(select(Tenant.slug))).scalars())
        steps = (await session.execute(select(func.count()).select_from(ProvisioningStep))).scalar_one()
    data_dir = runtime.settings.data_dir
    files = {str(p.relative_to(data_dir)) for p in data_dir.rglob("*") if not p.name.startswith("platform.db")}
    result: dict[str, Any] = {"tenants": slugs, "steps": steps, "files": files}
    if not runtime.db.is_sqlite:
        result["schemas"] = await postgres_schemas(runtime)
        result["databases"] = await postgres_databases(runtime)
    return result
