"""Nobody hands out more than they hold; a queued request that could never run is refused when
asked; what a role or condition still refers to cannot be deleted; tenant settings need their
permissions; a note can leave its department."""

from __future__ import annotations

import datetime as dt

from atrium.platform.access import catalog
from atrium.platform.access.models import Approval, CustomRole, Department, RoleAssignment
from tests.platform.access.conftest import World, count, problem

A = "/api/v1/tenants/acme"


async def _access_admin(world: World) -> tuple[str, str]:
    """acme with a Tenant Admin (signed in on the returned client's cookie jar later) and a
    member holding a custom role with only the access-control set."""
    tenant_id = await world.tenant("acme")
    await world.person("admin@acme.example", tenant_id, catalog.TENANT_ADMIN)
    delegate = await world.person("delegate@acme.example", tenant_id)
    admin = await world.login("admin@acme.example")
    made = await admin.post(f"{A}/roles", json={"name": "Access admins", "permission_sets": ["access.admin"]})
    assert made.status_code == 201, made.text
    moved = await admin.put(f"{A}/role-assignments/members/{delegate}", json={"role": "Access admins"})
    assert moved.status_code == 200, moved.text
    return tenant_id, delegate


async def test_an_access_administrator_cannot_grant_what_they_do_not_hold(world: World) -> None:
    tenant_id, delegate = await _access_admin(world)
    other = await world.person("other@acme.example", tenant_id)
    client = await world.login("delegate@acme.example")
    roles, assignments = await count(world.rt, CustomRole), await count(world.rt, RoleAssignment)

    # not Tenant Admin for themselves or anyone, not a role carrying everything, not finance
    refused = problem(
        await client.post(f"{A}/role-assignments", json={"role": catalog.TENANT_ADMIN, "user_id": delegate}),
        403,
        "permission-denied",
    )
    assert "do not hold yourself" in refused["detail"]
    problem(await client.put(f"{A}/role-assignments/members/{other}", json={"role": catalog.TENANT_ADMIN}), 403)
    problem(await client.post(f"{A}/roles", json={"name": "Everything", "permission_sets": ["all"]}), 403)
    problem(await client.post(f"{A}/roles", json={"name": "Books", "permission_sets": ["finance.admin"]}), 403)
    problem(
        await client.patch(f"{A}/roles/Access admins", json={"permission_sets": ["access.admin", "notes.write"]}), 403
    )
    assert (await count(world.rt, CustomRole), await count(world.rt, RoleAssignment)) == (roles, assignments)

    # within what they hold, they may
    made = await client.post(f"{A}/roles", json={"name": "Organisers", "permission_sets": ["access.org"]})
    assert made.status_code == 201, made.text
    given = await client.post(f"{A}/role-assignments", json={"role": "Organisers", "user_id": other})
    assert given.status_code == 201, given.text


async def test_a_request_that_could_never_run_is_refused_when_asked(world: World) -> None:
    await _access_admin(world)
    admin = await world.login("admin@acme.example")
    assert (await admin.put(f"{A}/approvals/rules", json={"actions": ["access.assignment.create"]})).status_code == 200
    problem(await admin.post(f"{A}/role-assignments", json={"role": "No such role", "user_id": "x"}), 422)
    problem(await admin.post(f"{A}/role-assignments", json={"role": "Access admins", "user_id": "nobody"}), 404)
    assert await count(world.rt, Approval) == 0


async def test_what_is_referred_to_cannot_be_deleted(world: World) -> None:
    tenant_id = await world.tenant("acme")
    await world.person("admin@acme.example", tenant_id, catalog.TENANT_ADMIN)
    admin = await world.login("admin@acme.example")
    sales = (await admin.post(f"{A}/departments", json={"name": "Sales"})).json()["id"]
    condition = {"op": "in_department", "department": sales, "children": True}
    made = await admin.post(
        f"{A}/roles", json={"name": "Sales readers", "permission_sets": ["notes.read"], "condition": condition}
    )
    assert made.status_code == 201, made.text
    named = problem(await admin.delete(f"{A}/departments/{sales}"), 409)
    assert "Sales readers" in named["detail"] and await count(world.rt, Department) == 1

    invited = await admin.post(f"{A}/invitations", json={"email": "new@example.com", "role": "Sales readers"})
    assert invited.status_code == 201, invited.text
    offered = problem(await admin.delete(f"{A}/roles/Sales readers"), 409)
    assert "pending invitations" in offered["detail"] and await count(world.rt, CustomRole) == 1
    assert (await admin.delete(f"{A}/invitations/{invited.json()['id']}")).status_code == 200
    assert (await admin.delete(f"{A}/roles/Sales readers")).status_code == 204
    assert (await admin.delete(f"{A}/departments/{sales}")).status_code == 204


async def test_tenant_settings_need_their_permissions(world: World) -> None:
    tenant_id = await world.tenant("acme")
    await world.person("admin@acme.example", tenant_id, catalog.TENANT_ADMIN)
    await world.person("member@acme.example", tenant_id)
    await world.person("auditor@acme.example", tenant_id, catalog.AUDITOR)
    member = await world.login("member@acme.example")
    assert (await member.get(f"{A}/settings")).status_code == 200  # Member reads the tenant's basics
    problem(await member.put(f"{A}/settings/locale", json={"value": "de"}), 403, "permission-denied")
    auditor = await world.login("auditor@acme.example")
    assert (await auditor.get(f"{A}/settings")).status_code == 200
    problem(await auditor.put(f"{A}/settings/locale", json={"value": "de"}), 403, "permission-denied")
    admin = await world.login("admin@acme.example")
    assert (await admin.put(f"{A}/settings/locale", json={"value": "de"})).status_code == 200


async def test_a_note_leaves_its_department_with_null(world: World) -> None:
    tenant_id = await world.tenant("acme")
    await world.person("admin@acme.example", tenant_id, catalog.TENANT_ADMIN)
    admin = await world.login("admin@acme.example")
    sales = (await admin.post(f"{A}/departments", json={"name": "Sales"})).json()["id"]
    note = (await admin.post(f"{A}/notes", json={"title": "Pipeline", "department_id": sales})).json()
    assert note["department_id"] == sales
    cleared = await admin.patch(f"{A}/notes/{note['id']}", json={"department_id": None})
    assert cleared.status_code == 200 and cleared.json()["department_id"] is None
    kept = await admin.patch(f"{A}/notes/{note['id']}", json={"title": "Pipeline Q3"})
    assert kept.json()["department_id"] is None and kept.json()["title"] == "Pipeline Q3"


async def test_identity_doors_do_not_lead_to_more_rights(world: World) -> None:
    """An HR Admin (people and security, not roles) cannot reach Tenant Admin by inviting an
    address as one, by joining a group that holds it, through an OAuth client or a SCIM token."""
    tenant_id = await world.tenant("acme")
    admin_id = await world.person("admin@acme.example", tenant_id, catalog.TENANT_ADMIN)
    hr_id = await world.person("hr@acme.example", tenant_id, "HR Admin")
    admin = await world.login("admin@acme.example")
    group = (await admin.post(f"{A}/groups", json={"display_name": "Admins"})).json()["id"]
    assert (
        await admin.post(f"{A}/role-assignments", json={"role": catalog.TENANT_ADMIN, "group_id": group})
    ).status_code == 201
    hr = await world.login("hr@acme.example")
    invited = await hr.post(f"{A}/invitations", json={"email": "alt@example.com", "role": catalog.TENANT_ADMIN})
    problem(invited, 403, "permission-denied")
    problem(await hr.post(f"{A}/groups/{group}/members", json={"user_id": hr_id}), 403, "permission-denied")
    problem(await hr.post(f"{A}/oauth-clients", json={"name": "x", "scopes": ["*"]}), 403, "permission-denied")
    problem(await hr.post(f"{A}/scim/token"), 403, "permission-denied")
    # within what they hold they may: a Member invitation, a client reading notes
    assert (await hr.post(f"{A}/invitations", json={"email": "new@example.com", "role": "Member"})).status_code == 201
    assert (await hr.post(f"{A}/oauth-clients", json={"name": "r", "scopes": ["notes.note.read"]})).status_code == 201
    assert (await admin.post(f"{A}/groups/{group}/members", json={"user_id": admin_id})).status_code == 204
    mine = (await hr.get(f"{A}/access")).json()
    assert mine["roles"] == ["HR Admin"]


async def test_impersonation_gains_nothing_and_ends_with_the_right_to_it(world: World) -> None:
    tenant_id = await world.tenant("acme")
    await world.person("admin@acme.example", tenant_id, catalog.TENANT_ADMIN)
    delegate = await world.person("delegate@acme.example", tenant_id)
    auditor = await world.person("auditor@acme.example", tenant_id, catalog.AUDITOR)
    member = await world.person("member@acme.example", tenant_id)
    admin = await world.login("admin@acme.example")
    made = await admin.post(
        f"{A}/roles",
        json={"name": "Testers", "permission_sets": ["access.admin", "notes.write", "tenant.basics", "ai.copilot"]},
    )
    assert made.status_code == 201, made.text
    assert (await admin.put(f"{A}/role-assignments/members/{delegate}", json={"role": "Testers"})).status_code == 200
    tester = await world.login("delegate@acme.example")
    # viewing as the Auditor would read the audit trail the tester may not read
    problem(await tester.post(f"{A}/impersonation", json={"user_id": auditor, "reason": "checking roles"}), 403)
    started = await tester.post(f"{A}/impersonation", json={"user_id": member, "reason": "checking roles"})
    assert started.status_code == 201, started.text
    assert (await tester.get(f"{A}/access")).json()["impersonated_by"] == "delegate@acme.example"
    # the tester is demoted: the next request is theirs again, and the impersonation has ended
    assert (await admin.put(f"{A}/role-assignments/members/{delegate}", json={"role": "Member"})).status_code == 200
    mine = (await tester.get(f"{A}/access")).json()
    assert mine["impersonated_by"] is None and mine["user_id"] == delegate


async def test_a_privileged_key_needs_step_up_and_step_up_is_throttled(world: World) -> None:
    tenant_id = await world.tenant("acme")
    admin_id = await world.person("admin@acme.example", tenant_id, catalog.TENANT_ADMIN)
    admin = await world.login("admin@acme.example")
    await world.age_sessions(admin_id, signed_in=dt.timedelta(minutes=30), reauthenticated=dt.timedelta(minutes=30))
    refused = await admin.post("/api/v1/me/api-keys", json={"name": "ci", "tenant": "acme"})
    problem(refused, 403, "step-up-required")
    reading = await admin.post(
        "/api/v1/me/api-keys", json={"name": "ro", "tenant": "acme", "scopes": ["notes.note.read"]}
    )
    assert reading.status_code == 201, reading.text
    for _ in range(5):
        problem(await admin.post("/api/v1/auth/step-up", json={"password": "wrong"}), 401)
    problem(await admin.post("/api/v1/auth/step-up", json={"password": "wrong"}), 429, "too-many-attempts")


async def test_who_depends_on_the_organisation_cannot_change_their_own_place(world: World) -> None:
    tenant_id = await world.tenant("acme")
    await world.person("admin@acme.example", tenant_id, catalog.TENANT_ADMIN)
    lead = await world.person("lead@acme.example", tenant_id)
    other = await world.person("other@acme.example", tenant_id)
    admin = await world.login("admin@acme.example")
    condition = {"op": "manager_of_owner"}
    role = {"name": "Team leads", "permission_sets": ["notes.read", "access.org"], "condition": condition}
    assert (await admin.post(f"{A}/roles", json=role)).status_code == 201
    assert (await admin.put(f"{A}/role-assignments/members/{lead}", json={"role": "Team leads"})).status_code == 200
    client = await world.login("lead@acme.example")
    problem(await client.put(f"{A}/departments/people/{other}", json={"manager_id": lead}), 403, "permission-denied")
    problem(await client.put(f"{A}/departments/people/{lead}", json={"attributes": {"region": "EU"}}), 403)
    assert (await admin.put(f"{A}/departments/people/{other}", json={"manager_id": lead})).status_code == 200
