"""Console pages of the identity integrations, driven through their HTML forms against the ASGI app:
a tenant's SSO connections (a real OpenID provider and pysaml2's IdP on loopback), its SCIM token
and OAuth clients; social signup and link confirmation; the sign-in and second-factor pages.
The JavaScript of these pages runs in the browser tests."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from sqlalchemy import func, select

from atrium.core.audit.models import AuditEvent
from atrium.platform.entitlements import service as entitlements
from atrium.platform.identity import service as identity
from atrium.platform.identity.models import Membership, User
from atrium.platform.identity.oauth.models import OAuthClient
from atrium.platform.identity.scim import tokens as scim_tokens
from atrium.platform.identity.sso import service as sso
from atrium.platform.identity.sso.models import SsoConnection, SsoIdentity
from atrium.runtime import Runtime
from tests.platform.identity.conftest import SIGNUP, Sink
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
from tests.platform.identity.test_sso_saml import IDP_ENTITY_ID, _key_and_cert
from tests.platform.identity.test_sso_saml import Idp as SamlIdp

ADMIN = "founder@acme-robotics.com"
META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


@pytest.fixture
def idp() -> Iterator[Idp]:
    with running_idp() as provider:
        yield provider


async def _csrf(client: httpx.AsyncClient, path: str) -> str:
    """Open a console page as a browser does; answers the CSRF token its forms carry."""
    page = await client.get(path)
    assert page.status_code == 200, (path, page.status_code, page.text[:300])
    found = META.search(page.text)
    assert found, page.text[:300]
    return found.group(1)


async def _acme(client: httpx.AsyncClient, sink: Sink) -> tuple[str, str]:
    """Acme's founder (its Tenant Admin), signed in; answers the tenant slug and a CSRF token."""
    slug = str((await sign_up(client, sink, ADMIN, "Acme Robotics"))["tenant_slug"])
    return slug, await _csrf(client, f"/t/{slug}/security")


def _flash_error(html: str) -> str:
    found = re.search(r'class="flash flash-error" role="status">([^<]+)<', html)
    assert found, "no error message on the page"
    return found.group(1)


def _shown(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}">([^<]+)<', html)
    assert found, f"#{element_id} not on the page"
    return found.group(1)


async def _connections(rt: Runtime) -> list[SsoConnection]:
    async with rt.db.platform_session() as session:
        return list((await session.execute(select(SsoConnection).order_by(SsoConnection.created_at))).scalars())


async def _actions(rt: Runtime, prefix: str) -> list[str]:
    async with rt.db.platform_session() as session:
        rows = await session.execute(select(AuditEvent.action).where(AuditEvent.action.like(f"{prefix}%")))
    return sorted(rows.scalars())


# -- single sign-on --------------------------------------------------------------------------------


async def test_a_tenant_admin_manages_an_oidc_connection_with_the_console_forms(auth: Any, idp: Idp) -> None:
    client, sink, rt = auth
    slug, csrf = await _acme(client, sink)
    page = f"/t/{slug}/security"
    form = {
        "csrf_token": csrf,
        "name": "Acme IdP",
        "discovery_url": idp.discovery_url,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "domains": "Acme-Robotics.com, acme.example",
        "jit_enabled": "on",
    }
    created = await client.post(f"{page}/sso/oidc", data=form)
    assert created.status_code == 303, created.text
    [stored] = await _connections(rt)
    assert created.headers["location"] == f"{page}?connection={stored.id}#sso-{stored.id}"
    assert stored.protocol == "oidc" and stored.enabled and stored.jit_enabled
    assert stored.config["issuer"] == idp.url and stored.config["client_id"] == CLIENT_ID
    assert sso.decrypt_secret(rt, stored.secret_encrypted or "") == CLIENT_SECRET

    shown = await client.get(created.headers["location"])
    assert shown.status_code == 200
    redirect_uri = f"{rt.settings.public_url}/api/v1/auth/sso/oidc/{stored.id}/callback"
    assert f'<code data-sp="redirect_uri">{redirect_uri}</code>' in shown.text
    assert f'id="sso-details-{stored.id}" open' in shown.text  # the new connection is unfolded
    assert "acme-robotics.com, acme.example" in shown.text and "Acme IdP is added" in shown.text
    assert CLIENT_SECRET not in shown.text  # write-only
    discovered = await client.post("/api/v1/auth/sso/discover", json={"email": "someone@acme.example"})
    assert discovered.status_code == 200 and discovered.json()["connection_id"] == stored.id

    # edit: rename, one domain only, just-in-time off (an unchecked box), the secret kept
    edit = {"csrf_token": csrf, "name": "Okta", "domains": "acme-robotics.com"}
    assert (await client.post(f"{page}/sso/connections/{stored.id}", data=edit)).status_code == 303
    [stored] = await _connections(rt)
    async with rt.db.platform_session() as session:
        assert await sso.domains_of(session, stored.id) == ["acme-robotics.com"]
    assert stored.name == "Okta" and not stored.jit_enabled
    assert sso.decrypt_secret(rt, stored.secret_encrypted or "") == CLIENT_SECRET

    assert (await client.post(f"{page}/sso/connections/{stored.id}/disable", data={"csrf_token": csrf})).is_redirect
    assert not (await _connections(rt))[0].enabled
    assert (await client.post("/api/v1/auth/sso/discover", json={"email": ADMIN})).status_code == 404
    listed = await client.get(page)
    assert 'badge-suspended">disabled' in listed.text and f'id="sso-enable-{stored.id}"' in listed.text
    assert (await client.post(f"{page}/sso/connections/{stored.id}/enable", data={"csrf_token": csrf})).is_redirect
    assert (await _connections(rt))[0].enabled

    # a discovery URL that is not one: 400, the form filled in again (never the secret), nothing written
    bad = {**form, "name": "Broken", "domains": "broken.example", "discovery_url": f"{idp.url}/no-such-page"}
    refused = await client.post(f"{page}/sso/oidc", data=bad)
    assert refused.status_code == 400
    assert "HTTP 404" in refused.text and 'value="Broken"' in refused.text and CLIENT_SECRET not in refused.text
    assert len(await _connections(rt)) == 1

    deleted = await client.post(f"{page}/sso/connections/{stored.id}/delete", data={"csrf_token": csrf})
    assert deleted.status_code == 303 and await _connections(rt) == []
    assert await _actions(rt, "sso.connection.") == [
        "sso.connection.created",
        "sso.connection.deleted",
        "sso.connection.updated",
        "sso.connection.updated",
        "sso.connection.updated",
    ]


async def test_a_tenant_admin_adds_saml_connections_that_sign_people_in(auth: Any, tmp_path: Path) -> None:
    client, sink, rt = auth
    slug, csrf = await _acme(client, sink)
    page = f"/t/{slug}/security"
    saml_idp = SamlIdp(*_key_and_cert(tmp_path, "idp"))
    metadata = saml_idp.metadata()

    pasted = {"csrf_token": csrf, "name": "Acme SAML", "domains": "acme-robotics.com", "idp_metadata_xml": metadata}
    created = await client.post(f"{page}/sso/saml", data=pasted)
    assert created.status_code == 303, created.text
    [stored] = await _connections(rt)
    assert stored.protocol == "saml" and stored.config["idp_entity_id"] == IDP_ENTITY_ID
    shown = (await client.get(created.headers["location"])).text
    entity_id = f"{rt.settings.public_url}/api/v1/auth/sso/saml/{stored.id}"
    assert f'<code data-sp="entity_id">{entity_id}</code>' in shown
    assert f'<code data-sp="acs_url">{entity_id}/acs</code>' in shown
    assert f'<code data-sp="metadata_url">{entity_id}/metadata</code>' in shown
    assert IDP_ENTITY_ID in shown

    # the values shown are the ones that work: the IdP reads the SP metadata and the founder signs in
    sp_metadata = await client.get(local(f"{entity_id}/metadata"))
    assert sp_metadata.status_code == 200 and f"{entity_id}/acs" in sp_metadata.text
    client.cookies.clear()
    started = await client.get(f"/api/v1/auth/sso/saml/{stored.id}/login", params={"return_to": "/account"})
    assert started.status_code == 303, started.text
    answer = saml_idp.answer(started.headers["location"], sp_metadata.text, ADMIN)
    checked = await client.post(local(f"{entity_id}/acs"), data={"SAMLResponse": answer})
    assert checked.status_code == 303 and "/finish?request=" in checked.headers["location"], checked.text
    landed = await client.get(checked.headers["location"])  # the browser that started it finishes it
    assert landed.status_code == 303 and landed.headers["location"] == "/account", landed.text
    assert (await client.get("/api/v1/me")).json()["email"] == ADMIN

    # the metadata as an uploaded file (the form is multipart), with its options
    csrf = await _csrf(client, page)
    uploaded = await client.post(
        f"{page}/sso/saml",
        data={
            "csrf_token": csrf,
            "name": "Second SAML",
            "domains": "acme.example",
            "email_attribute": "mail",
            "want_assertions_signed": "on",
            "jit_enabled": "on",
        },
        files={"idp_metadata_file": ("idp-metadata.xml", metadata.encode(), "application/xml")},
    )
    assert uploaded.status_code == 303, uploaded.text
    second = (await _connections(rt))[1]
    assert second.jit_enabled and second.config["want_assertions_signed"] is True
    assert second.config["email_attribute"] == "mail"

    for broken, why in (
        ({"idp_metadata_xml": "<nope/>"}, "describes no SAML 2.0 identity provider"),
        ({"idp_metadata_xml": re.sub(r"(<\w+:X509Certificate>)", r"\1AAAA", metadata)}, "certificate"),
        ({}, "give the IdP metadata as XML or as a URL"),
    ):
        refused = await client.post(
            f"{page}/sso/saml", data={"csrf_token": csrf, "name": "Broken", "domains": "b.example", **broken}
        )
        assert refused.status_code == 400, refused.text
        assert why in _flash_error(refused.text) and 'value="Broken"' in refused.text
    assert len(await _connections(rt)) == 2


# -- SCIM and OAuth clients ------------------------------------------------------------------------


async def test_the_scim_token_is_shown_once_and_provisions(auth: Any) -> None:
    client, sink, rt = auth
    slug, csrf = await _acme(client, sink)
    page = f"/t/{slug}/security"
    before = await client.get(page)
    assert f'id="scim-base-url">{rt.settings.public_url}/scim/v2<' in before.text
    assert 'data-exists="false"' in before.text

    created = await client.post(f"{page}/scim/token", data={"csrf_token": csrf})
    assert created.status_code == 200 and created.headers["cache-control"] == "no-store"
    token = _shown(created.text, "new-scim-token")
    assert token.startswith(scim_tokens.TOKEN_PREFIX) and created.text.count(token) == 1
    later = await client.get(page)
    assert token not in later.text and 'data-exists="true"' in later.text
    assert 'id="scim-last-used">never<' in later.text

    scim = {"Authorization": f"Bearer {token}"}
    users = await client.get("/scim/v2/Users", headers=scim)
    assert users.status_code == 200, users.text
    assert users.json()["totalResults"] == 0  # SCIM knows only the people it provisioned
    assert 'id="scim-last-used">never<' not in (await client.get(page)).text

    rotated = await client.post(f"{page}/scim/token", data={"csrf_token": csrf})
    new_token = _shown(rotated.text, "new-scim-token")
    assert new_token != token
    assert (await client.get("/scim/v2/Users", headers=scim)).status_code == 401
    assert (await client.get("/scim/v2/Users", headers={"Authorization": f"Bearer {new_token}"})).status_code == 200

    revoked = await client.post(f"{page}/scim/token/revoke", data={"csrf_token": csrf})
    assert revoked.status_code == 303
    assert (await client.get("/scim/v2/Users", headers={"Authorization": f"Bearer {new_token}"})).status_code == 401
    assert 'data-exists="false"' in (await client.get(page)).text
    assert await _actions(rt, "scim.token.") == ["scim.token.created", "scim.token.created", "scim.token.revoked"]


async def _token(client: httpx.AsyncClient, client_id: str, secret: str) -> httpx.Response:
    body = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    return await client.post("/api/v1/oauth/token", data=body)


async def test_an_oauth_client_secret_is_shown_once(auth: Any) -> None:
    client, sink, rt = auth
    slug, csrf = await _acme(client, sink)
    page = f"/t/{slug}/security"
    form = {"csrf_token": csrf, "name": "Nightly export", "scopes": "notes.note.read, notes.note.create"}
    created = await client.post(f"{page}/oauth-clients", data=form)
    assert created.status_code == 200 and created.headers["cache-control"] == "no-store"
    client_id = _shown(created.text, "new-oauth-client-id")
    secret = _shown(created.text, "new-oauth-client-secret")
    assert created.text.count(secret) == 1
    later = await client.get(page)
    assert secret not in later.text and f'id="oauth-client-{client_id}"' in later.text
    granted = await _token(client, client_id, secret)
    assert granted.status_code == 200, granted.text
    assert granted.json()["scope"] == "notes.note.read notes.note.create"

    rotated = await client.post(f"{page}/oauth-clients/{client_id}/secret", data={"csrf_token": csrf})
    assert rotated.status_code == 200 and "a new secret replaces the old one" in rotated.text
    new_secret = _shown(rotated.text, "new-oauth-client-secret")
    assert new_secret != secret and rotated.text.count(new_secret) == 1
    assert (await _token(client, client_id, secret)).status_code == 401
    assert (await _token(client, client_id, new_secret)).status_code == 200

    assert (await client.post(f"{page}/oauth-clients/{client_id}/revoke", data={"csrf_token": csrf})).is_redirect
    assert (await _token(client, client_id, new_secret)).status_code == 401
    again = await client.post(f"{page}/oauth-clients/{client_id}/secret", data={"csrf_token": csrf})
    assert again.status_code == 303  # a revoked client gets no new secret: an error message, nothing shown
    assert "gets no new secret" in (await client.get(page)).text

    refused = await client.post(f"{page}/oauth-clients", data={**form, "name": "Bad", "scopes": "Not A Scope"})
    assert refused.status_code == 400 and 'value="Bad"' in refused.text
    async with rt.db.platform_session() as session:
        assert (await session.execute(select(func.count()).select_from(OAuthClient))).scalar_one() == 1


# -- who may use these pages -----------------------------------------------------------------------


async def _integrations(client: httpx.AsyncClient, rt: Runtime, idp: Idp, slug: str, csrf: str) -> dict[str, str]:
    """One of each: a connection, a SCIM token, an OAuth client; answers their ids."""
    connection = await client.post(f"/api/v1/tenants/{slug}/sso/connections", json=oidc_connection(idp))
    assert connection.status_code == 201, connection.text
    assert (await client.post(f"/t/{slug}/security/scim/token", data={"csrf_token": csrf})).status_code == 200
    made = await client.post(f"/t/{slug}/security/oauth-clients", data={"csrf_token": csrf, "name": "a", "scopes": "*"})
    return {"connection": connection.json()["id"], "client": _shown(made.text, "new-oauth-client-id")}


def _posts(slug: str, ids: dict[str, str], idp: Idp) -> list[tuple[str, dict[str, str]]]:
    """Every state-changing route of the integrations, with a form that would succeed."""
    base, conn, client = f"/t/{slug}/security", ids["connection"], ids["client"]
    oidc_form = {
        "name": "Mine now",
        "discovery_url": idp.discovery_url,
        "client_id": CLIENT_ID,
        "domains": "elsewhere.example",
    }
    return [
        (f"{base}/sso/oidc", oidc_form),
        (f"{base}/sso/saml", {"name": "Mine", "idp_metadata_url": f"{idp.url}/nothing"}),
        (f"{base}/sso/connections/{conn}", {"name": "Mine now", "domains": ""}),
        (f"{base}/sso/connections/{conn}/disable", {}),
        (f"{base}/sso/connections/{conn}/enable", {}),
        (f"{base}/sso/connections/{conn}/delete", {}),
        (f"{base}/scim/token", {}),
        (f"{base}/scim/token/revoke", {}),
        (f"{base}/oauth-clients", {"name": "Mine", "scopes": "*"}),
        (f"{base}/oauth-clients/{client}/secret", {}),
        (f"{base}/oauth-clients/{client}/revoke", {}),
    ]


async def _untouched(rt: Runtime, tenant_id: str, ids: dict[str, str]) -> None:
    async with rt.db.platform_session() as session:
        connections = (await session.execute(select(SsoConnection))).scalars().all()
        assert [(c.id, c.name, c.enabled) for c in connections] == [(ids["connection"], "Acme IdP", True)]
        assert await sso.domains_of(session, ids["connection"]) == ["acme-robotics.com"]
        clients = (await session.execute(select(OAuthClient))).scalars().all()
        assert [(c.client_id, c.revoked_at) for c in clients] == [(ids["client"], None)]
        status = await scim_tokens.token_status(session, tenant_id)
    assert status.exists
    assert await _actions(rt, "scim.token.") == ["scim.token.created"]


async def test_members_and_other_tenants_admins_get_404(auth: Any, idp: Idp) -> None:
    client, sink, rt = auth
    slug, csrf = await _acme(client, sink)
    ids = await _integrations(client, rt, idp, slug, csrf)
    acme = await rt.tenants.resolve(slug)
    assert acme is not None

    other = str((await sign_up(client, sink, "admin@other.example", "Other"))["tenant_slug"])
    other_csrf = await _csrf(client, f"/t/{other}/security")
    assert ids["connection"] not in (await client.get(f"/t/{other}/security")).text
    assert (await client.get(f"/t/{slug}/security")).status_code == 404
    for path, form in _posts(slug, ids, idp):
        answer = await client.post(path, data={"csrf_token": other_csrf, **form})
        assert answer.status_code == 404, (path, answer.status_code)
        # nor through their own tenant's routes, with Acme's ids
        own = path.replace(f"/t/{slug}/", f"/t/{other}/")
        if ids["connection"] in own or ids["client"] in own:
            answer = await client.post(own, data={"csrf_token": other_csrf, **form})
            assert answer.status_code == 404, (own, answer.status_code)

    async with rt.db.platform_session() as session, session.begin():
        member = await identity.create_user(
            session, "member@acme-robotics.com", str(SIGNUP["password"]), platform_admin=False, terms_version="test"
        )
        session.add(Membership(user_id=member.id, tenant_id=acme.id, role=identity.MEMBER))
    await log_in(client, "member@acme-robotics.com")
    assert (await client.get(f"/t/{slug}")).status_code == 200  # a member enters the tenant …
    member_csrf = await _csrf(client, "/account")
    assert (await client.get(f"/t/{slug}/security")).status_code == 404  # … but not its administration
    for path, form in _posts(slug, ids, idp):
        answer = await client.post(path, data={"csrf_token": member_csrf, **form})
        assert answer.status_code == 404, (path, answer.status_code)
    await _untouched(rt, acme.id, ids)


async def test_a_form_without_the_csrf_token_is_refused_and_changes_nothing(auth: Any, idp: Idp) -> None:
    client, sink, rt = auth
    slug, csrf = await _acme(client, sink)
    ids = await _integrations(client, rt, idp, slug, csrf)
    acme = await rt.tenants.resolve(slug)
    assert acme is not None
    for path, form in _posts(slug, ids, idp):
        for sent in (form, {**form, "csrf_token": "forged"}):
            answer = await client.post(path, data=sent)
            assert answer.status_code == 403, (path, answer.status_code)
    await _untouched(rt, acme.id, ids)


# -- social sign-in pages --------------------------------------------------------------------------


async def _social_provider(client: httpx.AsyncClient, rt: Runtime, idp: Idp) -> str:
    """A Platform Admin offers sign-in through the loopback provider (a generic OIDC one)."""
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
    }
    created = await client.post("/api/v1/platform/sso/social", json=body)
    assert created.status_code == 201, created.text
    client.cookies.clear()
    return str(created.json()["id"])


async def _through_provider(client: httpx.AsyncClient, idp: Idp, login_url: str, email: str, sub: str) -> str:
    """Click the provider's button on the sign-in page and sign in there; answers where Atrium sends
    the browser afterwards."""
    started = await client.get(login_url)
    assert started.status_code == 302, started.text
    back = await idp.authorize(started.headers["location"], sub, {"email": email, "email_verified": True})
    landed = await client.get(local(back))
    assert landed.status_code == 302, landed.text
    return landed.headers["location"]


async def test_social_signup_through_the_console(auth: Any, idp: Idp) -> None:
    client, _sink, rt = auth
    connection_id = await _social_provider(client, rt, idp)
    login = await client.get("/login", params={"next": "/account"})
    login_url = f"/api/v1/auth/sso/{connection_id}/login?return_to=/account"
    assert f'href="{login_url}">Continue with Loopback ID</a>' in login.text
    assert 'id="passkey-button" data-next="/account"' in login.text
    assert login.text.index("/static/webauthn.js") < login.text.index("/static/console-login.js")

    target = await _through_provider(client, idp, login_url, "Maker@Gmail.example", "sub-1")
    assert target.startswith("/signup/sso?token=")
    token = query(target)["token"]
    page = await client.get(target)
    assert page.status_code == 200 and 'id="sso-signup-email">maker@gmail.example<' in page.text
    csrf = META.search(page.text).group(1)  # type: ignore[union-attr]

    no_terms = await client.post("/signup/sso", data={"csrf_token": csrf, "token": token, "organization_name": "Shop"})
    assert no_terms.status_code == 400 and "must be accepted" in no_terms.text and 'value="Shop"' in no_terms.text
    async with rt.db.platform_session() as session:
        assert (await session.execute(select(User).where(User.email == "maker@gmail.example"))).first() is None

    form = {
        "csrf_token": csrf,
        "token": token,
        "organization_name": "Maker Shop",
        "accept_terms": "on",
        "marketing_opt_in": "on",
    }
    done = await client.post("/signup/sso", data=form)
    assert done.status_code == 303, done.text
    assert "atrium_sid" in done.cookies
    me = (await client.get("/api/v1/me")).json()
    assert me["email"] == "maker@gmail.example" and me["marketing_opt_in"] is True
    [membership] = me["memberships"]
    assert membership["tenant_name"] == "Maker Shop" and membership["role"] == identity.TENANT_ADMIN
    assert done.headers["location"] == f"/t/{membership['tenant_slug']}"
    assert "Welcome to Atrium" in (await client.get(done.headers["location"])).text

    client.cookies.clear()
    used = await client.get(target)
    assert used.status_code == 200  # the seal is still readable, but completing it again fails
    again = await client.post("/signup/sso", data={**form, "csrf_token": META.search(used.text).group(1)})  # type: ignore[union-attr]
    assert again.status_code == 400 and "invalid, expired or already used" in again.text
    garbage = await client.get("/signup/sso", params={"token": "not-a-sealed-token"})
    assert garbage.status_code == 400 and 'id="sso-signup-error"' in garbage.text


async def test_linking_a_social_sign_in_to_an_existing_account_through_the_console(auth: Any, idp: Idp) -> None:
    client, sink, rt = auth
    owner = await sign_up(client, sink, "owner@shop.example", "Shop")
    connection_id = await _social_provider(client, rt, idp)
    login_url = f"/api/v1/auth/sso/{connection_id}/login"
    target = await _through_provider(client, idp, login_url, "owner@shop.example", "sub-owner")
    assert target == "/login?sso=link-sent"
    notice = await client.get(target)
    assert 'id="sso-notice"' in notice.text and "We mailed that address a link" in notice.text
    assert 'id="sso-notice"' not in (await client.get("/login")).text

    body = sink.messages[-1].get_payload(decode=True)
    assert isinstance(body, bytes)
    link = re.search(r"(https?://\S+/sso/link\?token=\S+)", body.decode())
    assert link, body
    page = await client.get(local(link.group(1)))
    token = sink.last_token()
    assert page.status_code == 200 and f'value="{token}"' in page.text
    async with rt.db.platform_session() as session:
        assert (await session.execute(select(SsoIdentity))).first() is None  # opening the link links nothing
    csrf = META.search(page.text).group(1)  # type: ignore[union-attr]
    confirmed = await client.post("/sso/link", data={"csrf_token": csrf, "token": token})
    assert confirmed.status_code == 303 and confirmed.headers["location"] == "/login"
    assert "now connected to owner@shop.example" in (await client.get("/login")).text
    async with rt.db.platform_session() as session:
        [linked] = (await session.execute(select(SsoIdentity))).scalars().all()
    assert linked.user_id == owner["user_id"] and linked.connection_id == connection_id
    twice = await client.post("/sso/link", data={"csrf_token": csrf, "token": token})
    assert twice.status_code == 400 and "invalid, expired or already used" in twice.text
    assert (await client.post("/sso/link", data={"token": token})).status_code == 403  # no CSRF token

    client.cookies.clear()
    assert await _through_provider(client, idp, login_url, "owner@shop.example", "sub-owner") == "/"
    assert (await client.get("/api/v1/me")).json()["id"] == owner["user_id"]


# -- sign-in and account pages: what their scripts need -----------------------------------------------


async def test_the_second_factor_page_offers_a_security_key_and_keeps_the_target(auth: Any) -> None:
    client, sink, _rt = auth
    await sign_up(client, sink, ADMIN, "Acme Robotics")
    started = await client.post("/api/v1/me/mfa/totp")
    totp = pyotp.TOTP(started.json()["secret"])
    assert (await client.post("/api/v1/me/mfa/totp/confirm", json={"code": totp.now()})).status_code == 200
    security = await client.get("/account/security")
    for element in ("webauthn-list", "webauthn-register", "webauthn-unsupported", "webauthn-status"):
        assert f'id="{element}"' in security.text
    assert security.text.index("/static/webauthn.js") < security.text.index("/static/console-security.js")

    client.cookies.clear()
    csrf = await _csrf(client, "/login?next=/account")
    form = {"csrf_token": csrf, "email": ADMIN, "password": SIGNUP["password"], "next": "/account"}
    answered = await client.post("/login", data=form)
    assert answered.status_code == 303 and answered.headers["location"] == "/login/mfa"
    page = await client.get("/login/mfa")
    assert page.status_code == 200
    assert re.search(r'id="use-key" data-challenge="[^"]{10,}" data-next="/account"', page.text), page.text
    assert 'id="webauthn-mfa" hidden' in page.text and 'id="webauthn-mfa-error"' in page.text
    assert page.text.index("/static/webauthn.js") < page.text.index("/static/console-mfa.js")


async def test_the_forms_of_a_feature_the_plan_switched_off_are_refused(auth: Any) -> None:
    """With SCIM or API access off in the tenant's entitlements, the console's forms for them answer
    403 naming the entitlement and create nothing, as the API does."""
    client, sink, rt = auth
    slug, csrf = await _acme(client, sink)
    acme = await rt.tenants.resolve(slug)
    assert acme is not None
    for key in ("feature.scim", "feature.api_access"):
        await entitlements.set_value(rt.db, acme.id, key, False, actor="tests")
    scim = await client.post(f"/t/{slug}/security/scim/token", data={"csrf_token": csrf})
    assert scim.status_code == 403 and "feature.scim" in scim.text
    made = await client.post(
        f"/t/{slug}/security/oauth-clients", data={"csrf_token": csrf, "name": "n", "scopes": "notes.note.read"}
    )
    assert made.status_code == 403 and "feature.api_access" in made.text
    async with rt.db.platform_session() as session:
        assert await session.scalar(select(func.count()).select_from(OAuthClient)) == 0
        assert not (await scim_tokens.token_status(session, acme.id)).exists
