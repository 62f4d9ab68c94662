"""The optional SMS second factor: enrolment, sign-in, single use and expiry, rationing and wrong-code
limits, off by default, phone validation, and both delivery providers (development files and a
webhook served by a real HTTP server on loopback)."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from atrium.api.app import create_app
from atrium.cli.migrate import migrate_all
from atrium.core.audit.models import AuditEvent
from atrium.core.settings import InsecureConfiguration
from atrium.platform.identity import sms, trusted
from atrium.platform.identity.models import EmailToken, UserSession
from atrium.platform.identity.sms_models import SmsFactor
from atrium.runtime import Runtime
from tests.conftest import make_settings
from tests.platform.identity.conftest import SIGNUP, Sink, _free_port
from tests.platform.identity.test_trusted_devices import _allow_devices

EMAIL, PASSWORD = str(SIGNUP["email"]).lower(), str(SIGNUP["password"])
PHONE = "+14155550100"
CODE = re.compile(r"^(\d{6}) is your Atrium")
ON = pytest.mark.auth_settings(sms_provider="file")


# -- helpers ----------------------------------------------------------------------------------------


def _messages(rt: Runtime) -> list[dict[str, Any]]:
    directory = rt.settings.data_dir / "sms"
    return [json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))] if directory.exists() else []


def _code_of(message: dict[str, Any]) -> str:
    match = CODE.match(message["text"])
    assert match, message
    return match.group(1)


def _last_code(rt: Runtime) -> str:
    return _code_of(_messages(rt)[-1])


def _other(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


async def _signed_in(client: httpx.AsyncClient, sink: Sink, email: str = EMAIL) -> None:
    await client.post("/api/v1/auth/signup", json={**SIGNUP, "email": email})
    verified = await client.post("/api/v1/auth/verify-email", json={"token": sink.last_token()})
    assert verified.status_code == 200, verified.text
    assert (await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})).status_code == 200


async def _enrolled(client: httpx.AsyncClient, sink: Sink, rt: Runtime) -> list[str]:
    """Signed up, phone confirmed, signed out; returns the recovery codes issued with it."""
    await _signed_in(client, sink)
    started = await client.post("/api/v1/me/mfa/sms", json={"phone": PHONE})
    assert started.status_code == 202, started.text
    confirmed = await client.post("/api/v1/me/mfa/sms/confirm", json={"code": _last_code(rt)})
    assert confirmed.status_code == 200, confirmed.text
    client.cookies.clear()
    return list(confirmed.json()["recovery_codes"])


async def _challenge(client: httpx.AsyncClient) -> str:
    response = await client.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})
    assert response.status_code == 202, response.text
    return str(response.json()["challenge"])


async def _age_codes(rt: Runtime, seconds: int = 31) -> None:
    """Pretend every code was sent ``seconds`` earlier (the 30 s resend rule counts from then)."""
    async with rt.db.platform_session() as session, session.begin():
        for sent in (await session.execute(select(EmailToken).where(EmailToken.purpose.like("sms_%")))).scalars():
            sent.created_at -= dt.timedelta(seconds=seconds)


async def _actions(rt: Runtime, prefix: str) -> list[AuditEvent]:
    async with rt.db.platform_session() as session:
        rows = await session.execute(
            select(AuditEvent).where(AuditEvent.action.like(f"{prefix}%")).order_by(AuditEvent.id)
        )
        return list(rows.scalars())


@asynccontextmanager
async def _app(rt: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(runtime=rt, embedded_worker=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://atrium.test") as client:
        yield client


# -- enrolment --------------------------------------------------------------------------------------


@ON
async def test_enrolment_texts_a_code_and_a_wrong_one_does_not_confirm(auth: Any) -> None:
    client, sink, rt = auth
    await _signed_in(client, sink)
    started = await client.post("/api/v1/me/mfa/sms", json={"phone": "+1 (415) 555-0100"})
    assert started.status_code == 202, started.text
    assert started.json() == {"sent_to": "+•••••••0100", "expires_in_seconds": 300}
    [message] = _messages(rt)
    assert message["to"] == PHONE
    code = _code_of(message)
    assert message["text"].splitlines()[-1] == f"@127.0.0.1 #{code}"  # WebOTP: bound to ATRIUM_PUBLIC_URL's host
    pending = (await client.get("/api/v1/me/mfa/sms")).json()
    assert pending["phone_e164"] == PHONE and pending["confirmed_at"] is None

    wrong = await client.post("/api/v1/me/mfa/sms/confirm", json={"code": _other(code)})
    assert wrong.status_code == 400 and wrong.json()["field"] == "code"
    client.cookies.clear()
    assert (await client.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})).status_code == 200

    confirmed = await client.post("/api/v1/me/mfa/sms/confirm", json={"code": code})
    assert confirmed.status_code == 200, confirmed.text
    body = confirmed.json()
    assert body["phone_e164"] == PHONE and body["confirmed_at"] is not None
    assert len(body["recovery_codes"]) == 10  # the first factor comes with a way in should SMS go away
    again = await client.post("/api/v1/me/mfa/sms", json={"phone": "+442071838750"})
    assert again.status_code == 409 and again.json()["field"] == "phone"
    enrolled = await _actions(rt, "user.mfa.enrolled")
    assert [e.data for e in enrolled] == [{"kind": "sms", "phone": "+•••••••0100"}]
    assert PHONE not in json.dumps([e.data for e in await _actions(rt, "user.mfa")])  # masked in the trail

    client.cookies.clear()
    await _challenge(client)  # a password alone no longer signs in


@ON
async def test_a_code_is_spent_after_too_many_wrong_answers(auth: Any) -> None:
    client, sink, rt = auth
    await _signed_in(client, sink)
    await client.post("/api/v1/me/mfa/sms", json={"phone": PHONE})
    code = _last_code(rt)
    details = []
    for _ in range(5):
        wrong = await client.post("/api/v1/me/mfa/sms/confirm", json={"code": _other(code)})
        assert wrong.status_code == 400
        details.append(wrong.json()["detail"])
    assert "spent" not in details[3] and "spent" in details[4]
    late = await client.post("/api/v1/me/mfa/sms/confirm", json={"code": code})
    assert late.status_code == 400 and "no current code" in late.json()["detail"]
    await _age_codes(rt)
    assert (await client.post("/api/v1/me/mfa/sms", json={"phone": PHONE})).status_code == 202
    fresh = await client.post("/api/v1/me/mfa/sms/confirm", json={"code": _last_code(rt)})
    assert fresh.status_code == 200, fresh.text


@ON
async def test_removing_the_phone_spends_its_codes_and_a_password_signs_in_alone(auth: Any) -> None:
    client, sink, rt = auth
    await _enrolled(client, sink, rt)
    await _sign_in_by_sms(client, rt)
    pending = await _challenge(client)  # another browser's sign-in, waiting for its code
    await _age_codes(rt)
    assert (await client.post("/api/v1/auth/mfa/sms/send", json={"challenge": pending})).status_code == 202
    code = _last_code(rt)

    assert (await client.delete("/api/v1/me/mfa/sms")).status_code == 204
    assert (await client.get("/api/v1/me/mfa/sms")).status_code == 404
    assert (await client.delete("/api/v1/me/mfa/sms")).status_code == 404
    assert [e.data for e in await _actions(rt, "user.mfa.removed")] == [{"kind": "sms", "phone": "+•••••••0100"}]
    late = await client.post("/api/v1/auth/mfa/sms", json={"challenge": pending, "code": code})
    assert late.status_code == 400 and late.json()["field"] == "challenge"
    async with rt.db.platform_session() as session:
        live = select(EmailToken).where(EmailToken.purpose.like("sms_%"), EmailToken.used_at.is_(None))
        assert (await session.execute(live)).first() is None
    client.cookies.clear()
    assert (await client.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})).status_code == 200


async def _sign_in_by_sms(client: httpx.AsyncClient, rt: Runtime) -> None:
    challenge = await _challenge(client)
    await _age_codes(rt)
    assert (await client.post("/api/v1/auth/mfa/sms/send", json={"challenge": challenge})).status_code == 202
    signed = await client.post("/api/v1/auth/mfa/sms", json={"challenge": challenge, "code": _last_code(rt)})
    assert signed.status_code == 200, signed.text


# -- sign-in ----------------------------------------------------------------------------------------


@ON
async def test_the_sign_in_challenge_is_answered_by_a_texted_code(auth: Any) -> None:
    client, sink, rt = auth
    await _enrolled(client, sink, rt)
    challenge = await _challenge(client)
    await _age_codes(rt)
    sent = await client.post("/api/v1/auth/mfa/sms/send", json={"challenge": challenge})
    assert sent.status_code == 202, sent.text
    assert sent.json()["sent_to"].endswith("0100")
    code = _last_code(rt)
    assert _messages(rt)[-1]["text"].startswith(f"{code} is your Atrium sign-in code")
    assert (await client.get("/api/v1/me")).status_code == 401

    wrong = await client.post("/api/v1/auth/mfa/sms", json={"challenge": challenge, "code": _other(code)})
    assert wrong.status_code == 401 and wrong.json()["field"] == "code"
    signed_in = await client.post("/api/v1/auth/mfa/sms", json={"challenge": challenge, "code": code})
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["email"] == EMAIL
    assert (await client.get("/api/v1/me")).status_code == 200
    async with rt.db.platform_session() as session:
        mfa = await session.execute(select(UserSession.mfa).order_by(UserSession.created_at))
        assert mfa.scalars().all() == [False, True]
    failed = await _actions(rt, "user.mfa.failed")
    assert [e.data for e in failed] == [{"kind": "sms", "code_spent": False}]
    assert [e.data["purpose"] for e in await _actions(rt, "user.mfa.sms_sent")] == [sms.ENROL, sms.SIGN_IN]


@ON
async def test_remember_device_is_honoured(auth: Any) -> None:
    client, sink, rt = auth
    await _enrolled(client, sink, rt)
    challenge = await _challenge(client)
    await _age_codes(rt)
    await client.post("/api/v1/auth/mfa/sms/send", json={"challenge": challenge})
    first = await client.post("/api/v1/auth/mfa/sms", json={"challenge": challenge, "code": _last_code(rt)})
    assert first.status_code == 200
    await _allow_devices(client, rt, 7)
    client.cookies.clear()

    challenge = await _challenge(client)
    await _age_codes(rt)
    await client.post("/api/v1/auth/mfa/sms/send", json={"challenge": challenge})
    answer = {"challenge": challenge, "code": _last_code(rt), "remember_device": True}
    remembered = await client.post("/api/v1/auth/mfa/sms", json=answer)
    assert remembered.status_code == 200, remembered.text
    device = remembered.cookies[trusted.COOKIE]
    client.cookies.clear()
    client.cookies.set(trusted.COOKIE, device)
    assert (await client.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})).status_code == 200


@ON
async def test_a_code_works_once_for_its_own_challenge_and_expires(auth: Any) -> None:
    client, sink, rt = auth
    await _enrolled(client, sink, rt)
    first, second = await _challenge(client), await _challenge(client)
    await _age_codes(rt)
    await client.post("/api/v1/auth/mfa/sms/send", json={"challenge": first})
    code = _last_code(rt)
    elsewhere = await client.post("/api/v1/auth/mfa/sms", json={"challenge": second, "code": code})
    assert elsewhere.status_code == 400 and elsewhere.json()["field"] == "code"  # bound to its challenge
    assert (await client.post("/api/v1/auth/mfa/sms", json={"challenge": first, "code": code})).status_code == 200
    replayed = await client.post("/api/v1/auth/mfa/sms", json={"challenge": first, "code": code})
    assert replayed.status_code == 400 and replayed.json()["code"] == "invalid-challenge"
    client.cookies.clear()

    third = await _challenge(client)
    reused = await client.post("/api/v1/auth/mfa/sms", json={"challenge": third, "code": code})
    assert reused.status_code == 400  # spent: no current code for this sign-in

    await _age_codes(rt)
    await client.post("/api/v1/auth/mfa/sms/send", json={"challenge": third})
    late = _last_code(rt)
    async with rt.db.platform_session() as session, session.begin():
        await session.execute(
            update(EmailToken)
            .where(EmailToken.purpose == sms.SIGN_IN, EmailToken.used_at.is_(None))
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
    expired = await client.post("/api/v1/auth/mfa/sms", json={"challenge": third, "code": late})
    assert expired.status_code == 400 and "no current code" in expired.json()["detail"]

    # a new code spends the one before it
    await _age_codes(rt)
    await client.post("/api/v1/auth/mfa/sms/send", json={"challenge": third})
    older = _last_code(rt)
    await _age_codes(rt)
    await client.post("/api/v1/auth/mfa/sms/send", json={"challenge": third})
    newer = _last_code(rt)
    if older != newer:
        stale = await client.post("/api/v1/auth/mfa/sms", json={"challenge": third, "code": older})
        assert stale.status_code == 401
    assert (await client.post("/api/v1/auth/mfa/sms", json={"challenge": third, "code": newer})).status_code == 200


@ON
async def test_sending_is_rationed_and_wrong_answers_are_throttled(auth: Any) -> None:
    client, sink, rt = auth
    await _enrolled(client, sink, rt)
    challenge = await _challenge(client)
    soon = await client.post("/api/v1/auth/mfa/sms/send", json={"challenge": challenge})
    assert soon.status_code == 429 and soon.json()["code"] == "too-many-attempts"  # 30 s after the enrolment code
    assert 1 <= soon.json()["retry_after"] <= 30
    for _ in range(sms.SENDS_PER_CHALLENGE):
        await _age_codes(rt)
        assert (await client.post("/api/v1/auth/mfa/sms/send", json={"challenge": challenge})).status_code == 202
    await _age_codes(rt)
    sixth = await client.post("/api/v1/auth/mfa/sms/send", json={"challenge": challenge})
    assert sixth.status_code == 429 and "sign in again" in sixth.json()["detail"]
    assert len(_messages(rt)) == 1 + sms.SENDS_PER_CHALLENGE

    code = _last_code(rt)
    answers = [
        await client.post("/api/v1/auth/mfa/sms", json={"challenge": challenge, "code": _other(code)}) for _ in range(5)
    ]
    assert [a.status_code for a in answers] == [401] * 5
    assert "spent" in answers[-1].json()["detail"]
    blocked = await client.post("/api/v1/auth/mfa/sms", json={"challenge": challenge, "code": code})
    assert blocked.status_code == 429  # the account's second-factor counter, shared with TOTP
    assert [e.data["code_spent"] for e in await _actions(rt, "user.mfa.failed")] == [False] * 4 + [True]


# -- off by default and validation -------------------------------------------------------------------


async def test_sms_is_off_by_default_and_nothing_is_written(auth: Any) -> None:
    client, sink, rt = auth
    assert rt.settings.sms_provider == "off"
    await _signed_in(client, sink)
    refused = await client.post("/api/v1/me/mfa/sms", json={"phone": PHONE})
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "sms-disabled" and "ATRIUM_SMS_PROVIDER" in refused.json()["detail"]
    assert (await client.post("/api/v1/me/mfa/sms/confirm", json={"code": "123456"})).status_code == 409
    bogus = {"challenge": "x" * 43}
    assert (await client.post("/api/v1/auth/mfa/sms/send", json=bogus)).json()["code"] == "sms-disabled"
    assert (await client.post("/api/v1/auth/mfa/sms", json={**bogus, "code": "123456"})).status_code == 409
    assert (await client.get("/api/v1/me/mfa/sms")).status_code == 404
    assert not (rt.settings.data_dir / "sms").exists()
    async with rt.db.platform_session() as session:
        assert (await session.execute(select(SmsFactor))).first() is None
        assert (await session.execute(select(EmailToken).where(EmailToken.purpose.like("sms_%")))).first() is None
    assert await _actions(rt, "user.mfa") == []


@ON
async def test_turning_sms_off_keeps_the_factor_but_makes_it_unusable(auth: Any) -> None:
    client, sink, rt = auth
    recovery_codes = await _enrolled(client, sink, rt)
    off = Runtime(rt.settings.model_copy(update={"sms_provider": "off"}))
    try:
        async with _app(off) as other:
            challenge = await _challenge(other)  # still a second factor: never a silent downgrade
            sent = await other.post("/api/v1/auth/mfa/sms/send", json={"challenge": challenge})
            assert sent.status_code == 409 and sent.json()["code"] == "sms-disabled"
            answered = await other.post("/api/v1/auth/mfa/sms", json={"challenge": challenge, "code": "123456"})
            assert answered.status_code == 409
            recovered = await other.post("/api/v1/auth/mfa", json={"challenge": challenge, "code": recovery_codes[0]})
            assert recovered.status_code == 200, recovered.text
            assert (await other.get("/api/v1/me/mfa/sms")).json()["phone_e164"] == PHONE
            assert (await other.delete("/api/v1/me/mfa/sms")).status_code == 204
    finally:
        await off.close()
    assert len(_messages(rt)) == 1  # only the enrolment code


@ON
async def test_a_phone_that_is_not_e164_is_refused_naming_the_field(auth: Any) -> None:
    client, sink, rt = auth
    await _signed_in(client, sink)
    for phone in ("4155550100", "+0123456789", "+1234567", "+1234567890123456", "+1 415 555 O100", "tel:+14155550100"):
        refused = await client.post("/api/v1/me/mfa/sms", json={"phone": phone})
        assert refused.status_code == 422, (phone, refused.text)
        assert [e["field"] for e in refused.json()["errors"]] == ["phone"]
        assert "E.164" in refused.json()["errors"][0]["message"]
    assert (await client.get("/api/v1/me/mfa/sms")).status_code == 404
    assert _messages(rt) == []


def test_phone_numbers_are_normalised_to_e164() -> None:
    assert sms.normalise_phone("+49 (30) 1234-5678") == "+493012345678"
    assert sms.normalise_phone("+12345678") == "+12345678"
    assert sms.normalise_phone("+123456789012345") == "+123456789012345"
    assert sms.masked("+493012345678") == "+••••••••5678"


def test_the_webhook_needs_a_url_and_https_in_production(tmp_path: Path) -> None:
    url = "sqlite:///" + str(tmp_path / "x.db")
    with pytest.raises(InsecureConfiguration):
        make_settings(url, tmp_path, sms_provider="webhook").check()
    make_settings(url, tmp_path, sms_provider="webhook", sms_webhook_url="http://127.0.0.1:9/sms").check()
    production = {"env": "production", "secret_key": "s" * 40, "sms_provider": "webhook"}
    with pytest.raises(InsecureConfiguration):
        make_settings(url, tmp_path, sms_webhook_url="http://gateway.internal/sms", **production).check()
    make_settings(url, tmp_path, sms_webhook_url="https://gateway.internal/sms", **production).check()


# -- the webhook provider against a real HTTP server --------------------------------------------------


class Gateway:
    """A stand-in SMS gateway: http.server on loopback, keeping each request it gets."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], Any]] = []
        self.status = 202
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                gateway.requests.append((self.path, dict(self.headers), json.loads(body)))
                self.send_response(gateway.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms"

    def last_code(self) -> str:
        match = CODE.match(self.requests[-1][2]["text"])
        assert match
        return match.group(1)


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    gateway = Gateway()
    thread = threading.Thread(target=gateway.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield gateway
    finally:
        gateway.server.shutdown()
        gateway.server.server_close()
        thread.join()


async def test_the_webhook_provider_posts_json_to_the_gateway(
    database_url: str, tmp_path: Path, smtp: tuple[Sink, int], gateway: Gateway
) -> None:
    sink, port = smtp
    settings = make_settings(
        database_url,
        tmp_path / "var",
        smtp_url=f"smtp://127.0.0.1:{port}",
        sms_provider="webhook",
        sms_webhook_url=gateway.url,
        sms_webhook_token="gateway-secret",
    )
    rt = Runtime(settings)
    await migrate_all(rt, show_progress=False)
    try:
        async with _app(rt) as client:
            await _signed_in(client, sink)
            assert (await client.post("/api/v1/me/mfa/sms", json={"phone": PHONE})).status_code == 202
            [(path, headers, body)] = gateway.requests
            assert path == "/sms" and headers["Authorization"] == "Bearer gateway-secret"
            assert headers["Content-Type"] == "application/json"
            assert set(body) == {"to", "text"} and body["to"] == PHONE
            confirmed = await client.post("/api/v1/me/mfa/sms/confirm", json={"code": gateway.last_code()})
            assert confirmed.status_code == 200, confirmed.text
            client.cookies.clear()

            challenge = await _challenge(client)
            await _age_codes(rt)
            gateway.status = 500
            failed = await client.post("/api/v1/auth/mfa/sms/send", json={"challenge": challenge})
            assert failed.status_code == 503 and failed.json()["code"] == "sms-delivery-failed"
            assert "500" in failed.json()["detail"] and gateway.url not in failed.json()["detail"]
            gateway.status = 200
            sent = await client.post("/api/v1/auth/mfa/sms/send", json={"challenge": challenge})
            assert sent.status_code == 202, sent.text  # a failed hand-over counts against no limit
            assert len(gateway.requests) == 3
            answer = {"challenge": challenge, "code": gateway.last_code()}
            assert (await client.post("/api/v1/auth/mfa/sms", json=answer)).status_code == 200
    finally:
        await rt.close()
    assert not (settings.data_dir / "sms").exists()


async def test_an_unreachable_gateway_is_a_clear_503() -> None:
    nobody = f"http://127.0.0.1:{_free_port()}/sms"
    with pytest.raises(sms.SmsDeliveryFailed, match="could not be reached") as refused:
        await sms.HttpSms(nobody, None, timeout=2).send(PHONE, "hello")
    assert refused.value.status_code == 503


async def test_the_disabled_sender_refuses_clearly() -> None:
    with pytest.raises(sms.SmsDisabled, match="ATRIUM_SMS_PROVIDER"):
        await sms.DisabledSms().send(PHONE, "hello")
