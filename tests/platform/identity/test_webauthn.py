"""WebAuthn against a real software authenticator (soft-fido2): registration, the second factor after
a password, passwordless passkey sign-in, and the answers that must be refused."""

from __future__ import annotations

import base64
import secrets
from typing import Any

import httpx
import pytest
from soft_fido2 import Fido2Authenticator
from sqlalchemy import select

from atrium.core.events.models import OutboxEvent
from atrium.platform.identity.models import WebAuthnCredential
from atrium.runtime import Runtime
from tests.platform.identity.conftest import SIGNUP, Sink

PUBLIC_URL = "https://atrium.test"  # the RP id is atrium.test; soft-fido2 answers from https://<rp id>
pytestmark = pytest.mark.auth_settings(public_url=PUBLIC_URL)

ALICE = {**SIGNUP, "email": "alice@example.com", "organization_name": "Alice Ltd"}
BOB = {**SIGNUP, "email": "bob@example.com", "organization_name": "Bob GmbH"}


def _login_body(person: dict[str, Any]) -> dict[str, str]:
    return {"email": person["email"], "password": person["password"]}


async def _signed_up(client: httpx.AsyncClient, sink: Sink, person: dict[str, Any]) -> None:
    """Sign up, verify with the mailed token, and sign in (no factor yet: a session straight away)."""
    assert (await client.post("/api/v1/auth/signup", json=person)).status_code == 202
    assert (await client.post("/api/v1/auth/verify-email", json={"token": sink.last_token()})).status_code == 200
    await _password_session(client, person)


async def _password_session(client: httpx.AsyncClient, person: dict[str, Any]) -> None:
    client.cookies.clear()
    response = await client.post("/api/v1/auth/login", json=_login_body(person))
    assert response.status_code == 200, response.text


async def _register(client: httpx.AsyncClient, key: Fido2Authenticator, name: str = "YubiKey") -> dict[str, Any]:
    options = await client.post("/api/v1/me/webauthn/registration/options")
    assert options.status_code == 200, options.text
    attestation = key.credential_create(options.json(), atteStmtFmt="packed-self")
    created = await client.post("/api/v1/me/webauthn/registration", json={"credential": attestation, "name": name})
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


async def _mfa_challenge(client: httpx.AsyncClient, person: dict[str, Any]) -> str:
    client.cookies.clear()
    response = await client.post("/api/v1/auth/login", json=_login_body(person))
    assert response.status_code == 202, response.text
    assert "atrium_sid" not in response.cookies
    return str(response.json()["challenge"])


async def _second_factor_options(client: httpx.AsyncClient, challenge: str) -> dict[str, Any]:
    response = await client.post("/api/v1/auth/mfa/webauthn/options", json={"challenge": challenge})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _answer(client: httpx.AsyncClient, challenge: str, credential: dict[str, Any]) -> httpx.Response:
    return await client.post("/api/v1/auth/mfa/webauthn", json={"challenge": challenge, "credential": credential})


async def _passkey_options(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.post("/api/v1/auth/passkey/options")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _event_types(rt: Runtime) -> list[tuple[str, dict[str, Any]]]:
    async with rt.db.platform_session() as session:
        rows = await session.execute(
            select(OutboxEvent.envelope).where(OutboxEvent.topic == "user.events").order_by(OutboxEvent.created_at)
        )
        return [(e["type"], e.get("data", {})) for e in rows.scalars()]


async def test_register_list_and_sign_in_with_the_key_as_second_factor(auth: Any) -> None:
    client, sink, rt = auth
    await _signed_up(client, sink, ALICE)
    options = (await client.post("/api/v1/me/webauthn/registration/options")).json()
    assert options["rp"]["id"] == "atrium.test"
    assert options["authenticatorSelection"]["residentKey"] == "preferred"
    assert options["authenticatorSelection"]["userVerification"] == "preferred"
    assert options["excludeCredentials"] == []

    key = Fido2Authenticator(transports=["usb"])
    created = await _register(client, key, name="  Desk key ")
    assert created["name"] == "Desk key"
    assert created["credential_id"] == key.get_credential_id()
    assert created["aaguid"] == "00000000-0000-0000-0000-000000000000"
    listed = (await client.get("/api/v1/me/webauthn/credentials")).json()
    assert [c["id"] for c in listed] == [created["id"]] and listed[0]["last_used_at"] is None
    again = (await client.post("/api/v1/me/webauthn/registration/options")).json()
    assert [c["id"] for c in again["excludeCredentials"]] == [created["credential_id"]]

    # the password alone is no longer enough
    challenge = await _mfa_challenge(client, ALICE)
    assert (await client.get("/api/v1/me")).status_code == 401
    request = await _second_factor_options(client, challenge)
    assert [c["id"] for c in request["allowCredentials"]] == [created["credential_id"]]
    assertion = key.credential_request(request)
    signed_in = await _answer(client, challenge, assertion)
    assert signed_in.status_code == 200, signed_in.text
    assert "atrium_sid" in signed_in.cookies
    me = await client.get("/api/v1/me")
    assert me.status_code == 200 and me.json()["email"] == "alice@example.com"
    [used] = (await client.get("/api/v1/me/webauthn/credentials")).json()
    assert used["last_used_at"] is not None

    types = await _event_types(rt)
    assert ("user.mfa.enrolled", "webauthn") in [(t, d.get("kind")) for t, d in types]
    assert ("user.login", True) in [(t, d.get("mfa")) for t, d in types]


async def test_a_replayed_assertion_is_refused(auth: Any) -> None:
    client, sink, _rt = auth
    await _signed_up(client, sink, ALICE)
    key = Fido2Authenticator()
    await _register(client, key)
    challenge = await _mfa_challenge(client, ALICE)
    assertion = key.credential_request(await _second_factor_options(client, challenge))
    body = {"challenge": challenge, "credential": assertion}
    assert (await client.post("/api/v1/auth/mfa/webauthn", json=body)).status_code == 200

    client.cookies.clear()
    same_challenge = await client.post("/api/v1/auth/mfa/webauthn", json=body)
    assert same_challenge.status_code == 400 and same_challenge.json()["code"] == "invalid-challenge"
    fresh = await _mfa_challenge(client, ALICE)
    replayed = await _answer(client, fresh, assertion)
    assert replayed.status_code == 400, replayed.text
    assert "no current challenge" in replayed.json()["detail"]
    assert (await client.get("/api/v1/me")).status_code == 401


async def test_a_cloned_authenticator_is_refused(auth: Any) -> None:
    """The signature counter must grow: an older copy of the key answers with a count already seen."""
    client, sink, _rt = auth
    await _signed_up(client, sink, ALICE)
    key = Fido2Authenticator()
    await _register(client, key)
    counter = key.counter
    challenge = await _mfa_challenge(client, ALICE)
    first = key.credential_request(await _second_factor_options(client, challenge))
    assert (await _answer(client, challenge, first)).is_success

    key.counter = counter  # the clone has not seen the last use
    challenge = await _mfa_challenge(client, ALICE)
    cloned = key.credential_request(await _second_factor_options(client, challenge))
    refused = await _answer(client, challenge, cloned)
    assert refused.status_code == 401 and "sign count" in refused.json()["detail"]


async def test_wrong_challenge_and_wrong_origin_are_refused(auth: Any) -> None:
    client, sink, _rt = auth
    await _signed_up(client, sink, ALICE)
    key = Fido2Authenticator()
    await _register(client, key)
    challenge = await _mfa_challenge(client, ALICE)
    options = await _second_factor_options(client, challenge)

    forged = {**options, "challenge": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")}
    wrong = await _answer(client, challenge, key.credential_request(forged))
    assert wrong.status_code == 400 and wrong.json()["field"] == "credential"

    phished = key.credential_request({**options, "origin": "https://atrium-login.example"})
    wrong_origin = await _answer(client, challenge, phished)
    assert wrong_origin.status_code == 401
    assert "origin" in wrong_origin.json()["detail"] and wrong_origin.json()["field"] == "credential"

    # neither refusal spent the sign-in challenge: the real key still answers it
    good = key.credential_request(options)
    assert (await _answer(client, challenge, good)).is_success


async def test_malformed_credentials_change_nothing(auth: Any) -> None:
    client, sink, _rt = auth
    await _signed_up(client, sink, ALICE)
    await client.post("/api/v1/me/webauthn/registration/options")
    shell = {"id": "abc", "rawId": "abc", "type": "public-key"}
    for credential in (
        {"id": "abc"},  # no response at all
        {**shell, "response": {"clientDataJSON": "e30", "attestationObject": ""}},  # clientDataJSON is "{}"
        {**shell, "response": {"clientDataJSON": "!!", "attestationObject": "x"}},  # not base64url
    ):
        response = await client.post("/api/v1/me/webauthn/registration", json={"credential": credential, "name": "k"})
        assert response.status_code == 400, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["field"] == "credential"
    not_json_object = await client.post("/api/v1/me/webauthn/registration", json={"credential": "{}", "name": "k"})
    assert not_json_object.status_code == 422
    assert (await client.get("/api/v1/me/webauthn/credentials")).json() == []
    # still no second factor: the password alone signs in
    await _password_session(client, ALICE)


async def test_registration_from_another_origin_is_refused(auth: Any) -> None:
    client, sink, _rt = auth
    await _signed_up(client, sink, ALICE)
    options = (await client.post("/api/v1/me/webauthn/registration/options")).json()
    attestation = Fido2Authenticator().credential_create({**options, "origin": "https://evil.example"})
    response = await client.post("/api/v1/me/webauthn/registration", json={"credential": attestation, "name": "k"})
    assert response.status_code == 400 and "origin" in response.json()["detail"]
    assert (await client.get("/api/v1/me/webauthn/credentials")).json() == []


async def test_another_users_credential_is_neither_usable_nor_visible(auth: Any) -> None:
    client, sink, rt = auth
    await _signed_up(client, sink, BOB)
    bob_key = Fido2Authenticator()
    bob_credential = await _register(client, bob_key, name="Bob's key")
    await _signed_up(client, sink, ALICE)
    alice_key = Fido2Authenticator()
    await _register(client, alice_key)

    assert [c["name"] for c in (await client.get("/api/v1/me/webauthn/credentials")).json()] == ["YubiKey"]
    assert len((await client.get("/api/v1/me/webauthn/credentials")).json()) == 1
    stolen = await client.delete(f"/api/v1/me/webauthn/credentials/{bob_credential['id']}")
    assert stolen.status_code == 404
    renamed = await client.patch(f"/api/v1/me/webauthn/credentials/{bob_credential['id']}", json={"name": "mine"})
    assert renamed.status_code == 404
    async with rt.db.platform_session() as session:
        assert await session.get(WebAuthnCredential, bob_credential["id"]) is not None

    # Bob's key cannot answer Alice's sign-in challenge
    challenge = await _mfa_challenge(client, ALICE)
    options = await _second_factor_options(client, challenge)
    refused = await _answer(client, challenge, bob_key.credential_request(options))
    assert refused.status_code == 401 and refused.json()["field"] == "credential"
    assert (await client.get("/api/v1/me")).status_code == 401


async def test_passkey_sign_in_without_a_password(auth: Any) -> None:
    client, sink, rt = auth
    await _signed_up(client, sink, ALICE)
    key = Fido2Authenticator()
    await _register(client, key, name="Laptop passkey")
    client.cookies.clear()

    options = await _passkey_options(client)
    assert options["allowCredentials"] == [] and options["userVerification"] == "required"
    assertion = key.credential_request(options)
    signed_in = await client.post("/api/v1/auth/passkey", json={"credential": assertion})
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["email"] == "alice@example.com"
    assert (await client.get("/api/v1/me")).status_code == 200

    client.cookies.clear()
    replayed = await client.post("/api/v1/auth/passkey", json={"credential": assertion})
    assert replayed.status_code == 400 and (await client.get("/api/v1/me")).status_code == 401

    # without user verification the authenticator does not replace a password
    unverified = key.credential_request(await _passkey_options(client), uv=False)
    refused = await client.post("/api/v1/auth/passkey", json={"credential": unverified})
    assert refused.status_code == 401 and "verification" in refused.json()["detail"]
    logins = [d for t, d in await _event_types(rt) if t == "user.login"]
    assert logins[-1]["mfa"] is True


async def test_an_unknown_passkey_is_refused(auth: Any) -> None:
    client, sink, _rt = auth
    await _signed_up(client, sink, ALICE)
    await _register(client, Fido2Authenticator())
    client.cookies.clear()
    stranger = Fido2Authenticator()
    stranger.userHandle = b"someone"
    response = await client.post(
        "/api/v1/auth/passkey", json={"credential": stranger.credential_request(await _passkey_options(client))}
    )
    assert response.status_code == 401 and "not registered" in response.json()["detail"]


@pytest.mark.auth_settings(public_url=PUBLIC_URL, login_max_failures=2)
async def test_failed_passkey_sign_ins_are_throttled_per_ip(auth: Any) -> None:
    client, sink, _rt = auth
    await _signed_up(client, sink, ALICE)
    key = Fido2Authenticator()
    await _register(client, key)
    client.cookies.clear()
    for _ in range(2):
        phished = key.credential_request({**await _passkey_options(client), "origin": "https://evil.example"})
        assert (await client.post("/api/v1/auth/passkey", json={"credential": phished})).status_code == 401
    good = key.credential_request(await _passkey_options(client))
    blocked = await client.post("/api/v1/auth/passkey", json={"credential": good})
    assert blocked.status_code == 429


async def test_removing_the_last_key_restores_password_sign_in(auth: Any) -> None:
    client, sink, rt = auth
    await _signed_up(client, sink, ALICE)
    key = Fido2Authenticator()
    created = await _register(client, key)
    renamed = await client.patch(f"/api/v1/me/webauthn/credentials/{created['id']}", json={"name": "Old key"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Old key"
    assert (await client.delete(f"/api/v1/me/webauthn/credentials/{created['id']}")).status_code == 204
    assert (await client.get("/api/v1/me/webauthn/credentials")).json() == []
    await _password_session(client, ALICE)
    assert ("user.mfa.removed", "webauthn") in [(t, d.get("kind")) for t, d in await _event_types(rt)]

    # and the removed key is not a passkey any more
    client.cookies.clear()
    gone = await client.post(
        "/api/v1/auth/passkey", json={"credential": key.credential_request(await _passkey_options(client))}
    )
    assert gone.status_code == 401


async def test_webauthn_options_need_a_live_sign_in_challenge(auth: Any) -> None:
    client, sink, _rt = auth
    await _signed_up(client, sink, ALICE)
    response = await client.post("/api/v1/auth/mfa/webauthn/options", json={"challenge": "not-a-real-challenge"})
    assert response.status_code == 400 and response.json()["field"] == "challenge"
    client.cookies.clear()
    assert (await client.post("/api/v1/me/webauthn/registration/options")).status_code == 401
