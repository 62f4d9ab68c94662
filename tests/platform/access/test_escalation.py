"""Nobody hands out more than they hold; a queued request that could never run is refused when
asked; what a role or condition still refers to cannot be deleted; tenant settings need their
permissions; a note can leave its department."""

from __future__ import annotations

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
