"""Administration of SSO connections: a tenant's (Tenant Admin) and the platform's social providers
(Platform Admin). Discovery documents come from a real OpenID provider on loopback."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from atrium.core.audit.models import AuditEvent
from atrium.platform.identity import service as identity
from atrium.platform.identity.models import Membership
from atrium.platform.identity.sso import service as sso
from atrium.platform.identity.sso.models import SsoConnection, SsoDomain
from atrium.runtime import Runtime
from tests.platform.identity.conftest import SIGNUP
from tests.platform.identity.sso_idp import CLIENT_SECRET, Idp, log_in, oidc_connection, running_idp, sign_up

ADMIN = "founder@acme-robotics.com"


@pytest.fixture
def idp() -> Iterator[Idp]:
    with running_idp() as provider:
        yield provider


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _acme(client: httpx.AsyncClient, sink: Any) -> str:
    return str((await sign_up(client, sink, ADMIN, "Acme Robotics"))["tenant_slug"])


async def test_a_tenant_admin_manages_an_oidc_connection(auth: Any, idp: Idp) -> None:
    client, sink, rt = auth
    slug = await _acme(client, sink)
    base = f"/api/v1/tenants/{slug}/sso/connections"
    created = await client.post(base, json=oidc_connection(idp, domains=["Acme-Robotics.com", "@acme.example"]))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["oidc"] == {
        "discovery_url": idp.discovery_url,
        "client_id": "atrium-test-client",
        "scopes": "openid email profile",
        "issuer": idp.url,
        "client_secret_set": True,
    }
    assert body["domains"] == ["acme-robotics.com", "acme.example"]
    assert body["enabled"] is True and body["jit_enabled"] is False and body["saml"] is None
    assert body["redirect_uri"] == f"{rt.settings.public_url}/api/v1/auth/sso/oidc/{body['id']}/callback"
    assert CLIENT_SECRET not in created.text
    async with rt.db.platform_session() as session:
        stored = await session.get(SsoConnection, body["id"])
    assert stored is not None and stored.secret_encrypted and CLIENT_SECRET not in stored.secret_encrypted
    assert sso.decrypt_secret(rt, stored.secret_encrypted) == CLIENT_SECRET
    assert CLIENT_SECRET not in str(stored.config)
    assert stored.config["token_endpoint"] == f"{idp.url}/oauth2/token"

    assert [c["id"] for c in (await client.get(base)).json()] == [body["id"]]
    assert (await client.get(f"{base}/{body['id']}")).json() == body

    changed = await client.patch(
        f"{base}/{body['id']}",
        json={
            "name": "Okta",
            "jit_enabled": True,
            "domains": ["acme-robotics.com"],
            "oidc": {"scopes": "openid email"},
        },
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "Okta" and changed.json()["jit_enabled"] is True
    assert changed.json()["domains"] == ["acme-robotics.com"]
    assert changed.json()["oidc"]["scopes"] == "openid email" and changed.json()["oidc"]["client_secret_set"]
    async with rt.db.platform_session() as session:
        stored = await session.get(SsoConnection, body["id"])
    assert stored is not None and sso.decrypt_secret(rt, stored.secret_encrypted or "") == CLIENT_SECRET  # kept

    assert (await client.delete(f"{base}/{body['id']}")).status_code == 204
    assert (await client.get(f"{base}/{body['id']}")).status_code == 404
    async with rt.db.platform_session() as session:
        assert (await session.execute(select(SsoDomain))).first() is None
        actions = (
            await session.execute(
                select(AuditEvent.action, AuditEvent.object_id).where(AuditEvent.action.like("sso.connection.%"))
            )
        ).all()
    assert sorted(actions) == sorted([(f"sso.connection.{a}", body["id"]) for a in ("created", "updated", "deleted")])


async def test_the_discovery_document_is_checked_when_saving(auth: Any, idp: Idp) -> None:
    client, sink, rt = auth
    slug = await _acme(client, sink)
    base = f"/api/v1/tenants/{slug}/sso/connections"
    bad_urls = {
        f"http://127.0.0.1:{_closed_port()}/.well-known/openid-configuration": "could not be fetched",
        f"{idp.url}/jwks": "lacks issuer, authorization_endpoint, token_endpoint, jwks_uri",  # JSON, not discovery
        f"{idp.url}/no-such-page": "HTTP 404",
        "http://idp.example.com/.well-known/openid-configuration": "must use https",
    }
    for url, why in bad_urls.items():
        body = oidc_connection(idp)
        body["oidc"]["discovery_url"] = url
        refused = await client.post(base, json=body)
        assert refused.status_code == 400, (url, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["field"] == "oidc.discovery_url" and why in refused.json()["detail"], refused.json()
    missing = await client.post(base, json={"name": "x", "protocol": "oidc"})
    assert missing.status_code == 422
    no_openid = oidc_connection(idp)
    no_openid["oidc"]["scopes"] = "email profile"
    assert (await client.post(base, json=no_openid)).status_code == 422
    async with rt.db.platform_session() as session:
        assert (await session.execute(select(SsoConnection))).first() is None  # nothing half-written


async def test_a_domain_routes_to_one_connection_only(auth: Any, idp: Idp) -> None:
    client, sink, rt = auth
    slug = await _acme(client, sink)
    base = f"/api/v1/tenants/{slug}/sso/connections"
    first = await client.post(base, json=oidc_connection(idp))
    assert first.status_code == 201
    clash = await client.post(base, json=oidc_connection(idp, name="Second", domains=["ACME-robotics.com"]))
    assert clash.status_code == 409 and clash.json()["field"] == "domains"
    other = (await sign_up(client, sink, "admin@other.example", "Other"))["tenant_slug"]
    foreign = await client.post(f"/api/v1/tenants/{other}/sso/connections", json=oidc_connection(idp))
    assert foreign.status_code == 409  # another tenant's domain is not for the taking either
    async with rt.db.platform_session() as session:
        assert len((await session.execute(select(SsoConnection))).all()) == 1


async def test_another_tenants_admin_gets_404_and_a_member_403(auth: Any, idp: Idp) -> None:
    client, sink, rt = auth
    slug = await _acme(client, sink)
    base = f"/api/v1/tenants/{slug}/sso/connections"
    connection_id = (await client.post(base, json=oidc_connection(idp))).json()["id"]

    other = (await sign_up(client, sink, "admin@other.example", "Other"))["tenant_slug"]
    for method, path in (
        ("GET", base),
        ("POST", base),
        ("GET", f"{base}/{connection_id}"),
        ("PATCH", f"{base}/{connection_id}"),
        ("DELETE", f"{base}/{connection_id}"),
    ):
        json = oidc_connection(idp) if method == "POST" else {"name": "mine now"} if method == "PATCH" else None
        response = await client.request(method, path, json=json)
        assert response.status_code == 404, (method, path, response.text)
    own_base = f"/api/v1/tenants/{other}/sso/connections"
    assert (await client.get(f"{own_base}/{connection_id}")).status_code == 404  # not through their own tenant
    assert (await client.patch(f"{own_base}/{connection_id}", json={"name": "x"})).status_code == 404
    assert (await client.delete(f"{own_base}/{connection_id}")).status_code == 404
    assert (await client.get(own_base)).json() == []

    async with rt.db.platform_session() as session, session.begin():
        member = await identity.create_user(
            session, "member@acme-robotics.com", SIGNUP["password"], platform_admin=False, terms_version="test"
        )
        acme = (await rt.tenants.resolve(slug)).id
        session.add(Membership(user_id=member.id, tenant_id=acme, role=identity.MEMBER))
    await log_in(client, "member@acme-robotics.com")
    assert (await client.get(base)).status_code == 403
    assert (await client.post(base, json=oidc_connection(idp, domains=[]))).status_code == 403
    assert (await client.delete(f"{base}/{connection_id}")).status_code == 403
    async with rt.db.platform_session() as session:
        assert (await session.get(SsoConnection, connection_id)) is not None


async def test_saml_settings_cannot_be_mixed_into_an_oidc_connection(auth: Any, idp: Idp) -> None:
    client, sink, _rt = auth
    slug = await _acme(client, sink)
    base = f"/api/v1/tenants/{slug}/sso/connections"
    mixed = await client.post(base, json={**oidc_connection(idp), "saml": {"metadata_url": "https://idp.example"}})
    assert mixed.status_code == 422
    connection_id = (await client.post(base, json=oidc_connection(idp))).json()["id"]
    wrong = await client.patch(f"{base}/{connection_id}", json={"saml": {"metadata_url": "https://idp.example"}})
    assert wrong.status_code == 400 and wrong.json()["field"] == "saml"


async def test_a_disabled_connection_takes_no_sign_ins(auth: Any, idp: Idp) -> None:
    client, sink, _rt = auth
    slug = await _acme(client, sink)
    base = f"/api/v1/tenants/{slug}/sso/connections"
    connection_id = (await client.post(base, json=oidc_connection(idp, enabled=False))).json()["id"]
    client.cookies.clear()
    assert (await client.post("/api/v1/auth/sso/discover", json={"email": ADMIN})).status_code == 404
    assert (await client.get(f"/api/v1/auth/sso/{connection_id}/login")).status_code == 404
    assert (await client.get("/api/v1/auth/sso/no-such-connection/login")).status_code == 404


# -- social providers -------------------------------------------------------------------------------


async def _platform_admin(client: httpx.AsyncClient, rt: Runtime) -> str:
    """A platform administrator, signed in; answers the password."""
    async with rt.db.platform_session() as session, session.begin():
        _, password, _ = await identity.bootstrap_platform_admin(
            session, "ops@atrium.example", password=None, terms_version="test"
        )
    await log_in(client, "ops@atrium.example", password)
    return password


async def test_a_platform_admin_manages_social_providers(auth: Any, idp: Idp) -> None:
    client, _sink, rt = auth
    assert (await client.get("/api/v1/auth/sso/social")).json() == []  # none by default
    password = await _platform_admin(client, rt)
    base = "/api/v1/platform/sso/social"
    generic = {"provider": "generic", "client_id": "cid", "client_secret": "shh", "discovery_url": idp.discovery_url}
    created = await client.post(base, json=generic)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["name"] == "OpenID Connect" and body["provider"] == "generic" and body["allow_signup"] is True
    assert body["client_secret_set"] is True and "shh" not in created.text
    assert body["scopes"] == "openid email profile"

    github = await client.post(base, json={"provider": "github", "client_id": "gh", "client_secret": "gh-secret"})
    assert github.status_code == 201, github.text  # plain OAuth 2.0: no discovery to fetch
    assert github.json()["scopes"] == "read:user user:email" and github.json()["discovery_url"] is None
    assert (await client.post(base, json={**generic, "provider": "google"})).status_code == 422  # no discovery_url
    assert (await client.post(base, json={**generic, "discovery_url": None})).status_code == 422

    off = await client.patch(f"{base}/{github.json()['id']}", json={"enabled": False})
    assert off.status_code == 200 and off.json()["enabled"] is False
    renamed = await client.patch(f"{base}/{body['id']}", json={"name": "Loopback ID", "allow_signup": False})
    assert renamed.json()["name"] == "Loopback ID" and renamed.json()["allow_signup"] is False
    assert len((await client.get(base)).json()) == 2

    client.cookies.clear()
    public = (await client.get("/api/v1/auth/sso/social")).json()
    assert public == [
        {
            "id": body["id"],
            "provider": "generic",
            "name": "Loopback ID",
            "login_url": f"/api/v1/auth/sso/{body['id']}/login",
        }
    ]
    await log_in(client, "ops@atrium.example", password)
    assert (await client.delete(f"{base}/{body['id']}")).status_code == 204
    assert (await client.get(f"{base}/{body['id']}")).status_code == 404
    async with rt.db.platform_session() as session:
        actions = (
            await session.execute(select(AuditEvent.action).where(AuditEvent.action.like("sso.connection.%")))
        ).scalars()
        assert sorted(actions) == sorted(
            ["sso.connection.created"] * 2 + ["sso.connection.updated"] * 2 + ["sso.connection.deleted"]
        )


async def test_social_providers_are_for_platform_admins_only(auth: Any, idp: Idp) -> None:
    client, sink, rt = auth
    slug = await _acme(client, sink)
    base = "/api/v1/platform/sso/social"
    body = {"provider": "generic", "client_id": "cid", "client_secret": "shh", "discovery_url": idp.discovery_url}
    assert (await client.get(base)).status_code == 403
    assert (await client.post(base, json=body)).status_code == 403
    tenant_connection = (
        await client.post(f"/api/v1/tenants/{slug}/sso/connections", json=oidc_connection(idp))
    ).json()["id"]
    await _platform_admin(client, rt)
    # a tenant's connection is not a social provider
    assert (await client.get(f"{base}/{tenant_connection}")).status_code == 404
    assert (await client.delete(f"{base}/{tenant_connection}")).status_code == 404
    client.cookies.clear()
    assert (await client.get(base)).status_code == 401
