"""The console page of the platform's social sign-in providers (Platform Admins), driven through its
HTML forms against the ASGI app, with a real OpenID provider (oidc-provider-mock) on loopback."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from atrium.core.audit.models import AuditEvent
from atrium.platform.identity import service as identity
from atrium.platform.identity.sso import service as sso
from atrium.platform.identity.sso.models import SsoConnection
from atrium.runtime import Runtime
from tests.platform.identity.sso_idp import (
    CLIENT_ID,
    CLIENT_SECRET,
    Idp,
    log_in,
    oidc_connection,
    running_idp,
    sign_up,
)

OPS = "ops@atrium.example"
META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
HTML = {"accept": "text/html"}


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


async def _ops(client: httpx.AsyncClient, rt: Runtime) -> tuple[str, str]:
    """A Platform Admin, signed in; answers the CSRF token of the providers page and the password."""
    async with rt.db.platform_session() as session, session.begin():
        _, password, _ = await identity.bootstrap_platform_admin(session, OPS, password=None, terms_version="test")
    await log_in(client, OPS, password)
    return await _csrf(client, "/social"), password


def _generic(csrf: str, idp: Idp, **overrides: str) -> dict[str, str]:
    form = {
        "csrf_token": csrf,
        "provider": "generic",
        "name": "Loopback ID",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "discovery_url": idp.discovery_url,
        "allow_signup": "on",
        "enabled": "on",
    }
    return {**form, **overrides}


def _flash_error(page: str) -> str:
    found = re.search(r'class="flash flash-error" role="status">([^<]+)<', page)
    assert found, "no error message on the page"
    return html.unescape(found.group(1))


async def _providers(rt: Runtime) -> list[SsoConnection]:
    async with rt.db.platform_session() as session:
        rows = await session.execute(select(SsoConnection).order_by(SsoConnection.created_at))
    return list(rows.scalars())


async def _actions(rt: Runtime) -> list[str]:
    async with rt.db.platform_session() as session:
        rows = await session.execute(
            select(AuditEvent.action).where(AuditEvent.action.like("sso.connection.%")).order_by(AuditEvent.id)
        )
    return list(rows.scalars())


async def _login_buttons(client: httpx.AsyncClient) -> list[str]:
    """The "Continue with …" buttons of the sign-in page."""
    page = await client.get("/login")
    assert page.status_code == 200
    return re.findall(r">Continue with ([^<]+)</a>", page.text)


async def test_a_platform_admin_manages_a_generic_oidc_provider_with_the_console_forms(auth: Any, idp: Idp) -> None:
    client, _sink, rt = auth
    csrf, _ = await _ops(client, rt)
    empty = await client.get("/social")
    assert '<a href="/social" aria-current="page">Social sign-in</a>' in empty.text
    assert "No providers yet" in empty.text and await _login_buttons(client) == []

    created = await client.post("/social", data=_generic(csrf, idp))
    assert created.status_code == 303, created.text
    [stored] = await _providers(rt)
    assert created.headers["location"] == f"/social?connection={stored.id}#social-{stored.id}"
    assert stored.tenant_id is None and stored.protocol == "oidc" and stored.enabled and stored.jit_enabled
    assert stored.config["provider"] == "generic" and stored.config["issuer"] == idp.url
    assert stored.config["discovery_url"] == idp.discovery_url and stored.config["client_id"] == CLIENT_ID
    assert sso.decrypt_secret(rt, stored.secret_encrypted or "") == CLIENT_SECRET

    shown = await client.get(created.headers["location"])
    callback = f"{rt.settings.public_url}/api/v1/auth/sso/oidc/{stored.id}/callback"
    assert f'<code data-sp="redirect_uri" id="social-callback-{stored.id}">{callback}</code>' in shown.text
    assert f'id="social-details-{stored.id}" open' in shown.text  # the new provider is unfolded
    assert "Loopback ID is added" in shown.text and f'action="/social/{stored.id}/delete"' in shown.text
    assert "data-confirm=" in shown.text and CLIENT_SECRET not in shown.text  # the secret is write-only

    assert await _login_buttons(client) == ["Loopback ID"]
    started = await client.get(f"/api/v1/auth/sso/{stored.id}/login")  # the button leads to the provider
    assert started.status_code == 302 and started.headers["location"].startswith(idp.url)

    edit = {
        "csrf_token": csrf,
        "name": "Loopback Accounts",
        "client_id": CLIENT_ID,
        "client_secret": "a-new-client-secret",
        "scopes": "openid email",
        "discovery_url": idp.discovery_url,
        "enabled": "on",
    }
    saved = await client.post(f"/social/{stored.id}", data=edit)
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == f"/social?connection={stored.id}#social-{stored.id}"
    [stored] = await _providers(rt)
    assert stored.name == "Loopback Accounts" and stored.enabled and not stored.jit_enabled
    assert stored.config["scopes"] == "openid email" and stored.config["issuer"] == idp.url
    assert sso.decrypt_secret(rt, stored.secret_encrypted or "") == "a-new-client-secret"
    assert await _login_buttons(client) == ["Loopback Accounts"]

    del edit["enabled"], edit["client_secret"]  # an unchecked box is not sent; an empty secret keeps it
    disabled = await client.post(f"/social/{stored.id}", data=edit)
    assert disabled.status_code == 303
    page = await client.get("/social")
    assert "Loopback Accounts is saved (disabled)" in page.text and "badge-suspended" in page.text
    [stored] = await _providers(rt)
    assert not stored.enabled and sso.decrypt_secret(rt, stored.secret_encrypted or "") == "a-new-client-secret"
    assert await _login_buttons(client) == []

    deleted = await client.post(f"/social/{stored.id}/delete", data={"csrf_token": csrf})
    assert deleted.status_code == 303 and deleted.headers["location"] == "/social"
    assert await _providers(rt) == []
    assert "The provider is deleted" in (await client.get("/social")).text
    again = await client.post(f"/social/{stored.id}/delete", data={"csrf_token": csrf}, headers=HTML)
    assert again.status_code == 404
    assert await _actions(rt) == [
        "sso.connection.created",
        "sso.connection.updated",
        "sso.connection.updated",
        "sso.connection.deleted",
    ]


async def test_a_github_provider_needs_no_discovery_and_shows_its_callback_url(auth: Any) -> None:
    client, _sink, rt = auth
    csrf, _ = await _ops(client, rt)
    form = {"csrf_token": csrf, "provider": "github", "client_id": "Iv1.github", "client_secret": "gh-secret"}
    created = await client.post("/social", data=form)  # no name: the provider's; signup and enabled off
    assert created.status_code == 303, created.text
    [stored] = await _providers(rt)
    assert stored.name == "GitHub" and not stored.enabled and not stored.jit_enabled
    assert stored.config["scopes"] == "read:user user:email"
    page = await client.get(created.headers["location"])
    callback = f"{rt.settings.public_url}/api/v1/auth/sso/oidc/{stored.id}/callback"
    label = "<dt>Authorization callback URL (GitHub OAuth App)</dt>"
    assert f'{label}<dd><code data-sp="redirect_uri" id="social-callback-{stored.id}">{callback}</code>' in page.text
    assert 'name="discovery_url"' in page.text.split('id="social-add"')[1]
    assert 'name="discovery_url"' not in page.text.split('id="social-add"')[0]  # the edit form has none
    assert await _login_buttons(client) == []  # not enabled yet


async def test_bad_input_answers_4xx_with_the_reason_and_writes_nothing(auth: Any, idp: Idp) -> None:
    client, _sink, rt = auth
    csrf, _ = await _ops(client, rt)
    cases = [
        (_generic(csrf, idp, discovery_url=f"{idp.url}/nowhere/.well-known/openid-configuration"), "HTTP 404"),
        (_generic(csrf, idp, discovery_url="http://idp.example.com/.well-known/openid-configuration"), "https"),
        (_generic(csrf, idp, discovery_url=""), "discovery_url is required for 'generic'"),
        (_generic(csrf, idp, provider="google"), "discovery_url is required for 'generic' and only for it"),
        (_generic(csrf, idp, scopes="email profile"), "must include 'openid'"),
        (_generic(csrf, idp, provider="facebook"), "provider"),
        (_generic(csrf, idp, client_id=""), "client_id"),
    ]
    for form, reason in cases:
        answer = await client.post("/social", data=form)
        assert 400 <= answer.status_code < 500, (form, answer.status_code)
        assert reason in _flash_error(answer.text), (reason, _flash_error(answer.text))
        assert 'value="Loopback ID"' in answer.text and 'id="social-add" open' in answer.text  # typed again …
        assert CLIENT_SECRET not in answer.text  # … but never the secret
    assert await _providers(rt) == [] and await _actions(rt) == []

    assert (await client.post("/social", data=_generic(csrf, idp))).status_code == 303
    [stored] = await _providers(rt)
    edit = {"csrf_token": csrf, "name": "Loopback ID", "client_id": CLIENT_ID, "enabled": "on"}
    bad = f"{idp.url}/nowhere/.well-known/openid-configuration"
    answer = await client.post(f"/social/{stored.id}", data={**edit, "discovery_url": bad})
    assert answer.status_code == 400 and "HTTP 404" in _flash_error(answer.text)
    assert f'id="social-details-{stored.id}" open' in answer.text and f'value="{bad}"' in answer.text
    answer = await client.post(f"/social/{stored.id}", data={**edit, "name": ""})
    assert answer.status_code == 400 and "name" in _flash_error(answer.text)
    [after] = await _providers(rt)
    assert after.name == "Loopback ID" and after.enabled and after.jit_enabled
    assert after.config == stored.config and after.secret_encrypted == stored.secret_encrypted
    assert await _actions(rt) == ["sso.connection.created"]


async def test_only_a_platform_admin_gets_the_page_and_a_tenants_connection_is_not_found(auth: Any, idp: Idp) -> None:
    client, sink, rt = auth
    csrf, password = await _ops(client, rt)
    assert (await client.post("/social", data=_generic(csrf, idp))).status_code == 303
    [provider] = await _providers(rt)

    await sign_up(client, sink, "founder@acme-robotics.com", "Acme Robotics")  # a Tenant Admin, not a Platform one
    slug = (await client.get("/api/v1/me")).json()["memberships"][0]["tenant_slug"]
    tenant_connection = await client.post(f"/api/v1/tenants/{slug}/sso/connections", json=oidc_connection(idp))
    assert tenant_connection.status_code == 201, tenant_connection.text
    founder_csrf = await _csrf(client, "/account")
    assert 'href="/social"' not in (await client.get("/account")).text
    page = await client.get("/social", headers=HTML)
    assert page.status_code == 403 and "platform administrators only" in page.text and "<h1>403" in page.text
    posts = [
        ("/social", _generic(founder_csrf, idp, name="Sneaky")),
        (f"/social/{provider.id}", {"csrf_token": founder_csrf, "name": "Sneaky", "client_id": CLIENT_ID}),
        (f"/social/{provider.id}/delete", {"csrf_token": founder_csrf}),
    ]
    for path, form in posts:
        answer = await client.post(path, data=form, headers=HTML)
        assert answer.status_code == 403, (path, answer.status_code)

    await log_in(client, OPS, password)
    csrf = await _csrf(client, "/social")
    connection_id = tenant_connection.json()["id"]
    assert connection_id not in (await client.get("/social")).text  # a tenant's IdP is no social provider
    edit = {"csrf_token": csrf, "name": "Taken over", "client_id": CLIENT_ID, "enabled": "on"}
    assert (await client.post(f"/social/{connection_id}", data=edit, headers=HTML)).status_code == 404
    delete = await client.post(f"/social/{connection_id}/delete", data={"csrf_token": csrf}, headers=HTML)
    assert delete.status_code == 404
    connections = {c.id: c for c in await _providers(rt)}
    assert connections[connection_id].name == "Acme IdP" and connections[provider.id].name == "Loopback ID"
    assert await _actions(rt) == ["sso.connection.created", "sso.connection.created"]


async def test_a_form_without_the_csrf_token_is_refused_and_changes_nothing(auth: Any, idp: Idp) -> None:
    client, _sink, rt = auth
    csrf, _ = await _ops(client, rt)
    assert (await client.post("/social", data=_generic(csrf, idp))).status_code == 303
    [provider] = await _providers(rt)
    posts = [
        ("/social", _generic(csrf, idp, name="Second")),
        (f"/social/{provider.id}", {"csrf_token": csrf, "name": "Renamed", "client_id": CLIENT_ID}),
        (f"/social/{provider.id}/delete", {"csrf_token": csrf}),
    ]
    for path, form in posts:
        without = {k: v for k, v in form.items() if k != "csrf_token"}
        for sent in (without, {**without, "csrf_token": "forged"}):
            answer = await client.post(path, data=sent, headers=HTML)
            assert answer.status_code == 403 and "reload and try again" in answer.text, (path, answer.status_code)
    [after] = await _providers(rt)
    assert after.name == "Loopback ID" and after.enabled and after.config == provider.config
    assert await _actions(rt) == ["sso.connection.created"]


async def test_saving_unchanged_provider_settings_does_not_fetch_the_discovery_again(auth: Any) -> None:
    client, _sink, rt = auth
    csrf, _ = await _ops(client, rt)
    with running_idp() as idp:
        assert (await client.post("/social", data=_generic(csrf, idp))).status_code == 303
    [stored] = await _providers(rt)  # the provider is gone now: only a rename or a flag can succeed
    edit = {
        "csrf_token": csrf,
        "name": "Renamed",
        "client_id": CLIENT_ID,
        "scopes": stored.config["scopes"],
        "discovery_url": idp.discovery_url,
        "allow_signup": "on",
    }
    assert (await client.post(f"/social/{stored.id}", data=edit)).status_code == 303
    [after] = await _providers(rt)
    assert after.name == "Renamed" and not after.enabled and after.config == stored.config
    changed = await client.post(f"/social/{stored.id}", data={**edit, "client_id": "another-client"})
    assert changed.status_code == 400 and "could not be fetched" in _flash_error(changed.text)
