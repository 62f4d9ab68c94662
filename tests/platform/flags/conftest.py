"""Fixtures of flag tests: people with passwords in a tenant, a browser-like client without the
platform key, and a clean OpenFeature registry."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from openfeature import api

from atrium.api.app import create_app
from atrium.platform.flags import service as flags
from atrium.platform.flags.schemas import FlagCreate
from atrium.platform.identity import service as identity
from atrium.platform.identity.models import Membership
from atrium.platform.tenancy import service as tenancy
from atrium.platform.tenancy.schemas import TenantCreate
from atrium.runtime import Runtime

PASSWORD = "plum orchard lantern quietly"
ADMIN, MEMBER, OPERATOR = "admin@acme.example", "member@acme.example", "operator@platform.example"


@pytest.fixture
async def browser(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """A client without credentials: it signs in as a person (session cookie)."""
    app = create_app(runtime=runtime, embedded_worker=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://atrium.test") as client:
        yield client


@pytest.fixture
def openfeature_registry() -> Iterator[None]:
    api.clear_providers()
    yield
    api.clear_providers()


async def person(rt: Runtime, email: str, tenant_id: str | None = None, role: str = "Member", **kw: bool) -> str:
    async with rt.db.platform_session() as session, session.begin():
        user = await identity.create_user(
            session, email, PASSWORD, platform_admin=kw.get("platform_admin", False), terms_version="test"
        )
        if tenant_id is not None:
            session.add(Membership(user_id=user.id, tenant_id=tenant_id, role=role))
    return user.id


async def login(client: httpx.AsyncClient, email: str) -> None:
    client.cookies.clear()
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text


async def tenant(rt: Runtime, slug: str) -> str:
    return (await tenancy.create(rt, TenantCreate(slug=slug, name=slug.capitalize()))).id


async def acme(rt: Runtime) -> dict[str, str]:
    """Tenant acme with an administrator and a member, and tenant globex."""
    acme_id = await tenant(rt, "acme")
    return {
        "acme": acme_id,
        "globex": await tenant(rt, "globex"),
        "admin": await person(rt, ADMIN, acme_id, identity.TENANT_ADMIN),
        "member": await person(rt, MEMBER, acme_id),
    }


async def define(rt: Runtime, **fields: Any) -> None:
    """A flag made through the service, as an operator would."""
    await flags.create_flag(rt, FlagCreate.model_validate(fields), actor="tests@example.com")


async def page(client: httpx.AsyncClient, path: str) -> tuple[str, str]:
    """GET a console page: its text and the CSRF token of its forms."""
    response = await client.get(path)
    assert response.status_code == 200, (path, response.status_code, response.text[:500])
    token = re.search(r'name="csrf_token" value="([^"]+)"', response.text)
    assert token, response.text
    return response.text, token.group(1)


def flashes(text: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r'<div class="flash flash-\w+" role="status">(.*?)</div>', text)]
