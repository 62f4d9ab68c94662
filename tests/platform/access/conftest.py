"""Access-control tests use the identity fixtures (a runtime on the test database and a real SMTP
sink on loopback, see ``auth``) and a small builder: tenants, people made directly in the
database (one cheap password hash, no mail), and one HTTP client per signed-in person, each with
its own cookie jar, so several people can act in one test without signing each other out."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from atrium.api.app import create_app
from atrium.platform.identity import api_keys
from atrium.platform.identity import service as identity
from atrium.platform.identity.models import Membership, User, UserSession
from atrium.platform.tenancy import service as tenancy
from atrium.platform.tenancy.schemas import TenantCreate
from atrium.runtime import Runtime
from tests.platform.identity.conftest import Sink, auth, smtp

__all__ = ["PASSWORD", "World", "auth", "count", "problem", "smtp", "world"]

PASSWORD = "plum orchard lantern quietly"
BASE = "http://atrium.test"


@dataclass
class World:
    rt: Runtime
    sink: Sink
    app: Any
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    def client(self, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
        made = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=BASE, headers=headers)
        self.clients.append(made)
        return made

    async def tenant(self, slug: str) -> str:
        return (await tenancy.create(self.rt, TenantCreate(slug=slug))).id

    async def person(self, email: str, tenant_id: str | None = None, role: str = "Member", admin: bool = False) -> str:
        """A verified account, optionally a member of ``tenant_id`` with ``role`` as primary role."""
        async with self.rt.db.platform_session() as session, session.begin():
            user = await identity.create_user(session, email, PASSWORD, terms_version="test", platform_admin=admin)
            if tenant_id is not None:
                session.add(Membership(user_id=user.id, tenant_id=tenant_id, role=role))
        return user.id

    async def join(self, user_id: str, tenant_id: str, role: str = "Member") -> None:
        async with self.rt.db.platform_session() as session, session.begin():
            session.add(Membership(user_id=user_id, tenant_id=tenant_id, role=role))

    async def login(self, email: str, password: str = PASSWORD) -> httpx.AsyncClient:
        """A new client signed in with a browser session cookie."""
        client = self.client()
        response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        return client

    async def platform_admin(self) -> tuple[httpx.AsyncClient, str]:
        """A client carrying a fresh platform administrator's platform API key, and their id."""
        async with self.rt.db.platform_session() as session, session.begin():
            user, _, token = await identity.bootstrap_platform_admin(
                session, f"ops-{uuid.uuid4().hex[:6]}@atrium.example", password=None, terms_version="test"
            )
        return self.client({"Authorization": f"Bearer {token}"}), user.id

    async def api_key(self, user_id: str, tenant_id: str, scopes: list[str] | None = None) -> httpx.AsyncClient:
        """A client carrying a tenant API key of ``user_id``."""
        async with self.rt.db.platform_session() as session, session.begin():
            user = await session.get(User, user_id)
            assert user is not None
            _, key = await api_keys.create(
                session, user, tenant_id, name="tests", scopes=scopes or ["*"], expires_in_days=None
            )
        return self.client({"Authorization": f"Bearer {key}"})

    async def age_sessions(self, user_id: str, *, signed_in: dt.timedelta, reauthenticated: dt.timedelta) -> None:
        """Pretend the user's sessions began, and their password was last checked, that long ago."""
        now = dt.datetime.now(dt.UTC)
        async with self.rt.db.platform_session() as session, session.begin():
            await session.execute(
                update(UserSession)
                .where(UserSession.user_id == user_id)
                .values(created_at=now - signed_in, reauthenticated_at=now - reauthenticated, last_seen_at=now)
            )


async def count(rt: Runtime, model: Any, *where: Any) -> int:
    async with rt.db.platform_session() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def problem(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """Assert a problem+json answer with this status (and code); return its body."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    if code is not None:
        assert body["code"] == code, body
    return body


@pytest.fixture
async def world(auth: Any) -> AsyncIterator[World]:
    _client, sink, rt = auth
    made = World(rt, sink, create_app(runtime=rt, embedded_worker=False))
    try:
        yield made
    finally:
        for client in made.clients:
            await client.aclose()
