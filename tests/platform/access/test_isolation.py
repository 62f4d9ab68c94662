"""Tenant isolation: another tenant's administrator finds none of this tenant's routes (404,
whatever the route), and naming this tenant's objects from inside their own tenant finds none of
them either."""

from __future__ import annotations

from atrium.platform.access import catalog
from tests.platform.access.conftest import World, problem
from tests.platform.access.test_role_matrix import PROBES, fill

ACME, GLOBEX = "/api/v1/tenants/acme", "/api/v1/tenants/globex"


async def test_another_tenants_admin_finds_no_route_of_this_tenant(world: World) -> None:
    acme_id, globex_id = await world.tenant("acme"), await world.tenant("globex")
    await world.person("admin@acme.example", acme_id, catalog.TENANT_ADMIN)
    member = await world.person("member@acme.example", acme_id)
    outsider_id = await world.person("admin@globex.example", globex_id, catalog.TENANT_ADMIN)
    acme = await world.login("admin@acme.example")
    outsider = await world.login("admin@globex.example")
    note = (await acme.post(f"{ACME}/notes", json={"title": "acme only"})).json()["id"]
    department = (await acme.post(f"{ACME}/departments", json={"name": "Acme"})).json()["id"]
    names = {"t": "acme", "note": note, "note2": note, "target": member, "me": outsider_id, "department": department}

    for probe in PROBES:
        path = probe.path.format(**names)
        response = await outsider.request(probe.method, path, json=fill(probe.body, names))
        problem(response, 404, "tenant-not-found")
        # the tenant's id instead of its slug leaks nothing either
        response = await outsider.request(probe.method, path.replace("/acme", f"/{acme_id}", 1))
        assert response.status_code in (404, 422), (probe, response.text)
    # an API key of the outsider, too
    keyed = await world.api_key(outsider_id, globex_id)
    for path in ("/access", "/roles", "/role-assignments", "/departments", "/approvals", "/members", "/notes"):
        problem(await keyed.get(f"{ACME}{path}"), 404, "tenant-not-found")
    # and acme saw nothing change
    assert [n["id"] for n in (await acme.get(f"{ACME}/notes")).json()] == [note]


async def test_this_tenants_objects_are_not_found_from_another_tenant(world: World) -> None:
    acme_id, globex_id = await world.tenant("acme"), await world.tenant("globex")
    await world.person("admin@acme.example", acme_id, catalog.TENANT_ADMIN)
    member = await world.person("member@acme.example", acme_id)
    await world.person("admin@globex.example", globex_id, catalog.TENANT_ADMIN)
    acme = await world.login("admin@acme.example")
    outsider = await world.login("admin@globex.example")

    department = (await acme.post(f"{ACME}/departments", json={"name": "Acme"})).json()["id"]
    assert (
        await acme.post(f"{ACME}/roles", json={"name": "Acme role", "permission_sets": ["notes.read"]})
    ).status_code == 201
    assignment = (await acme.post(f"{ACME}/role-assignments", json={"role": "Auditor", "user_id": member})).json()["id"]
    group = (await acme.post(f"{ACME}/groups", json={"display_name": "Acme group"})).json()["id"]
    await acme.put(f"{ACME}/approvals/rules", json={"actions": ["access.role.create"]})
    approval = (await acme.post(f"{ACME}/roles", json={"name": "Queued", "permission_sets": ["notes.read"]})).json()[
        "id"
    ]
    note = (await acme.post(f"{ACME}/notes", json={"title": "acme only"})).json()["id"]

    for method, path, body in (
        ("GET", f"{GLOBEX}/roles/Acme role", None),
        ("PATCH", f"{GLOBEX}/roles/Acme role", {"description": "mine now"}),
        ("DELETE", f"{GLOBEX}/roles/Acme role", None),
        ("DELETE", f"{GLOBEX}/role-assignments/{assignment}", None),
        ("POST", f"{GLOBEX}/role-assignments", {"role": "Auditor", "user_id": member}),
        ("PUT", f"{GLOBEX}/role-assignments/members/{member}", {"role": "Auditor"}),
        ("PATCH", f"{GLOBEX}/departments/{department}", {"name": "mine now"}),
        ("DELETE", f"{GLOBEX}/departments/{department}", None),
        ("PUT", f"{GLOBEX}/departments/people/{member}", {}),
        ("POST", f"{GLOBEX}/groups/{group}/members", {"user_id": member}),
        ("GET", f"{GLOBEX}/approvals/{approval}", None),
        ("POST", f"{GLOBEX}/approvals/{approval}/approve", {}),
        ("POST", f"{GLOBEX}/impersonation", {"user_id": member, "reason": "a good reason"}),
        ("GET", f"{GLOBEX}/notes/{note}", None),
        ("DELETE", f"{GLOBEX}/members/{member}", None),
    ):
        response = await outsider.request(method, path, json=body)
        assert response.status_code == 404, (method, path, response.text)
    # a condition or a parent naming acme's department is an unknown department in globex
    condition = {"op": "in_department", "department": department}
    refused = await outsider.post(
        f"{GLOBEX}/roles", json={"name": "x", "permission_sets": ["notes.read"], "condition": condition}
    )
    problem(refused, 422, "validation-failed")
    problem(await outsider.post(f"{GLOBEX}/departments", json={"name": "x", "parent_id": department}), 422)
    # globex's lists hold none of acme's
    assert [r["name"] for r in (await outsider.get(f"{GLOBEX}/roles")).json() if not r["system"]] == []
    assert (await outsider.get(f"{GLOBEX}/role-assignments")).json() == []
    assert (await outsider.get(f"{GLOBEX}/departments")).json() == []
    assert (await outsider.get(f"{GLOBEX}/approvals")).json() == []
    assert (await outsider.get(f"{GLOBEX}/notes")).json() == []
    assert {p["email"] for p in (await outsider.get(f"{GLOBEX}/departments/people")).json()} == {"admin@globex.example"}
    # acme's objects are untouched
    assert (await acme.get(f"{ACME}/approvals/{approval}")).json()["status"] == "pending"
    assert (await acme.get(f"{ACME}/roles/Acme role")).json()["version"] == 1
