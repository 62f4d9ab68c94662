"""A Tenant Admin's view of the tenant's people: members (remove, not the last admin) and their
live sessions (end one). Another tenant's admin gets 404, a plain member 403, on every route."""

from __future__ import annotations

from typing import Any

import httpx
import pyotp
import pytest
from soft_fido2 import Fido2Authenticator  # type: ignore[import-untyped]
from sqlalchemy import select

from atrium.core.audit.models import AuditEvent
from atrium.platform.identity import service as identity
from atrium.platform.identity.models import Membership
from atrium.platform.tenancy import service as tenancy
from atrium.platform.tenancy.schemas import TenantCreate
from atrium.runtime import Runtime

PASSWORD = "plum orchard lantern quietly"
ADMIN, MEMBER = "admin@acme.example", "member@acme.example"


async def _person(rt: Runtime, email: str, tenant_id: str | None = None, role: str = "Member") -> str:
    async with rt.db.platform_session() as session, session.begin():
        user = await identity.create_user(session, email, PASSWORD, platform_admin=False, terms_version="test")
        if tenant_id is not None:
            session.add(Membership(user_id=user.id, tenant_id=tenant_id, role=role))
    return user.id


async def _login(client: httpx.AsyncClient, email: str) -> str:
    client.cookies.clear()
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return str(response.cookies["atrium_sid"])


def _as(client: httpx.AsyncClient, cookie: str) -> httpx.AsyncClient:
    client.cookies.clear()
    client.cookies.set("atrium_sid", cookie)
    return client


async def _acme(rt: Runtime) -> tuple[str, str, str]:
    """Tenant acme with a Tenant Admin and a Member: (tenant id, admin id, member id)."""
    tenant_id = (await tenancy.create(rt, TenantCreate(slug="acme"))).id
    return tenant_id, await _person(rt, ADMIN, tenant_id, identity.TENANT_ADMIN), await _person(rt, MEMBER, tenant_id)


async def test_a_tenant_admin_lists_and_removes_members_but_not_the_last_admin(auth: Any) -> None:
    client, _sink, rt = auth
    tenant_id, admin_id, member_id = await _acme(rt)
    member = await _login(client, MEMBER)
    admin = await _login(client, ADMIN)
    listed = (await client.get("/api/v1/tenants/acme/members")).json()
    assert [(m["email"], m["role"], m["mfa_enrolled"]) for m in listed] == [
        (ADMIN, "Tenant Admin", False),
        (MEMBER, "Member", False),
    ]
    assert {m["user_id"] for m in listed} == {admin_id, member_id}

    last = await client.delete(f"/api/v1/tenants/acme/members/{admin_id}")
    assert last.status_code == 409 and last.json()["field"] == "user_id"
    assert (await client.delete(f"/api/v1/tenants/acme/members/{member_id}")).status_code == 204
    assert (await client.delete(f"/api/v1/tenants/acme/members/{member_id}")).status_code == 404
    assert [m["email"] for m in (await client.get("/api/v1/tenants/acme/members")).json()] == [ADMIN]
    # the account stays; the tenant is gone for it at once
    assert (await _as(client, member).get("/api/v1/me")).json()["memberships"] == []
    assert (await client.get("/api/v1/tenants/acme")).status_code == 404

    # with a second administrator, the first may go
    second_id = await _person(rt, "second@acme.example", tenant_id, identity.TENANT_ADMIN)
    assert (await _as(client, admin).delete(f"/api/v1/tenants/acme/members/{second_id}")).status_code == 204
    await _person(rt, "third@acme.example", tenant_id, identity.TENANT_ADMIN)
    assert (await client.delete(f"/api/v1/tenants/acme/members/{admin_id}")).status_code == 204
    async with rt.db.platform_session() as session:
        revoked = (
            await session.execute(select(AuditEvent).where(AuditEvent.action == "tenant.membership.revoked"))
        ).scalars()
        assert {(e.object_id, e.tenant_id, e.actor) for e in revoked} == {
            (member_id, tenant_id, ADMIN),
            (second_id, tenant_id, ADMIN),
            (admin_id, tenant_id, ADMIN),
        }

    # a suspended administrator (SCIM active=false) does not count as the one left
    third = await _login(client, "third@acme.example")
    third_id = (await client.get("/api/v1/me")).json()["id"]
    suspended_id = await _person(rt, "suspended@acme.example", tenant_id, identity.TENANT_ADMIN)
    async with rt.db.platform_session() as session, session.begin():
        membership = await session.get(Membership, (suspended_id, tenant_id))
        assert membership is not None
        membership.active = False
    assert (await _as(client, third).delete(f"/api/v1/tenants/acme/members/{third_id}")).status_code == 409
    assert (await client.delete(f"/api/v1/tenants/acme/members/{suspended_id}")).status_code == 204


@pytest.mark.auth_settings(public_url="https://atrium.test")  # soft-fido2 answers for https://<rp id>
async def test_the_member_list_shows_who_holds_a_second_factor(auth: Any) -> None:
    client, _sink, rt = auth
    tenant_id, _, _ = await _acme(rt)
    await _person(rt, "keyholder@acme.example", tenant_id)
    await _login(client, MEMBER)
    totp = pyotp.TOTP((await client.post("/api/v1/me/mfa/totp")).json()["secret"])
    assert (await client.post("/api/v1/me/mfa/totp/confirm", json={"code": totp.now()})).status_code == 200
    await _login(client, "keyholder@acme.example")
    options = (await client.post("/api/v1/me/webauthn/registration/options")).json()
    credential = Fido2Authenticator().credential_create(options, atteStmtFmt="packed-self")
    registered = await client.post("/api/v1/me/webauthn/registration", json={"credential": credential, "name": "Key"})
    assert registered.status_code == 201, registered.text
    await _login(client, ADMIN)
    await client.post("/api/v1/me/mfa/totp")  # begun, never confirmed: not a factor
    listed = (await client.get("/api/v1/tenants/acme/members")).json()
    assert {m["email"]: m["mfa_enrolled"] for m in listed} == {
        ADMIN: False,
        "keyholder@acme.example": True,
        MEMBER: True,
    }


async def test_a_tenant_admin_ends_a_members_session_but_not_an_outsiders(auth: Any) -> None:
    client, _sink, rt = auth
    tenant_id, _, member_id = await _acme(rt)
    await _person(rt, "outsider@example.com")
    outsider = await _login(client, "outsider@example.com")
    member = await _login(client, MEMBER)
    admin = await _login(client, ADMIN)
    live = (await client.get("/api/v1/tenants/acme/sessions")).json()
    assert sorted(s["email"] for s in live) == [ADMIN, MEMBER]
    members_session = next(s for s in live if s["email"] == MEMBER)
    assert members_session["user_id"] == member_id and members_session["ip"] == "127.0.0.1"
    assert member.startswith(members_session["id"] + ".")

    outsiders_session = outsider.partition(".")[0]
    assert (await client.delete(f"/api/v1/tenants/acme/sessions/{outsiders_session}")).status_code == 404
    assert (await client.delete("/api/v1/tenants/acme/sessions/no-such-session")).status_code == 404
    assert (await client.delete(f"/api/v1/tenants/acme/sessions/{members_session['id']}")).status_code == 204
    assert [s["email"] for s in (await client.get("/api/v1/tenants/acme/sessions")).json()] == [ADMIN]

    assert (await _as(client, member).get("/api/v1/me")).status_code == 401
    assert (await _as(client, outsider).get("/api/v1/me")).status_code == 200
    assert (await _as(client, admin).get("/api/v1/me")).status_code == 200
    async with rt.db.platform_session() as session:
        ended = (
            await session.execute(select(AuditEvent).where(AuditEvent.action == "user.session_revoked"))
        ).scalar_one()
    assert (ended.object_id, ended.tenant_id, ended.actor, ended.data) == (
        members_session["id"],
        tenant_id,
        ADMIN,
        {"by_admin": True},
    )


ROUTES = [
    ("GET", "/members", None),
    ("DELETE", "/members/{user}", None),
    ("GET", "/invitations", None),
    ("POST", "/invitations", {"email": "someone@example.com", "role": "Member"}),
    ("DELETE", "/invitations/{invitation}", None),
    ("GET", "/sessions", None),
    ("DELETE", "/sessions/{session}", None),
    ("GET", "/security-policy", None),
    ("PUT", "/security-policy", {"mfa_required": True}),
]


@pytest.mark.parametrize("who", ["other tenant's admin", "plain member"])
async def test_only_the_tenants_admins_reach_its_people_routes(auth: Any, who: str) -> None:
    client, _sink, rt = auth
    _, admin_id, _ = await _acme(rt)
    other = (await tenancy.create(rt, TenantCreate(slug="globex"))).id
    await _person(rt, "admin@globex.example", other, identity.TENANT_ADMIN)
    admin = await _login(client, ADMIN)
    invitation = (await client.post("/api/v1/tenants/acme/invitations", json={"email": "x@example.com"})).json()["id"]
    ids = {"user": admin_id, "invitation": invitation, "session": admin.partition(".")[0]}
    caller, expected = ("admin@globex.example", 404) if who == "other tenant's admin" else (MEMBER, 403)
    await _login(client, caller)
    for method, path, body in ROUTES:
        response = await client.request(method, "/api/v1/tenants/acme" + path.format(**ids), json=body)
        assert response.status_code == expected, (method, path, response.text)
    # nothing happened
    _as(client, admin)
    assert len((await client.get("/api/v1/tenants/acme/members")).json()) == 2
    assert [i["id"] for i in (await client.get("/api/v1/tenants/acme/invitations")).json()] == [invitation]
    assert (await client.get("/api/v1/tenants/acme/security-policy")).json()["mfa_required"] is False
