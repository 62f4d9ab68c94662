"""Every system role against every tenant route that exists now: notes, identity's tenant routes,
access control's own routes, the tenant audit trail, settings, feature flags and entitlements.

The expectations are written out by hand (``ALLOWED``: role → the route groups it may use), not
recomputed with the catalogue code under test; ``test_the_table_matches_the_catalogue`` only
checks that the two have not drifted apart. A refused call is ``403 permission-denied``; an
allowed one gets the route's own answer: 200/201/204 for a call that does something, or the 404
of an id that does not exist, which shows the permission gate was passed without destroying the
fixtures later probes need. Each role signs in with a fresh browser session (so roles with
step-up count as recently authenticated); Platform Admin calls with the platform API key.

Reading is not everything a read-only role may GET: the sessions, the security policy, SSO
connections, the SCIM token and OAuth clients are behind ``identity.session.manage`` and
``identity.security.manage`` even for GET, so Auditor and BI Analyst are refused them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from atrium.platform.access import catalog
from tests.platform.access.conftest import World, problem

NOTES = frozenset({"notes.read", "notes.create", "notes.update", "notes.delete"})
IDENTITY = frozenset({"members.read", "members.manage", "sessions", "security", "scim"})
ACCESS = frozenset(
    {"roles.read", "roles.manage", "assign", "departments", "impersonate", "approvals.read", "approvals.decide"}
)
BASICS = frozenset({"settings.read", "flags.read", "entitlements.read"})  # every tenant role sees these
TENANT = BASICS | {"settings.manage", "flags.manage"}
EVERYTHING = NOTES | IDENTITY | ACCESS | TENANT | {"audit"}
READ_ALL = frozenset({"notes.read", "members.read", "roles.read", "approvals.read", "audit"}) | BASICS

# role -> the route groups it may use (every other group answers 403)
ALLOWED: dict[str, frozenset[str]] = {
    "Platform Admin": EVERYTHING,
    "Tenant Admin": EVERYTHING,
    "Finance Admin": NOTES | BASICS,
    "HR Admin": NOTES | IDENTITY | BASICS | {"roles.read", "departments"},
    "Project Manager": NOTES | BASICS,
    "Sales Rep": NOTES | BASICS,
    "Support Agent": NOTES | BASICS,
    "BI Analyst": READ_ALL,
    "Developer": frozenset({"notes.read"}) | BASICS,
    "Integration Engineer": frozenset({"notes.read"}) | IDENTITY | BASICS,
    "Auditor": READ_ALL,
    "Member": NOTES | BASICS,
}

# route group -> the permission its routes declare (what the table above is about)
GROUP_PERMISSION = {
    "notes.read": "notes.note.read",
    "notes.create": "notes.note.create",
    "notes.update": "notes.note.update",
    "notes.delete": "notes.note.delete",
    "members.read": "identity.member.read",
    "members.manage": "identity.member.manage",
    "sessions": "identity.session.manage",
    "security": "identity.security.manage",
    "scim": "identity.security.manage",
    "roles.read": "access.role.read",
    "roles.manage": "access.role.manage",
    "assign": "access.assignment.manage",
    "departments": "access.department.manage",
    "impersonate": "access.impersonation.start",
    "approvals.read": "access.approval.read",
    "approvals.decide": "access.approval.decide",
    "audit": "audit.event.read",
    "settings.read": "tenancy.tenant.read",
    "settings.manage": "tenancy.tenant.manage",
    "flags.read": "access.flag.read",
    "flags.manage": "access.flag.manage",
    "entitlements.read": "access.entitlement.read",
}


@dataclass(frozen=True)
class Probe:
    group: str | None  # None: every member may (the caller's own access)
    method: str
    path: str
    ok: int  # the answer when the permission gate lets the call through
    body: Any = None


T = "/api/v1/tenants/{t}"
NONE = "00000000-0000-0000-0000-000000000000"
PROBES = [
    Probe(None, "GET", f"{T}/access", 200),
    # notes
    Probe("notes.read", "GET", f"{T}/notes", 200),
    Probe("notes.read", "GET", f"{T}/notes/{{note}}", 200),
    Probe("notes.create", "POST", f"{T}/notes", 201, {"title": "probe"}),
    Probe("notes.update", "PATCH", f"{T}/notes/{{note}}", 200, {"title": "probed"}),
    Probe("notes.delete", "DELETE", f"{T}/notes/{{note2}}", 204),
    # identity: members, invitations, groups, sessions
    Probe("members.read", "GET", f"{T}/members", 200),
    Probe("members.read", "GET", f"{T}/invitations", 200),
    Probe("members.read", "GET", f"{T}/groups", 200),
    Probe("members.manage", "POST", f"{T}/invitations", 201, {"email": "invitee@acme.example", "role": "Member"}),
    Probe("members.manage", "DELETE", f"{T}/invitations/{NONE}", 404),
    Probe("members.manage", "DELETE", f"{T}/members/{NONE}", 404),
    Probe("members.manage", "POST", f"{T}/groups", 201, {"display_name": "Probe group"}),
    Probe("members.manage", "POST", f"{T}/groups/{NONE}/members", 404, {"user_id": "{target}"}),
    Probe("members.manage", "DELETE", f"{T}/groups/{NONE}/members/{{target}}", 404),
    Probe("sessions", "GET", f"{T}/sessions", 200),
    Probe("sessions", "DELETE", f"{T}/sessions/{NONE}", 404),
    # identity: security policy, SSO, SCIM token, OAuth clients
    Probe("security", "GET", f"{T}/security-policy", 200),
    Probe("security", "PUT", f"{T}/security-policy", 200, {}),
    Probe("security", "GET", f"{T}/sso/connections", 200),
    Probe("security", "GET", f"{T}/sso/connections/{NONE}", 404),
    Probe("security", "GET", f"{T}/scim/token", 200),
    Probe("security", "DELETE", f"{T}/scim/token", 404),  # none yet: the gate was passed
    Probe("scim", "POST", f"{T}/scim/token", 201),
    Probe("security", "GET", f"{T}/oauth-clients", 200),
    Probe("security", "POST", f"{T}/oauth-clients", 201, {"name": "probe", "scopes": ["notes.note.read"]}),
    Probe("security", "DELETE", f"{T}/oauth-clients/{NONE}", 404),
    Probe("security", "POST", f"{T}/oauth-clients/{NONE}/secret", 404),
    # access: catalogue, roles, assignments, departments
    Probe("roles.read", "GET", f"{T}/permissions", 200),
    Probe("roles.read", "GET", f"{T}/permission-sets", 200),
    Probe("roles.read", "GET", f"{T}/roles", 200),
    Probe("roles.read", "GET", f"{T}/roles/Member", 200),
    Probe("roles.read", "GET", f"{T}/role-assignments", 200),
    Probe("roles.read", "GET", f"{T}/role-assignments/members", 200),
    Probe("roles.read", "GET", f"{T}/departments", 200),
    Probe("roles.read", "GET", f"{T}/departments/people", 200),
    Probe("roles.manage", "POST", f"{T}/roles", 201, {"name": "probe-role", "permission_sets": ["notes.read"]}),
    Probe("roles.manage", "PATCH", f"{T}/roles/probe-role", 200, {"description": "changed"}),
    Probe("roles.manage", "DELETE", f"{T}/roles/probe-role", 204),
    Probe("roles.manage", "PUT", f"{T}/approvals/rules", 200, {"actions": []}),
    Probe("assign", "POST", f"{T}/role-assignments", 201, {"role": "Auditor", "user_id": "{target}"}),
    Probe("assign", "DELETE", f"{T}/role-assignments/{NONE}", 404),
    Probe("assign", "PUT", f"{T}/role-assignments/members/{{target}}", 200, {"role": "Member"}),
    Probe("departments", "POST", f"{T}/departments", 201, {"name": "Probe department"}),
    Probe("departments", "PATCH", f"{T}/departments/{{department}}", 200, {"name": "Renamed"}),
    Probe("departments", "DELETE", f"{T}/departments/{NONE}", 404),
    Probe("departments", "PUT", f"{T}/departments/people/{{target}}", 200, {}),
    # access: impersonation (oneself: 400 once the gate is passed) and approvals
    Probe("impersonate", "POST", f"{T}/impersonation", 400, {"user_id": "{me}", "reason": "checking the role"}),
    Probe("approvals.read", "GET", f"{T}/approvals", 200),
    Probe("approvals.read", "GET", f"{T}/approvals/rules", 200),
    Probe("approvals.read", "GET", f"{T}/approvals/{NONE}", 404),
    Probe("approvals.decide", "POST", f"{T}/approvals/{NONE}/approve", 404, {}),
    Probe("approvals.decide", "POST", f"{T}/approvals/{NONE}/reject", 404, {}),
    # the tenant's audit trail
    Probe("audit", "GET", f"{T}/audit-events", 200),
    # the tenant's settings, feature flags and plan
    Probe("settings.read", "GET", f"{T}/settings", 200),
    Probe("settings.read", "GET", f"{T}/settings/locale", 200),
    Probe("settings.manage", "PUT", f"{T}/settings/probe", 200, {"value": 1}),
    Probe("flags.read", "GET", f"{T}/flags", 200),
    Probe("flags.manage", "PUT", f"{T}/flags/no-such-flag", 404, {"enabled": True}),
    Probe("flags.manage", "DELETE", f"{T}/flags/no-such-flag", 404),
    Probe("entitlements.read", "GET", f"{T}/entitlements", 200),
]

# Where an allowed caller is still refused, for a reason other than its permissions.
EXCEPTIONS = {
    # impersonation is for browser sessions; the platform administrator here calls with an API key
    ("Platform Admin", "impersonate"): (403, "forbidden"),
    # a SCIM token lets an IdP fill groups that may hold any role: only who holds every permission
    # may create one (DELETE comes first and finds none, so it is not affected)
    ("HR Admin", "scim"): (403, "permission-denied"),
    ("Integration Engineer", "scim"): (403, "permission-denied"),
    # nobody grants more than they hold: the invitation offers Member, whose notes.* they lack
    ("Integration Engineer", f"POST {T}/invitations"): (403, "permission-denied"),
}


def fill(value: Any, names: dict[str, str]) -> Any:
    """A probe's body with the test's ids in place of ``{target}`` and the like."""
    if isinstance(value, str):
        return value.format(**names)
    if isinstance(value, dict):
        return {k: fill(v, names) for k, v in value.items()}
    return value


def test_the_table_covers_every_system_role_and_matches_the_catalogue() -> None:
    """A guard against drift, not the test itself: the hand-written table and the catalogue agree."""
    assert set(ALLOWED) == set(catalog.SYSTEM_ROLES)
    assert {p.group for p in PROBES} - {None} == set(GROUP_PERMISSION)
    for name, role in catalog.SYSTEM_ROLES.items():
        held = catalog.role_permissions(role.permission_sets)
        assert {g for g, p in GROUP_PERMISSION.items() if p in held} == ALLOWED[name], name


@pytest.mark.parametrize("role", list(ALLOWED))
async def test_each_system_role_may_use_exactly_its_routes(world: World, role: str) -> None:
    tenant_id = await world.tenant("acme")
    await world.person("owner@acme.example", tenant_id, catalog.TENANT_ADMIN)
    target = await world.person("target@acme.example", tenant_id)
    owner = await world.login("owner@acme.example")
    if role == catalog.PLATFORM_ADMIN:
        caller, me = await world.platform_admin()
    else:
        me = await world.person("caller@acme.example", tenant_id, role)
        caller = await world.login("caller@acme.example")

    notes = [(await owner.post("/api/v1/tenants/acme/notes", json={"title": f"n{i}"})).json()["id"] for i in (1, 2)]
    department = (await owner.post("/api/v1/tenants/acme/departments", json={"name": "Sales"})).json()["id"]
    names = {"t": "acme", "note": notes[0], "note2": notes[1], "target": target, "me": me, "department": department}

    outcomes: list[tuple[str, str, int, int]] = []
    for probe in PROBES:
        path = probe.path.format(**names)
        response = await caller.request(probe.method, path, json=fill(probe.body, names))
        if probe.group is None or probe.group in ALLOWED[role]:
            key = (role, f"{probe.method} {probe.path}")
            expected, code = EXCEPTIONS.get(key) or EXCEPTIONS.get((role, probe.group or ""), (probe.ok, None))
        else:
            expected, code = 403, "permission-denied"
        if expected >= 400:
            assert response.headers["content-type"].startswith("application/problem+json"), (probe, response.text)
            if code is not None and response.status_code == expected:
                assert response.json()["code"] == code, (probe, response.text)
            excepted = (role, probe.group or "") in EXCEPTIONS or (role, f"{probe.method} {probe.path}") in EXCEPTIONS
            if expected == 403 and code == "permission-denied" and response.status_code == 403 and not excepted:
                assert response.json()["permission"] == GROUP_PERMISSION[probe.group or ""], response.text
        outcomes.append((probe.method, probe.path, expected, response.status_code))
    wrong = [o for o in outcomes if o[2] != o[3]]
    assert not wrong, f"{role}: (method, route, expected, got) {wrong}"

    # the caller's own view names the role, and GET /access lists exactly the table's permissions
    mine = (await caller.get("/api/v1/tenants/acme/access")).json()
    if role != catalog.PLATFORM_ADMIN:
        assert mine["roles"] == [role] and mine["impersonated_by"] is None
    permitted = {g for g, p in GROUP_PERMISSION.items() if p in mine["permissions"]}
    assert permitted == ALLOWED[role]
    assert mine["conditional"] == []


async def test_a_refusal_is_problem_json_naming_the_permission(world: World) -> None:
    tenant_id = await world.tenant("acme")
    await world.person("dev@acme.example", tenant_id, "Developer")
    dev = await world.login("dev@acme.example")
    body = problem(await dev.post("/api/v1/tenants/acme/notes", json={"title": "x"}), 403, "permission-denied")
    assert body["permission"] == "notes.note.create" and "notes.note.create" in body["detail"]
    assert (await dev.get("/api/v1/tenants/acme/notes")).status_code == 200
