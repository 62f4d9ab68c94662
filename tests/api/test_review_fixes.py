"""Behaviour pinned after review: 500s carry request ids, console cookies need CSRF for changes,
malformed events are dead-lettered, tenant keys cannot be ambiguous."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from atrium.api.app import create_app
from atrium.core.events.models import DeadLetter
from atrium.platform.identity import service as identity
from atrium.runtime import Runtime
from tests.conftest import create_tenant


async def test_an_unexpected_error_answers_500_with_the_request_id(runtime: Runtime) -> None:
    app = create_app(runtime=runtime, embedded_worker=False)

    async def boom() -> None:
        raise RuntimeError("kaboom")

    app.add_api_route("/boom", boom)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://t"
    ) as c:
        response = await c.get("/boom", headers={"X-Request-ID": "req-12345"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == "req-12345"
    assert response.json()["request_id"] == "req-12345"
    assert "kaboom" not in response.text


async def test_console_form_without_csrf_token_is_forbidden(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/login", data={"email": "a@b.c", "password": "x"}, headers={"Accept": "application/json"}
    )
    assert response.status_code == 403
    assert "form expired" in response.json()["detail"]


async def test_a_session_cookie_cannot_change_things_with_a_cross_site_form_body(
    runtime: Runtime, admin_token: str
) -> None:
    """A cross-site page can make the browser POST a form body with the cookie, never JSON and never
    a custom header: so a cookie-authenticated POST needs one of those two."""
    app = create_app(runtime=runtime, embedded_worker=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        login_page = await c.get("/login")
        token = login_page.text.split('name="csrf_token" value="')[1].split('"')[0]
        email = "cookie@example.com"
        async with runtime.db.platform_session() as session, session.begin():
            await identity.create_user(
                session, email, "correct horse battery", platform_admin=True, terms_version="test"
            )
        signed_in = await c.post(
            "/login", data={"email": email, "password": "correct horse battery", "csrf_token": token}
        )
        assert signed_in.status_code == 303
        assert (await c.get("/api/v1/platform/tenants")).status_code == 200  # reading is fine
        for body in (
            {"data": {"slug": "via-form"}},
            {"content": b"slug=via-form", "headers": {"content-type": "text/plain"}},
        ):
            refused = await c.post("/api/v1/platform/tenants", **body)  # type: ignore[arg-type]
            assert refused.status_code == 403, refused.text
            assert "X-CSRF-Token" in refused.json()["detail"]
        listed = (await c.get("/api/v1/platform/tenants")).json()
        assert all(t["slug"] != "via-form" for t in listed["items"])
        console_token = (await c.get("/account")).text.split('name="csrf-token" content="')[1].split('"')[0]
        allowed = await c.post("/api/v1/platform/tenants", data={"slug": "x"}, headers={"X-CSRF-Token": console_token})
        assert allowed.status_code == 422  # past the CSRF check: the body is simply not JSON


@pytest.mark.parametrize("slug", ["0b5c8a9e-2f4d-4c3a-9b1e-7d6f5a4c3b2a"])
async def test_a_slug_shaped_like_a_tenant_id_is_refused(client: httpx.AsyncClient, slug: str) -> None:
    response = await client.post("/api/v1/platform/tenants", json={"slug": slug})
    assert response.status_code == 422
    assert "slug" in response.json()["detail"]


async def test_an_overlong_setting_key_is_a_422(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client, "long-keys")
    response = await client.put(f"/api/v1/tenants/{tenant['slug']}/settings/{'k' * 101}", json={"value": 1})
    assert response.status_code == 422


async def test_a_malformed_event_is_dead_lettered_not_retried(runtime: Runtime) -> None:
    delivered = await runtime.events.deliver("ops.tenant-lifecycle-metrics", {"id": "not-an-event"})
    assert delivered is False
    async with runtime.db.platform_session() as session:
        letters = list((await session.execute(select(DeadLetter))).scalars())
    assert [(d.consumer, d.event_id, d.attempts) for d in letters] == [
        ("ops.tenant-lifecycle-metrics", "not-an-event", 1)
    ]
