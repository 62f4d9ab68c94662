"""OIDC single sign-on and social login, end to end against a real OpenID provider on loopback.

The browser's round trip is played step by step: Atrium's discover and login routes (ASGI), the
provider's authorization endpoint (a real HTTP server), then Atrium's callback, which exchanges the
code with the PKCE verifier and checks the ID token against the provider's JWKS.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from authlib.integrations.httpx_client import AsyncOAuth2Client
from sqlalchemy import select, update

from atrium.core.settings import Settings
from atrium.platform.identity import service as identity
from atrium.platform.identity.models import Membership, User
from atrium.platform.identity.sso import oidc
from atrium.platform.identity.sso.models import SsoConnection, SsoIdentity, SsoLoginState
from atrium.platform.identity.sso.service import SsoFailed
from atrium.runtime import Runtime
from tests.platform.identity.conftest import Sink
from tests.platform.identity.sso_idp import (
    CLIENT_ID,
    CLIENT_SECRET,
    Idp,
    local,
    log_in,
    oidc_connection,
    query,
    running_idp,
    sign_up,
)

FOUNDER = "founder@acme-robotics.com"


@pytest.fixture
def idp() -> Iterator[Idp]:
    with running_idp() as provider:
        yield provider


async def _tenant_with_connection(client: httpx.AsyncClient, sink: Sink, idp: Idp, **overrides: Any) -> str:
    """Acme's founder signs up and adds Acme's IdP; answers the connection id. Cookies are cleared
    afterwards: the sign-ins that follow happen in a fresh browser."""
    slug = (await sign_up(client, sink, FOUNDER, "Acme Robotics"))["tenant_slug"]
    created = await client.post(f"/api/v1/tenants/{slug}/sso/connections", json=oidc_connection(idp, **overrides))
    assert created.status_code == 201, created.text
    client.cookies.clear()
    return str(created.json()["id"])


async def _to_idp(client: httpx.AsyncClient, email: str, return_to: str | None = None) -> str:
    """Discover the address's IdP and start the sign-in; answers the IdP's authorization URL."""
    body = {"email": email, **({"return_to": return_to} if return_to else {})}
    discovered = await client.post("/api/v1/auth/sso/discover", json=body)
    assert discovered.status_code == 200, discovered.text
    started = await client.get(discovered.json()["login_url"])
    assert started.status_code == 302, started.text
    return started.headers["location"]


async def _sso(
    client: httpx.AsyncClient, idp: Idp, email: str, sub: str, *, verified: bool = True, return_to: str | None = None
) -> httpx.Response:
    location = await _to_idp(client, email, return_to)
    back = await idp.authorize(location, sub, {"email": email, "email_verified": verified})
    return await client.get(local(back))


async def test_sign_in_through_the_idp_with_pkce_creates_the_account_just_in_time(auth: Any, idp: Idp) -> None:
    client, sink, rt = auth
    connection_id = await _tenant_with_connection(client, sink, idp, jit_enabled=True)
    location = await _to_idp(client, "New.Hire@acme-robotics.com", return_to="/projects?tab=mine")
    assert location.startswith(f"{idp.url}/oauth2/authorize")
    sent = query(location)
    assert sent["client_id"] == CLIENT_ID and sent["response_type"] == "code"
    assert sent["code_challenge_method"] == "S256" and len(sent["code_challenge"]) == 43
    assert sent["nonce"] and sent["state"] and "openid" in sent["scope"].split()
    assert sent["redirect_uri"].endswith(f"/api/v1/auth/sso/oidc/{connection_id}/callback")
    async with rt.db.platform_session() as session:
        state = await session.get(SsoLoginState, sent["state"])
    assert state is not None and state.nonce == sent["nonce"] and state.code_verifier not in location

    back = await idp.authorize(location, "idp-user-1", {"email": "new.hire@acme-robotics.com", "email_verified": True})
    assert back.startswith(f"{rt.settings.public_url}/api/v1/auth/sso/oidc/{connection_id}/callback?")
    landed = await client.get(local(back))
    assert landed.status_code == 302, landed.text
    assert landed.headers["location"] == "/projects?tab=mine"
    assert "atrium_sid" in landed.cookies
    me = (await client.get("/api/v1/me")).json()
    assert me["email"] == "new.hire@acme-robotics.com" and me["email_verified"]
    assert [(m["tenant_name"], m["role"]) for m in me["memberships"]] == [("Acme Robotics", identity.MEMBER)]

    # the next sign-in finds the linked identity
    client.cookies.clear()
    again = await _sso(client, idp, "new.hire@acme-robotics.com", "idp-user-1")
    assert again.status_code == 302 and again.headers["location"] == "/"
    assert (await client.get("/api/v1/me")).json()["id"] == me["id"]


async def test_without_jit_an_unknown_address_is_refused(auth: Any, idp: Idp) -> None:
    client, sink, rt = auth
    await _tenant_with_connection(client, sink, idp, jit_enabled=False)
    refused = await _sso(client, idp, "stranger@acme-robotics.com", "idp-stranger")
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "atrium_sid" not in refused.cookies
    async with rt.db.platform_session() as session:
        assert (await session.execute(select(User).where(User.email == "stranger@acme-robotics.com"))).first() is None


async def test_an_account_of_this_tenant_only_is_linked(auth: Any, idp: Idp) -> None:
    client, sink, rt = auth
    connection_id = await _tenant_with_connection(client, sink, idp)
    landed = await _sso(client, idp, FOUNDER, "founder-at-idp")
    assert landed.status_code == 302, landed.text
    assert (await client.get("/api/v1/me")).json()["email"] == FOUNDER
    async with rt.db.platform_session() as session:
        linked = (await session.execute(select(SsoIdentity))).scalar_one()
    assert (linked.connection_id, linked.subject, linked.email) == (connection_id, "founder-at-idp", FOUNDER)


async def test_an_account_that_also_belongs_to_another_tenant_is_refused(auth: Any, idp: Idp) -> None:
    client, sink, rt = auth
    await _tenant_with_connection(client, sink, idp)
    other = await sign_up(client, sink, "consultant@acme-robotics.com", "Consulting Ltd")
    async with rt.db.platform_session() as session, session.begin():
        acme = (await identity.memberships(session, (await _user(session, FOUNDER)).id))[0].tenant_id
        session.add(Membership(user_id=other["user_id"], tenant_id=acme, role=identity.MEMBER))
    client.cookies.clear()
    refused = await _sso(client, idp, "consultant@acme-robotics.com", "idp-consultant")
    assert refused.status_code == 403, refused.text
    assert refused.json()["field"] == "email" and "atrium_sid" not in refused.cookies
    assert (await client.get("/api/v1/me")).status_code == 401


async def _user(session: Any, email: str) -> User:
    return (await session.execute(select(User).where(User.email == email))).scalar_one()


async def test_a_callback_works_once(auth: Any, idp: Idp) -> None:
    client, sink, _rt = auth
    await _tenant_with_connection(client, sink, idp)
    location = await _to_idp(client, FOUNDER)
    back = await idp.authorize(location, "founder-at-idp", {"email": FOUNDER, "email_verified": True})
    assert (await client.get(local(back))).status_code == 302
    client.cookies.clear()
    replayed = await client.get(local(back))
    assert replayed.status_code == 400
    assert replayed.json()["code"] == "sso-failed" and replayed.json()["field"] == "state"
    assert "atrium_sid" not in replayed.cookies


async def test_a_tampered_nonce_is_refused(auth: Any, idp: Idp) -> None:
    client, sink, rt = auth
    await _tenant_with_connection(client, sink, idp)
    location = await _to_idp(client, FOUNDER)
    async with rt.db.platform_session() as session, session.begin():
        await session.execute(
            update(SsoLoginState).where(SsoLoginState.id == query(location)["state"]).values(nonce="not-the-nonce")
        )
    back = await idp.authorize(location, "founder-at-idp", {"email": FOUNDER, "email_verified": True})
    refused = await client.get(local(back))
    assert refused.status_code == 400, refused.text
    assert refused.json()["field"] == "nonce" and "atrium_sid" not in refused.cookies


async def test_an_expired_state_is_refused(auth: Any, idp: Idp) -> None:
    client, sink, rt = auth
    await _tenant_with_connection(client, sink, idp)
    location = await _to_idp(client, FOUNDER)
    back = await idp.authorize(location, "founder-at-idp", {"email": FOUNDER, "email_verified": True})
    async with rt.db.platform_session() as session, session.begin():
        past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        await session.execute(update(SsoLoginState).values(expires_at=past))
    refused = await client.get(local(back))
    assert refused.status_code == 400 and refused.json()["field"] == "state"


async def test_a_callback_in_another_browser_signs_nobody_in(auth: Any, idp: Idp) -> None:
    """Login CSRF: someone starts a sign-in with their own IdP account and makes a victim's browser
    open the IdP's redirect back. The round trip belongs to the browser that started it."""
    client, sink, _rt = auth
    await _tenant_with_connection(client, sink, idp)
    location = await _to_idp(client, FOUNDER)  # the attacker's browser
    back = await idp.authorize(location, "founder-at-idp", {"email": FOUNDER, "email_verified": True})
    async with httpx.AsyncClient(transport=client._transport, base_url=client.base_url) as victim:
        refused = await victim.get(local(back))
        assert refused.status_code == 400 and refused.json()["field"] == "browser", refused.text
        assert "atrium_sid" not in refused.cookies
        assert (await victim.get("/api/v1/me")).status_code == 401
    # the answer is spent: not even the browser that started the sign-in can use it now
    assert (await client.get(local(back))).status_code == 400


async def test_an_unknown_state_is_refused(auth: Any, idp: Idp) -> None:
    client, sink, _rt = auth
    connection_id = await _tenant_with_connection(client, sink, idp)
    forged = await client.get(f"/api/v1/auth/sso/oidc/{connection_id}/callback?code=abc&state=made-up")
    assert forged.status_code == 400 and forged.json()["field"] == "state"
    missing = await client.get(f"/api/v1/auth/sso/oidc/{connection_id}/callback?code=abc")
    assert missing.status_code == 400 and missing.json()["field"] == "state"


async def test_the_idp_refusing_is_a_clear_error(auth: Any, idp: Idp) -> None:
    client, sink, _rt = auth
    await _tenant_with_connection(client, sink, idp)
    back = await idp.deny(await _to_idp(client, FOUNDER))
    assert query(back)["error"] == "access_denied"
    refused = await client.get(local(back))
    assert refused.status_code == 400, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["field"] == "error" and "access_denied" in refused.json()["detail"]
    assert "atrium_sid" not in refused.cookies


async def test_an_id_token_signed_by_another_key_is_refused(auth: Any, idp: Idp) -> None:
    client, sink, rt = auth
    connection_id = await _tenant_with_connection(client, sink, idp)
    with running_idp() as impostor:  # its JWKS holds a different key
        async with rt.db.platform_session() as session, session.begin():
            connection = await session.get(SsoConnection, connection_id)
            assert connection is not None
            connection.config = {**connection.config, "jwks_uri": f"{impostor.url}/jwks"}
        location = await _to_idp(client, FOUNDER)
        back = await idp.authorize(location, "founder-at-idp", {"email": FOUNDER, "email_verified": True})
        refused = await client.get(local(back))
    assert refused.status_code == 400, refused.text
    assert refused.json()["field"] == "id_token" and "atrium_sid" not in refused.cookies


async def test_an_id_token_minted_for_another_client_is_refused(idp: Idp) -> None:
    """The audience must be this connection's client id: a genuine, well-signed ID token the IdP
    issued to another client does not sign anyone in here."""
    metadata = await oidc.fetch_metadata(Settings(env="development"), idp.discovery_url)
    callback = "http://127.0.0.1:8000/elsewhere/callback"
    async with AsyncOAuth2Client(
        client_id="another-app", client_secret="x", scope="openid email", redirect_uri=callback
    ) as other:
        url, _ = other.create_authorization_url(metadata["authorization_endpoint"], nonce="n-1")
        code = query(await idp.authorize(url, "someone", {"email": FOUNDER, "email_verified": True}))["code"]
        token = await other.fetch_token(metadata["token_endpoint"], code=code)
        ours = SsoConnection(id="c", config={**metadata, "client_id": CLIENT_ID, "scopes": "openid"})
        with pytest.raises(SsoFailed) as refused:
            await oidc._oidc_identity(other, ours, token, "n-1")
        assert refused.value.extra["field"] == "aud"
        theirs = SsoConnection(id="c", config={**metadata, "client_id": "another-app", "scopes": "openid"})
        with pytest.raises(SsoFailed) as replayed:
            await oidc._oidc_identity(other, theirs, token, "another-nonce")
        assert replayed.value.extra["field"] == "nonce"
        who = await oidc._oidc_identity(other, theirs, token, "n-1")
    assert (who.subject, who.email, who.email_verified) == ("someone", FOUNDER, True)


async def test_return_to_is_never_an_open_redirect(auth: Any, idp: Idp) -> None:
    client, sink, _rt = auth
    connection_id = await _tenant_with_connection(client, sink, idp)
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", "dashboard"):
        started = await client.get(f"/api/v1/auth/sso/{connection_id}/login", params={"return_to": target})
        assert started.status_code == 400 and started.json()["field"] == "return_to", target
        discovered = await client.post("/api/v1/auth/sso/discover", json={"email": FOUNDER, "return_to": target})
        assert discovered.status_code == 400 and discovered.json()["field"] == "return_to", target
    fine = await client.get(f"/api/v1/auth/sso/{connection_id}/login", params={"return_to": "/a/b?c=d"})
    assert fine.status_code == 302


async def test_discovery_reveals_only_routed_domains(auth: Any, idp: Idp) -> None:
    client, sink, _rt = auth
    connection_id = await _tenant_with_connection(client, sink, idp)
    found = await client.post("/api/v1/auth/sso/discover", json={"email": "anyone@ACME-robotics.com"})
    assert found.status_code == 200
    assert found.json() == {
        "connection_id": connection_id,
        "protocol": "oidc",
        "name": "Acme IdP",
        "login_url": f"/api/v1/auth/sso/{connection_id}/login",
    }
    assert (await client.post("/api/v1/auth/sso/discover", json={"email": "x@elsewhere.com"})).status_code == 404
    await sign_up(client, sink, "admin@elsewhere.com", "Elsewhere")  # a known account changes nothing
    assert (await client.post("/api/v1/auth/sso/discover", json={"email": "admin@elsewhere.com"})).status_code == 404


# -- social login -----------------------------------------------------------------------------------


async def _social(client: httpx.AsyncClient, rt: Runtime, idp: Idp, **overrides: Any) -> str:
    """A Platform Admin adds the provider (a generic OIDC one: the real provider on loopback)."""
    async with rt.db.platform_session() as session, session.begin():
        _, password, _ = await identity.bootstrap_platform_admin(
            session, "ops@atrium.example", password=None, terms_version="test"
        )
    await log_in(client, "ops@atrium.example", password)
    body = {
        "provider": "generic",
        "name": "Loopback ID",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "discovery_url": idp.discovery_url,
        **overrides,
    }
    created = await client.post("/api/v1/platform/sso/social", json=body)
    assert created.status_code == 201, created.text
    client.cookies.clear()
    return str(created.json()["id"])


async def _social_sign_in(
    client: httpx.AsyncClient, idp: Idp, email: str, sub: str, *, verified: bool = True
) -> httpx.Response:
    client.cookies.clear()
    [provider] = (await client.get("/api/v1/auth/sso/social")).json()
    started = await client.get(provider["login_url"])
    assert started.status_code == 302, started.text
    back = await idp.authorize(started.headers["location"], sub, {"email": email, "email_verified": verified})
    return await client.get(local(back))


async def test_social_signup_asks_for_the_terms_then_creates_account_and_tenant(auth: Any, idp: Idp) -> None:
    client, _sink, rt = auth
    connection_id = await _social(client, rt, idp)
    listed = (await client.get("/api/v1/auth/sso/social")).json()
    assert listed == [
        {
            "id": connection_id,
            "provider": "generic",
            "name": "Loopback ID",
            "login_url": f"/api/v1/auth/sso/{connection_id}/login",
        }
    ]
    pending = await _social_sign_in(client, idp, "Maker@Gmail.example", "social-maker")
    assert pending.status_code == 302, pending.text
    assert pending.headers["location"].startswith("/signup/sso?token=")
    assert "atrium_sid" not in pending.cookies  # no account, no session, before the terms
    token = query(pending.headers["location"])["token"]
    async with rt.db.platform_session() as session:
        assert (await session.execute(select(User))).scalars().all() == [await _user(session, "ops@atrium.example")]

    refused = await client.post("/api/v1/auth/sso/social/complete", json={"token": token, "accept_terms": False})
    assert refused.status_code == 422
    done = await client.post(
        "/api/v1/auth/sso/social/complete",
        json={"token": token, "accept_terms": True, "marketing_opt_in": True, "organization_name": "Maker Shop"},
    )
    assert done.status_code == 201, done.text
    assert done.json()["email"] == "maker@gmail.example" and done.json()["role"] == identity.TENANT_ADMIN
    me = (await client.get("/api/v1/me")).json()
    assert me["email"] == "maker@gmail.example" and me["marketing_opt_in"] is True
    assert [m["tenant_name"] for m in me["memberships"]] == ["Maker Shop"]
    again = await client.post("/api/v1/auth/sso/social/complete", json={"token": token, "accept_terms": True})
    assert again.status_code == 400  # used once

    signed_in = await _social_sign_in(client, idp, "maker@gmail.example", "social-maker")
    assert signed_in.status_code == 302 and "atrium_sid" in signed_in.cookies
    assert (await client.get("/api/v1/me")).json()["id"] == me["id"]


async def test_social_sign_in_never_links_an_existing_account_without_its_mailbox(auth: Any, idp: Idp) -> None:
    client, sink, rt = auth
    owner = await sign_up(client, sink, "owner@shop.example", "Shop")
    await _social(client, rt, idp)
    mails = len(sink.messages)
    answer = await _social_sign_in(client, idp, "owner@shop.example", "social-owner")
    assert answer.status_code == 302 and answer.headers["location"] == "/login?sso=link-sent"
    assert "atrium_sid" not in answer.cookies
    assert len(sink.messages) == mails + 1 and sink.messages[-1]["To"] == "owner@shop.example"
    async with rt.db.platform_session() as session:
        assert (await session.execute(select(SsoIdentity))).first() is None  # nothing linked yet
    # signing in again before confirming still links nothing
    assert (await _social_sign_in(client, idp, "owner@shop.example", "social-owner")).status_code == 302
    token = sink.last_token()

    confirmed = await client.post("/api/v1/auth/sso/link/confirm", json={"token": token})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["email"] == "owner@shop.example"
    assert (await client.post("/api/v1/auth/sso/link/confirm", json={"token": token})).status_code == 400

    signed_in = await _social_sign_in(client, idp, "owner@shop.example", "social-owner")
    assert signed_in.status_code == 302 and "atrium_sid" in signed_in.cookies
    assert (await client.get("/api/v1/me")).json()["id"] == owner["user_id"]


async def test_social_sign_in_needs_a_verified_address(auth: Any, idp: Idp) -> None:
    client, sink, rt = auth
    await sign_up(client, sink, "owner@shop.example", "Shop")
    await _social(client, rt, idp)
    mails = len(sink.messages)
    for email in ("owner@shop.example", "newcomer@shop.example"):
        refused = await _social_sign_in(client, idp, email, f"sub-{email}", verified=False)
        assert refused.status_code == 403, refused.text
        assert refused.json()["field"] == "email_verified" and "atrium_sid" not in refused.cookies
    assert len(sink.messages) == mails


async def test_social_signup_can_be_closed(auth: Any, idp: Idp) -> None:
    client, _sink, rt = auth
    await _social(client, rt, idp, allow_signup=False)
    refused = await _social_sign_in(client, idp, "newcomer@shop.example", "sub-new")
    assert refused.status_code == 403 and refused.json()["code"] == "signup-closed"
