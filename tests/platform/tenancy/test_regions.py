"""Database-mode tenants live on their region's server."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url

from atrium.platform.tenancy.registry import to_ref
from tests.conftest import POSTGRES_URL, create_tenant
from tests.platform.tenancy.conftest import AppFactory
from tests.platform.tenancy.helpers import postgres_databases, storage_exists, tenant_file, tenant_row


async def test_database_tenant_in_a_second_region(app_factory: AppFactory, backend: str, tmp_path: Path) -> None:
    eu_dir = tmp_path / "eu-store"
    eu_server = POSTGRES_URL if backend == "postgresql" else f"sqlite:///{eu_dir / 'platform.db'}"
    runtime, client = await app_factory(regions={"eu": eu_server})

    tenant = await create_tenant(client, "eu-corp", "database", region="eu")
    home = await create_tenant(client, "home-corp", "database")
    assert (tenant["region"], home["region"]) == ("eu", "default")
    summary = (await client.get("/api/v1/tenants/eu-corp")).json()
    assert (summary["region"], summary["isolation"], summary["status"]) == ("eu", "database", "active")

    for slug in ("eu-corp", "home-corp"):
        assert (await client.post(f"/api/v1/tenants/{slug}/notes", json={"title": f"from {slug}"})).status_code == 201
    for slug in ("eu-corp", "home-corp"):
        listed = (await client.get(f"/api/v1/tenants/{slug}/notes")).json()
        assert [n["title"] for n in listed] == [f"from {slug}"]

    row = await tenant_row(runtime, "eu-corp")
    url = make_url(runtime.db.tenant_database_url(to_ref(row)))
    if backend == "postgresql":
        eu = make_url(eu_server)
        assert (url.host, url.port, url.username) == (eu.host, eu.port or 5432, eu.username)
        assert url.database == row.storage_name
        assert row.storage_name in await postgres_databases(runtime)
    else:
        path = tenant_file(runtime, row)
        assert path == eu_dir / "tenants" / f"{row.storage_name}.db"
        assert path.is_file()
        assert not (runtime.db.tenants_dir / path.name).exists()
        home_path = tenant_file(runtime, await tenant_row(runtime, "home-corp"))
        assert home_path.parent == runtime.db.tenants_dir and home_path.is_file()

    created = await client.get(
        "/api/v1/platform/audit-events", params={"tenant": tenant["id"], "action": "tenant.created"}
    )
    assert created.json()["items"][0]["data"]["region"] == "eu"

    assert (await client.post("/api/v1/platform/tenants/eu-corp/archive")).status_code == 200
    assert (await client.delete("/api/v1/platform/tenants/eu-corp")).json()["status"] == "deleted"
    assert not await storage_exists(runtime, row)
    assert (await client.get("/api/v1/tenants/home-corp/notes")).status_code == 200
