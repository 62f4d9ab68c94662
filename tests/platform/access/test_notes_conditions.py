"""Row conditions on a real module: notes. A custom role limited to a department and its
sub-departments lists exactly those notes and answers 404 for any other, for the member and for
an administrator viewing the tenant as them; a role that may read everything but change only
one department's notes is refused changes elsewhere with 403."""

from __future__ import annotations

import httpx

from atrium.platform.access import catalog
from tests.platform.access.conftest import World, problem

A = "/api/v1/tenants/acme"


async def _ids(client: httpx.AsyncClient) -> set[str]:
    response = await client.get(f"{A}/notes")
    assert response.status_code == 200, response.text
    return {n["id"] for n in response.json()}


async def _organisation(admin: httpx.AsyncClient) -> tuple[dict[str, str], dict[str, str]]:
    """Sales ⊃ Sales EU ⊃ Sales EU North, and Operations beside Sales; one note in each, one in none."""
    departments: dict[str, str] = {}
    for name, parent in (("sales", None), ("eu", "sales"), ("north", "eu"), ("ops", None)):
        body = {"name": name, "parent_id": departments.get(parent or "")}
        created = await admin.post(f"{A}/departments", json=body)
        assert created.status_code == 201, created.text
        departments[name] = created.json()["id"]
    notes: dict[str, str] = {}
    for name in (*departments, "nowhere"):
        created = await admin.post(f"{A}/notes", json={"title": name, "department_id": departments.get(name)})
        assert created.status_code == 201, created.text
        assert created.json()["department_id"] == departments.get(name)
        notes[name] = created.json()["id"]
    return departments, notes


async def _role(admin: httpx.AsyncClient, name: str, sets: list[str], condition: dict[str, object] | None) -> None:
    created = await admin.post(f"{A}/roles", json={"name": name, "permission_sets": sets, "condition": condition})
    assert created.status_code == 201, created.text


async def test_a_department_role_sees_its_subtree_in_lists_and_single_reads(world: World) -> None:
    tenant_id = await world.tenant("acme")
    await world.person("admin@acme.example", tenant_id, catalog.TENANT_ADMIN)
    reader_id = await world.person("reader@acme.example", tenant_id)
    admin = await world.login("admin@acme.example")
    departments, notes = await _organisation(admin)
    subtree = {notes["sales"], notes["eu"], notes["north"]}
    await _role(admin, "Sales readers", ["notes.read"], {"op": "in_department", "department": departments["sales"]})
    made = await admin.put(f"{A}/role-assignments/members/{reader_id}", json={"role": "Sales readers"})
    assert made.status_code == 200 and made.json()["roles"] == ["Sales readers"], made.text

    reader = await world.login("reader@acme.example")
    assert await _ids(reader) == subtree
    assert await _ids(admin) == set(notes.values())
    for name, note_id in notes.items():
        response = await reader.get(f"{A}/notes/{note_id}")
        if note_id in subtree:
            assert response.status_code == 200, (name, response.text)
        else:
            problem(response, 404, "not-found")
    # reading is all the role gives: writing is refused at the door
    problem(await reader.post(f"{A}/notes", json={"title": "x"}), 403, "permission-denied")
    problem(await reader.delete(f"{A}/notes/{notes['eu']}"), 403, "permission-denied")
    mine = (await reader.get(f"{A}/access")).json()
    assert mine["conditional"] == ["notes.note.read"] and mine["permissions"] == ["notes.note.read"]

    # the same through the administrator's eyes while viewing the tenant as the reader
    started = await admin.post(f"{A}/impersonation", json={"user_id": reader_id, "reason": "what does sales see"})
    assert started.status_code == 201, started.text
    assert await _ids(admin) == subtree
    problem(await admin.get(f"{A}/notes/{notes['ops']}"), 404, "not-found")
    problem(await admin.get(f"{A}/notes/{notes['nowhere']}"), 404, "not-found")
    assert (await admin.get(f"{A}/notes/{notes['north']}")).status_code == 200
    assert (await admin.delete(f"{A}/impersonation")).status_code == 204
    assert await _ids(admin) == set(notes.values())

    # moving a department under Sales widens the subtree from the next request on
    moved = await admin.patch(f"{A}/departments/{departments['ops']}", json={"parent_id": departments["north"]})
    assert moved.status_code == 200, moved.text
    assert await _ids(reader) == subtree | {notes["ops"]}
    # and the role's condition narrowed to Sales alone (no children) applies at once too
    narrowed = await admin.patch(
        f"{A}/roles/Sales readers",
        json={"condition": {"op": "in_department", "department": departments["sales"], "children": False}},
    )
    assert narrowed.status_code == 200 and narrowed.json()["version"] == 2, narrowed.text
    assert await _ids(reader) == {notes["sales"]}


async def test_my_department_follows_the_person(world: World) -> None:
    tenant_id = await world.tenant("acme")
    await world.person("admin@acme.example", tenant_id, catalog.TENANT_ADMIN)
    clerk_id = await world.person("clerk@acme.example", tenant_id)
    admin = await world.login("admin@acme.example")
    departments, notes = await _organisation(admin)
    await _role(admin, "My department", ["notes.write"], {"op": "in_department", "department": "mine"})
    assert (
        await admin.put(f"{A}/role-assignments/members/{clerk_id}", json={"role": "My department"})
    ).status_code == 200
    clerk = await world.login("clerk@acme.example")
    assert await _ids(clerk) == set()  # not placed anywhere yet: "mine" is nothing

    placed = await admin.put(f"{A}/departments/people/{clerk_id}", json={"department_id": departments["eu"]})
    assert placed.status_code == 200, placed.text
    assert await _ids(clerk) == {notes["eu"], notes["north"]}
    # a new note lands in the writer's department by default, and is theirs
    created = await clerk.post(f"{A}/notes", json={"title": "by the clerk"})
    assert created.status_code == 201, created.text
    assert created.json()["department_id"] == departments["eu"] and created.json()["owner_id"] == clerk_id
    # but not in a department outside their reach
    problem(
        await clerk.post(f"{A}/notes", json={"title": "elsewhere", "department_id": departments["ops"]}),
        403,
        "permission-denied",
    )

    await admin.put(f"{A}/departments/people/{clerk_id}", json={"department_id": departments["ops"]})
    assert await _ids(clerk) == {notes["ops"]}


async def test_reading_everything_but_changing_one_department(world: World) -> None:
    tenant_id = await world.tenant("acme")
    await world.person("admin@acme.example", tenant_id, catalog.TENANT_ADMIN)
    editor_id = await world.person("editor@acme.example", tenant_id)
    admin = await world.login("admin@acme.example")
    departments, notes = await _organisation(admin)
    await _role(admin, "Readers", ["notes.read"], None)
    await _role(
        admin,
        "EU editors",
        ["notes.write"],
        {"op": "in_department", "department": departments["eu"], "children": False},
    )
    assert (await admin.put(f"{A}/role-assignments/members/{editor_id}", json={"role": "Readers"})).status_code == 200
    assigned = await admin.post(f"{A}/role-assignments", json={"role": "EU editors", "user_id": editor_id})
    assert assigned.status_code == 201, assigned.text

    editor = await world.login("editor@acme.example")
    assert await _ids(editor) == set(notes.values())
    assert (await editor.patch(f"{A}/notes/{notes['eu']}", json={"title": "edited"})).json()["title"] == "edited"
    for name in ("sales", "north", "ops", "nowhere"):
        problem(await editor.patch(f"{A}/notes/{notes[name]}", json={"title": "no"}), 403, "permission-denied")
        problem(await editor.delete(f"{A}/notes/{notes[name]}"), 403, "permission-denied")
    # nor may a note be moved out of reach
    moved = await editor.patch(f"{A}/notes/{notes['eu']}", json={"department_id": departments["ops"]})
    problem(moved, 403, "permission-denied")
    kept = (await admin.get(f"{A}/notes/{notes['eu']}")).json()
    assert kept["department_id"] == departments["eu"] and kept["title"] == "edited"
    assert (await editor.delete(f"{A}/notes/{notes['eu']}")).status_code == 204
    assert await _ids(admin) == set(notes.values()) - {notes["eu"]}

    # taking the assignment away applies from the next request
    listed = (await admin.get(f"{A}/role-assignments")).json()
    [assignment] = [a for a in listed if a["role"] == "EU editors"]
    assert (await admin.delete(f"{A}/role-assignments/{assignment['id']}")).status_code == 204
    problem(await editor.post(f"{A}/notes", json={"title": "x"}), 403, "permission-denied")
