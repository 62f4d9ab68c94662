"""Custom roles are versioned, every change of access control is recorded twice under one name
(the audit trail and ``user.events``), and a change applies from the holder's next request."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from atrium.core.audit.models import AuditEvent
from atrium.core.events.models import OutboxEvent
from atrium.platform.access import catalog
from tests.platform.access.conftest import World, problem

A = "/api/v1/tenants/acme"
ADMIN = "admin@acme.example"


async def _recorded(world: World, prefix: str) -> tuple[list[AuditEvent], list[dict[str, Any]]]:
    async with world.rt.db.platform_session() as session:
        audited = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action.startswith(prefix)).order_by(AuditEvent.id)
            )
        ).all()
        published = [
            e.envelope
            for e in await session.scalars(
                select(OutboxEvent).where(OutboxEvent.topic == "user.events").order_by(OutboxEvent.created_at)
            )
            if e.envelope["type"].startswith(prefix)
        ]
    return list(audited), published


async def test_a_custom_role_is_versioned_and_every_change_recorded(world: World) -> None:
    tenant_id = await world.tenant("acme")
    await world.person(ADMIN, tenant_id, catalog.TENANT_ADMIN)
    admin = await world.login(ADMIN)

    created = await admin.post(
        f"{A}/roles", json={"name": "Reviewers", "description": "read notes", "permission_sets": ["notes.read"]}
    )
    assert created.status_code == 201, created.text
    role = created.json()
    assert (role["version"], role["system"], role["permissions"]) == (1, False, ["notes.note.read"])
    changed = await admin.patch(f"{A}/roles/Reviewers", json={"permission_sets": ["notes.write"]})
    assert changed.json()["version"] == 2
    assert changed.json()["permissions"] == sorted(
        ["notes.note.create", "notes.note.delete", "notes.note.read", "notes.note.update"]
    )
    renamed = await admin.patch(f"{A}/roles/reviewers", json={"name": "Editors", "step_up": True})
    assert (renamed.json()["name"], renamed.json()["version"], renamed.json()["step_up"]) == ("Editors", 3, True)
    problem(await admin.get(f"{A}/roles/Reviewers"), 404, "not-found")
    assert (await admin.get(f"{A}/roles/editors")).json()["id"] == role["id"]
    listed = [r["name"] for r in (await admin.get(f"{A}/roles")).json()]
    assert listed == [*catalog.SYSTEM_ROLES, "Editors"]
    assert (await admin.delete(f"{A}/roles/Editors")).status_code == 204

    audited, published = await _recorded(world, "access.role.")
    expected = [
        ("access.role.created", 1, "Reviewers"),
        ("access.role.updated", 2, "Reviewers"),
        ("access.role.updated", 3, "Editors"),
        ("access.role.deleted", 3, "Editors"),
    ]
    assert [(e.action, e.data["version"], e.data["name"]) for e in audited] == expected
    assert {(e.actor, e.tenant_id, e.object_type, e.object_id) for e in audited} == {
        (ADMIN, tenant_id, "role", role["id"])
    }
    assert audited[1].data["fields"] == ["permission_sets"] and audited[1].data["permission_sets"] == ["notes.write"]
    assert [(p["type"], p["data"]["version"], p["tenantid"]) for p in published] == [
        (a, v, tenant_id) for a, v, _ in expected
    ]


async def test_a_role_change_applies_from_the_next_request(world: World) -> None:
    tenant_id = await world.tenant("acme")
    await world.person(ADMIN, tenant_id, catalog.TENANT_ADMIN)
    user_id = await world.person("dev@acme.example", tenant_id, "Developer")
    admin, dev = await world.login(ADMIN), await world.login("dev@acme.example")
    problem(await dev.post(f"{A}/notes", json={"title": "x"}), 403, "permission-denied")

    assigned = await admin.post(f"{A}/role-assignments", json={"role": "Support Agent", "user_id": user_id})
    assert assigned.status_code == 201, assigned.text
    assert assigned.json()["email"] == "dev@acme.example" and assigned.json()["created_by"] == ADMIN
    assert (await dev.post(f"{A}/notes", json={"title": "x"})).status_code == 201
    assert (await dev.get(f"{A}/access")).json()["roles"] == ["Developer", "Support Agent"]

    # a custom role gains a permission set: its holders gain it at once
    await admin.post(f"{A}/roles", json={"name": "Readers", "permission_sets": ["notes.read"]})
    assert (await admin.put(f"{A}/role-assignments/members/{user_id}", json={"role": "Readers"})).status_code == 200
    assert (await admin.delete(f"{A}/role-assignments/{assigned.json()['id']}")).status_code == 204
    problem(await dev.post(f"{A}/notes", json={"title": "x"}), 403, "permission-denied")
    await admin.patch(f"{A}/roles/Readers", json={"permission_sets": ["notes.write"]})
    assert (await dev.post(f"{A}/notes", json={"title": "x"})).status_code == 201
    # renaming the role keeps its holders
    await admin.patch(f"{A}/roles/Readers", json={"name": "Writers"})
    assert (await dev.get(f"{A}/access")).json()["roles"] == ["Writers"]
    assert (await dev.post(f"{A}/notes", json={"title": "x"})).status_code == 201

    # a group's role applies to its members, and leaving the group takes it away
    group = (await admin.post(f"{A}/groups", json={"display_name": "Auditors"})).json()["id"]
    assert (await admin.post(f"{A}/role-assignments", json={"role": "Auditor", "group_id": group})).status_code == 201
    problem(await dev.get(f"{A}/audit-events"), 403, "permission-denied")
    assert (await admin.post(f"{A}/groups/{group}/members", json={"user_id": user_id})).status_code == 204
    assert (await dev.get(f"{A}/audit-events")).status_code == 200
    members = {m["user_id"]: m for m in (await admin.get(f"{A}/role-assignments/members")).json()}
    assert (members[user_id]["primary_role"], members[user_id]["roles"]) == ("Writers", ["Auditor", "Writers"])
    assert (await admin.delete(f"{A}/groups/{group}/members/{user_id}")).status_code == 204
    problem(await dev.get(f"{A}/audit-events"), 403, "permission-denied")

    audited, published = await _recorded(world, "access.")
    actions = [e.action for e in audited]
    for action in (
        "access.assignment.created",
        "access.assignment.deleted",
        "access.member.role_changed",
        "access.group.created",
        "access.group.member_added",
        "access.group.member_removed",
    ):
        assert action in actions, action
        assert action in [p["type"] for p in published], action
    changed = next(e for e in audited if e.action == "access.member.role_changed")
    assert changed.data == {"from": "Developer", "to": "Readers"} and changed.actor == ADMIN


async def test_departments_and_people_are_recorded(world: World) -> None:
    tenant_id = await world.tenant("acme")
    await world.person(ADMIN, tenant_id, catalog.TENANT_ADMIN)
    boss = await world.person("boss@acme.example", tenant_id)
    worker = await world.person("worker@acme.example", tenant_id)
    admin = await world.login(ADMIN)
    top = (await admin.post(f"{A}/departments", json={"name": "Top"})).json()
    child = (await admin.post(f"{A}/departments", json={"name": "Child", "parent_id": top["id"]})).json()
    assert child["parent_id"] == top["id"]
    placed = await admin.put(
        f"{A}/departments/people/{worker}",
        json={"department_id": child["id"], "manager_id": boss, "attributes": {"region": "eu"}},
    )
    assert placed.status_code == 200, placed.text
    assert (placed.json()["department_id"], placed.json()["manager_id"], placed.json()["attributes"]) == (
        child["id"],
        boss,
        {"region": "eu"},
    )
    people = {p["user_id"]: p for p in (await admin.get(f"{A}/departments/people")).json()}
    assert people[boss]["department_id"] is None and people[worker]["manager_id"] == boss
    assert (await admin.patch(f"{A}/departments/{child['id']}", json={"parent_id": None})).json()["parent_id"] is None
    assert (await admin.delete(f"{A}/departments/{child['id']}")).status_code == 204
    # the worker's department is gone with it
    people = {p["user_id"]: p for p in (await admin.get(f"{A}/departments/people")).json()}
    assert people[worker]["department_id"] is None

    audited, published = await _recorded(world, "access.")
    assert [e.action for e in audited] == [
        "access.department.created",
        "access.department.created",
        "access.person.placed",
        "access.department.updated",
        "access.department.deleted",
    ]
    assert [p["type"] for p in published] == [e.action for e in audited]
