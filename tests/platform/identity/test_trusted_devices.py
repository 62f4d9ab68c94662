"""Trusted devices (skip the second factor on a browser for N days, where every tenant allows it)
and regenerating recovery codes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
from sqlalchemy import update

from atrium.platform.identity import trusted
from atrium.platform.identity.security_models import TrustedDevice
from tests.platform.identity.test_mfa import EMAIL, PASSWORD, _challenge, _enrolled, _next_step_code


async def _allow_devices(client: httpx.AsyncClient, rt: Any, days: int) -> str:
    """Sign in with the code, set the tenant's trusted-device policy; returns the tenant slug."""
    me = (await client.get("/api/v1/me")).json()
    slug = me["memberships"][0]["tenant_slug"]
    policy = (await client.get(f"/api/v1/tenants/{slug}/security-policy")).json()
    saved = await client.put(f"/api/v1/tenants/{slug}/security-policy", json={**policy, "trusted_device_days": days})
    assert saved.status_code == 200, saved.text
    return str(slug)


async def test_a_trusted_browser_skips_the_second_factor_until_forgotten(auth: Any) -> None:
    client, sink, rt = auth
    totp, codes = await _enrolled(client, sink)
    challenge = await _challenge(client)
    first = await client.post("/api/v1/auth/mfa", json={"challenge": challenge, "code": codes[0]})
    assert first.status_code == 200
    assert trusted.COOKIE not in first.cookies  # not asked for
    await _allow_devices(client, rt, 14)
    client.cookies.clear()

    challenge = await _challenge(client)
    answered = await client.post(
        "/api/v1/auth/mfa", json={"challenge": challenge, "code": codes[1], "remember_device": True}
    )
    assert answered.status_code == 200
    device_cookie = answered.cookies[trusted.COOKIE]
    devices = (await client.get("/api/v1/me/trusted-devices")).json()
    assert len(devices) == 1
    expires = dt.datetime.fromisoformat(devices[0]["expires_at"])
    assert dt.timedelta(days=13) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(days=14)

    client.cookies.clear()
    client.cookies.set(trusted.COOKIE, device_cookie)
    again = await client.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})
    assert again.status_code == 200, again.text  # no challenge on this browser
    wrong_password = await client.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD + "x"})
    assert wrong_password.status_code == 401  # the device never replaces the password

    client.cookies.clear()
    assert (await client.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})).status_code == 202

    # forget it: the same cookie is asked for the factor again
    client.cookies.clear()
    client.cookies.set(trusted.COOKIE, device_cookie)
    signed = await client.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})
    assert signed.status_code == 200
    assert (await client.delete(f"/api/v1/me/trusted-devices/{devices[0]['id']}")).status_code == 204
    assert (await client.delete(f"/api/v1/me/trusted-devices/{devices[0]['id']}")).status_code == 404
    client.cookies.clear()
    client.cookies.set(trusted.COOKIE, device_cookie)
    assert (await client.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})).status_code == 202
    del totp


async def test_a_policy_of_zero_days_forbids_and_shortening_it_shortens_trust(auth: Any) -> None:
    client, sink, rt = auth
    totp, codes = await _enrolled(client, sink)
    challenge = await _challenge(client)
    assert (await client.post("/api/v1/auth/mfa", json={"challenge": challenge, "code": codes[0]})).status_code == 200
    slug = await _allow_devices(client, rt, 0)
    client.cookies.clear()
    challenge = await _challenge(client)
    refused = await client.post(
        "/api/v1/auth/mfa", json={"challenge": challenge, "code": codes[1], "remember_device": True}
    )
    assert refused.status_code == 200 and trusted.COOKIE not in refused.cookies

    await _allow_devices(client, rt, 30)
    client.cookies.clear()
    challenge = await _challenge(client)
    remembered = await client.post(
        "/api/v1/auth/mfa", json={"challenge": challenge, "code": codes[2], "remember_device": True}
    )
    device_cookie = remembered.cookies[trusted.COOKIE]
    # trusted 10 days ago; the tenant now allows only 7: the trust has run out
    async with rt.db.platform_session() as session, session.begin():
        ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=10)
        await session.execute(update(TrustedDevice).values(created_at=ago))
    policy = (await client.get(f"/api/v1/tenants/{slug}/security-policy")).json()
    await client.put(f"/api/v1/tenants/{slug}/security-policy", json={**policy, "trusted_device_days": 7})
    client.cookies.clear()
    client.cookies.set(trusted.COOKIE, device_cookie)
    assert (await client.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})).status_code == 202
    del totp


async def test_a_password_reset_forgets_every_trusted_device(auth: Any) -> None:
    client, sink, rt = auth
    _totp, codes = await _enrolled(client, sink)
    challenge = await _challenge(client)
    await client.post("/api/v1/auth/mfa", json={"challenge": challenge, "code": codes[0]})
    await _allow_devices(client, rt, 30)
    client.cookies.clear()
    challenge = await _challenge(client)
    remembered = await client.post(
        "/api/v1/auth/mfa", json={"challenge": challenge, "code": codes[1], "remember_device": True}
    )
    device_cookie = remembered.cookies[trusted.COOKIE]
    await client.post("/api/v1/auth/password-reset", json={"email": EMAIL})
    new_password = "another long passphrase for the reset " + "y" * 20
    reset = await client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": sink.last_token(), "password": new_password}
    )
    assert reset.status_code == 204
    client.cookies.clear()
    client.cookies.set(trusted.COOKIE, device_cookie)
    answer = await client.post("/api/v1/auth/login", json={"email": EMAIL, "password": new_password})
    assert answer.status_code == 202  # a reset never bypasses the second factor


async def test_new_recovery_codes_replace_the_unused_old_ones(auth: Any) -> None:
    client, sink, _rt = auth
    totp, old = await _enrolled(client, sink)
    assert (await client.post("/api/v1/me/mfa/recovery-codes")).status_code == 401
    challenge = await _challenge(client)
    await client.post("/api/v1/auth/mfa", json={"challenge": challenge, "code": _next_step_code(totp)})
    fresh = await client.post("/api/v1/me/mfa/recovery-codes")
    assert fresh.status_code == 200
    new = fresh.json()["recovery_codes"]
    assert len(new) == 10 and not set(new) & set(old)
    client.cookies.clear()
    challenge = await _challenge(client)
    assert (await client.post("/api/v1/auth/mfa", json={"challenge": challenge, "code": old[5]})).status_code == 401
    assert (await client.post("/api/v1/auth/mfa", json={"challenge": challenge, "code": new[5]})).status_code == 200


async def test_recovery_codes_need_a_second_factor(auth: Any) -> None:
    client, sink, _rt = auth
    from tests.platform.identity.conftest import SIGNUP

    await client.post("/api/v1/auth/signup", json=SIGNUP)
    await client.post("/api/v1/auth/verify-email", json={"token": sink.last_token()})
    await client.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})
    refused = await client.post("/api/v1/me/mfa/recovery-codes")
    assert refused.status_code == 409
    assert refused.json()["field"] == "mfa"
