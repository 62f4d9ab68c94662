"""Sign-in, server-side sessions, throttling and password reset, with mail through a real SMTP server."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from atrium.core.audit.models import AuditEvent
from atrium.platform.identity.models import EmailToken, UserSession
from tests.platform.identity.conftest import SIGNUP, Sink

EMAIL, PASSWORD = SIGNUP["email"].lower(), SIGNUP["password"]


async def _signed_up(client: httpx.AsyncClient, sink: Sink) -> dict[str, Any]:
    assert (await client.post("/api/v1/auth/signup", json=SIGNUP)).status_code == 202
    verified = await client.post("/api/v1/auth/verify-email", json={"token": sink.last_token()})
    assert verified.status_code == 200, verified.text
    body: dict[str, Any] = verified.json()
    return body


async def _login(client: httpx.AsyncClient, password: str = PASSWORD, email: str = EMAIL) -> httpx.Response:
    client.cookies.clear()
    return await client.post("/api/v1/auth/login", json={"email": email, "password": password})


def _comparable(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["code"], body["detail"]


async def test_sign_in_sets_an_httponly_session_and_me_shows_the_tenants(auth: Any) -> None:
    client, sink, _rt = auth
    signed_up = await _signed_up(client, sink)
    response = await _login(client)
    assert response.status_code == 200, response.text
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("atrium_sid=") and "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    me = await client.get("/api/v1/me")
    assert me.status_code == 200
    assert [(m["tenant_slug"], m["role"]) for m in me.json()["memberships"]] == [
        (signed_up["tenant_slug"], "Tenant Admin")
    ]


async def test_wrong_password_and_unknown_account_answer_alike(auth: Any) -> None:
    client, sink, rt = auth
    await _signed_up(client, sink)
    wrong = await _login(client, password="not the password at all")
    unknown = await _login(client, email="nobody@example.com")
    assert _comparable(wrong) == _comparable(unknown)
    assert wrong.status_code == 401
    async with rt.db.platform_session() as session:
        failures = list(
            (await session.execute(select(AuditEvent).where(AuditEvent.action == "user.login_failed"))).scalars()
        )
    assert {f.data["email"] for f in failures} == {EMAIL, "nobody@example.com"}


async def test_an_unverified_account_cannot_sign_in(auth: Any) -> None:
    client, _sink, _rt = auth
    await client.post("/api/v1/auth/signup", json=SIGNUP)
    assert (await _login(client)).status_code == 401


async def test_each_sign_in_makes_a_new_session_and_sign_out_ends_only_its_own(auth: Any) -> None:
    client, sink, _rt = auth
    await _signed_up(client, sink)
    first = (await _login(client)).cookies["atrium_sid"]
    second = (await _login(client)).cookies["atrium_sid"]
    assert first != second and first.split(".")[0] != second.split(".")[0]
    client.cookies.set("atrium_sid", first)
    assert (await client.post("/api/v1/auth/logout")).status_code == 204
    client.cookies.set("atrium_sid", first)
    assert (await client.get("/api/v1/me")).status_code == 401
    client.cookies.set("atrium_sid", second)
    assert (await client.get("/api/v1/me")).status_code == 200


async def test_a_forged_or_missing_cookie_is_401(auth: Any) -> None:
    client, sink, _rt = auth
    await _signed_up(client, sink)
    real = (await _login(client)).cookies["atrium_sid"]
    session_id = real.split(".")[0]
    client.cookies.set("atrium_sid", f"{session_id}.guessed-secret")
    assert (await client.get("/api/v1/me")).status_code == 401
    client.cookies.clear()
    response = await client.get("/api/v1/me")
    assert response.status_code == 401 and response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("column", ["last_seen_at", "expires_at"])
async def test_idle_and_absolute_lifetimes_end_the_session(auth: Any, column: str) -> None:
    client, sink, rt = auth
    await _signed_up(client, sink)
    await _login(client)
    assert (await client.get("/api/v1/me")).status_code == 200
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    async with rt.db.platform_session() as session, session.begin():
        await session.execute(update(UserSession).values({column: long_ago}))
    response = await client.get("/api/v1/me")
    assert response.status_code == 401
    assert "ended" in response.json()["detail"]


@pytest.mark.auth_settings(login_max_failures=3)
async def test_repeated_failures_are_throttled_even_with_the_right_password_next(auth: Any) -> None:
    client, sink, _rt = auth
    await _signed_up(client, sink)
    for _ in range(3):
        assert (await _login(client, password="wrong password here")).status_code == 401
    throttled = await _login(client)
    assert throttled.status_code == 429
    assert throttled.json()["code"] == "too-many-attempts" and throttled.json()["retry_after"] >= 1


async def test_password_reset_is_single_use_and_signs_out_everywhere(auth: Any) -> None:
    client, sink, _rt = auth
    await _signed_up(client, sink)
    old_cookie = (await _login(client)).cookies["atrium_sid"]
    sent = len(sink.messages)
    assert (await client.post("/api/v1/auth/password-reset", json={"email": EMAIL})).status_code == 202
    assert len(sink.messages) == sent + 1 and sink.messages[-1]["Subject"] == "Reset your Atrium password"
    token = sink.last_token()
    new_password = "an entirely new passphrase for this account"
    done = await client.post("/api/v1/auth/password-reset/confirm", json={"token": token, "password": new_password})
    assert done.status_code == 204, done.text
    client.cookies.set("atrium_sid", old_cookie)
    assert (await client.get("/api/v1/me")).status_code == 401
    assert (await _login(client)).status_code == 401
    assert (await _login(client, password=new_password)).status_code == 200
    again = await client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "password": "yet another passphrase"}
    )
    assert again.status_code == 400 and again.json()["code"] == "invalid-token"


async def test_a_reset_token_expires_and_unknown_addresses_get_no_mail(auth: Any) -> None:
    client, sink, rt = auth
    await _signed_up(client, sink)
    sent = len(sink.messages)
    assert (await client.post("/api/v1/auth/password-reset", json={"email": "ghost@example.com"})).status_code == 202
    assert len(sink.messages) == sent
    await client.post("/api/v1/auth/password-reset", json={"email": EMAIL})
    token = sink.last_token()
    async with rt.db.platform_session() as session, session.begin():
        await session.execute(
            update(EmailToken)
            .where(EmailToken.purpose == "password_reset")
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
    expired = await client.post("/api/v1/auth/password-reset/confirm", json={"token": token, "password": "x" * 20})
    assert expired.status_code == 400
    assert (await _login(client)).status_code == 200  # the old password still works: nothing changed


async def test_users_list_their_sessions_and_sign_out_another_device(auth: Any) -> None:
    client, sink, _rt = auth
    await _signed_up(client, sink)
    laptop = (await _login(client)).cookies["atrium_sid"]
    phone = (await _login(client)).cookies["atrium_sid"]
    listed = (await client.get("/api/v1/me/sessions")).json()
    assert len(listed) == 2
    assert [s["current"] for s in listed if s["id"] == phone.split(".")[0]] == [True]
    assert (await client.delete(f"/api/v1/me/sessions/{laptop.split('.')[0]}")).status_code == 204
    client.cookies.set("atrium_sid", laptop)
    assert (await client.get("/api/v1/me")).status_code == 401
    client.cookies.set("atrium_sid", phone)
    assert [s["id"] for s in (await client.get("/api/v1/me/sessions")).json()] == [phone.split(".")[0]]


async def test_another_users_session_is_not_found(auth: Any) -> None:
    client, sink, _rt = auth
    await _signed_up(client, sink)
    mine = (await _login(client)).cookies["atrium_sid"]
    other = {**SIGNUP, "email": "second@example.com", "organization_name": "Second Co"}
    await client.post("/api/v1/auth/signup", json=other)
    await client.post("/api/v1/auth/verify-email", json={"token": sink.last_token()})
    theirs = (await _login(client, email="second@example.com")).cookies["atrium_sid"]
    client.cookies.set("atrium_sid", mine)
    assert (await client.delete(f"/api/v1/me/sessions/{theirs.split('.')[0]}")).status_code == 404
    assert (await client.delete("/api/v1/me/sessions/not-a-session")).status_code == 404
    client.cookies.set("atrium_sid", theirs)
    assert (await client.get("/api/v1/me")).status_code == 200  # still signed in
