"""Four-eyes approval: once a tenant requires it for an action, asking queues the action (202)
and a second administrator's approval runs it; a rejection or a failure at run time writes
nothing of it."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from atrium.core.audit.models import AuditEvent
from atrium.core.events.models import OutboxEvent
from atrium.platform.access import catalog
from atrium.platform.access.models import Approval, CustomRole, RoleAssignment
from tests.platform.access.conftest import World, count, problem

A = "/api/v1/tenants/acme"
ASSIGN = "access.assignment.create"


async def _acme(world: World) -> dict[str, Any]:
    tenant_id = await world.tenant("acme")
    ids = {
        "tenant": tenant_id,
        "first": await world.person("first@acme.example", tenant_id, catalog.TENANT_ADMIN),
        "second": await world.person("second@acme.example", tenant_id, catalog.TENANT_ADMIN),
        "target": await world.person("target@acme.example", tenant_id),
        "auditor": await world.person("auditor@acme.example", tenant_id, catalog.AUDITOR),
    }
    return ids


async def _require(admin: httpx.AsyncClient, *actions: str) -> list[dict[str, Any]]:
    response = await admin.put(f"{A}/approvals/rules", json={"actions": list(actions)})
    assert response.status_code == 200, response.text
    rules: list[dict[str, Any]] = response.json()
    return rules


async def test_a_required_approval_queues_the_action_until_someone_else_approves(world: World) -> None:
    ids = await _acme(world)
    first, second = await world.login("first@acme.example"), await world.login("second@acme.example")
    auditor, target = await world.login("auditor@acme.example"), await world.login("target@acme.example")
    rules = await _require(first, ASSIGN)
    assert {r["action"] for r in rules if r["required"]} == {ASSIGN}
    assert {r["action"]: r["permission"] for r in rules}[ASSIGN] == "access.assignment.manage"

    asked = await first.post(f"{A}/role-assignments", json={"role": "Auditor", "user_id": ids["target"]})
    assert asked.status_code == 202, asked.text
    approval = asked.json()
    assert (approval["status"], approval["action"], approval["requested_by"]) == ("pending", ASSIGN, ids["first"])
    assert asked.headers["location"] == f"{A}/approvals/{approval['id']}"
    assert await count(world.rt, RoleAssignment) == 0
    assert "Auditor" not in (await target.get(f"{A}/access")).json()["roles"]
    # everyone who may read approvals sees it waiting
    waiting = (await auditor.get(f"{A}/approvals", params={"status": "pending"})).json()
    assert [a["id"] for a in waiting] == [approval["id"]]
    assert (await auditor.get(f"{A}/approvals/{approval['id']}")).json()["status"] == "pending"

    # not by the one who asked, nor by someone without access.approval.decide
    problem(await first.post(f"{A}/approvals/{approval['id']}/approve", json={}), 403, "forbidden")
    problem(await auditor.post(f"{A}/approvals/{approval['id']}/approve", json={}), 403, "permission-denied")
    problem(await target.post(f"{A}/approvals/{approval['id']}/reject", json={}), 403, "permission-denied")
    assert await count(world.rt, RoleAssignment) == 0

    approved = await second.post(f"{A}/approvals/{approval['id']}/approve", json={"note": "fine"})
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert (body["status"], body["decided_by_email"], body["decision_note"]) == (
        "approved",
        "second@acme.example",
        "fine",
    )
    async with world.rt.db.platform_session() as session:
        [assignment] = (await session.scalars(select(RoleAssignment))).all()
        assert (assignment.role, assignment.user_id) == ("Auditor", ids["target"])
        assert body["result"] == {"assignment_id": assignment.id, "role": "Auditor"}
        actions = [e.action for e in await session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions.index("access.approval.requested") < actions.index("access.assignment.created")
    assert actions.index("access.assignment.created") < actions.index("access.approval.approved")
    assert "Auditor" in (await target.get(f"{A}/access")).json()["roles"]
    # decided once only
    problem(await second.post(f"{A}/approvals/{approval['id']}/approve", json={}), 409, "conflict")
    problem(await second.post(f"{A}/approvals/{approval['id']}/reject", json={}), 409, "conflict")


async def test_a_rejected_request_changes_nothing(world: World) -> None:
    ids = await _acme(world)
    first, second = await world.login("first@acme.example"), await world.login("second@acme.example")
    await _require(first, ASSIGN, "access.member.role", "access.role.create")
    asked = [
        await first.post(f"{A}/role-assignments", json={"role": "BI Analyst", "user_id": ids["target"]}),
        await first.put(f"{A}/role-assignments/members/{ids['target']}", json={"role": "Developer"}),
        await first.post(f"{A}/roles", json={"name": "Queued", "permission_sets": ["notes.read"]}),
    ]
    assert [r.status_code for r in asked] == [202, 202, 202], [r.text for r in asked]
    for response in asked:
        rejected = await second.post(f"{A}/approvals/{response.json()['id']}/reject", json={"note": "no"})
        assert rejected.status_code == 200 and rejected.json()["status"] == "rejected", rejected.text
    assert await count(world.rt, RoleAssignment) == 0
    assert await count(world.rt, CustomRole) == 0
    members = {m["user_id"]: m for m in (await first.get(f"{A}/role-assignments/members")).json()}
    assert members[ids["target"]]["roles"] == ["Member"]
    assert await count(world.rt, AuditEvent, AuditEvent.action == "access.approval.rejected") == 3
    # taking the rules away needs a second person too; approved, the same request runs at once
    off = await first.put(f"{A}/approvals/rules", json={"actions": []})
    assert off.status_code == 202 and off.json()["action"] == "access.approval.rules", off.text
    approved = await second.post(f"{A}/approvals/{off.json()['id']}/approve", json={})
    assert approved.json()["status"] == "approved", approved.text
    done = await first.post(f"{A}/role-assignments", json={"role": "BI Analyst", "user_id": ids["target"]})
    assert done.status_code == 201, done.text


async def test_an_approval_that_fails_when_it_runs_is_marked_failed_and_writes_nothing(world: World) -> None:
    ids = await _acme(world)
    first, second = await world.login("first@acme.example"), await world.login("second@acme.example")
    made = await first.post(f"{A}/roles", json={"name": "Temporary", "permission_sets": ["notes.read"]})
    assert made.status_code == 201
    await _require(first, ASSIGN)
    asked = await first.post(f"{A}/role-assignments", json={"role": "Temporary", "user_id": ids["target"]})
    assert asked.status_code == 202, asked.text
    # the role goes away before anyone decides
    assert (await first.delete(f"{A}/roles/Temporary")).status_code == 204
    audit_before = await count(world.rt, AuditEvent)
    outbox_before = await count(world.rt, OutboxEvent)

    decided = await second.post(f"{A}/approvals/{asked.json()['id']}/approve", json={})
    assert decided.status_code == 200, decided.text
    body = decided.json()
    assert body["status"] == "failed" and body["result"]["code"] == "validation-failed", body
    assert "Temporary" in body["result"]["error"]
    assert await count(world.rt, RoleAssignment) == 0
    # only the decision itself is recorded (once in the audit trail, once in the outbox)
    assert await count(world.rt, AuditEvent) == audit_before + 1
    assert await count(world.rt, OutboxEvent) == outbox_before + 1
    assert await count(world.rt, AuditEvent, AuditEvent.action == "access.approval.failed") == 1
    async with world.rt.db.platform_session() as session:
        stored = await session.get(Approval, asked.json()["id"])
        assert stored is not None and stored.status == "failed" and stored.decided_by == ids["second"]


async def test_approval_rules_are_checked(world: World) -> None:
    await _acme(world)
    first = await world.login("first@acme.example")
    bad = problem(await first.put(f"{A}/approvals/rules", json={"actions": ["access.everything"]}), 422)
    assert bad["field"] == "actions" and "access.everything" in bad["detail"]
    assert [r for r in (await first.get(f"{A}/approvals/rules")).json() if r["required"]] == []
    problem(await first.get(f"{A}/approvals", params={"status": "maybe"}), 422)
    # a member may not read them at all
    await world.person("member@acme.example", await _tenant_id(world))
    member = await world.login("member@acme.example")
    problem(await member.get(f"{A}/approvals"), 403, "permission-denied")


async def _tenant_id(world: World) -> str:
    resolved = await world.rt.tenants.resolve("acme")
    assert resolved is not None
    return resolved.id


async def test_a_change_that_could_never_succeed_is_refused_when_asked_not_queued(world: World) -> None:
    """Demoting the only Tenant Admin writes the membership, then finds no admin left: tried in a
    savepoint when asked, it is refused at once (409) and nothing is queued or written."""
    tenant_id = await world.tenant("acme")
    admin_id = await world.person("admin@acme.example", tenant_id, catalog.TENANT_ADMIN)
    approver_id = await world.person("approver@acme.example", tenant_id)
    admin = await world.login("admin@acme.example")
    made = await admin.post(f"{A}/roles", json={"name": "Access admins", "permission_sets": ["access.admin"]})
    assert made.status_code == 201, made.text
    await admin.put(f"{A}/role-assignments/members/{approver_id}", json={"role": "Access admins"})
    await _require(admin, "access.member.role")
    changes = await count(world.rt, AuditEvent, AuditEvent.action == "access.member.role_changed")
    asked = await admin.put(f"{A}/role-assignments/members/{admin_id}", json={"role": "Member"})
    assert asked.status_code == 409, asked.text
    assert asked.json()["detail"] == "the tenant would be left without a Tenant Admin"
    assert (await admin.get(f"{A}/approvals")).json() == []
    members = {m["user_id"]: m for m in (await admin.get(f"{A}/role-assignments/members")).json()}
    assert members[admin_id]["primary_role"] == catalog.TENANT_ADMIN
    assert await count(world.rt, AuditEvent, AuditEvent.action == "access.member.role_changed") == changes
    assert await count(world.rt, AuditEvent, AuditEvent.action == "access.approval.requested") == 0
