"""TOTP enrolment, the sign-in challenge, code reuse, recovery codes and throttling."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pyotp
import pytest

from tests.platform.identity.conftest import SIGNUP, Sink

EMAIL, PASSWORD = SIGNUP["email"].lower(), SIGNUP["password"]


async def _enrolled(client: httpx.AsyncClient, sink: Sink) -> tuple[pyotp.TOTP, list[str]]:
    await client.post("/api/v1/auth/signup", json=SIGNUP)
    await client.post("/api/v1/auth/verify-email", json={"token": sink.last_token()})
    assert (await client.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})).status_code == 200
    started = await client.post("/api/v1/me/mfa/totp")
    assert started.status_code == 200, started.text
    body = started.json()
    assert body["otpauth_uri"].startswith("otpauth://totp/Atrium:")
    totp = pyotp.TOTP(body["secret"])
    wrong = await client.post(
        "/api/v1/me/mfa/totp/confirm", json={"code": "000000" if totp.now() != "000000" else "111111"}
    )
    assert wrong.status_code == 400
    confirmed = await client.post("/api/v1/me/mfa/totp/confirm", json={"code": totp.now()})
    assert confirmed.status_code == 200, confirmed.text
    codes = confirmed.json()["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    client.cookies.clear()
    return totp, codes


async def _challenge(client: httpx.AsyncClient) -> str:
    response = await client.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})
    assert response.status_code == 202, response.text
    assert "atrium_sid" not in response.cookies  # no session before the second factor
    return str(response.json()["challenge"])


def _next_step_code(totp: pyotp.TOTP) -> str:
    return totp.at(time.time() + totp.interval)


async def test_with_totp_a_password_alone_gives_only_a_challenge(auth: Any) -> None:
    client, sink, _rt = auth
    totp, _ = await _enrolled(client, sink)
    challenge = await _challenge(client)
    assert (await client.get("/api/v1/me")).status_code == 401
    # the current step was spent confirming the enrolment: the next one (clock drift allowance) is fresh
    signed_in = await client.post("/api/v1/auth/mfa", json={"challenge": challenge, "code": _next_step_code(totp)})
    assert signed_in.status_code == 200, signed_in.text
    assert (await client.get("/api/v1/me")).status_code == 200
    reused = await client.post("/api/v1/auth/mfa", json={"challenge": challenge, "code": _next_step_code(totp)})
    assert reused.status_code == 400  # the challenge is single-use


async def test_a_totp_code_cannot_be_used_twice(auth: Any) -> None:
    client, sink, _rt = auth
    totp, _ = await _enrolled(client, sink)
    code = _next_step_code(totp)
    first = await client.post("/api/v1/auth/mfa", json={"challenge": await _challenge(client), "code": code})
    assert first.status_code == 200, first.text
    client.cookies.clear()
    second = await client.post("/api/v1/auth/mfa", json={"challenge": await _challenge(client), "code": code})
    assert second.status_code == 401


async def test_a_recovery_code_works_once(auth: Any) -> None:
    client, sink, _rt = auth
    _, codes = await _enrolled(client, sink)
    first = await client.post("/api/v1/auth/mfa", json={"challenge": await _challenge(client), "code": codes[0]})
    assert first.status_code == 200
    client.cookies.clear()
    again = await client.post("/api/v1/auth/mfa", json={"challenge": await _challenge(client), "code": codes[0]})
    assert again.status_code == 401


@pytest.mark.auth_settings(login_max_failures=3)
async def test_wrong_codes_are_throttled(auth: Any) -> None:
    client, sink, _rt = auth
    totp, _ = await _enrolled(client, sink)
    challenge = await _challenge(client)
    for _ in range(3):
        assert (
            await client.post("/api/v1/auth/mfa", json={"challenge": challenge, "code": "123456-x"})
        ).status_code == 401
    blocked = await client.post("/api/v1/auth/mfa", json={"challenge": challenge, "code": _next_step_code(totp)})
    assert blocked.status_code == 429


async def test_a_second_enrolment_is_refused_while_one_is_active(auth: Any) -> None:
    client, sink, _rt = auth
    totp, _ = await _enrolled(client, sink)
    await client.post("/api/v1/auth/mfa", json={"challenge": await _challenge(client), "code": _next_step_code(totp)})
    again = await client.post("/api/v1/me/mfa/totp")
    assert again.status_code == 409
