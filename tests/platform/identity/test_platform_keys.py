"""Platform API keys (no tenant, platform administrators only) and the CSRF rule for changes made
with a session cookie."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from atrium.core.errors import Forbidden
from atrium.platform.identity import api_keys
from atrium.platform.identity import service as identity
from atrium.platform.identity.models import ApiKey, Membership, User
from atrium.platform.tenancy import service as tenancy
from atrium.platform.tenancy.schemas import TenantCreate
from atrium.runtime import Runtime

PASSWORD = "plum orchard lantern quietly"


async def test_the_bootstrap_key_is_a_platform_key_that_reaches_the_platform_api_and_every_tenant(
    client: httpx.AsyncClient, runtime: Runtime, admin_token: str
) -> None:
    assert (await client.get("/api/v1/platform/tenants")).status_code == 200
    created = await client.post("/api/v1/platform/tenants", json={"slug": "customer"})
    assert created.status_code == 201, created.text
    assert (await client.get("/api/v1/tenants/customer")).status_code == 200
    async with runtime.db.platform_session() as session:
        key = (await session.execute(select(ApiKey))).scalar_one()
        owner = await session.get(User, key.user_id)
    assert key.tenant_id is None and owner is not None and owner.is_platform_admin
    assert admin_token.startswith(key.prefix) and admin_token not in key.key_hash


async def test_only_platform_administrators_may_hold_a_platform_key(runtime: Runtime) -> None:
    async with runtime.db.platform_session() as session, session.begin():
        user = await identity.create_user(
            session, "user@example.com", PASSWORD, platform_admin=False, terms_version="t"
        )
    async with runtime.db.platform_session() as session, session.begin():
        with pytest.raises(Forbidden) as refused:
            await api_keys.create(session, user, None, name="sneaky", scopes=[], expires_in_days=None)
    assert refused.value.status_code == 403 and refused.value.extra == {"field": "tenant"}
    async with runtime.db.platform_session() as session:
        assert await session.scalar(select(func.count()).select_from(ApiKey)) == 0


async def test_a_platform_key_stops_working_when_its_owner_is_no_longer_a_platform_admin(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    assert (await client.get("/api/v1/platform/tenants")).status_code == 200
    async with runtime.db.platform_session() as session, session.begin():
        await session.execute(update(User).where(User.is_platform_admin.is_(True)).values(is_platform_admin=False))
    api_keys._verified.clear()  # what every process does within api_key_cache_seconds
    refused = await client.get("/api/v1/platform/tenants")
    assert refused.status_code == 401, refused.text
    assert (await client.get("/api/v1/platform/audit-events")).status_code == 401


async def test_a_revoked_platform_key_stops_at_once(client: httpx.AsyncClient, runtime: Runtime) -> None:
    assert (await client.get("/api/v1/platform/tenants")).status_code == 200
    async with runtime.db.platform_session() as session, session.begin():
        key = (await session.execute(select(ApiKey))).scalar_one()
        owner = await session.get(User, key.user_id)
        assert owner is not None
        await api_keys.revoke(session, owner, key.id)
    assert (await client.get("/api/v1/platform/tenants")).status_code == 401


async def test_a_cookie_authenticated_post_must_be_json_or_carry_the_csrf_header(auth: Any) -> None:
    client, _sink, rt = auth
    tenant_id = (await tenancy.create(rt, TenantCreate(slug="acme"))).id
    async with rt.db.platform_session() as session, session.begin():
        user = await identity.create_user(
            session, "member@acme.example", PASSWORD, platform_admin=False, terms_version="t"
        )
        session.add(Membership(user_id=user.id, tenant_id=tenant_id, role="Member"))
    login = await client.post("/api/v1/auth/login", json={"email": "member@acme.example", "password": PASSWORD})
    assert login.status_code == 200, login.text
    keys, notes = "/api/v1/me/api-keys", "/api/v1/tenants/acme/notes"

    # what a cross-site form or no-cors fetch can send
    assert (await client.post(keys, data={"tenant": "acme", "name": "x"})).status_code == 403
    assert (await client.post(keys, files={"name": ("x", b"x")})).status_code == 403
    plain = await client.post(keys, content=b'{"tenant": "acme"}', headers={"Content-Type": "text/plain"})
    assert plain.status_code == 403 and "X-CSRF-Token" in plain.json()["detail"]
    assert (await client.post(notes, data={"title": "x"})).status_code == 403
    assert (await client.post(keys, data={"x": "y"}, headers={"X-CSRF-Token": "guessed"})).status_code == 403

    # the console's token in the header lets a form through the rule (the route then wants JSON)
    page = await client.get("/account")
    assert page.status_code == 200, page.text
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text)
    assert match
    with_header = await client.post(keys, data={"tenant": "acme"}, headers={"X-CSRF-Token": match.group(1)})
    assert with_header.status_code == 422, with_header.text

    assert (await client.post(keys, json={"tenant": "acme", "name": "ci"})).status_code == 201
    assert (await client.post(notes, json={"title": "hello"})).status_code == 201
    async with rt.db.platform_session() as session:
        assert await session.scalar(select(func.count()).select_from(ApiKey)) == 1

    # an API key is not a cookie: the rule does not apply (the form is just not what the route takes)
    created = await client.post(keys, json={"tenant": "acme", "name": "second"})
    bearer = {"Authorization": f"Bearer {created.json()['key']}"}
    client.cookies.clear()
    assert (await client.post(notes, data={"title": "x"}, headers=bearer)).status_code == 422
    # a POST without a body passes the rule
    await client.post("/api/v1/auth/login", json={"email": "member@acme.example", "password": PASSWORD})
    assert (await client.post("/api/v1/auth/logout")).status_code == 204
