from __future__ import annotations

import httpx
import pytest

from tests.conftest import create_tenant


@pytest.mark.parametrize("isolation", ["pooled", "schema", "database"])
async def test_create_tenant_then_use_its_notes(client: httpx.AsyncClient, isolation: str) -> None:
    tenant = await create_tenant(client, f"acme-{isolation}", isolation)
    assert [s["status"] for s in tenant["provisioning"]][:7] == ["succeeded"] * 7
    created = await client.post(f"/api/v1/tenants/{tenant['slug']}/notes", json={"title": "hello"})
    assert created.status_code == 201, created.text
    listed = await client.get(f"/api/v1/tenants/{tenant['id']}/notes")
    assert [n["title"] for n in listed.json()] == ["hello"]
