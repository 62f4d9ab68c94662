"""OAuth client-credentials clients: a real OAuth client (Authlib) fetches tokens, the API accepts
them in their tenant only, and forged, expired or revoked tokens are refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwt
from joserfc.jwk import OKPKey
from joserfc.jws import JWSRegistry
from sqlalchemy import select

from atrium.api.app import create_app
from atrium.core.audit.models import AuditEvent
from atrium.platform.identity.models import Membership
from atrium.platform.identity.oauth import tokens
from atrium.platform.identity.oauth.models import OAuthClient
from atrium.platform.tenancy import service as tenancy
from atrium.platform.tenancy.schemas import TenantCreate
from atrium.runtime import Runtime
from tests.platform.identity.conftest import SIGNUP, Sink

BASE = "http://atrium.test"
TOKEN_URL = BASE + "/api/v1/oauth/token"
SCOPES = ["notes.note.read", "notes.note.create"]
SECOND = {**SIGNUP, "email": "second@example.com", "organization_name": "Second Works"}


async def _signed_in(client: httpx.AsyncClient, sink: Sink, signup: dict[str, Any]) -> dict[str, Any]:
    assert (await client.post("/api/v1/auth/signup", json=signup)).status_code == 202
    verified = await client.post("/api/v1/auth/verify-email", json={"token": sink.last_token()})
    assert verified.status_code == 200, verified.text
    login = await client.post("/api/v1/auth/login", json={"email": signup["email"], "password": signup["password"]})
    assert login.status_code == 200, login.text
    return dict(verified.json())


@pytest.fixture
async def admin(auth: Any) -> dict[str, Any]:
    """The first user, signed in as Tenant Admin of their new tenant."""
    client, sink, _rt = auth
    return await _signed_in(client, sink, SIGNUP)


async def _new_client(client: httpx.AsyncClient, tenant: str, scopes: list[str] = SCOPES) -> dict[str, Any]:
    created = await client.post(f"/api/v1/tenants/{tenant}/oauth-clients", json={"name": "ci", "scopes": scopes})
    assert created.status_code == 201, created.text
    return dict(created.json())


def _transport(rt: Runtime) -> httpx.ASGITransport:
    return httpx.ASGITransport(app=create_app(runtime=rt, embedded_worker=False))


@pytest.fixture
async def oauth_factory(auth: Any) -> AsyncIterator[Any]:
    """Authlib OAuth 2.0 clients talking to the app in-process; closed afterwards."""
    _client, _sink, rt = auth
    made: list[AsyncOAuth2Client] = []

    def make(client_id: str, secret: str, method: str = "client_secret_basic", **kwargs: Any) -> AsyncOAuth2Client:
        oauth = AsyncOAuth2Client(
            client_id, secret, token_endpoint_auth_method=method, transport=_transport(rt), base_url=BASE, **kwargs
        )
        made.append(oauth)
        return oauth

    yield make
    for oauth in made:
        await oauth.aclose()


async def _token(client: httpx.AsyncClient, client_id: str, secret: str, **form: str) -> httpx.Response:
    return await client.post(
        TOKEN_URL, data={"grant_type": "client_credentials", **form}, auth=httpx.BasicAuth(client_id, secret)
    )


async def _actions(rt: Runtime) -> list[str]:
    async with rt.db.platform_session() as session:
        return list((await session.execute(select(AuditEvent.action).order_by(AuditEvent.id))).scalars())


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
async def test_a_client_fetches_a_token_and_reaches_its_own_tenant_only(
    auth: Any, admin: dict[str, Any], oauth_factory: Any, method: str
) -> None:
    client, _sink, rt = auth
    mine = admin["tenant_slug"]
    other = (await tenancy.create(rt, TenantCreate(slug="someone-else"))).slug
    created = await _new_client(client, mine)
    assert created["client_id"].startswith("atc_") and created["client_secret"].startswith("ats_")
    assert created["scopes"] == SCOPES

    oauth = oauth_factory(created["client_id"], created["client_secret"], method)
    token = await oauth.fetch_token(TOKEN_URL, grant_type="client_credentials")
    assert token["token_type"] == "Bearer" and token["expires_in"] == 600
    assert token["scope"] == " ".join(SCOPES)

    home = await oauth.get(f"/api/v1/tenants/{mine}")
    assert home.status_code == 200, home.text
    assert (await oauth.get(f"/api/v1/tenants/{mine}/notes")).status_code == 200
    foreign = await oauth.get(f"/api/v1/tenants/{other}")
    assert foreign.status_code == 404 and foreign.json()["code"] == "tenant-not-found"
    # a machine client administers nothing, even in its own tenant
    assert (await oauth.get(f"/api/v1/tenants/{mine}/oauth-clients")).status_code == 403
    assert (await oauth.get("/api/v1/platform/tenants")).status_code == 403


async def test_the_token_verifies_with_the_published_key_in_another_jose_library(
    auth: Any, admin: dict[str, Any]
) -> None:
    from authlib.jose import JsonWebKey, JsonWebToken

    client, _sink, rt = auth
    created = await _new_client(client, admin["tenant_slug"])
    issued = await _token(client, created["client_id"], created["client_secret"], scope="notes.note.read")
    assert issued.status_code == 200, issued.text
    assert issued.headers["cache-control"] == "no-store" and issued.headers["pragma"] == "no-cache"
    assert set(issued.json()) == {"access_token", "token_type", "expires_in", "scope"}

    meta = (await client.get("/.well-known/oauth-authorization-server")).json()
    issuer = rt.settings.public_url.rstrip("/")
    assert meta == {
        "issuer": issuer,
        "token_endpoint": issuer + "/api/v1/oauth/token",
        "jwks_uri": issuer + "/api/v1/oauth/jwks.json",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    }
    jwks = (await client.get("/api/v1/oauth/jwks.json")).json()
    [key] = jwks["keys"]
    assert key["kty"] == "OKP" and key["crv"] == "Ed25519" and key["alg"] == "EdDSA" and "d" not in key

    claims = JsonWebToken(["EdDSA"]).decode(issued.json()["access_token"], JsonWebKey.import_key_set(jwks))
    claims.validate(now=int(time.time()))
    assert claims["iss"] == issuer and claims["aud"] == issuer + "/api"
    assert claims["sub"] == created["client_id"] and claims["tenant_id"] == admin["tenant_id"]
    assert claims["scope"] == "notes.note.read" and claims["exp"] - claims["iat"] == 600
    assert claims["nbf"] == claims["iat"] and claims["jti"]


async def test_a_token_request_names_a_subset_of_the_client_scopes(
    auth: Any, admin: dict[str, Any], oauth_factory: Any
) -> None:
    client, _sink, rt = auth
    created = await _new_client(client, admin["tenant_slug"])
    narrow = oauth_factory(created["client_id"], created["client_secret"], scope="notes.note.read")
    token = await narrow.fetch_token(TOKEN_URL, grant_type="client_credentials")
    assert token["scope"] == "notes.note.read"
    claims, _ = await tokens.verify(rt, token["access_token"])
    assert claims.scopes == {"notes.note.read"}

    greedy = oauth_factory(created["client_id"], created["client_secret"], scope="notes.note.read billing.all")
    with pytest.raises(OAuthError) as refused:
        await greedy.fetch_token(TOKEN_URL, grant_type="client_credentials")
    assert refused.value.error == "invalid_scope" and "billing.all" in str(refused.value.description)
    assert "oauth.token.refused" in await _actions(rt)


async def test_token_endpoint_errors_follow_rfc_6749(auth: Any, admin: dict[str, Any]) -> None:
    client, _sink, rt = auth
    created = await _new_client(client, admin["tenant_slug"])
    cid, secret = created["client_id"], created["client_secret"]

    async def error_of(response: httpx.Response, status: int) -> str:
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/json"
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        assert set(body) == {"error", "error_description"}
        return str(body["error"])

    as_json = await client.post(TOKEN_URL, json={"grant_type": "client_credentials"}, auth=(cid, secret))
    assert await error_of(as_json, 400) == "invalid_request"
    missing = await client.post(TOKEN_URL, data={"scope": "x"}, auth=(cid, secret))
    assert await error_of(missing, 400) == "invalid_request"
    password = await client.post(TOKEN_URL, data={"grant_type": "password"}, auth=(cid, secret))
    assert await error_of(password, 400) == "unsupported_grant_type"
    twice = await client.post(
        TOKEN_URL, content=b"grant_type=client_credentials&scope=a&scope=b", auth=(cid, secret),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    assert await error_of(twice, 400) == "invalid_request"
    both = await client.post(
        TOKEN_URL, data={"grant_type": "client_credentials", "client_secret": secret}, auth=(cid, secret)
    )
    assert await error_of(both, 400) == "invalid_request"

    for response in (
        await _token(client, cid, secret + "x"),
        await _token(client, "atc_nobody", secret),
        await client.post(TOKEN_URL, data={"grant_type": "client_credentials", "client_id": cid}),
        await client.post(TOKEN_URL, data={"grant_type": "client_credentials"}),
        await client.post(
            TOKEN_URL, data={"grant_type": "client_credentials"}, headers={"authorization": "Basic !!notbase64"}
        ),
    ):
        assert await error_of(response, 401) == "invalid_client"
        assert response.headers["www-authenticate"].startswith("Basic ")
    bad_scope = await _token(client, cid, secret, scope="notes.note.delete")
    assert await error_of(bad_scope, 400) == "invalid_scope"

    async with rt.db.platform_session() as session:
        refused = (
            (await session.execute(select(AuditEvent).where(AuditEvent.action == "oauth.token.refused")))
            .scalars()
            .all()
        )
    reasons = sorted(e.data["reason"] for e in refused)
    assert reasons == ["bad_credentials", "bad_credentials", "invalid_scope"]
    assert {e.tenant_id for e in refused} == {admin["tenant_id"], None}


@pytest.mark.auth_settings(login_max_failures=2)
async def test_failed_client_authentication_is_throttled(auth: Any, admin: dict[str, Any]) -> None:
    client, _sink, _rt = auth
    created = await _new_client(client, admin["tenant_slug"])
    cid, secret = created["client_id"], created["client_secret"]
    for _ in range(2):
        assert (await _token(client, cid, "wrong")).status_code == 401
    throttled = await _token(client, cid, secret)  # even the right secret must wait now
    assert throttled.status_code == 429 and throttled.json()["error"] == "invalid_client"
    assert int(throttled.headers["retry-after"]) >= 1


async def test_revoking_a_client_stops_new_tokens_and_its_tokens(auth: Any, admin: dict[str, Any]) -> None:
    client, _sink, rt = auth
    mine = admin["tenant_slug"]
    created = await _new_client(client, mine)
    cid, secret = created["client_id"], created["client_secret"]
    access = (await _token(client, cid, secret)).json()["access_token"]
    bearer = {"Authorization": f"Bearer {access}"}
    async with httpx.AsyncClient(transport=_transport(rt), base_url=BASE) as machine:
        assert (await machine.get(f"/api/v1/tenants/{mine}", headers=bearer)).status_code == 200

        revoked = await client.delete(f"/api/v1/tenants/{mine}/oauth-clients/{cid}")
        assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
        again = await client.delete(f"/api/v1/tenants/{mine}/oauth-clients/{cid}")
        assert again.status_code == 200 and again.json()["revoked_at"] == revoked.json()["revoked_at"]

        refused = await _token(machine, cid, secret)
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
        old = await machine.get(f"/api/v1/tenants/{mine}", headers=bearer)
        assert old.status_code == 401 and old.headers["content-type"] == "application/problem+json"
        assert old.json()["code"] == "invalid-token"

    rotate = await client.post(f"/api/v1/tenants/{mine}/oauth-clients/{cid}/secret")
    assert rotate.status_code == 409
    listed = (await client.get(f"/api/v1/tenants/{mine}/oauth-clients")).json()
    assert [c["client_id"] for c in listed] == [cid] and listed[0]["revoked_at"] is not None
    assert "client_secret" not in listed[0]
    actions = await _actions(rt)
    assert actions.count("oauth.client.created") == 1 and actions.count("oauth.client.revoked") == 1
    assert "oauth.token.issued" not in actions


async def test_rotating_the_secret_replaces_it_at_once(auth: Any, admin: dict[str, Any]) -> None:
    client, _sink, rt = auth
    mine = admin["tenant_slug"]
    created = await _new_client(client, mine)
    cid, old_secret = created["client_id"], created["client_secret"]
    rotated = await client.post(f"/api/v1/tenants/{mine}/oauth-clients/{cid}/secret")
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["client_secret"]
    assert new_secret != old_secret and rotated.json()["secret_rotated_at"] is not None
    assert (await _token(client, cid, old_secret)).status_code == 401
    assert (await _token(client, cid, new_secret)).status_code == 200
    async with rt.db.platform_session() as session:
        stored = await session.get(OAuthClient, cid)
    assert stored is not None and stored.secret_hash == hashlib.sha256(new_secret.encode()).hexdigest()
    assert "oauth.client.secret_rotated" in await _actions(rt)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())


def _forgeries(rt: Runtime, good: str, claims: dict[str, Any], other_tenant_id: str) -> dict[str, list[str]]:
    """Tokens that must all be refused, by what is wrong with them."""
    settings = rt.settings
    now = int(time.time())
    kid = tokens.jwks(settings)["keys"][0]["kid"]
    x = tokens.jwks(settings)["keys"][0]["x"]
    public_raw = base64.urlsafe_b64decode(x + "=" * (-len(x) % 4))
    header_hs = {"alg": "HS256", "typ": "at+jwt", "kid": kid}
    hs_input = _unsigned(header_hs, claims)
    hs_keys = [public_raw, x.encode(), json.dumps(tokens.jwks(settings)["keys"][0]).encode()]
    head, payload, signature = good.split(".")
    flipped = ("A" if signature[10] != "A" else "B").join((signature[:10], signature[11:]))
    return {
        "expired": [tokens.sign(settings, {**claims, "iat": now - 700, "nbf": now - 700, "exp": now - 60})],
        "not yet valid": [tokens.sign(settings, {**claims, "nbf": now + 300})],
        "wrong audience": [tokens.sign(settings, {**claims, "aud": "https://elsewhere.example/api"})],
        "wrong issuer": [tokens.sign(settings, {**claims, "iss": "https://evil.example"})],
        "alg none": [_unsigned({"alg": "none", "typ": "at+jwt", "kid": kid}, claims) + "."],
        "HS256 keyed with the public key": [
            hs_input + "." + _b64(hmac.new(k, hs_input.encode(), hashlib.sha256).digest()) for k in hs_keys
        ],
        "tampered signature": [f"{head}.{payload}.{flipped}"],
        "tampered claims": [
            f"{head}.{_b64(json.dumps({**claims, 'tenant_id': other_tenant_id}).encode())}.{signature}"
        ],
        "not typed as an access token": [_signed(claims, tokens._keys(settings).key, kid=kid, typ="JWT")],
        "signed by another key": [_signed(claims, OKPKey.generate_key("Ed25519"), kid=kid)],
    }


def _signed(claims: dict[str, Any], key: OKPKey, *, kid: str, typ: str = "at+jwt") -> str:
    return jwt.encode({"alg": "EdDSA", "typ": typ, "kid": kid}, claims, key, registry=JWSRegistry(algorithms=["EdDSA"]))


async def test_forged_expired_and_misdirected_tokens_are_refused(auth: Any, admin: dict[str, Any]) -> None:
    client, _sink, rt = auth
    mine = admin["tenant_slug"]
    other = await tenancy.create(rt, TenantCreate(slug="someone-else"))
    created = await _new_client(client, mine)
    good = (await _token(client, created["client_id"], created["client_secret"])).json()["access_token"]
    claims = json.loads(base64.urlsafe_b64decode(good.split(".")[1] + "=="))
    client.cookies.clear()
    assert (await client.get(f"/api/v1/tenants/{mine}", headers={"Authorization": f"Bearer {good}"})).status_code == 200
    for what, forged in _forgeries(rt, good, claims, other.id).items():
        for token in forged:
            response = await client.get(f"/api/v1/tenants/{mine}", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401, what
            assert response.headers["content-type"] == "application/problem+json", what
            assert response.json()["code"] == "invalid-token", what
            with pytest.raises(tokens.InvalidAccessToken):
                tokens.decode(rt.settings, token)
    # correctly signed, but its client does not belong to the tenant it names
    misdirected = tokens.sign(rt.settings, {**claims, "tenant_id": other.id})
    response = await client.get(f"/api/v1/tenants/{other.slug}", headers={"Authorization": f"Bearer {misdirected}"})
    assert response.status_code == 401 and response.json()["code"] == "invalid-token"


async def test_client_routes_are_for_the_tenant_admins_only(auth: Any, admin: dict[str, Any]) -> None:
    client, sink, rt = auth
    mine = admin["tenant_slug"]
    created = await _new_client(client, mine)
    base = f"/api/v1/tenants/{mine}/oauth-clients"
    calls = [
        ("GET", base, None),
        ("POST", base, {"name": "x", "scopes": ["*"]}),
        ("DELETE", f"{base}/{created['client_id']}", None),
        ("POST", f"{base}/{created['client_id']}/secret", None),
    ]
    async with httpx.AsyncClient(transport=_transport(rt), base_url=BASE) as second:
        theirs = await _signed_in(second, sink, SECOND)
        their_client = await _new_client(second, theirs["tenant_slug"])
        for method, path, body in calls:  # another tenant's admin: not found
            response = await second.request(method, path, json=body)
            assert response.status_code == 404, (method, path, response.text)
        async with rt.db.platform_session() as session, session.begin():
            session.add(Membership(user_id=theirs["user_id"], tenant_id=admin["tenant_id"], role="Member"))
        for method, path, body in calls:  # now a plain member: forbidden
            response = await second.request(method, path, json=body)
            assert response.status_code == 403, (method, path, response.text)
    # a client of another tenant is not found through this tenant's path
    foreign = f"{base}/{their_client['client_id']}"
    assert (await client.delete(foreign)).status_code == 404
    assert (await client.post(foreign + "/secret")).status_code == 404
    assert [c["client_id"] for c in (await client.get(base)).json()] == [created["client_id"]]


async def test_bad_client_definitions_are_refused_naming_the_field(auth: Any, admin: dict[str, Any]) -> None:
    client, _sink, _rt = auth
    base = f"/api/v1/tenants/{admin['tenant_slug']}/oauth-clients"
    for body in ({"name": "x", "scopes": []}, {"name": "x", "scopes": ["DROP TABLE"]}, {"name": "", "scopes": ["*"]}):
        response = await client.post(base, json=body)
        assert response.status_code == 422, body
        assert response.json()["errors"][0]["field"].split(".")[0] in ("scopes", "name")
    assert (await client.get(base)).json() == []
