"""Viewing a tenant as another member: the administrator's browser session acts as the subject in
that tenant only, every request is audited with both people, privileged permissions stay
refused, and the administrator is themselves again after stopping (or anywhere else)."""

from __future__ import annotations

from sqlalchemy import select

from atrium.core.audit.models import AuditEvent
from atrium.platform.access import catalog
from atrium.platform.access.models import Impersonation
from atrium.platform.identity.models import Membership
from tests.platform.access.conftest import World, count, problem

A = "/api/v1/tenants/acme"
ADMIN, SUBJECT = "admin@acme.example", "hr@acme.example"


async def _acme(world: World) -> tuple[str, str, str]:
    """acme with a Tenant Admin and an HR Admin (who holds privileged identity permissions)."""
    tenant_id = await world.tenant("acme")
    admin_id = await world.person(ADMIN, tenant_id, catalog.TENANT_ADMIN)
    subject_id = await world.person(SUBJECT, tenant_id, "HR Admin")
    return tenant_id, admin_id, subject_id


async def test_an_admin_views_the_tenant_as_a_member_and_back(world: World) -> None:
    tenant_id, admin_id, subject_id = await _acme(world)
    globex_id = await world.tenant("globex")
    await world.join(admin_id, globex_id, catalog.TENANT_ADMIN)
    admin = await world.login(ADMIN)
    assert (await admin.get(f"{A}/access")).json()["roles"] == [catalog.TENANT_ADMIN]

    started = await admin.post(f"{A}/impersonation", json={"user_id": subject_id, "reason": "check the HR view"})
    assert started.status_code == 201, started.text
    record = started.json()
    assert (record["actor_id"], record["subject_id"], record["ended_at"]) == (admin_id, subject_id, None)

    mine = (await admin.get(f"{A}/access")).json()
    assert (mine["user_id"], mine["roles"], mine["impersonated_by"]) == (subject_id, ["HR Admin"], ADMIN)
    assert "identity.member.manage" in mine["permissions"] and "access.role.manage" not in mine["permissions"]
    assert (await admin.get(f"{A}/members")).status_code == 200  # a read the subject may make
    # the subject's privileged permissions stay refused, and the admin's own are not there at all
    blocked = problem(await admin.post(f"{A}/invitations", json={"email": "x@acme.example"}), 403)
    assert blocked["code"] == "impersonation-blocked"
    problem(await admin.get(f"{A}/sessions"), 403, "impersonation-blocked")
    problem(await admin.put(f"{A}/approvals/rules", json={"actions": []}), 403, "permission-denied")
    problem(await admin.post(f"{A}/impersonation", json={"user_id": admin_id, "reason": "nested view"}), 403)
    # a note written meanwhile is the subject's, written in the subject's name
    note = await admin.post(f"{A}/notes", json={"title": "as HR"})
    assert note.status_code == 201 and note.json()["owner_id"] == subject_id

    # outside the tenant the administrator stays themselves
    me = (await admin.get("/api/v1/me")).json()
    assert me["email"] == ADMIN
    elsewhere = (await admin.get("/api/v1/tenants/globex/access")).json()
    assert (elsewhere["user_id"], elsewhere["impersonated_by"]) == (admin_id, None)

    # every request inside the tenant was audited with both people
    async with world.rt.db.platform_session() as session:
        audited = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action == "access.impersonation.request").order_by(AuditEvent.id)
            )
        ).all()
    assert len(audited) == 7  # access, members, invitations, sessions, rules, impersonation, notes
    assert {(e.actor, e.tenant_id, e.object_id) for e in audited} == {(ADMIN, tenant_id, record["id"])}
    assert {e.data["subject"] for e in audited} == {SUBJECT}
    assert [e.data["path"] for e in audited][:2] == [f"{A}/access", f"{A}/members"]
    async with world.rt.db.platform_session() as session:
        created = (await session.scalars(select(AuditEvent).where(AuditEvent.action == "notes.note.created"))).one()
        assert created.actor == f"{SUBJECT} (impersonated by {ADMIN})"
        started_event = (
            await session.scalars(select(AuditEvent).where(AuditEvent.action == "access.impersonation.started"))
        ).one()
        assert started_event.data["actor"] == ADMIN and started_event.data["subject"] == SUBJECT

    assert (await admin.delete(f"{A}/impersonation")).status_code == 204
    back = (await admin.get(f"{A}/access")).json()
    assert (back["user_id"], back["roles"], back["impersonated_by"]) == (admin_id, [catalog.TENANT_ADMIN], None)
    assert (await admin.get(f"{A}/sessions")).status_code == 200
    problem(await admin.delete(f"{A}/impersonation"), 400)
    async with world.rt.db.platform_session() as session:
        ended = await session.get(Impersonation, record["id"])
        assert ended is not None and ended.ended_at is not None
    assert await count(world.rt, AuditEvent, AuditEvent.action == "access.impersonation.stopped") == 1
    # the request that stopped the view was the last one audited as impersonated
    assert await count(world.rt, AuditEvent, AuditEvent.action == "access.impersonation.request") == 8


async def test_impersonation_is_refused_where_it_must_be(world: World) -> None:
    tenant_id, admin_id, subject_id = await _acme(world)
    globex_id = await world.tenant("globex")
    operator_id = await world.person("operator@atrium.example", tenant_id, catalog.MEMBER, admin=True)
    stranger_id = await world.person("stranger@globex.example", globex_id)
    await world.person("member@acme.example", tenant_id)
    admin = await world.login(ADMIN)
    reason = "a good reason"

    problem(await admin.post(f"{A}/impersonation", json={"user_id": operator_id, "reason": reason}), 403, "forbidden")
    problem(await admin.post(f"{A}/impersonation", json={"user_id": admin_id, "reason": reason}), 400)
    assert (await admin.post(f"{A}/impersonation", json={"user_id": subject_id})).status_code == 422
    problem(await admin.post(f"{A}/impersonation", json={"user_id": subject_id, "reason": "  "}), 400)
    problem(await admin.post(f"{A}/impersonation", json={"user_id": stranger_id, "reason": reason}), 404)
    # another tenant is not found, whoever is named
    problem(
        await admin.post("/api/v1/tenants/globex/impersonation", json={"user_id": stranger_id, "reason": reason}), 404
    )
    # a member without access.impersonation.start
    member = await world.login("member@acme.example")
    problem(
        await member.post(f"{A}/impersonation", json={"user_id": subject_id, "reason": reason}),
        403,
        "permission-denied",
    )
    # an API key of a Tenant Admin: impersonation belongs to the console's session
    keyed = await world.api_key(admin_id, tenant_id)
    refused = problem(await keyed.post(f"{A}/impersonation", json={"user_id": subject_id, "reason": reason}), 403)
    assert refused["code"] == "forbidden"
    # a suspended member cannot be viewed as
    async with world.rt.db.platform_session() as session, session.begin():
        membership = await session.get(Membership, (subject_id, tenant_id))
        assert membership is not None
        membership.active = False
    problem(await admin.post(f"{A}/impersonation", json={"user_id": subject_id, "reason": reason}), 400)
    assert await count(world.rt, Impersonation) == 0
    assert (await admin.get(f"{A}/access")).json()["impersonated_by"] is None


async def test_signing_out_or_a_new_session_ends_the_view(world: World) -> None:
    tenant_id, admin_id, subject_id = await _acme(world)
    admin = await world.login(ADMIN)
    started = await admin.post(f"{A}/impersonation", json={"user_id": subject_id, "reason": "check the HR view"})
    assert started.status_code == 201
    # the same person in another browser session is themselves
    other = await world.login(ADMIN)
    assert (await other.get(f"{A}/access")).json()["user_id"] == admin_id
    # starting again replaces the first view (one at a time per session)
    member_id = await world.person("member@acme.example", tenant_id)
    problem(await admin.post(f"{A}/impersonation", json={"user_id": member_id, "reason": "another view"}), 403)
    assert (await admin.delete(f"{A}/impersonation")).status_code == 204
    again = await admin.post(f"{A}/impersonation", json={"user_id": member_id, "reason": "another view"})
    assert again.status_code == 201
    assert (await admin.get(f"{A}/access")).json()["user_id"] == member_id
    async with world.rt.db.platform_session() as session:
        views = (await session.scalars(select(Impersonation).order_by(Impersonation.started_at))).all()
    assert [(v.subject_id, v.ended_at is None) for v in views] == [(subject_id, False), (member_id, True)]


async def test_a_member_suspended_meanwhile_grants_nothing(world: World) -> None:
    """Roles held through an assignment or a group do not outlive the membership's suspension."""
    tenant_id, _admin_id, subject_id = await _acme(world)
    admin = await world.login(ADMIN)
    assigned = await admin.post(f"{A}/role-assignments", json={"role": "Auditor", "user_id": subject_id})
    assert assigned.status_code == 201, assigned.text
    started = await admin.post(f"{A}/impersonation", json={"user_id": subject_id, "reason": "check the HR view"})
    assert started.status_code == 201
    assert (await admin.get(f"{A}/access")).json()["roles"] == ["Auditor", "HR Admin"]
    async with world.rt.db.platform_session() as session, session.begin():
        membership = await session.get(Membership, (subject_id, tenant_id))
        assert membership is not None
        membership.active = False
    mine = (await admin.get(f"{A}/access")).json()
    assert (mine["roles"], mine["permissions"]) == ([], [])
    problem(await admin.get(f"{A}/notes"), 403, "permission-denied")
