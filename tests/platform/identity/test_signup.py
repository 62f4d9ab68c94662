"""Self-serve signup and email verification, with mail through a real SMTP server on loopback."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from atrium.api.app import create_app
from atrium.cli.migrate import migrate_all
from atrium.core.audit.models import AuditEvent
from atrium.platform.identity.models import EmailToken, Membership, User
from atrium.platform.identity.passwords import verify_password
from atrium.platform.tenancy.models import Tenant
from atrium.runtime import Runtime
from tests.conftest import make_settings
from tests.platform.identity.conftest import SIGNUP


async def _count(rt: Runtime, model: Any) -> int:
    async with rt.db.platform_session() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def test_signup_verify_lands_the_user_in_a_new_tenant_as_its_admin(auth: Any) -> None:
    client, sink, rt = auth
    accepted = await client.post("/api/v1/auth/signup", json=SIGNUP)
    assert accepted.status_code == 202, accepted.text
    assert len(sink.messages) == 1
    assert sink.messages[0]["To"] == "founder@example.com"
    token = sink.last_token()

    verified = await client.post("/api/v1/auth/verify-email", json={"token": token})
    assert verified.status_code == 200, verified.text
    body = verified.json()
    assert (body["email"], body["role"], body["tenant_slug"]) == (
        "founder@example.com",
        "Tenant Admin",
        "acme-robotics",
    )
    async with rt.db.platform_session() as session:
        user = (await session.execute(select(User))).scalar_one()
        tenant = await session.get(Tenant, body["tenant_id"])
        membership = await session.get(Membership, (user.id, body["tenant_id"]))
        actions = set((await session.execute(select(AuditEvent.action))).scalars())
    assert user.email_verified_at is not None
    assert (user.terms_version, user.marketing_opt_in) == (rt.settings.terms_version, True)
    assert await verify_password(SIGNUP["password"], user.password_hash)  # 100+ characters, not truncated
    assert not await verify_password(SIGNUP["password"][:72], user.password_hash)
    assert tenant is not None and tenant.status == "active"
    assert membership is not None and membership.role == "Tenant Admin"
    assert {"user.signed_up", "user.email_verified", "tenant.membership.granted"} <= actions

    reused = await client.post("/api/v1/auth/verify-email", json={"token": token})
    assert reused.status_code == 400
    assert reused.json()["code"] == "invalid-token"
    assert await _count(rt, Tenant) == 1


async def test_signup_does_not_reveal_a_known_address(auth: Any) -> None:
    client, sink, rt = auth
    first = await client.post("/api/v1/auth/signup", json=SIGNUP)
    await client.post("/api/v1/auth/verify-email", json={"token": sink.last_token()})
    again = await client.post("/api/v1/auth/signup", json={**SIGNUP, "password": "another passphrase entirely"})
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert sink.messages[-1]["Subject"] == "You already have an Atrium account"
    assert await _count(rt, User) == 1


async def test_an_unverified_signup_can_ask_again_and_only_the_new_link_is_fresh(auth: Any) -> None:
    client, sink, rt = auth
    await client.post("/api/v1/auth/signup", json=SIGNUP)
    first = sink.last_token()
    await client.post("/api/v1/auth/signup", json=SIGNUP)
    second = sink.last_token()
    assert first != second
    assert await _count(rt, User) == 1
    assert (await client.post("/api/v1/auth/verify-email", json={"token": second})).status_code == 200


async def test_an_expired_token_is_refused_and_creates_nothing(auth: Any) -> None:
    client, sink, rt = auth
    await client.post("/api/v1/auth/signup", json=SIGNUP)
    async with rt.db.platform_session() as session, session.begin():
        past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        await session.execute(update(EmailToken).values(expires_at=past))
    response = await client.post("/api/v1/auth/verify-email", json={"token": sink.last_token()})
    assert response.status_code == 400
    assert await _count(rt, Tenant) == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": "not-an-address"}, "email"),
        ({"password": "short"}, "password"),
        ({"accept_terms": False}, "accept_terms"),
        ({"tenant_kind": "galaxy"}, "tenant_kind"),
        ({"unknown": 1}, "unknown"),
    ],
)
async def test_bad_signups_are_422_naming_the_field_and_write_nothing(
    auth: Any, change: dict[str, Any], field: str
) -> None:
    client, sink, rt = auth
    response = await client.post("/api/v1/auth/signup", json={**SIGNUP, **change})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert field in response.json()["detail"]
    assert sink.messages == [] and await _count(rt, User) == 0


async def test_an_unknown_region_is_refused_before_anything_is_written(auth: Any) -> None:
    client, sink, rt = auth
    response = await client.post("/api/v1/auth/signup", json={**SIGNUP, "region": "mars"})
    assert response.status_code == 422
    assert response.json()["code"] == "region-not-available"
    assert sink.messages == [] and await _count(rt, User) == 0


async def test_invite_only_platforms_refuse_self_serve_signup(database_url: str, tmp_path: Path) -> None:
    rt = Runtime(make_settings(database_url, tmp_path / "closed", signup_mode="invite_only"))
    try:
        await migrate_all(rt, show_progress=False)
        app = create_app(runtime=rt, embedded_worker=False)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            response = await client.post("/api/v1/auth/signup", json=SIGNUP)
        assert response.status_code == 403
        assert response.json()["code"] == "signup-closed"
    finally:
        await rt.close()


async def test_without_smtp_the_mail_lands_in_the_local_mailbox(database_url: str, tmp_path: Path) -> None:
    rt = Runtime(make_settings(database_url, tmp_path / "local"))
    try:
        await migrate_all(rt, show_progress=False)
        app = create_app(runtime=rt, embedded_worker=False)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            assert (await client.post("/api/v1/auth/signup", json=SIGNUP)).status_code == 202
        [mail] = list((tmp_path / "local" / "mailbox").glob("*.eml"))
        assert "Verification code:" in mail.read_text()
    finally:
        await rt.close()
