"""Invitations: a Tenant Admin (or a Platform Admin, for a tenant sales provisioned) invites an
address with a role; the mailed token works once, for that address only."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from atrium.core.audit.models import AuditEvent
from atrium.platform.identity import service as identity
from atrium.platform.identity.models import Membership, User
from atrium.platform.identity.security_models import Invitation
from atrium.platform.tenancy import service as tenancy
from atrium.platform.tenancy.schemas import TenantCreate
from atrium.runtime import Runtime
from tests.platform.identity.conftest import SIGNUP, Sink

PASSWORD = "plum orchard lantern quietly"
NEW_PASSWORD = "seven tidy otters paddle home"


async def _person(rt: Runtime, email: str, tenant_id: str | None = None, role: str = "Member") -> str:
    """A verified account (optionally a member), made directly: one password hash, no mail."""
    async with rt.db.platform_session() as session, session.begin():
        user = await identity.create_user(session, email, PASSWORD, terms_version="test", platform_admin=False)
        if tenant_id is not None:
            session.add(Membership(user_id=user.id, tenant_id=tenant_id, role=role))
    return user.id


async def _login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    client.cookies.clear()
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return str(response.cookies["atrium_sid"])


async def _admin_of_new_tenant(client: httpx.AsyncClient, rt: Runtime, slug: str = "acme") -> str:
    """Creates the tenant and its Tenant Admin, signed in on ``client``; returns the tenant id."""
    tenant = await tenancy.create(rt, TenantCreate(slug=slug))
    await _person(rt, f"admin@{slug}.example", tenant.id, identity.TENANT_ADMIN)
    await _login(client, f"admin@{slug}.example")
    return tenant.id


async def _invite(client: httpx.AsyncClient, email: str, role: str = "Member", tenant: str = "acme") -> httpx.Response:
    return await client.post(f"/api/v1/tenants/{tenant}/invitations", json={"email": email, "role": role})


async def _invited(client: httpx.AsyncClient, sink: Sink, email: str, role: str = "Member") -> str:
    response = await _invite(client, email, role)
    assert response.status_code == 201, response.text
    return sink.last_token()


async def _accept(client: httpx.AsyncClient, token: str, **body: Any) -> httpx.Response:
    return await client.post("/api/v1/auth/invitations/accept", json={"token": token, **body})


async def _actions(rt: Runtime, *names: str) -> list[AuditEvent]:
    async with rt.db.platform_session() as session:
        rows = await session.execute(select(AuditEvent).where(AuditEvent.action.in_(names)).order_by(AuditEvent.id))
        return list(rows.scalars())


async def test_a_newcomer_accepts_with_password_and_terms_and_the_token_works_once(auth: Any) -> None:
    client, sink, rt = auth
    tenant_id = await _admin_of_new_tenant(client, rt)
    created = await _invite(client, " New.Person@Example.com ")
    assert created.status_code == 201, created.text
    assert created.json()["email"] == "new.person@example.com" and created.json()["role"] == "Member"
    assert created.json()["invited_by"] == "admin@acme.example"
    mail = sink.messages[-1]
    assert mail["To"] == "new.person@example.com"
    token = sink.last_token()
    assert f"/invitations/accept?token={token}" in str(mail.get_payload(decode=True), "utf-8")
    assert [i["email"] for i in (await client.get("/api/v1/tenants/acme/invitations")).json()] == [
        "new.person@example.com"
    ]
    async with rt.db.platform_session() as session:
        stored = (await session.execute(select(Invitation))).scalar_one()
    assert token not in stored.token_hash and len(stored.token_hash) == 64

    client.cookies.clear()
    preview = await client.post("/api/v1/auth/invitations/lookup", json={"token": token})
    assert preview.status_code == 200, preview.text
    assert preview.json() == {
        "tenant_slug": "acme",
        "tenant_name": "acme",
        "email": "new.person@example.com",
        "role": "Member",
        "account_exists": False,
    }
    no_terms = await _accept(client, token, password=NEW_PASSWORD)
    assert no_terms.status_code == 400 and no_terms.json()["field"] == "accept_terms"
    no_password = await _accept(client, token, accept_terms=True)
    assert no_password.status_code == 400 and no_password.json()["field"] == "password"

    joined = await _accept(client, token, password=NEW_PASSWORD, accept_terms=True)
    assert joined.status_code == 200, joined.text
    assert joined.json()["email_verified"] is True
    assert [(m["tenant_slug"], m["role"]) for m in joined.json()["memberships"]] == [("acme", "Member")]
    again = await _accept(client, token, password=NEW_PASSWORD, accept_terms=True)
    assert again.status_code == 400 and again.json()["code"] == "invalid-token"
    assert (await client.post("/api/v1/auth/invitations/lookup", json={"token": token})).status_code == 400

    await _login(client, "new.person@example.com", NEW_PASSWORD)
    assert (await client.get("/api/v1/tenants/acme")).status_code == 200
    async with rt.db.platform_session() as session:
        user = (await session.execute(select(User).where(User.email == "new.person@example.com"))).scalar_one()
        assert (await session.get(Membership, (user.id, tenant_id))) is not None
    granted = await _actions(rt, "tenant.invitation.created", "user.created", "tenant.membership.granted")
    assert [e.action for e in granted][-3:] == [
        "tenant.invitation.created",
        "user.created",
        "tenant.membership.granted",
    ]
    assert granted[-1].tenant_id == tenant_id and granted[-1].data["role"] == "Member"


async def test_expired_and_revoked_invitations_are_refused(auth: Any) -> None:
    client, sink, rt = auth
    await _admin_of_new_tenant(client, rt)
    expired = await _invited(client, sink, "late@example.com")
    revoked = await _invited(client, sink, "unlucky@example.com")
    async with rt.db.platform_session() as session, session.begin():
        await session.execute(
            update(Invitation)
            .where(Invitation.email == "late@example.com")
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
        )
    pending = (await client.get("/api/v1/tenants/acme/invitations")).json()
    assert [i["email"] for i in pending] == ["unlucky@example.com"]
    withdrawn = await client.delete(f"/api/v1/tenants/acme/invitations/{pending[0]['id']}")
    assert withdrawn.status_code == 200, withdrawn.text
    assert (await client.delete(f"/api/v1/tenants/acme/invitations/{pending[0]['id']}")).status_code == 200
    assert (await client.get("/api/v1/tenants/acme/invitations")).json() == []
    assert (await client.delete("/api/v1/tenants/acme/invitations/no-such-id")).status_code == 404

    client.cookies.clear()
    for token in (expired, revoked):
        assert (await client.post("/api/v1/auth/invitations/lookup", json={"token": token})).status_code == 400
        refused = await _accept(client, token, password=NEW_PASSWORD, accept_terms=True)
        assert refused.status_code == 400 and refused.json()["code"] == "invalid-token"
    async with rt.db.platform_session() as session:
        assert (await session.execute(select(User).where(User.email.in_(["late@example.com"])))).first() is None
    assert len(await _actions(rt, "tenant.invitation.revoked")) == 1


async def test_an_existing_account_must_be_signed_in_as_the_invited_address(auth: Any) -> None:
    client, sink, rt = auth
    await _admin_of_new_tenant(client, rt)
    await _person(rt, "known@example.com")
    await _person(rt, "other@example.com")
    token = await _invited(client, sink, "Known@Example.com", identity.TENANT_ADMIN)

    client.cookies.clear()
    assert (await client.post("/api/v1/auth/invitations/lookup", json={"token": token})).json()["account_exists"]
    # holding the mail is not enough to claim an existing account, with or without a password
    anonymous = await _accept(client, token, password=NEW_PASSWORD, accept_terms=True)
    assert anonymous.status_code == 403 and anonymous.json()["field"] == "token"
    await _login(client, "other@example.com")
    wrong_person = await _accept(client, token)
    assert wrong_person.status_code == 403, wrong_person.text
    await _login(client, "known@example.com")
    joined = await _accept(client, token)
    assert joined.status_code == 200, joined.text
    assert [(m["tenant_slug"], m["role"]) for m in joined.json()["memberships"]] == [("acme", "Tenant Admin")]
    assert (await client.get("/api/v1/tenants/acme/members")).status_code == 200
    # the password did not change
    await _login(client, "known@example.com", PASSWORD)


async def test_reinviting_replaces_the_pending_invitation_and_bad_input_names_the_field(auth: Any) -> None:
    client, sink, rt = auth
    await _admin_of_new_tenant(client, rt)
    first = await _invited(client, sink, "twice@example.com")
    second = await _invited(client, sink, "TWICE@example.com", identity.TENANT_ADMIN)
    pending = (await client.get("/api/v1/tenants/acme/invitations")).json()
    assert [(i["email"], i["role"]) for i in pending] == [("twice@example.com", "Tenant Admin")]
    client.cookies.clear()
    assert (await client.post("/api/v1/auth/invitations/lookup", json={"token": first})).status_code == 400
    assert (await client.post("/api/v1/auth/invitations/lookup", json={"token": second})).json()["role"] == (
        "Tenant Admin"
    )

    await _login(client, "admin@acme.example")
    member = await _invite(client, "ADMIN@acme.example")
    assert member.status_code == 409 and member.json()["field"] == "email"
    for body, field in (
        ({"email": "not-an-email", "role": "Member"}, "email"),
        ({"email": "x@example.com", "role": "Member", "tenant": "elsewhere"}, "tenant"),
    ):
        bad = await client.post("/api/v1/tenants/acme/invitations", json=body)
        assert bad.status_code == 422, bad.text
        assert [e["field"] for e in bad.json()["errors"]] == [field]
    unknown_role = await client.post(
        "/api/v1/tenants/acme/invitations", json={"email": "x@example.com", "role": "Owner"}
    )
    assert unknown_role.status_code == 400 and unknown_role.json()["field"] == "role"
    sent = len(sink.messages)
    assert [i["email"] for i in (await client.get("/api/v1/tenants/acme/invitations")).json()] == ["twice@example.com"]
    assert len(sink.messages) == sent


@pytest.mark.auth_settings(signup_mode="invite_only")
async def test_invitations_work_when_self_serve_signup_is_closed(auth: Any) -> None:
    client, sink, rt = auth
    closed = await client.post("/api/v1/auth/signup", json=SIGNUP)
    assert closed.status_code == 403 and closed.json()["code"] == "signup-closed"
    await _admin_of_new_tenant(client, rt)
    token = await _invited(client, sink, "invited@example.com")
    client.cookies.clear()
    assert (await _accept(client, token, password=NEW_PASSWORD, accept_terms=True)).status_code == 200
    await _login(client, "invited@example.com", NEW_PASSWORD)
    assert (await client.get("/api/v1/tenants/acme")).status_code == 200


async def test_a_platform_admin_invites_the_first_admin_of_a_tenant_it_created(auth: Any) -> None:
    client, sink, rt = auth
    async with rt.db.platform_session() as session, session.begin():
        _, _, key = await identity.bootstrap_platform_admin(
            session, "ops@atrium.example", password=None, terms_version="test"
        )
    operator = {"Authorization": f"Bearer {key}"}
    made = await client.post("/api/v1/platform/tenants", json={"slug": "customer"}, headers=operator)
    assert made.status_code == 201, made.text
    invited = await client.post(
        "/api/v1/tenants/customer/invitations",
        json={"email": "boss@customer.example", "role": "Tenant Admin"},
        headers=operator,
    )
    assert invited.status_code == 201, invited.text
    assert invited.json()["invited_by"] == "ops@atrium.example"
    joined = await _accept(client, sink.last_token(), password=NEW_PASSWORD, accept_terms=True)
    assert joined.status_code == 200, joined.text
    assert [(m["tenant_slug"], m["role"]) for m in joined.json()["memberships"]] == [("customer", "Tenant Admin")]
    await _login(client, "boss@customer.example", NEW_PASSWORD)
    people = await client.get("/api/v1/tenants/customer/members")
    assert [p["email"] for p in people.json()] == ["boss@customer.example"]


async def test_an_unverified_signup_does_not_block_an_invitation_to_that_address(auth: Any) -> None:
    """Someone may have started a signup with the address (or a stranger pre-registered it); the
    invitation's mailed token proves the address, so accepting sets the password and verifies it."""
    client, sink, rt = auth
    await _admin_of_new_tenant(client, rt)
    email = "late.verifier@example.com"
    started = await client.post(
        "/api/v1/auth/signup", json={**SIGNUP, "email": email, "password": "a pre-registered password phrase"}
    )
    assert started.status_code == 202
    token = await _invited(client, sink, email)
    client.cookies.clear()
    preview = await client.post("/api/v1/auth/invitations/lookup", json={"token": token})
    assert preview.json()["account_exists"] is False  # nobody can sign in as it yet
    accepted = await _accept(client, token, password=NEW_PASSWORD, accept_terms=True)
    assert accepted.status_code == 200, accepted.text
    assert [m["tenant_slug"] for m in accepted.json()["memberships"]] == ["acme"]
    await _login(client, email, NEW_PASSWORD)
    client.cookies.clear()
    old = await client.post("/api/v1/auth/login", json={"email": email, "password": "a pre-registered password phrase"})
    assert old.status_code == 401
    async with rt.db.platform_session() as session:
        users = (await session.execute(select(User).where(User.email == email))).scalars().all()
    assert len(users) == 1 and users[0].email_verified_at is not None
