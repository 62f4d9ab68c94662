"""The console's tenant pages over HTTP: the people page (invite, revoke, remove, end a session), the
security policy form, accepting an invitation, and the operator inviting a tenant's first admin.
Each form is posted the way a browser does: the page first, its CSRF token, then the form."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx
from sqlalchemy import select

from atrium.core.audit.models import AuditEvent
from atrium.platform.identity import invitations, policies
from atrium.platform.identity import service as identity
from atrium.platform.identity.models import Membership
from atrium.platform.identity.security_models import Invitation
from atrium.platform.tenancy import service as tenancy
from atrium.platform.tenancy.schemas import TenantCreate
from atrium.runtime import Runtime

PASSWORD = "plum orchard lantern quietly"
ADMIN, MEMBER = "admin@acme.example", "member@acme.example"


async def _person(rt: Runtime, email: str, tenant_id: str | None = None, role: str = "Member", **kw: bool) -> str:
    async with rt.db.platform_session() as session, session.begin():
        user = await identity.create_user(
            session, email, PASSWORD, platform_admin=kw.get("platform_admin", False), terms_version="test"
        )
        if tenant_id is not None:
            session.add(Membership(user_id=user.id, tenant_id=tenant_id, role=role))
    return user.id


async def _login(client: httpx.AsyncClient, email: str) -> str:
    client.cookies.clear()
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return str(response.cookies["atrium_sid"])


async def _acme(rt: Runtime) -> tuple[str, str, str]:
    tenant_id = (await tenancy.create(rt, TenantCreate(slug="acme", name="Acme Ltd"))).id
    return tenant_id, await _person(rt, ADMIN, tenant_id, identity.TENANT_ADMIN), await _person(rt, MEMBER, tenant_id)


async def _page(client: httpx.AsyncClient, path: str) -> tuple[str, str]:
    """GET a console page: its text and the CSRF token of its forms."""
    response = await client.get(path)
    assert response.status_code == 200, (path, response.status_code, response.text[:500])
    token = re.search(r'name="csrf_token" value="([^"]+)"', response.text)
    assert token, response.text
    return response.text, token.group(1)


async def _post(client: httpx.AsyncClient, path: str, csrf: str, **form: str) -> httpx.Response:
    return await client.post(path, data={"csrf_token": csrf, **form})


def _flashes(page: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r'<div class="flash flash-\w+" role="status">(.*?)</div>', page)]


async def test_a_tenant_admin_invites_and_revokes_from_the_people_page(auth: Any) -> None:
    client, sink, rt = auth
    tenant_id, _, _ = await _acme(rt)
    await _login(client, ADMIN)
    page, csrf = await _page(client, "/t/acme/members")
    assert ADMIN in page and MEMBER in page and "No pending invitations." in page

    sent = await _post(client, "/t/acme/invitations", csrf, email=" Guest@Example.com", role="Member")
    assert sent.status_code == 303 and sent.headers["location"] == "/t/acme/members"
    assert sink.messages[-1]["To"] == "guest@example.com" and sink.last_token()
    page, _ = await _page(client, "/t/acme/members")
    assert _flashes(page) == ["Invitation sent to guest@example.com."]
    assert "guest@example.com" in page

    mails = len(sink.messages)
    refused = await _post(client, "/t/acme/invitations", csrf, email="other@example.com", role="Owner")
    assert refused.status_code == 303
    page, _ = await _page(client, "/t/acme/members")
    assert len(_flashes(page)) == 1 and _flashes(page)[0].startswith("role must be one of")
    assert (
        await client.post("/t/acme/invitations", data={"email": "x@example.com", "role": "Member"})
    ).status_code == 403
    assert len(sink.messages) == mails

    async with rt.db.platform_session() as session:
        invitation = (await session.execute(select(Invitation))).scalar_one()
    assert invitation.tenant_id == tenant_id and invitation.invited_by == ADMIN
    revoked = await _post(client, f"/t/acme/invitations/{invitation.id}/revoke", csrf)
    assert revoked.status_code == 303
    page, _ = await _page(client, "/t/acme/members")
    assert "guest@example.com" not in page and "No pending invitations." in page


async def test_a_tenant_admin_ends_a_session_and_removes_a_member_from_the_console(auth: Any) -> None:
    client, _sink, rt = auth
    tenant_id, admin_id, member_id = await _acme(rt)
    member = await _login(client, MEMBER)
    await _login(client, ADMIN)
    page, csrf = await _page(client, "/t/acme/members")
    members_session = member.partition(".")[0]
    assert f"/t/acme/sessions/{members_session}/end" in page
    assert f"/t/acme/members/{admin_id}/remove" not in page  # no button to remove yourself

    assert (await _post(client, f"/t/acme/sessions/{members_session}/end", csrf)).status_code == 303
    page, csrf = await _page(client, "/t/acme/members")
    assert _flashes(page) == ["The session is ended."]
    assert f"/t/acme/sessions/{members_session}/end" not in page
    assert (await _post(client, f"/t/acme/members/{member_id}/remove", csrf)).status_code == 303
    page, csrf = await _page(client, "/t/acme/members")
    assert _flashes(page) == ["The member is removed from the tenant."] and MEMBER not in page
    # the last administrator stays, even when the form is forged
    assert (await _post(client, f"/t/acme/members/{admin_id}/remove", csrf)).status_code == 303
    page, _ = await _page(client, "/t/acme/members")
    assert _flashes(page) == ["the tenant's last administrator cannot be removed"]
    async with rt.db.platform_session() as session:
        assert await session.get(Membership, (admin_id, tenant_id)) is not None
        assert await session.get(Membership, (member_id, tenant_id)) is None

    client.cookies.clear()
    client.cookies.set("atrium_sid", member)
    assert (await client.get("/api/v1/me")).status_code == 401


async def test_members_and_strangers_do_not_reach_the_admin_pages(auth: Any) -> None:
    client, _sink, rt = auth
    await _acme(rt)
    other = (await tenancy.create(rt, TenantCreate(slug="globex"))).id
    await _person(rt, "admin@globex.example", other, identity.TENANT_ADMIN)

    await _login(client, MEMBER)
    home, csrf = await _page(client, "/t/acme")
    assert re.search(r'id="tenant-role">Member<', home)
    for path in ("/t/acme/members", "/t/acme/security"):
        assert (await client.get(path)).status_code == 404, path
    for path, form in (
        ("/t/acme/invitations", {"email": "x@example.com", "role": "Tenant Admin"}),
        ("/t/acme/security/policy", {"mfa_required": "on"}),
        ("/t/acme/members/anyone/remove", {}),
    ):
        assert (await _post(client, path, csrf, **form)).status_code == 404, path

    await _login(client, "admin@globex.example")
    _, csrf = await _page(client, "/t/globex/members")
    for path in ("/t/acme", "/t/acme/members", "/t/acme/security"):
        assert (await client.get(path)).status_code == 404, path
    assert (await _post(client, "/t/acme/invitations", csrf, email="x@example.com", role="Member")).status_code == 404

    client.cookies.clear()
    assert (await client.get("/t/acme/members")).status_code in (302, 303, 307)


async def test_the_security_page_saves_the_policy_and_refuses_bad_input(auth: Any) -> None:
    client, _sink, rt = auth
    tenant_id, _, _ = await _acme(rt)
    await _login(client, ADMIN)
    _, csrf = await _page(client, "/t/acme/security")
    saved = await _post(
        client,
        "/t/acme/security/policy",
        csrf,
        session_idle_minutes="15",
        session_absolute_hours="",
        password_min_length="16",
        password_block_common="on",
        trusted_device_days="0",
        ip_allowlist="127.0.0.1/8\r\n192.0.2.0/24",
    )
    assert saved.status_code == 303 and saved.headers["location"] == "/t/acme/security"
    page, csrf = await _page(client, "/t/acme/security")
    assert _flashes(page) == ["The security policy is saved."]
    assert "127.0.0.0/8\n192.0.2.0/24" in page
    async with rt.db.platform_session() as session:
        policy = await policies.get(session, tenant_id)
        event = (
            await session.execute(select(AuditEvent).where(AuditEvent.action == "tenant.security_policy.updated"))
        ).scalar_one()
    assert (policy.session_idle_minutes, policy.session_absolute_hours, policy.password_min_length) == (15, None, 16)
    assert policy.ip_allowlist == ["127.0.0.0/8", "192.0.2.0/24"] and not policy.mfa_required
    assert event.actor == ADMIN and event.tenant_id == tenant_id

    for form, named in (
        ({"ip_allowlist": "10.0.0.0/33"}, "ip_allowlist"),
        ({"session_idle_minutes": "2"}, "session_idle_minutes"),
        ({"password_min_length": "many"}, "invalid literal"),
    ):
        assert (await _post(client, "/t/acme/security/policy", csrf, **form)).status_code == 303
        page, csrf = await _page(client, "/t/acme/security")
        assert len(_flashes(page)) == 1 and named in _flashes(page)[0], (form, _flashes(page))
    async with rt.db.platform_session() as session:
        assert (await policies.get(session, tenant_id)).ip_allowlist == ["127.0.0.0/8", "192.0.2.0/24"]


async def test_the_tenant_home_tells_a_member_what_the_policy_asks_for(auth: Any) -> None:
    client, _sink, rt = auth
    tenant_id, _, _ = await _acme(rt)
    await _login(client, MEMBER)
    assert 'role="alert"' not in (await _page(client, "/t/acme"))[0]
    async with rt.db.platform_session() as session, session.begin():
        await policies.update(session, tenant_id, policies.PolicyUpdate(mfa_required=True), actor="test")
    assert "requires a second factor" in (await _page(client, "/t/acme"))[0]
    async with rt.db.platform_session() as session, session.begin():
        await policies.update(session, tenant_id, policies.PolicyUpdate(ip_allowlist=["10.0.0.0/8"]), actor="test")
    assert "does not allow access from your address (127.0.0.1)" in (await _page(client, "/t/acme"))[0]


async def test_the_admin_pages_apply_the_tenants_allowlist_and_forced_mfa(auth: Any) -> None:
    client, _sink, rt = auth
    tenant_id, _, _ = await _acme(rt)
    await _person(rt, "ops@atrium.example", platform_admin=True)
    await _login(client, ADMIN)
    _, csrf = await _page(client, "/t/acme/members")
    for values, code in (
        ({"ip_allowlist": ["10.0.0.0/8"]}, "ip-not-allowed"),
        ({"mfa_required": True}, "mfa-required"),
    ):
        async with rt.db.platform_session() as session, session.begin():
            await policies.update(session, tenant_id, policies.PolicyUpdate(**values), actor="test")
        for path in ("/t/acme/members", "/t/acme/security"):
            refused = await client.get(path)
            assert refused.status_code == 403 and refused.json()["code"] == code, path
        invite = await _post(client, "/t/acme/invitations", csrf, email="x@example.com", role="Member")
        assert invite.status_code == 403
        assert (await client.get("/t/acme")).status_code == 200  # home explains instead
        async with rt.db.platform_session() as session, session.begin():
            await policies.update(
                session, tenant_id, policies.PolicyUpdate(ip_allowlist=[], mfa_required=False), actor="test"
            )
    await _login(client, "ops@atrium.example")  # platform administrators are exempt
    async with rt.db.platform_session() as session, session.begin():
        await policies.update(
            session, tenant_id, policies.PolicyUpdate(ip_allowlist=["10.0.0.0/8"], mfa_required=True), actor="test"
        )
    assert (await client.get("/t/acme/members")).status_code == 200


async def test_a_newcomer_accepts_an_invitation_in_the_console_and_lands_in_the_tenant(auth: Any) -> None:
    client, sink, rt = auth
    tenant_id, _, _ = await _acme(rt)
    await invitations.invite(rt, tenant_id, "new@example.com", "Member", invited_by=ADMIN)
    token = sink.last_token()
    url = f"/invitations/accept?token={token}"
    page, csrf = await _page(client, url)
    assert "Acme Ltd" in page and 'name="password"' in page and "new@example.com" in page

    no_terms = await _post(client, "/invitations/accept", csrf, token=token, password="violet harbour at dusk")
    assert no_terms.status_code == 303 and no_terms.headers["location"] == url
    page, csrf = await _page(client, url)
    assert _flashes(page) == ["the terms and the data-processing agreement must be accepted"]
    joined = await _post(
        client, "/invitations/accept", csrf, token=token, password="violet harbour at dusk", accept_terms="on"
    )
    assert joined.status_code == 303 and joined.headers["location"] == "/t/acme"
    assert "atrium_sid" in joined.cookies
    home, _ = await _page(client, "/t/acme")
    assert _flashes(home) == ["Welcome to Acme Ltd."] and re.search(r'id="tenant-role">Member<', home)

    used = await client.get(url)
    assert used.status_code == 400 and "invalid, expired or already used" in used.text


async def test_a_signed_in_person_accepts_in_the_console_as_the_invited_address_only(auth: Any) -> None:
    client, sink, rt = auth
    tenant_id, _, _ = await _acme(rt)
    await _person(rt, "known@example.com")
    await invitations.invite(rt, tenant_id, "known@example.com", identity.TENANT_ADMIN, invited_by=ADMIN)
    token = sink.last_token()
    url = f"/invitations/accept?token={token}"

    page, csrf = await _page(client, url)
    assert "You already have an account" in page and 'name="password"' not in page
    anonymous = await _post(client, "/invitations/accept", csrf, token=token, password=PASSWORD, accept_terms="on")
    assert anonymous.status_code == 303 and anonymous.headers["location"] == url

    await _login(client, MEMBER)
    page, csrf = await _page(client, url)
    assert f"Signed in as {MEMBER}" in page
    assert (await _post(client, "/invitations/accept", csrf, token=token)).status_code == 303
    page, _ = await _page(client, url)
    assert "sign in as that address" in _flashes(page)[0]

    await _login(client, "known@example.com")
    _, csrf = await _page(client, url)
    joined = await _post(client, "/invitations/accept", csrf, token=token)
    assert joined.status_code == 303 and joined.headers["location"] == "/t/acme"
    assert (await client.get("/t/acme/members")).status_code == 200  # joined as Tenant Admin


async def test_an_operator_invites_the_first_administrator_of_a_new_tenant_from_the_console(auth: Any) -> None:
    client, sink, rt = auth
    await _person(rt, "ops@atrium.example", platform_admin=True)
    await tenancy.create(rt, TenantCreate(slug="customer"))
    await _login(client, "ops@atrium.example")
    _, csrf = await _page(client, "/tenants/customer")
    sent = await _post(client, "/tenants/customer/invite-admin", csrf, email="Boss@Customer.example")
    assert sent.status_code == 303 and sent.headers["location"] == "/tenants/customer"
    page, csrf = await _page(client, "/tenants/customer")
    assert _flashes(page) == ["Invitation sent to boss@customer.example."]
    assert "boss@customer.example" in page and "Tenant Admin" in page
    token = sink.last_token()
    assert (await _post(client, "/tenants/customer/invite-admin", csrf, email="nobody")).status_code == 303
    page, _ = await _page(client, "/tenants/customer")
    assert "is not an email address" in _flashes(page)[0]

    client.cookies.clear()
    accepted = await client.post(
        "/api/v1/auth/invitations/accept",
        json={"token": token, "password": "violet harbour at dusk", "accept_terms": True},
    )
    assert accepted.status_code == 200, accepted.text
    assert [(m["tenant_slug"], m["role"]) for m in accepted.json()["memberships"]] == [("customer", "Tenant Admin")]

    # only platform administrators invite from the operator's pages
    await _person(rt, "plain@example.com")
    await _login(client, "plain@example.com")
    _, csrf = await _page(client, "/account")
    assert (await _post(client, "/tenants/customer/invite-admin", csrf, email="x@example.com")).status_code == 403
