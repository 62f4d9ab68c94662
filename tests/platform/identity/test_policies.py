"""Tenant security policies: validation, the password rule (signup, reset, invitation), session
lifetimes decided at sign-in, forced MFA and the IP allowlist (platform administrators exempt)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import httpx
import pyotp
import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from atrium.api.app import create_app
from atrium.core.audit.models import AuditEvent
from atrium.platform.identity import policies
from atrium.platform.identity import service as identity
from atrium.platform.identity.models import Membership, User, UserSession
from atrium.platform.tenancy import service as tenancy
from atrium.platform.tenancy.schemas import TenantCreate
from atrium.runtime import Runtime
from tests.platform.identity.conftest import SIGNUP

PASSWORD = "plum orchard lantern quietly"


async def _person(rt: Runtime, email: str, tenant_id: str | None = None, role: str = "Member") -> str:
    async with rt.db.platform_session() as session, session.begin():
        user = await identity.create_user(session, email, PASSWORD, platform_admin=False, terms_version="test")
        if tenant_id is not None:
            session.add(Membership(user_id=user.id, tenant_id=tenant_id, role=role))
    return user.id


async def _login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    client.cookies.clear()
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return str(response.cookies["atrium_sid"])


def _as(client: httpx.AsyncClient, cookie: str) -> httpx.AsyncClient:
    client.cookies.clear()
    client.cookies.set("atrium_sid", cookie)
    return client


async def _tenant(rt: Runtime, slug: str = "acme") -> str:
    return (await tenancy.create(rt, TenantCreate(slug=slug))).id


async def _set_policy(rt: Runtime, tenant_id: str, **values: Any) -> None:
    async with rt.db.platform_session() as session, session.begin():
        await policies.update(session, tenant_id, policies.PolicyUpdate(**values), actor="test")


async def _platform_key(rt: Runtime) -> dict[str, str]:
    async with rt.db.platform_session() as session, session.begin():
        _, _, key = await identity.bootstrap_platform_admin(
            session, "ops@atrium.example", password=None, terms_version="test"
        )
    return {"Authorization": f"Bearer {key}"}


# -- validation (no database) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"ip_allowlist": ["10.0.0.0/33"]}, "ip_allowlist"),
        ({"ip_allowlist": ["banana"]}, "ip_allowlist"),
        ({"ip_allowlist": [""]}, "ip_allowlist"),
        ({"ip_allowlist": ["10.0.0.0/8"] * 101}, "ip_allowlist"),
        ({"session_idle_minutes": 4}, "session_idle_minutes"),
        ({"session_absolute_hours": 0}, "session_absolute_hours"),
        ({"session_absolute_hours": 721}, "session_absolute_hours"),
        ({"password_min_length": 8}, "password_min_length"),
        ({"trusted_device_days": 91}, "trusted_device_days"),
        ({"mfa": True}, "mfa"),
    ],
)
def test_policy_update_refuses_bad_values_naming_the_field(values: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        policies.PolicyUpdate(**values)
    assert [e["loc"][0] for e in caught.value.errors()] == [field]


def test_cidr_blocks_are_normalised_and_single_addresses_accepted() -> None:
    data = policies.PolicyUpdate(ip_allowlist=[" 10.1.2.3/8", "192.0.2.7", "2001:db8::/32"])
    assert data.ip_allowlist == ["10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32"]


def test_the_password_rule_has_length_and_a_blocklist_but_no_composition_rules() -> None:
    def problem(password: str, **kw: Any) -> str | None:
        return policies.password_problem(password, min_length=12, block_common=True, **kw)

    assert problem("purple elephants dance quietly") is None  # lowercase, spaces, no digits: fine
    assert "common" in str(problem("abababababababab"))  # a few characters repeated
    assert "12 characters" in str(problem("short one"))
    assert "common" in str(problem("password1234"))
    assert "common" in str(problem("QWERTYUIOP123"))  # the list is compared case-insensitively
    assert "email" in str(problem("Someone.Long@Example.com", email="someone.long@example.com"))
    assert "email" in str(problem("someone.long", email="someone.long@example.com"))
    assert "at most" in str(problem("y" * 1025 + "abcd"))
    assert policies.password_problem("password1234", min_length=12, block_common=False) is None


# -- the API ------------------------------------------------------------------------------------


async def test_a_tenant_admin_sets_the_policy_bad_input_changes_nothing_and_changes_are_recorded(auth: Any) -> None:
    client, _sink, rt = auth
    tenant_id = await _tenant(rt)
    await _person(rt, "admin@acme.example", tenant_id, identity.TENANT_ADMIN)
    await _login(client, "admin@acme.example")
    url = "/api/v1/tenants/acme/security-policy"
    defaults = (await client.get(url)).json()
    assert defaults == {
        "session_idle_minutes": None,
        "session_absolute_hours": None,
        "password_min_length": 12,
        "password_block_common": True,
        "mfa_required": False,
        "ip_allowlist": [],
        "trusted_device_days": 0,
    }
    for body, field in (
        ({"ip_allowlist": ["127.0.0.0/8", "300.1.1.1"]}, "ip_allowlist"),
        ({"session_idle_minutes": 2}, "session_idle_minutes"),
        ({"password_min_length": 200}, "password_min_length"),
        ({"mfa_required": "sometimes"}, "mfa_required"),
    ):
        refused = await client.put(url, json=body)
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["field"] == field and field in refused.json()["detail"]
    assert (await client.get(url)).json() == defaults

    saved = await client.put(url, json={"session_idle_minutes": 15, "ip_allowlist": ["127.0.0.1/8"]})
    assert saved.status_code == 200, saved.text
    assert saved.json() == defaults | {"session_idle_minutes": 15, "ip_allowlist": ["127.0.0.0/8"]}
    # omitted fields keep their value
    again = await client.put(url, json={"password_min_length": 16})
    assert again.json()["ip_allowlist"] == ["127.0.0.0/8"] and again.json()["session_idle_minutes"] == 15
    assert again.json()["password_min_length"] == 16
    async with rt.db.platform_session() as session:
        recorded = list(
            (
                await session.execute(
                    select(AuditEvent)
                    .where(AuditEvent.action == "tenant.security_policy.updated")
                    .order_by(AuditEvent.id)
                )
            ).scalars()
        )
    assert [e.data["changed"] for e in recorded] == [
        {"session_idle_minutes": 15, "ip_allowlist": ["127.0.0.0/8"]},
        {"password_min_length": 16},
    ]
    assert {(e.tenant_id, e.actor) for e in recorded} == {(tenant_id, "admin@acme.example")}


async def test_a_common_password_is_refused_at_signup_and_nothing_is_created(auth: Any) -> None:
    client, sink, rt = auth
    for password in ("password1234", "founder@example.com"):
        refused = await client.post("/api/v1/auth/signup", json=SIGNUP | {"password": password})
        assert refused.status_code == 400, refused.text
        assert refused.json()["field"] == "password"
    assert sink.messages == []
    async with rt.db.platform_session() as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 0
    passphrase = await client.post("/api/v1/auth/signup", json=SIGNUP | {"password": "purple elephants dance quietly"})
    assert passphrase.status_code == 202, passphrase.text


async def test_passwords_longer_than_64_characters_are_kept_whole(auth: Any) -> None:
    client, sink, _rt = auth
    password = str(SIGNUP["password"])
    assert len(password) > 100
    await client.post("/api/v1/auth/signup", json=SIGNUP)
    assert (await client.post("/api/v1/auth/verify-email", json={"token": sink.last_token()})).status_code == 200
    for prefix in (password[:64], password[:72]):
        cut = await client.post("/api/v1/auth/login", json={"email": SIGNUP["email"], "password": prefix})
        assert cut.status_code == 401
    await _login(client, str(SIGNUP["email"]), password)


async def test_a_tenant_minimum_length_applies_at_password_reset(auth: Any) -> None:
    client, sink, rt = auth
    tenant_id = await _tenant(rt)
    await _person(rt, "member@acme.example", tenant_id)
    await _set_policy(rt, tenant_id, password_min_length=20)
    await client.post("/api/v1/auth/password-reset", json={"email": "member@acme.example"})
    token = sink.last_token()
    short = await client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "password": "violet-harbour7"}
    )
    assert short.status_code == 400 and short.json()["field"] == "password"
    assert "20 characters" in short.json()["detail"]
    await _login(client, "member@acme.example")  # the old password still works
    # the token was not spent by the refusal
    long_enough = "violet harbour at dusk, twice"
    done = await client.post("/api/v1/auth/password-reset/confirm", json={"token": token, "password": long_enough})
    assert done.status_code == 204, done.text
    await _login(client, "member@acme.example", long_enough)


async def test_the_tenant_password_rule_applies_when_accepting_an_invitation(auth: Any) -> None:
    client, sink, rt = auth
    tenant_id = await _tenant(rt)
    await _set_policy(rt, tenant_id, password_min_length=20)
    await _person(rt, "admin@acme.example", tenant_id, identity.TENANT_ADMIN)
    await _login(client, "admin@acme.example")
    invited = await client.post("/api/v1/tenants/acme/invitations", json={"email": "newcomer.person@example.com"})
    assert invited.status_code == 201, invited.text
    token = sink.last_token()
    client.cookies.clear()
    for password in ("violet-harbour7", "12345678900987654321", "newcomer.person@example.com"):
        refused = await client.post(
            "/api/v1/auth/invitations/accept", json={"token": token, "password": password, "accept_terms": True}
        )
        assert refused.status_code == 400, (password, refused.text)
        assert refused.json()["field"] == "password"
    async with rt.db.platform_session() as session:
        assert (await session.execute(select(User).where(User.email == "newcomer.person@example.com"))).first() is None
    accepted = await client.post(
        "/api/v1/auth/invitations/accept",
        json={"token": token, "password": "violet harbour at dusk, twice", "accept_terms": True},
    )
    assert accepted.status_code == 200, accepted.text


async def _shift_sessions(
    rt: Runtime, *, idle: dt.timedelta = dt.timedelta(), age: dt.timedelta = dt.timedelta()
) -> None:
    """Pretend every session was last used ``idle`` ago and began ``age`` earlier than it did."""
    async with rt.db.platform_session() as session, session.begin():
        for record in (await session.execute(select(UserSession))).scalars():
            record.last_seen_at = dt.datetime.now(dt.UTC) - idle
            record.created_at -= age
            record.expires_at -= age


async def test_a_tenant_idle_lifetime_ends_its_members_sessions_only(auth: Any) -> None:
    client, _sink, rt = auth
    tenant_id = await _tenant(rt)
    await _person(rt, "member@acme.example", tenant_id)
    await _person(rt, "outsider@example.com")
    await _set_policy(rt, tenant_id, session_idle_minutes=5)
    member, outsider = await _login(client, "member@acme.example"), await _login(client, "outsider@example.com")
    async with rt.db.platform_session() as session:
        rows = await session.execute(
            select(User.email, UserSession.idle_minutes).join_from(UserSession, User, User.id == UserSession.user_id)
        )
        lifetimes = {email: minutes for email, minutes in rows.all()}
    assert lifetimes == {"member@acme.example": 5, "outsider@example.com": rt.settings.session_idle_minutes}
    await _shift_sessions(rt, idle=dt.timedelta(minutes=6))
    assert (await _as(client, member).get("/api/v1/me")).status_code == 401
    assert (await _as(client, outsider).get("/api/v1/me")).status_code == 200


async def test_a_tenant_absolute_lifetime_ends_its_members_sessions_only(auth: Any) -> None:
    client, _sink, rt = auth
    tenant_id = await _tenant(rt)
    await _person(rt, "member@acme.example", tenant_id)
    await _person(rt, "outsider@example.com")
    await _set_policy(rt, tenant_id, session_absolute_hours=1)
    member, outsider = await _login(client, "member@acme.example"), await _login(client, "outsider@example.com")
    async with rt.db.platform_session() as session:
        spans = {
            email: expires - created
            for email, created, expires in (
                await session.execute(
                    select(User.email, UserSession.created_at, UserSession.expires_at).join_from(
                        UserSession, User, User.id == UserSession.user_id
                    )
                )
            ).all()
        }
    assert abs(spans["member@acme.example"] - dt.timedelta(hours=1)) < dt.timedelta(seconds=5)
    assert abs(spans["outsider@example.com"] - dt.timedelta(hours=12)) < dt.timedelta(seconds=5)
    await _shift_sessions(rt, age=dt.timedelta(minutes=61))  # used a moment ago, begun 61 minutes earlier
    assert (await _as(client, member).get("/api/v1/me")).status_code == 401
    assert (await _as(client, outsider).get("/api/v1/me")).status_code == 200


async def test_forced_mfa_keeps_out_browser_sessions_without_a_second_factor(auth: Any) -> None:
    client, _sink, rt = auth
    tenant_id = await _tenant(rt)
    await _person(rt, "member@acme.example", tenant_id)
    operator = await _platform_key(rt)
    assert (
        await client.put("/api/v1/tenants/acme/security-policy", json={"mfa_required": True}, headers=operator)
    ).status_code == 200
    await _login(client, "member@acme.example")
    refused = await client.get("/api/v1/tenants/acme")
    assert refused.status_code == 403 and refused.json()["code"] == "mfa-required"
    assert (await client.get("/api/v1/tenants/acme/notes")).status_code == 403
    # what is not the tenant stays reachable: the account, where a factor is enrolled
    assert (await client.get("/api/v1/me")).status_code == 200
    key = (await client.post("/api/v1/me/api-keys", json={"tenant": "acme", "name": "ci"})).json()["key"]
    client.cookies.clear()
    machine = await client.get("/api/v1/tenants/acme", headers={"Authorization": f"Bearer {key}"})
    assert machine.status_code == 200, machine.text  # API keys are not browser sessions

    await _login(client, "member@acme.example")
    totp = pyotp.TOTP((await client.post("/api/v1/me/mfa/totp")).json()["secret"])
    assert (await client.post("/api/v1/me/mfa/totp/confirm", json={"code": totp.now()})).status_code == 200
    client.cookies.clear()
    challenge = await client.post("/api/v1/auth/login", json={"email": "member@acme.example", "password": PASSWORD})
    assert challenge.status_code == 202, challenge.text
    code = totp.at(time.time() + totp.interval)  # the current step was spent on enrolment
    answered = await client.post("/api/v1/auth/mfa", json={"challenge": challenge.json()["challenge"], "code": code})
    assert answered.status_code == 200, answered.text
    assert (await client.get("/api/v1/tenants/acme")).status_code == 200

    # platform administrators are exempt
    async with rt.db.platform_session() as session, session.begin():
        await identity.create_user(session, "staff@atrium.example", PASSWORD, platform_admin=True, terms_version="t")
    await _login(client, "staff@atrium.example")
    assert (await client.get("/api/v1/tenants/acme")).status_code == 200


async def test_the_ip_allowlist_guards_sessions_and_api_keys_but_not_platform_admins(auth: Any) -> None:
    client, _sink, rt = auth
    tenant_id = await _tenant(rt)
    await _person(rt, "member@acme.example", tenant_id)
    cookie = await _login(client, "member@acme.example")
    key = (await client.post("/api/v1/me/api-keys", json={"tenant": "acme", "name": "ci"})).json()["key"]
    operator = await _platform_key(rt)
    remote = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(runtime=rt, embedded_worker=False), client=("10.1.2.3", 4567)),
        base_url="http://atrium.test",
    )
    url, policy = "/api/v1/tenants/acme", "/api/v1/tenants/acme/security-policy"

    async def statuses() -> dict[str, int]:
        """What each caller gets, from 127.0.0.1 (the test client) and from 10.1.2.3."""
        bearer, session = {"Authorization": f"Bearer {key}"}, {"Cookie": f"atrium_sid={cookie}"}
        client.cookies.clear()
        return {
            "local session": (await client.get(url, headers=session)).status_code,
            "remote session": (await remote.get(url, headers=session)).status_code,
            "local key": (await client.get(url, headers=bearer)).status_code,
            "remote key": (await remote.get(url, headers=bearer)).status_code,
            "local operator": (await client.get(url, headers=operator)).status_code,
            "remote operator": (await remote.get(url, headers=operator)).status_code,
        }

    async with remote:
        assert set((await statuses()).values()) == {200}
        assert (await client.put(policy, json={"ip_allowlist": ["10.0.0.0/8"]}, headers=operator)).status_code == 200
        assert await statuses() == {
            "local session": 403,
            "remote session": 200,
            "local key": 403,
            "remote key": 200,
            "local operator": 200,
            "remote operator": 200,
        }
        refused = await _as(client, cookie).get(url)
        assert refused.json()["code"] == "ip-not-allowed" and "127.0.0.1" in refused.json()["detail"]
        assert (await client.get("/api/v1/me")).status_code == 200  # the account is not the tenant
        client.cookies.clear()
        assert (await client.put(policy, json={"ip_allowlist": ["127.0.0.0/8"]}, headers=operator)).status_code == 200
        assert await statuses() == {
            "local session": 200,
            "remote session": 403,
            "local key": 200,
            "remote key": 403,
            "local operator": 200,
            "remote operator": 200,
        }


async def test_a_tenant_admin_cannot_lock_themselves_out_with_the_allowlist(auth: Any) -> None:
    client, _sink, rt = auth
    tenant_id = await _tenant(rt)
    await _person(rt, "admin@acme.example", tenant_id, identity.TENANT_ADMIN)
    await _login(client, "admin@acme.example")
    url = "/api/v1/tenants/acme/security-policy"
    refused = await client.put(url, json={"ip_allowlist": ["10.0.0.0/8"]})
    assert refused.status_code == 400
    assert refused.json()["field"] == "ip_allowlist" and "127.0.0.1" in refused.json()["detail"]
    assert (await client.get(url)).json()["ip_allowlist"] == []
    allowed = await client.put(url, json={"ip_allowlist": ["10.0.0.0/8", "127.0.0.1"]})
    assert allowed.status_code == 200, allowed.text
