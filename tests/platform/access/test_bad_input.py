"""Bad input is refused with a clear 4xx problem+json naming the field, and nothing changes: the
rows of access control, the memberships, the audit trail and the outbox are counted before and
after each refusal."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from atrium.core.audit.models import AuditEvent
from atrium.core.events.models import OutboxEvent
from atrium.platform.access import catalog
from atrium.platform.access.models import Approval, CustomRole, Department, Impersonation, RoleAssignment
from atrium.platform.identity.models import Membership
from atrium.platform.identity.scim.models import GroupMember
from atrium.platform.identity.security_models import Invitation
from tests.platform.access.conftest import World, count, problem

A = "/api/v1/tenants/acme"
TABLES = (
    CustomRole,
    Department,
    RoleAssignment,
    Approval,
    Impersonation,
    GroupMember,
    Invitation,
    AuditEvent,
    OutboxEvent,
)


async def _snapshot(world: World) -> dict[str, Any]:
    counts: dict[str, Any] = {m.__name__: await count(world.rt, m) for m in TABLES}
    async with world.rt.db.platform_session() as session:
        counts["roles"] = sorted((m.user_id, m.role) for m in await session.scalars(select(Membership)))
        counts["departments"] = sorted((d.id, d.parent_id, d.name) for d in await session.scalars(select(Department)))
        counts["custom"] = sorted((r.name, r.version) for r in await session.scalars(select(CustomRole)))
    return counts


@pytest.fixture
async def acme(world: World) -> dict[str, Any]:
    """acme with its Tenant Admin (signed in), a member, a department tree and a custom role."""
    tenant_id = await world.tenant("acme")
    ids: dict[str, Any] = {"tenant": tenant_id}
    ids["admin"] = await world.person("admin@acme.example", tenant_id, catalog.TENANT_ADMIN)
    ids["member"] = await world.person("member@acme.example", tenant_id)
    ids["operator"] = await world.person("operator@atrium.example", tenant_id, admin=True)
    admin = await world.login("admin@acme.example")
    ids["client"] = admin
    for name, parent in (("top", None), ("middle", "top"), ("bottom", "middle")):
        made = await admin.post(f"{A}/departments", json={"name": name, "parent_id": ids.get(parent or "")})
        assert made.status_code == 201, made.text
        ids[name] = made.json()["id"]
    made = await admin.post(f"{A}/roles", json={"name": "Sales", "permission_sets": ["notes.read"]})
    assert made.status_code == 201, made.text
    return ids


Call = Callable[[httpx.AsyncClient, dict[str, Any]], Awaitable[httpx.Response]]


def _role(**body: Any) -> Call:
    return lambda c, ids: c.post(f"{A}/roles", json={"name": "New", "permission_sets": ["notes.read"], **body})


def _condition(condition: dict[str, Any]) -> Call:
    return _role(condition=condition)


CASES: list[tuple[str, Call, int, str]] = [
    ("unknown permission set", _role(permission_sets=["notes.read", "root.everything"]), 422, "permission_sets"),
    ("no permission set", _role(permission_sets=[]), 422, "permission_sets"),
    ("unknown attribute", _condition({"op": "eq", "attr": "salary", "value": "1"}), 422, "condition"),
    ("number for a text", _condition({"op": "eq", "attr": "title", "value": 5}), 422, "condition"),
    ("lt on text", _condition({"op": "lt", "attr": "title", "value": 5}), 422, "condition"),
    ("unknown operator", _condition({"op": "like", "attr": "title", "value": "a%"}), 422, "condition"),
    ("unknown department", _condition({"op": "in_department", "department": "nowhere"}), 422, "condition"),
    (
        "unknown department deep inside",
        _condition(
            {"op": "not", "of": {"op": "any", "of": [{"op": "owner"}, {"op": "in_department", "department": "x"}]}}
        ),
        422,
        "condition",
    ),
    ("a system role's name", _role(name="Tenant Admin"), 409, "name"),
    ("a system role's name in other case", _role(name="auditor"), 409, "name"),
    ("the platform role's name", _role(name="platform admin"), 409, "name"),
    ("a custom role's name in other case", _role(name="SALES"), 409, "name"),
    ("a blank name", _role(name="   "), 422, "name"),
    (
        "renaming onto another role",
        lambda c, ids: c.patch(f"{A}/roles/Sales", json={"name": "tenant admin"}),
        409,
        "name",
    ),
    ("changing a system role", lambda c, ids: c.patch(f"{A}/roles/Member", json={"description": "x"}), 409, "role"),
    ("deleting a system role", lambda c, ids: c.delete(f"{A}/roles/Tenant Admin"), 409, "role"),
    (
        "a condition of the wrong type in a change",
        lambda c, ids: c.patch(f"{A}/roles/Sales", json={"condition": {"op": "gt", "attr": "owner", "value": 1}}),
        422,
        "condition",
    ),
    (
        "a department under its own descendant",
        lambda c, ids: c.patch(f"{A}/departments/{ids['top']}", json={"parent_id": ids["bottom"]}),
        422,
        "parent_id",
    ),
    (
        "a department under itself",
        lambda c, ids: c.patch(f"{A}/departments/{ids['middle']}", json={"parent_id": ids["middle"]}),
        422,
        "parent_id",
    ),
    (
        "a department under an unknown one",
        lambda c, ids: c.post(f"{A}/departments", json={"name": "x", "parent_id": "nowhere"}),
        422,
        "parent_id",
    ),
    (
        "deleting a department with children",
        lambda c, ids: c.delete(f"{A}/departments/{ids['middle']}"),
        409,
        "department_id",
    ),
    (
        "the last Tenant Admin made a Member",
        lambda c, ids: c.put(f"{A}/role-assignments/members/{ids['admin']}", json={"role": "Member"}),
        409,
        "role",
    ),
    (
        "assigning Platform Admin",
        lambda c, ids: c.post(f"{A}/role-assignments", json={"role": "Platform Admin", "user_id": ids["member"]}),
        422,
        "role",
    ),
    (
        "Platform Admin as a primary role",
        lambda c, ids: c.put(f"{A}/role-assignments/members/{ids['member']}", json={"role": "Platform Admin"}),
        422,
        "role",
    ),
    (
        "inviting as Platform Admin",
        lambda c, ids: c.post(f"{A}/invitations", json={"email": "new@acme.example", "role": "Platform Admin"}),
        400,
        "role",
    ),
    (
        "assigning an unknown role",
        lambda c, ids: c.post(f"{A}/role-assignments", json={"role": "Nope", "user_id": ids["member"]}),
        422,
        "role",
    ),
    (
        "assigning to a stranger",
        lambda c, ids: c.post(f"{A}/role-assignments", json={"role": "Auditor", "user_id": "nobody"}),
        404,
        "user_id",
    ),
    (
        "assigning to both a member and a group",
        lambda c, ids: c.post(
            f"{A}/role-assignments", json={"role": "Auditor", "user_id": ids["member"], "group_id": "g"}
        ),
        422,
        "",
    ),
    (
        "impersonating a Platform Admin",
        lambda c, ids: c.post(f"{A}/impersonation", json={"user_id": ids["operator"], "reason": "a good reason"}),
        403,
        "user_id",
    ),
    (
        "placing a member in an unknown department",
        lambda c, ids: c.put(f"{A}/departments/people/{ids['member']}", json={"department_id": "nowhere"}),
        422,
        "department_id",
    ),
    (
        "a member managing themselves",
        lambda c, ids: c.put(f"{A}/departments/people/{ids['member']}", json={"manager_id": ids["member"]}),
        422,
        "manager_id",
    ),
    (
        "an attribute name that is not an identifier",
        lambda c, ids: c.put(f"{A}/departments/people/{ids['member']}", json={"attributes": {"Region Name": "eu"}}),
        422,
        "attributes",
    ),
]


async def test_bad_input_is_refused_and_changes_nothing(world: World, acme: dict[str, Any]) -> None:
    """One tenant for every case (its set-up is most of the cost); each case is checked alone."""
    wrong: list[str] = []
    for case, call, status, field in CASES:
        before = await _snapshot(world)
        response = await call(acme["client"], acme)
        try:
            body = problem(response, status)
            assert body["detail"], body
            if field and "field" in body:
                assert body["field"] == field, body
            elif field:  # a request-validation error lists the fields it refused
                assert field in str(body), body
            assert await _snapshot(world) == before, "something changed"
        except AssertionError as exc:
            wrong.append(f"{case}: {exc}")
    assert not wrong, "\n".join(wrong)


async def test_the_last_tenant_admin_is_kept_whichever_way_they_would_go(world: World, acme: dict[str, Any]) -> None:
    """Tenant Admin held through an assignment or a group (the primary role being Member) cannot
    be taken away either, while it is the tenant's last; with a second admin it can."""
    admin: httpx.AsyncClient = acme["client"]
    group = (await admin.post(f"{A}/groups", json={"display_name": "Admins"})).json()["id"]
    # hand the admin's Tenant Admin over to a direct assignment and a group, then drop the primary role
    direct = await admin.post(f"{A}/role-assignments", json={"role": "Tenant Admin", "user_id": acme["admin"]})
    assert direct.status_code == 201, direct.text
    assert (
        await admin.post(f"{A}/role-assignments", json={"role": "Tenant Admin", "group_id": group})
    ).status_code == 201
    assert (await admin.post(f"{A}/groups/{group}/members", json={"user_id": acme["admin"]})).status_code == 204
    demoted = await admin.put(f"{A}/role-assignments/members/{acme['admin']}", json={"role": "Member"})
    assert demoted.status_code == 200 and demoted.json()["roles"] == ["Member", "Tenant Admin"], demoted.text

    # the direct assignment may go (the group still makes them admin) …
    assert (await admin.delete(f"{A}/role-assignments/{direct.json()['id']}")).status_code == 204
    before = await _snapshot(world)
    # … but then neither leaving the group nor losing the group's assignment
    problem(await admin.delete(f"{A}/groups/{group}/members/{acme['admin']}"), 409, "conflict")
    listed = (await admin.get(f"{A}/role-assignments")).json()
    [by_group] = [a for a in listed if a["group_id"] == group]
    problem(await admin.delete(f"{A}/role-assignments/{by_group['id']}"), 409, "conflict")
    problem(await admin.delete(f"{A}/members/{acme['admin']}"), 409, "conflict")
    assert await _snapshot(world) == before
    assert (await admin.get(f"{A}/access")).json()["roles"] == ["Member", "Tenant Admin"]

    # with a second administrator the first may step down
    second = await world.person("second@acme.example", acme["tenant"], catalog.TENANT_ADMIN)
    assert second
    assert (await admin.delete(f"{A}/groups/{group}/members/{acme['admin']}")).status_code == 204
    assert (await admin.get(f"{A}/access")).json()["roles"] == ["Member"]


async def test_a_role_in_use_cannot_be_deleted(world: World, acme: dict[str, Any]) -> None:
    admin: httpx.AsyncClient = acme["client"]
    assigned = await admin.post(f"{A}/role-assignments", json={"role": "sales", "user_id": acme["member"]})
    assert assigned.status_code == 201 and assigned.json()["role"] == "Sales", assigned.text
    before = await _snapshot(world)
    problem(await admin.delete(f"{A}/roles/Sales"), 409, "conflict")
    problem(await admin.post(f"{A}/role-assignments", json={"role": "Sales", "user_id": acme["member"]}), 409)
    assert await _snapshot(world) == before
    assert (await admin.delete(f"{A}/role-assignments/{assigned.json()['id']}")).status_code == 204
    assert (await admin.delete(f"{A}/roles/Sales")).status_code == 204
    problem(await admin.get(f"{A}/roles/Sales"), 404, "not-found")
