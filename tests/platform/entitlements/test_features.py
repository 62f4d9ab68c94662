"""Features of the plan guard their routes too: with SSO, SCIM or API access switched off, the
tenant's routes for them answer 403 naming the entitlement, and on again they work at once."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import create_tenant


@pytest.mark.parametrize(
    ("feature", "path"),
    [
        ("feature.sso", "/api/v1/tenants/acme/sso/connections"),
        ("feature.scim", "/api/v1/tenants/acme/scim/token"),
        ("feature.api_access", "/api/v1/tenants/acme/oauth-clients"),
    ],
)
async def test_a_switched_off_feature_closes_its_routes(client: httpx.AsyncClient, feature: str, path: str) -> None:
    await create_tenant(client, "acme")
    assert (await client.get(path)).status_code in (200, 404)  # 404: no SCIM token yet
    off = await client.put(f"/api/v1/tenants/acme/entitlements/{feature}", json={"value": False})
    assert off.status_code == 200, off.text
    refused = await client.get(path)
    assert refused.status_code == 403 and refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["entitlement"] == feature
    assert (await client.delete(f"/api/v1/tenants/acme/entitlements/{feature}")).status_code == 200
    assert (await client.get(path)).status_code in (200, 404)
