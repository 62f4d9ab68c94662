"""The console pages of access control over HTTP: roles with a row condition (made with the builder
and as JSON), people and their roles, groups, departments, the approvals inbox, "test as" with
its banner, the notes list as the access service filters it, and the password check of step-up.
Each form is posted as a browser does: the page first, its CSRF token, then the form."""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any
from urllib.parse import quote

import httpx
from sqlalchemy import select

from atrium.platform.access import actions
from atrium.platform.access.models import Approval, CustomRole, Department, Impersonation, Person, RoleAssignment
from atrium.platform.identity.models import Membership, UserSession
from atrium.platform.identity.scim.models import Group, GroupMember
from tests.platform.access.conftest import PASSWORD, World, count, world

__all__ = ["world"]

ADMIN, ADMIN2, MEMBER, OTHER = "admin@acme.example", "second@acme.example", "member@acme.example", "boss@other.example"


async def _page(client: httpx.AsyncClient, path: str, status: int = 200) -> tuple[str, str]:
    """GET a console page: its text and the CSRF token of its forms."""
    response = await client.get(path, headers={"accept": "text/html"})
    assert response.status_code == status, (path, response.status_code, response.text[:800])
    token = re.search(r'name="csrf_token" value="([^"]+)"', response.text)
    return response.text, token.group(1) if token else ""


async def _follow(client: httpx.AsyncClient, response: httpx.Response) -> tuple[str, str]:
    """The page a form's 303 leads to (without its #fragment)."""
    assert response.status_code == 303, (response.status_code, response.text[:800])
    return await _page(client, response.headers["location"].split("#")[0])


async def _post(client: httpx.AsyncClient, path: str, csrf: str, data: Any = None, **form: str) -> httpx.Response:
    body: dict[str, Any] = {"csrf_token": csrf}
    for key, value in [*(data or []), *form.items()]:
        body[key] = [*body[key], value] if isinstance(body.get(key), list) else [value] if key in body else value
        if key in ("permission_sets", "actions") and not isinstance(body[key], list):
            body[key] = [value]
    return await client.post(path, data=body, headers={"accept": "text/html"})


def _flashes(page: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r'<div class="flash flash-\w+" role="status">(.*?)</div>', page)]


async def _acme(w: World) -> tuple[str, str, str]:
    tenant_id = await w.tenant("acme")
    return tenant_id, await w.person(ADMIN, tenant_id, "Tenant Admin"), await w.person(MEMBER, tenant_id)


async def _departments(w: World, tenant_id: str, *names: tuple[str, str | None]) -> dict[str, str]:
    """Departments made directly: (name, parent name)."""
    made: dict[str, str] = {}
    async with w.rt.db.platform_session() as session, session.begin():
        for name, parent in names:
            department = Department(tenant_id=tenant_id, name=name, parent_id=made[parent] if parent else None)
            session.add(department)
            await session.flush()
            made[name] = department.id
    return made


async def _role(w: World, tenant_id: str, name: str) -> CustomRole | None:
    async with w.rt.db.platform_session() as session:
        return await session.scalar(
            select(CustomRole).where(CustomRole.tenant_id == tenant_id, CustomRole.name == name)
        )


async def test_a_role_with_a_condition_is_created_changed_and_deleted(world: World) -> None:
    tenant_id, _, _ = await _acme(world)
    depts = await _departments(world, tenant_id, ("Sales", None), ("Sales-EU", "Sales"), ("Ops", None))
    admin = await world.login(ADMIN)
    page, csrf = await _page(admin, "/t/acme/roles")
    assert "Tenant Admin" in page and "Auditor" in page and "Platform Admin" not in page
    assert 'name="permission_sets" value="notes.read"' in page and "notes.note.read" in page

    created = await _post(
        admin,
        "/t/acme/roles",
        csrf,
        [("permission_sets", "notes.read")],
        name="Sales viewer",
        description="Reads the notes of Sales",
        cond_department=depts["Sales"],
        cond_department_children="on",
    )
    assert created.status_code == 303 and created.headers["location"] == "/t/acme/roles/Sales%20viewer"
    role = await _role(world, tenant_id, "Sales viewer")
    assert role is not None and role.permission_sets == ["notes.read"]
    assert role.condition == {"op": "in_department", "department": depts["Sales"], "children": True}
    page, csrf = await _page(admin, "/t/acme/roles/Sales%20viewer")
    assert _flashes(page) == ["The role Sales viewer is created."]
    assert "Sales and its sub-departments" in page
    assert f'<option value="{depts["Sales"]}" selected>' in page  # the builder shows the condition again

    # the builder's parts combined with "any"; the policy flags
    saved = await _post(
        admin,
        "/t/acme/roles/Sales%20viewer/save",
        csrf,
        [("permission_sets", "notes.read"), ("permission_sets", "ai.copilot")],
        name="Sales viewer",
        cond_combine="any",
        cond_owner="on",
        cond_mine="on",
        session_minutes="60",
        require_mfa="on",
    )
    assert saved.status_code == 303
    role = await _role(world, tenant_id, "Sales viewer")
    assert role is not None and role.version == 2 and role.require_mfa and role.session_minutes == 60
    assert role.condition == {
        "op": "any",
        "of": [{"op": "owner"}, {"op": "in_department", "department": "mine", "children": True}],
    }
    page, csrf = await _page(admin, "/t/acme/roles")
    assert "(own records or my department and its sub-departments)" in page and "60 min sessions" in page

    # the advanced JSON wins over the builder, and a condition the builder cannot show stays JSON
    advanced = '{"op": "not", "of": {"op": "eq", "attr": "title", "value": "secret"}}'
    saved = await _post(
        admin,
        "/t/acme/roles/Sales%20viewer/save",
        csrf,
        [("permission_sets", "notes.read")],
        name="Sales readers",
        cond_owner="on",
        condition_json=advanced,
    )
    assert saved.status_code == 303 and saved.headers["location"] == "/t/acme/roles/Sales%20readers"
    role = await _role(world, tenant_id, "Sales readers")
    assert role is not None and role.condition == {"op": "not", "of": {"op": "eq", "attr": "title", "value": "secret"}}
    page, csrf = await _page(admin, "/t/acme/roles/Sales%20readers")
    assert "not title = secret" in page and "&#34;op&#34;: &#34;not&#34;" in page

    # held roles cannot be deleted; once free, it goes
    await world.person("held@acme.example", tenant_id, role="Sales readers")
    refused = await _post(admin, "/t/acme/roles/Sales%20readers/delete", csrf)
    assert refused.status_code == 303
    page, csrf = await _follow(admin, refused)
    assert _flashes(page) == [
        "'Sales readers' is still held or offered 1 time(s) (members, assignments, pending invitations); "
        "take it away first"
    ]
    async with world.rt.db.platform_session() as session, session.begin():
        membership = await session.scalar(select(Membership).where(Membership.role == "Sales readers"))
        assert membership is not None
        membership.role = "Member"
    deleted = await _post(admin, "/t/acme/roles/Sales%20readers/delete", csrf)
    assert deleted.status_code == 303 and deleted.headers["location"] == "/t/acme/roles"
    page, _ = await _page(admin, "/t/acme/roles")
    assert _flashes(page) == ["The role Sales readers is deleted."] and 'data-role="Sales readers"' not in page
    assert await _role(world, tenant_id, "Sales readers") is None
    await _page(admin, "/t/acme/roles/Sales%20readers", 404)
    # a system role is shown, not edited
    page, csrf = await _page(admin, "/t/acme/roles/Auditor")
    assert "system role" in page and "Save role" not in page
    refused = await _post(admin, "/t/acme/roles/Auditor/save", csrf, [("permission_sets", "all")], name="Auditor")
    assert refused.status_code == 409 and "&#39;Auditor&#39; is a system role" in refused.text


async def test_a_bad_condition_is_flashed_and_nothing_is_saved(world: World) -> None:
    tenant_id, _, _ = await _acme(world)
    admin = await world.login(ADMIN)
    _, csrf = await _page(admin, "/t/acme/roles")
    cases = [
        ('{"op": "owner"', "condition: not valid JSON"),
        ('{"op": "bogus"}', "condition: "),
        ('{"op": "lt", "attr": "title", "value": 3}', "lt, le, gt and ge compare numbers only"),
        ('{"op": "in_department", "department": "no-such-department"}', "condition names unknown departments"),
        ("[1, 2]", "condition: give a JSON object"),
    ]
    for text, says in cases:
        refused = await _post(
            admin, "/t/acme/roles", csrf, [("permission_sets", "notes.read")], name="Broken", condition_json=text
        )
        assert refused.status_code in (400, 422), refused.text[:300]
        flashes = _flashes(refused.text)
        assert len(flashes) == 1 and says in flashes[0], (text, flashes)
        assert 'value="Broken"' in refused.text  # what was typed is shown again
    no_sets = await _post(admin, "/t/acme/roles", csrf, name="Empty")
    assert no_sets.status_code == 400 and "permission_sets" in _flashes(no_sets.text)[0]
    assert await count(world.rt, CustomRole, CustomRole.tenant_id == tenant_id) == 0

    # a refused change leaves the role as it was
    created = await _post(
        admin, "/t/acme/roles", csrf, [("permission_sets", "notes.read")], name="Own", cond_owner="on"
    )
    page, csrf = await _follow(admin, created)
    assert _flashes(page) == ["The role Own is created."]
    refused = await _post(
        admin,
        "/t/acme/roles/Own/save",
        csrf,
        [("permission_sets", "notes.read")],
        name="Own",
        condition_json='{"op": "eq", "attr": "colour", "value": "red"}',
    )
    assert refused.status_code == 422 and "unknown attribute 'colour'" in _flashes(refused.text)[0]
    role = await _role(world, tenant_id, "Own")
    assert role is not None and role.version == 1 and role.condition == {"op": "owner"}


async def test_primary_roles_assignments_and_groups(world: World) -> None:
    tenant_id, admin_id, member_id = await _acme(world)
    admin = await world.login(ADMIN)
    page, csrf = await _page(admin, "/t/acme/access/people")
    assert MEMBER in page and f"/t/acme/access/people/{member_id}/role" in page

    assert (await _post(admin, f"/t/acme/access/people/{member_id}/role", csrf, role="Auditor")).status_code == 303
    page, csrf = await _page(admin, "/t/acme/access/people")
    assert _flashes(page) == ["The primary role is now Auditor."]
    added = await _post(admin, "/t/acme/access/assignments", csrf, role="Developer", user_id=member_id)
    assert added.status_code == 303
    page, csrf = await _page(admin, "/t/acme/access/people")
    assert _flashes(page) == ["Developer is assigned."]
    async with world.rt.db.platform_session() as session:
        assignment = (await session.scalars(select(RoleAssignment))).one()
        membership = await session.get(Membership, (member_id, tenant_id))
    assert assignment.user_id == member_id and assignment.role == "Developer"
    assert membership is not None and membership.role == "Auditor"
    again = await _post(admin, "/t/acme/access/assignments", csrf, role="Developer", user_id=member_id)
    page, csrf = await _follow(admin, again)
    assert _flashes(page) == ["'Developer' is already assigned there"]
    unknown = await _post(admin, "/t/acme/access/assignments", csrf, role="Wizard", user_id=member_id)
    page, csrf = await _follow(admin, unknown)
    assert _flashes(page) == ["no role 'Wizard' in this tenant"]
    removed = await _post(admin, f"/t/acme/access/assignments/{assignment.id}/delete", csrf)
    page, csrf = await _follow(admin, removed)
    assert _flashes(page) == ["Developer is taken away."]
    assert await count(world.rt, RoleAssignment) == 0
    # the last Tenant Admin keeps the role
    await _post(admin, f"/t/acme/access/people/{admin_id}/role", csrf, role="Member")
    page, csrf = await _page(admin, "/t/acme/access/people")
    assert _flashes(page) == ["the tenant would be left without a Tenant Admin"]

    # groups: create, add a member, give the group a role, take the member out
    assert (await _post(admin, "/t/acme/access/groups", csrf, display_name="Analysts")).status_code == 303
    page, csrf = await _page(admin, "/t/acme/access/people")
    assert _flashes(page) == ["The group Analysts is created."] and 'data-group="Analysts"' in page
    async with world.rt.db.platform_session() as session:
        group = (await session.scalars(select(Group).where(Group.tenant_id == tenant_id))).one()
    await _post(admin, "/t/acme/access/groups", csrf, display_name="Analysts")
    page, csrf = await _page(admin, "/t/acme/access/people")
    assert _flashes(page) == ["a group named 'Analysts' exists"]
    await _post(admin, f"/t/acme/access/groups/{group.id}/members", csrf, user_id=member_id)
    await _post(admin, "/t/acme/access/assignments", csrf, role="BI Analyst", group_id=group.id)
    page, csrf = await _page(admin, "/t/acme/access/people")
    row = re.search(rf'<tr class="member" data-email="{MEMBER}".*?</tr>', page, re.S)
    assert row is not None and "Analysts" in row.group(0)
    assert re.search(r'<td class="held">Auditor, BI Analyst</td>', row.group(0))
    removed = await _post(admin, f"/t/acme/access/groups/{group.id}/members/{member_id}/remove", csrf)
    page, _ = await _follow(admin, removed)
    assert _flashes(page) == ["The member is taken out of the group."]
    assert await count(world.rt, GroupMember) == 0


async def test_departments_and_peoples_places(world: World) -> None:
    tenant_id, admin_id, member_id = await _acme(world)
    admin = await world.login(ADMIN)
    _, csrf = await _page(admin, "/t/acme/organisation")
    for name in ("Sales", "Ops"):
        assert (await _post(admin, "/t/acme/organisation/departments", csrf, name=name)).status_code == 303
    async with world.rt.db.platform_session() as session:
        ids = {d.name: d.id for d in await session.scalars(select(Department))}
    await _post(admin, "/t/acme/organisation/departments", csrf, name="Sales-EU", parent_id=ids["Sales"])
    page, csrf = await _page(admin, "/t/acme/organisation")
    assert _flashes(page) == ["Sales is created.", "Ops is created.", "Sales-EU is created."]
    order = re.findall(r'<tr class="department" data-department="([^"]+)"', page)
    assert order == ["Ops", "Sales", "Sales-EU"]
    assert 'class="indent tree-1"' in page  # Sales-EU sits below Sales
    async with world.rt.db.platform_session() as session:
        ids = {d.name: d.id for d in await session.scalars(select(Department))}

    # a cycle is refused with the service's words; renaming and moving work
    cycle = await _post(
        admin, f"/t/acme/organisation/departments/{ids['Sales']}", csrf, name="Sales", parent_id=ids["Sales-EU"]
    )
    page, csrf = await _follow(admin, cycle)
    assert _flashes(page) == ["that parent would make the department tree a cycle"]
    moved = await _post(
        admin, f"/t/acme/organisation/departments/{ids['Sales-EU']}", csrf, name="Sales Europe", parent_id=ids["Ops"]
    )
    assert moved.status_code == 303
    async with world.rt.db.platform_session() as session:
        europe = await session.get(Department, ids["Sales-EU"])
    assert europe is not None and europe.name == "Sales Europe" and europe.parent_id == ids["Ops"]
    await _post(admin, f"/t/acme/organisation/departments/{ids['Ops']}/delete", csrf)
    page, csrf = await _page(admin, "/t/acme/organisation")
    assert _flashes(page) == ["The department is saved.", "move or delete its sub-departments first"]
    await _post(admin, f"/t/acme/organisation/departments/{ids['Sales']}/delete", csrf)
    page, csrf = await _page(admin, "/t/acme/organisation")
    assert _flashes(page) == ["The department is deleted."] and 'data-department="Sales"' not in page

    # a person's department, manager and attributes
    placed = await _post(
        admin,
        f"/t/acme/organisation/people/{member_id}",
        csrf,
        department_id=ids["Sales-EU"],
        manager_id=admin_id,
        attributes="region = EU\n\nlevel=2\n",
    )
    assert placed.status_code == 303
    async with world.rt.db.platform_session() as session:
        person = await session.get(Person, (tenant_id, member_id))
    assert person is not None and person.department_id == ids["Sales-EU"] and person.manager_id == admin_id
    assert person.attributes == {"region": "EU", "level": "2"}
    page, csrf = await _page(admin, "/t/acme/organisation")
    assert "level=2\nregion=EU" in page
    for attributes, says in (("region", "write one key=value per line"), ("Region=EU", "lowercase identifiers")):
        await _post(admin, f"/t/acme/organisation/people/{member_id}", csrf, attributes=attributes)
        page, csrf = await _page(admin, "/t/acme/organisation")
        assert len(_flashes(page)) == 1 and says in _flashes(page)[0]
    await _post(admin, f"/t/acme/organisation/people/{member_id}", csrf, manager_id=member_id)
    page, _ = await _page(admin, "/t/acme/organisation")
    assert _flashes(page) == ["a member cannot manage themselves"]
    async with world.rt.db.platform_session() as session:
        person = await session.get(Person, (tenant_id, member_id))
    assert person is not None and person.attributes == {"region": "EU", "level": "2"}


async def test_the_approvals_inbox_runs_anothers_request_and_refuses_ones_own(world: World) -> None:
    tenant_id, _, _ = await _acme(world)
    await world.person(ADMIN2, tenant_id, "Tenant Admin")
    admin = await world.login(ADMIN)
    second = await world.login(ADMIN2)
    page, csrf = await _page(admin, "/t/acme/approvals")
    assert "Nothing waits for a decision." in page and 'value="access.role.create"' in page
    await _post(admin, "/t/acme/approvals/rules", csrf, [("actions", actions.ROLE_CREATE), ("actions", actions.ASSIGN)])
    page, csrf = await _page(admin, "/t/acme/approvals")
    assert _flashes(page) == ["The approval rules are saved."]
    assert re.findall(r'name="actions" value="([^"]+)" checked', page) == [actions.ROLE_CREATE, actions.ASSIGN]

    queued = await _post(admin, "/t/acme/roles", csrf, [("permission_sets", "notes.read")], name="Readers")
    assert queued.status_code == 303 and queued.headers["location"] == "/t/acme/roles"
    page, csrf = await _page(admin, "/t/acme/roles")
    assert _flashes(page) == [
        "Sent for approval: Create role 'Readers'. Another administrator decides it in the approvals inbox."
    ]
    assert 'id="pending-approvals"' in page and 'href="/t/acme/approvals"' in page
    assert await _role(world, tenant_id, "Readers") is None
    async with world.rt.db.platform_session() as session:
        approval = (await session.scalars(select(Approval))).one()

    page, csrf = await _page(admin, "/t/acme/approvals")
    assert "Your request: someone else decides it." in page and "Create role &#39;Readers&#39;" in page
    forged = await _post(admin, f"/t/acme/approvals/{approval.id}/approve", csrf, note="mine")
    page, csrf = await _follow(admin, forged)
    assert _flashes(page) == ["you asked for this; someone else must decide it"]
    assert await _role(world, tenant_id, "Readers") is None

    page, csrf2 = await _page(second, "/t/acme/approvals")
    assert f"/t/acme/approvals/{approval.id}/approve" in page
    approved = await _post(second, f"/t/acme/approvals/{approval.id}/approve", csrf2, note="fine by me")
    page, csrf2 = await _follow(second, approved)
    assert _flashes(page) == ["Create role 'Readers': approved."]
    assert "fine by me" in page and "Nothing waits for a decision." in page
    assert await _role(world, tenant_id, "Readers") is not None
    again = await _post(second, f"/t/acme/approvals/{approval.id}/reject", csrf2)
    page, csrf2 = await _follow(second, again)
    assert _flashes(page) == ["the request was already approved"]

    # an assignment asked for and rejected
    member_id = await world.person("new@acme.example", tenant_id)
    await _post(admin, "/t/acme/access/assignments", csrf, role="Auditor", user_id=member_id)
    async with world.rt.db.platform_session() as session:
        pending = (await session.scalars(select(Approval).where(Approval.status == "pending"))).one()
    await _post(second, f"/t/acme/approvals/{pending.id}/reject", csrf2, note="not needed")
    page, _ = await _page(second, "/t/acme/approvals")
    assert _flashes(page) == ["Give 'Auditor' to new@acme.example: rejected."]
    assert await count(world.rt, RoleAssignment) == 0
    assert (await _post(second, "/t/acme/approvals/no-such-id/approve", csrf2)).status_code == 404


async def test_test_as_a_member_shows_the_banner_and_stops(world: World) -> None:
    tenant_id, _, member_id = await _acme(world)
    admin2_id = await world.person(ADMIN2, tenant_id, "Tenant Admin")
    admin = await world.login(ADMIN)
    page, csrf = await _page(admin, "/t/acme/access/people")
    assert 'action="/t/acme/impersonation"' in page

    short = await _post(admin, "/t/acme/impersonation", csrf, user_id=member_id, reason="hm")
    page, csrf = await _follow(admin, short)
    assert _flashes(page) == ["say why you view as this member (at least 5 characters)"]
    assert "impersonation-banner" not in page

    started = await _post(admin, "/t/acme/impersonation", csrf, user_id=member_id, reason="ticket 4711: notes missing")
    assert started.status_code == 303 and started.headers["location"] == "/t/acme/notes"
    page, csrf = await _page(admin, "/t/acme/notes")
    assert "impersonation-banner" in page and f"as <strong>{MEMBER}</strong>" in page
    assert f"(you are {ADMIN})" in page and 'action="/t/acme/impersonation/stop"' in page
    # the member's view: no administration pages at all
    for path in ("/t/acme/roles", "/t/acme/access/people", "/t/acme/organisation", "/t/acme/approvals"):
        await _page(admin, path, 404)
    async with world.rt.db.platform_session() as session:
        record = (await session.scalars(select(Impersonation))).one()
    assert record.subject_id == member_id and record.reason == "ticket 4711: notes missing" and record.ended_at is None

    stopped = await _post(admin, "/t/acme/impersonation/stop", csrf)
    assert stopped.status_code == 303 and stopped.headers["location"] == "/t/acme/access/people#members"
    page, csrf = await _page(admin, "/t/acme/access/people")
    assert len(_flashes(page)) == 1 and _flashes(page)[0].endswith(f" as {MEMBER}.")
    assert "impersonation-banner" not in page
    async with world.rt.db.platform_session() as session:
        ended = await session.get(Impersonation, record.id)
    assert ended is not None and ended.ended_at is not None

    # viewing as another administrator: reading pages open, privileged ones refused
    await _post(admin, "/t/acme/impersonation", csrf, user_id=admin2_id, reason="check the second admin")
    page, csrf = await _page(admin, "/t/acme/roles")
    assert f"as <strong>{ADMIN2}</strong>" in page and 'id="create-role"' not in page
    blocked = await admin.get("/t/acme/members", headers={"accept": "text/html"})
    assert blocked.status_code == 403 and "stop viewing as another member first" in blocked.text
    refused = await _post(admin, "/t/acme/roles", csrf, [("permission_sets", "notes.read")], name="Sneaky")
    assert refused.status_code == 403 and await _role(world, tenant_id, "Sneaky") is None
    again = await _post(admin, "/t/acme/impersonation", csrf, user_id=member_id, reason="switch to the member")
    assert again.status_code == 403
    await _post(admin, "/t/acme/impersonation/stop", csrf)
    page, _ = await _page(admin, "/t/acme/members")
    assert "impersonation-banner" not in page
    # stopping when not viewing as anyone is harmless
    nothing = await _post(admin, "/t/acme/impersonation/stop", csrf)
    page, _ = await _follow(admin, nothing)
    assert _flashes(page) == ["You are not viewing as another member."]


async def test_members_and_strangers_find_no_administration_pages(world: World) -> None:
    _, _, member_id = await _acme(world)
    other_id = await world.tenant("other")
    await world.person(OTHER, other_id, "Tenant Admin")
    member = await world.login(MEMBER)
    page, csrf = await _page(member, "/t/acme/notes")
    assert "Notes you may read" in page and 'href="/t/acme/roles"' not in page
    pages = ["/t/acme/roles", "/t/acme/roles/Member", "/t/acme/permission-sets", "/t/acme/access/people"]
    pages += ["/t/acme/organisation", "/t/acme/approvals"]
    for path in pages:
        await _page(member, path, 404)
    forms = ["/t/acme/roles", "/t/acme/organisation/departments", "/t/acme/access/groups", "/t/acme/impersonation"]
    forms += [f"/t/acme/access/people/{member_id}/role", "/t/acme/approvals/rules"]
    for path in forms:
        assert (await _post(member, path, csrf, name="x", role="Tenant Admin")).status_code == 404, path
    assert await count(world.rt, Department) == 0

    stranger = await world.login(OTHER)
    _, other_csrf = await _page(stranger, "/t/other/roles")
    for path in [*pages, "/t/acme/notes", "/t/acme/step-up"]:
        await _page(stranger, path, 404)
    assert (await _post(stranger, "/t/acme/organisation/departments", other_csrf, name="x")).status_code == 404
    # without the CSRF token nothing is done
    no_token = await member.post("/t/acme/notes", data={"title": "x"}, headers={"accept": "text/html"})
    assert no_token.status_code == 403


async def test_the_notes_list_is_filtered_by_the_role_condition(world: World) -> None:
    tenant_id, _, member_id = await _acme(world)
    depts = await _departments(world, tenant_id, ("Sales", None), ("Sales-EU", "Sales"), ("Ops", None))
    admin = await world.login(ADMIN)
    _, csrf = await _page(admin, "/t/acme/notes")
    for title, department in (("Pipeline", "Sales"), ("Munich deal", "Sales-EU"), ("Rota", "Ops"), ("Loose", "")):
        posted = await _post(
            admin, "/t/acme/notes", csrf, title=title, body=f"about {title}", department_id=depts.get(department, "")
        )
        assert posted.status_code == 303, posted.text[:300]
    page, csrf = await _page(admin, "/t/acme/notes")
    assert set(re.findall(r'<tr class="note" data-title="([^"]+)"', page)) == {
        "Pipeline",
        "Munich deal",
        "Rota",
        "Loose",
    }
    assert '<td class="note-department">Sales-EU</td>' in page
    refused = await _post(admin, "/t/acme/notes", csrf, title="", department_id="")
    assert refused.status_code == 400 and "title" in _flashes(refused.text)[0]

    await _post(
        admin,
        "/t/acme/roles",
        csrf,
        [("permission_sets", "notes.read")],
        name="Sales viewer",
        cond_department=depts["Sales"],
        cond_department_children="on",
    )
    _, csrf = await _page(admin, "/t/acme/access/people")
    await _post(admin, f"/t/acme/access/people/{member_id}/role", csrf, role="Sales viewer")
    member = await world.login(MEMBER)
    page, _ = await _page(member, "/t/acme/notes")
    assert set(re.findall(r'<tr class="note" data-title="([^"]+)"', page)) == {"Pipeline", "Munich deal"}
    assert 'id="new-note"' not in page  # reading only
    _, member_csrf = await _page(member, "/t/acme/step-up")
    assert (await _post(member, "/t/acme/notes", member_csrf, title="Nope")).status_code == 404

    # the new-note form offers the writer's own department first
    await _post(admin, f"/t/acme/access/people/{member_id}/role", csrf, role="Member")
    async with world.rt.db.platform_session() as session, session.begin():
        session.add(Person(tenant_id=tenant_id, user_id=member_id, department_id=depts["Ops"]))
    page, member_csrf = await _page(member, "/t/acme/notes")
    assert f'<option value="{depts["Ops"]}" selected>' in page
    await _post(member, "/t/acme/notes", member_csrf, title="Shift swap", department_id=depts["Ops"])
    page, _ = await _page(admin, "/t/acme/notes")
    assert "Shift swap" in page


async def test_a_privileged_form_asks_for_the_password_again(world: World) -> None:
    tenant_id, admin_id, _ = await _acme(world)
    admin = await world.login(ADMIN)
    _, csrf = await _page(admin, "/t/acme/roles")
    await world.age_sessions(admin_id, signed_in=dt.timedelta(hours=1), reauthenticated=dt.timedelta(minutes=30))

    page, csrf = await _page(admin, "/t/acme/roles")  # reading needs no step-up
    sent = await admin.post(
        "/t/acme/roles",
        data={"csrf_token": csrf, "name": "Later", "permission_sets": ["notes.read"]},
        headers={"accept": "text/html", "referer": "http://atrium.test/t/acme/roles#new-role"},
    )
    assert sent.status_code == 303 and sent.headers["location"] == "/t/acme/step-up?next=/t/acme/roles"
    assert await _role(world, tenant_id, "Later") is None
    page, csrf = await _follow(admin, sent)
    assert _flashes(page) == ["Confirm your password, then send the form again."]
    assert 'name="next" value="/t/acme/roles"' in page
    wrong = await _post(admin, "/t/acme/step-up", csrf, password="not it", next="/t/acme/roles")
    assert wrong.status_code == 401 and _flashes(wrong.text) == ["That password is not right."]
    outside = await _post(admin, "/t/acme/step-up", csrf, password=PASSWORD, next="//evil.example/x")
    assert outside.status_code == 303 and outside.headers["location"] == "/t/acme"
    async with world.rt.db.platform_session() as session:
        sessions = list(await session.scalars(select(UserSession).where(UserSession.user_id == admin_id)))
    confirmed = sessions[0].reauthenticated_at
    assert confirmed is not None and dt.datetime.now(dt.UTC) - confirmed < dt.timedelta(minutes=1)
    done = await _post(admin, "/t/acme/roles", csrf, [("permission_sets", "notes.read")], name="Later")
    assert done.status_code == 303 and await _role(world, tenant_id, "Later") is not None


async def test_the_permission_set_browser(world: World) -> None:
    await _acme(world)
    admin = await world.login(ADMIN)
    page, _ = await _page(admin, "/t/acme/permission-sets")
    section = re.search(r'<section class="card permission-set" id="set-access-admin">.*?</section>', page, re.S)
    assert section is not None
    assert "access.role.manage" in section.group(0) and "privileged" in section.group(0)
    assert "In the system roles" not in section.group(0)
    notes = re.search(r'id="set-notes-write">.*?</section>', page, re.S)
    assert notes is not None and "notes.note.delete" in notes.group(0) and "Sales Rep" in notes.group(0)
    role_page, _ = await _page(admin, f"/t/acme/roles/{quote('Sales Rep')}")
    assert "crm.lead.manage" in role_page
