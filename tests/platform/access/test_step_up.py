"""Sign-in rules that roles carry: step-up (the password again before a privileged permission,
at most every STEP_UP_MINUTES), a required second factor, and a shorter session."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import update

from atrium.platform.access import catalog
from atrium.platform.access.auth import STEP_UP_MINUTES
from atrium.platform.identity.models import UserSession
from tests.platform.access.conftest import PASSWORD, World, problem

A = "/api/v1/tenants/acme"
STALE = dt.timedelta(minutes=STEP_UP_MINUTES + 5)
FRESH = dt.timedelta(minutes=1)


async def _with_role(world: World, **role: Any) -> tuple[str, str]:
    """acme, its Tenant Admin, and a member whose only role is a custom one; (tenant id, member id)."""
    tenant_id = await world.tenant("acme")
    await world.person("admin@acme.example", tenant_id, catalog.TENANT_ADMIN)
    user_id = await world.person("holder@acme.example", tenant_id)
    admin = await world.login("admin@acme.example")
    made = await admin.post(f"{A}/roles", json={"name": "Custom", **role})
    assert made.status_code == 201, made.text
    assert (await admin.put(f"{A}/role-assignments/members/{user_id}", json={"role": "Custom"})).status_code == 200
    return tenant_id, user_id


async def test_a_step_up_role_asks_for_the_password_again_before_privileged_actions(world: World) -> None:
    _, user_id = await _with_role(world, permission_sets=["access.admin"], step_up=True)
    holder = await world.login("holder@acme.example")
    # just signed in: recently authenticated
    assert (await holder.post(f"{A}/roles", json={"name": "One", "permission_sets": ["access.org"]})).status_code == 201

    await world.age_sessions(user_id, signed_in=STALE, reauthenticated=STALE)
    refused = problem(
        await holder.post(f"{A}/roles", json={"name": "Two", "permission_sets": ["access.org"]}),
        403,
        "step-up-required",
    )
    assert refused["permission"] == "access.role.manage"
    # permissions that are not privileged need no step-up
    assert (await holder.get(f"{A}/roles")).status_code == 200
    assert (await holder.post(f"{A}/departments", json={"name": "Ops"})).status_code == 201

    problem(await holder.post("/api/v1/auth/step-up", json={"password": "not the password"}), 401, "unauthorized")
    problem(await holder.post(f"{A}/roles", json={"name": "Two", "permission_sets": ["access.org"]}), 403)
    assert (await holder.post("/api/v1/auth/step-up", json={"password": PASSWORD})).status_code == 204
    assert (await holder.post(f"{A}/roles", json={"name": "Two", "permission_sets": ["access.org"]})).status_code == 201


async def test_without_step_up_an_old_session_may_still_act(world: World) -> None:
    _, user_id = await _with_role(world, permission_sets=["access.admin"])
    holder = await world.login("holder@acme.example")
    await world.age_sessions(user_id, signed_in=STALE, reauthenticated=STALE)
    assert (await holder.post(f"{A}/roles", json={"name": "One", "permission_sets": ["access.org"]})).status_code == 201


async def test_tenant_admins_step_up_in_the_browser_but_not_with_an_api_key(world: World) -> None:
    tenant_id = await world.tenant("acme")
    admin_id = await world.person("admin@acme.example", tenant_id, catalog.TENANT_ADMIN)
    admin = await world.login("admin@acme.example")
    keyed = await world.api_key(admin_id, tenant_id)
    await world.age_sessions(admin_id, signed_in=STALE, reauthenticated=STALE)
    problem(await admin.put(f"{A}/security-policy", json={}), 403, "step-up-required")
    problem(await admin.get(f"{A}/sessions"), 403, "step-up-required")
    assert (await admin.get(f"{A}/members")).status_code == 200  # identity.member.read is not privileged
    assert (await keyed.put(f"{A}/security-policy", json={})).status_code == 200
    assert (await keyed.get(f"{A}/sessions")).status_code == 200
    problem(await keyed.post("/api/v1/auth/step-up", json={"password": PASSWORD}), 400)
    assert (await admin.post("/api/v1/auth/step-up", json={"password": PASSWORD})).status_code == 204
    assert (await admin.put(f"{A}/security-policy", json={})).status_code == 200
    # the step-up itself ages like a sign-in
    await world.age_sessions(admin_id, signed_in=STALE, reauthenticated=STALE - FRESH)
    problem(await admin.get(f"{A}/sessions"), 403, "step-up-required")
    await world.age_sessions(admin_id, signed_in=STALE, reauthenticated=FRESH)
    assert (await admin.get(f"{A}/sessions")).status_code == 200


async def test_a_role_requiring_mfa_refuses_a_session_without_it(world: World) -> None:
    tenant_id, user_id = await _with_role(world, permission_sets=["notes.write"], require_mfa=True)
    holder = await world.login("holder@acme.example")
    refused = problem(await holder.get(f"{A}/notes"), 403, "mfa-required")
    assert "second factor" in refused["detail"]
    assert (await holder.get("/api/v1/me")).status_code == 200  # the account itself still works
    # an API key is not a browser session: the role's sign-in rule does not apply to it
    keyed = await world.api_key(user_id, tenant_id)
    assert (await keyed.get(f"{A}/notes")).status_code == 200
    # a session that passed a second factor
    async with world.rt.db.platform_session() as session, session.begin():
        await session.execute(update(UserSession).where(UserSession.user_id == user_id).values(mfa=True))
    assert (await holder.get(f"{A}/notes")).status_code == 200


async def test_a_role_with_a_short_session_ends_older_sessions(world: World) -> None:
    _, user_id = await _with_role(world, permission_sets=["notes.write"], session_minutes=30)
    holder = await world.login("holder@acme.example")
    assert (await holder.get(f"{A}/notes")).status_code == 200
    await world.age_sessions(user_id, signed_in=dt.timedelta(minutes=20), reauthenticated=FRESH)
    assert (await holder.get(f"{A}/notes")).status_code == 200
    await world.age_sessions(user_id, signed_in=dt.timedelta(minutes=45), reauthenticated=FRESH)
    refused = problem(await holder.get(f"{A}/notes"), 401, "unauthorized")
    assert "30 minutes" in refused["detail"]


async def test_an_api_key_does_at_most_what_its_scopes_name(world: World) -> None:
    """A key's scopes narrow its owner's permissions; they never widen them."""
    tenant_id = await world.tenant("acme")
    admin_id = await world.person("admin@acme.example", tenant_id, catalog.TENANT_ADMIN)
    member_id = await world.person("member@acme.example", tenant_id)
    reader = await world.api_key(admin_id, tenant_id, ["notes.note.read"])
    notes = await world.api_key(admin_id, tenant_id, ["notes.*"])
    wide = await world.api_key(member_id, tenant_id, ["*"])
    assert (await reader.get(f"{A}/notes")).status_code == 200
    problem(await reader.post(f"{A}/notes", json={"title": "x"}), 403, "permission-denied")
    problem(await reader.get(f"{A}/members"), 403, "permission-denied")
    assert (await reader.get(f"{A}/access")).json()["permissions"] == ["notes.note.read"]
    assert (await notes.post(f"{A}/notes", json={"title": "x"})).status_code == 201
    problem(await notes.put(f"{A}/security-policy", json={}), 403, "permission-denied")
    problem(await wide.get(f"{A}/members"), 403, "permission-denied")  # the member's own limits stay
