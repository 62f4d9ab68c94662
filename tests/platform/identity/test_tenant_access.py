"""Signed-in users and their API keys reach their own tenants only; another tenant is not found."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from atrium.platform.identity.models import ApiKey
from atrium.platform.tenancy import service as tenancy
from atrium.platform.tenancy.schemas import TenantCreate
from atrium.runtime import Runtime
from tests.platform.identity.conftest import SIGNUP

TENANT_ROUTES = ["", "/notes", "/settings", "/audit-events"]


async def _user_with_tenant(client: httpx.AsyncClient, sink: Any) -> dict[str, Any]:
    await client.post("/api/v1/auth/signup", json=SIGNUP)
    verified = (await client.post("/api/v1/auth/verify-email", json={"token": sink.last_token()})).json()
    login = await client.post("/api/v1/auth/login", json={"email": SIGNUP["email"], "password": SIGNUP["password"]})
    assert login.status_code == 200, login.text
    return dict(verified)


async def _other_tenant(rt: Runtime) -> str:
    return (await tenancy.create(rt, TenantCreate(slug="someone-else"))).slug


async def test_a_member_uses_their_tenant_and_another_tenant_is_not_found(auth: Any) -> None:
    client, sink, rt = auth
    mine = (await _user_with_tenant(client, sink))["tenant_slug"]
    other = await _other_tenant(rt)
    note = await client.post(f"/api/v1/tenants/{mine}/notes", json={"title": "mine"})
    assert note.status_code == 201, note.text
    for route in TENANT_ROUTES:
        assert (await client.get(f"/api/v1/tenants/{mine}{route}")).status_code == 200, route
        foreign = await client.get(f"/api/v1/tenants/{other}{route}")
        assert foreign.status_code == 404, route
        assert foreign.json()["code"] == "tenant-not-found"
    assert (await client.post(f"/api/v1/tenants/{other}/notes", json={"title": "x"})).status_code == 404


async def test_a_suspended_foreign_tenant_is_still_just_not_found(auth: Any) -> None:
    client, sink, rt = auth
    await _user_with_tenant(client, sink)
    other = await _other_tenant(rt)
    await tenancy.change_status(rt, other, "suspend")
    assert (await client.get(f"/api/v1/tenants/{other}/notes")).status_code == 404


async def test_members_are_not_platform_administrators(auth: Any) -> None:
    client, sink, _rt = auth
    await _user_with_tenant(client, sink)
    for method, path in (("GET", "/api/v1/platform/tenants"), ("GET", "/api/v1/platform/audit-events")):
        response = await client.request(method, path)
        assert response.status_code == 403, path
    created = await client.post("/api/v1/platform/tenants", json={"slug": "sneaky"})
    assert created.status_code == 403


async def test_an_api_key_is_shown_once_stored_hashed_and_works_in_its_tenant_only(auth: Any) -> None:
    client, sink, rt = auth
    mine = (await _user_with_tenant(client, sink))["tenant_slug"]
    other = await _other_tenant(rt)
    created = await client.post(
        "/api/v1/me/api-keys", json={"tenant": mine, "name": "ci", "scopes": ["notes.note.read"]}
    )
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    assert key.startswith("atk_") and created.json()["prefix"] == key[:12]
    listed = (await client.get("/api/v1/me/api-keys")).json()
    assert [k["prefix"] for k in listed] == [key[:12]] and "key" not in listed[0]
    async with rt.db.platform_session() as session:
        stored = (await session.execute(select(ApiKey))).scalar_one()
    assert key not in (stored.key_hash, stored.prefix) and len(stored.key_hash) == 64

    client.cookies.clear()
    bearer = {"Authorization": f"Bearer {key}"}
    assert (await client.get(f"/api/v1/tenants/{mine}/notes", headers=bearer)).status_code == 200
    assert (await client.get(f"/api/v1/tenants/{other}/notes", headers=bearer)).status_code == 404
    assert (await client.get("/api/v1/platform/tenants", headers=bearer)).status_code == 403


@pytest.mark.parametrize("how", ["revoked", "expired"])
async def test_a_revoked_or_expired_key_stops_working(auth: Any, how: str) -> None:
    client, sink, rt = auth
    mine = (await _user_with_tenant(client, sink))["tenant_slug"]
    created = (await client.post("/api/v1/me/api-keys", json={"tenant": mine, "name": "temp"})).json()
    if how == "revoked":
        revoked = await client.delete(f"/api/v1/me/api-keys/{created['id']}")
        assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    else:
        async with rt.db.platform_session() as session, session.begin():
            past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
            await session.execute(update(ApiKey).values(expires_at=past))
    client.cookies.clear()
    response = await client.get(f"/api/v1/tenants/{mine}/notes", headers={"Authorization": f"Bearer {created['key']}"})
    assert response.status_code == 401


async def test_keys_for_foreign_tenants_and_bad_scopes_are_refused(auth: Any) -> None:
    client, sink, rt = auth
    mine = (await _user_with_tenant(client, sink))["tenant_slug"]
    other = await _other_tenant(rt)
    foreign = await client.post("/api/v1/me/api-keys", json={"tenant": other, "name": "x"})
    assert foreign.status_code == 404
    bad = await client.post("/api/v1/me/api-keys", json={"tenant": mine, "name": "x", "scopes": ["DROP TABLE"]})
    assert bad.status_code == 422 and "scopes" in bad.json()["detail"]
    assert (await client.delete("/api/v1/me/api-keys/not-a-key")).status_code == 404


@pytest.mark.auth_settings(api_key_cache_seconds=0)
async def test_without_the_key_cache_a_revocation_elsewhere_applies_at_once(auth: Any) -> None:
    client, sink, rt = auth
    mine = (await _user_with_tenant(client, sink))["tenant_slug"]
    key = (await client.post("/api/v1/me/api-keys", json={"tenant": mine, "name": "x"})).json()["key"]
    client.cookies.clear()
    bearer = {"Authorization": f"Bearer {key}"}
    assert (await client.get(f"/api/v1/tenants/{mine}/notes", headers=bearer)).status_code == 200
    async with rt.db.platform_session() as session, session.begin():  # as another process would
        await session.execute(update(ApiKey).values(revoked_at=dt.datetime.now(dt.UTC)))
    assert (await client.get(f"/api/v1/tenants/{mine}/notes", headers=bearer)).status_code == 401
