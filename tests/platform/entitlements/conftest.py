"""Entitlement tests use the identity fixtures (the ASGI app, a real SMTP sink on loopback) and a
small world: tenant ``acme`` with a Tenant Admin and a Member, tenant ``globex`` with its own
Tenant Admin, and a Platform Admin; each signs in on a client of their own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from atrium.api.app import create_app
from atrium.platform.identity import service as identity
from atrium.platform.identity.models import Membership
from atrium.platform.tenancy import service as tenancy
from atrium.platform.tenancy.schemas import TenantCreate
from atrium.runtime import Runtime
from tests.platform.identity.conftest import Sink, auth, smtp

__all__ = ["World", "auth", "smtp", "world"]

PASSWORD = "plum orchard lantern quietly"


@dataclass
class World:
    rt: Runtime
    sink: Sink
    app: Any
    acme_id: str
    globex_id: str
    operator: httpx.AsyncClient  # Platform Admin
    acme_admin: httpx.AsyncClient  # Tenant Admin of acme
    acme_member: httpx.AsyncClient  # Member of acme
    globex_admin: httpx.AsyncClient  # Tenant Admin of globex

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://atrium.test")


async def person(
    rt: Runtime, email: str, tenant_id: str | None = None, role: str = "Member", admin: bool = False
) -> str:
    """A verified account (optionally a member), made directly: one password hash, no mail."""
    async with rt.db.platform_session() as session, session.begin():
        user = await identity.create_user(session, email, PASSWORD, terms_version="test", platform_admin=admin)
        if tenant_id is not None:
            session.add(Membership(user_id=user.id, tenant_id=tenant_id, role=role))
    return user.id


async def sign_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> None:
    client.cookies.clear()
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text


@pytest.fixture
async def world(auth: Any) -> AsyncIterator[World]:
    _client, sink, rt = auth
    app = create_app(runtime=rt, embedded_worker=False)
    acme = await tenancy.create(rt, TenantCreate(slug="acme", name="Acme Ltd"))
    globex = await tenancy.create(rt, TenantCreate(slug="globex", name="Globex"))
    await person(rt, "operator@atrium.example", admin=True)
    await person(rt, "admin@acme.example", acme.id, identity.TENANT_ADMIN)
    await person(rt, "member@acme.example", acme.id)
    await person(rt, "admin@globex.example", globex.id, identity.TENANT_ADMIN)
    clients = [
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://atrium.test") for _ in range(4)
    ]
    for client, email in zip(
        clients,
        ("operator@atrium.example", "admin@acme.example", "member@acme.example", "admin@globex.example"),
        strict=True,
    ):
        await sign_in(client, email)
    try:
        yield World(rt, sink, app, acme.id, globex.id, *clients)
    finally:
        for client in clients:
            await client.aclose()
