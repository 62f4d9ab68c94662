"""The entitlements API and the request-path check: members read, Platform Admins change, a
disabled module answers 403 naming the entitlement, and every change is audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from atrium.core.audit.models import AuditEvent
from atrium.platform.entitlements import cache as cache_module
from atrium.platform.entitlements import service
from atrium.platform.entitlements.cache import EntitlementCache
from atrium.platform.entitlements.catalogue import CATALOGUE
from atrium.platform.entitlements.exceptions import EntitlementMissing
from atrium.platform.entitlements.models import TenantEntitlement
from atrium.platform.entitlements.source import Entitlements, merge
from atrium.runtime import Runtime
from tests.platform.entitlements.conftest import World

URL = "/api/v1/tenants/{}/entitlements"


async def _audit(rt: Runtime, tenant_id: str) -> list[AuditEvent]:
    async with rt.db.platform_session() as session:
        stmt = select(AuditEvent).where(AuditEvent.action.like("tenant.entitlement.%")).order_by(AuditEvent.id)
        return [e for e in (await session.execute(stmt)).scalars() if e.tenant_id == tenant_id]


async def _overrides(rt: Runtime) -> list[TenantEntitlement]:
    async with rt.db.platform_session() as session:
        return list((await session.execute(select(TenantEntitlement))).scalars())


async def test_a_member_reads_the_default_plan_of_their_tenant(world: World) -> None:
    response = await world.acme_member.get(URL.format("acme"))
    assert response.status_code == 200, response.text
    rows = {r["key"]: r for r in response.json()}
    assert list(rows) == list(CATALOGUE)
    assert rows["module.notes"] == {
        "key": "module.notes",
        "group": "module",
        "kind": "bool",
        "title": "Notes",
        "description": rows["module.notes"]["description"],
        "value": True,
        "default": True,
        "source": "default",
        "updated_at": None,
        "updated_by": None,
    }
    assert rows["seats"]["value"] is None and rows["seats"]["kind"] == "int"


async def test_another_tenant_is_not_found(world: World) -> None:
    response = await world.acme_member.get(URL.format("globex"))
    assert response.status_code == 404 and response.json()["code"] == "tenant-not-found"
    assert (await world.globex_admin.get(URL.format("acme"))).status_code == 404
    missing = await world.operator.put(URL.format("nowhere") + "/module.notes", json={"value": False})
    assert missing.status_code == 404


async def test_a_disabled_module_answers_403_naming_the_entitlement_and_enabling_works_at_once(world: World) -> None:
    notes = "/api/v1/tenants/acme/notes"
    assert (await world.acme_member.post(notes, json={"title": "before"})).status_code == 201
    assert (await world.acme_member.get(notes)).status_code == 200  # the snapshot is now cached

    off = await world.operator.put(URL.format("acme") + "/module.notes", json={"value": False})
    assert off.status_code == 200, off.text
    assert off.json()["value"] is False and off.json()["source"] == "override"
    assert off.json()["updated_by"] == "operator@atrium.example"

    for method, path in (("GET", notes), ("POST", notes), ("GET", f"{notes}/anything")):
        refused = await world.acme_member.request(method, path, json={"title": "x"} if method == "POST" else None)
        assert refused.status_code == 403, (method, path, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
        body = refused.json()
        assert body["code"] == "entitlement-missing" and body["entitlement"] == "module.notes"
        assert "module.notes" in body["detail"] and body["tenant"] == "acme"
    assert (await world.globex_admin.get("/api/v1/tenants/globex/notes")).status_code == 200  # other tenants unaffected
    assert (await world.operator.get(notes)).status_code == 403  # platform admins too: it is the tenant's plan

    on = await world.operator.put(URL.format("acme") + "/module.notes", json={"value": True})
    assert on.status_code == 200 and on.json()["value"] is True
    listed = await world.acme_member.get(notes)
    assert listed.status_code == 200 and [n["title"] for n in listed.json()] == ["before"]


async def test_a_stranger_learns_nothing_from_the_check(world: World) -> None:
    await world.operator.put(URL.format("acme") + "/module.notes", json={"value": False})
    async with world.client() as anonymous:
        assert (await anonymous.get("/api/v1/tenants/acme/notes")).status_code == 401
    assert (await world.globex_admin.get("/api/v1/tenants/acme/notes")).status_code == 404


async def test_writes_are_for_platform_admins_only(world: World) -> None:
    for client in (world.acme_admin, world.acme_member):
        put = await client.put(URL.format("acme") + "/module.finance", json={"value": False})
        assert put.status_code == 403, put.text
        assert (await client.delete(URL.format("acme") + "/module.finance")).status_code == 403
    assert await _overrides(world.rt) == []
    assert await _audit(world.rt, world.acme_id) == []


async def test_bad_input_answers_422_naming_the_field_and_writes_nothing(world: World) -> None:
    base = URL.format("acme")
    cases = [
        ("/module.teleport", {"value": True}, "key"),
        ("/module.notes", {"value": 1}, "value"),
        ("/module.notes", {"value": None}, "value"),
        ("/module.notes", {"value": "false"}, "value"),
        ("/seats", {"value": True}, "value"),
        ("/seats", {"value": -1}, "value"),
        ("/seats", {"value": 2.5}, "value"),
        ("/quota.storage_mb", {"value": "100"}, "value"),
        ("/seats", {}, "value"),
        ("/seats", {"value": 3, "note": "x"}, "note"),
    ]
    for path, body, field in cases:
        response = await world.operator.put(base + path, json=body)
        assert response.status_code == 422, (path, body, response.text)
        problem = response.json()
        fields = [problem.get("field")] + [e["field"] for e in problem.get("errors", [])]
        assert field in fields, (path, body, problem)
    assert (await world.operator.delete(base + "/module.teleport")).json()["field"] == "key"
    assert await _overrides(world.rt) == []
    assert await _audit(world.rt, world.acme_id) == []


async def test_an_override_and_its_reset_are_audited_for_the_tenant(world: World) -> None:
    base = URL.format("acme")
    assert (await world.operator.put(base + "/seats", json={"value": 25})).json()["value"] == 25
    same = await world.operator.put(base + "/seats", json={"value": 25})  # no change: nothing recorded
    assert same.status_code == 200 and same.json()["source"] == "override"
    assert (await world.operator.put(base + "/seats", json={"value": None})).json()["value"] is None
    rows = {r["key"]: r for r in (await world.acme_member.get(base)).json()}
    assert rows["seats"]["source"] == "override" and rows["seats"]["value"] is None
    assert rows["seats"]["updated_by"] == "operator@atrium.example" and rows["seats"]["updated_at"]

    reset = await world.operator.delete(base + "/seats")
    assert reset.status_code == 200 and reset.json()["source"] == "default" and reset.json()["value"] is None
    again = await world.operator.delete(base + "/seats")  # nothing to reset: nothing recorded
    assert again.status_code == 200 and again.json()["source"] == "default"

    events = await _audit(world.rt, world.acme_id)
    assert [(e.action, e.object_type, e.object_id) for e in events] == [
        ("tenant.entitlement.set", "entitlement", "seats"),
        ("tenant.entitlement.set", "entitlement", "seats"),
        ("tenant.entitlement.reset", "entitlement", "seats"),
    ]
    assert [(e.data["from"], e.data["to"]) for e in events] == [(None, 25), (25, None), (None, None)]
    assert [e.data["from_source"] for e in events] == ["default", "override", "override"]
    assert {e.actor for e in events} == {"operator@atrium.example"}
    assert await _audit(world.rt, world.globex_id) == []


async def test_a_platform_admin_may_change_a_suspended_tenant(world: World) -> None:
    from atrium.platform.tenancy import service as tenancy

    await tenancy.change_status(world.rt, "acme", "suspend")
    response = await world.operator.put(URL.format("acme") + "/module.crm", json={"value": False})
    assert response.status_code == 200, response.text


async def test_other_processes_see_a_change_when_their_snapshot_expires(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second cache stands for another process: it keeps its snapshot until the TTL passes."""
    other = EntitlementCache()
    assert (await other.get(world.rt.db, world.acme_id)).enabled("module.hr")
    await service.set_value(world.rt.db, world.acme_id, "module.hr", False, actor="test")
    assert (await other.get(world.rt.db, world.acme_id)).enabled("module.hr")  # still cached there
    assert not (await service.current(world.rt.db, world.acme_id)).enabled("module.hr")  # here: at once
    later = cache_module.monotonic() + cache_module.CACHE_SECONDS + 0.1
    monkeypatch.setattr(cache_module, "monotonic", lambda: later)
    assert not (await other.get(world.rt.db, world.acme_id)).enabled("module.hr")


async def test_a_console_page_checks_through_ensure(world: World) -> None:
    ref = await world.rt.tenants.resolve("acme")
    assert ref is not None
    assert (await service.ensure(world.rt.db, ref, "module.projects")).enabled("module.projects")
    await service.set_value(world.rt.db, world.acme_id, "module.projects", False, actor="test")
    with pytest.raises(EntitlementMissing) as refused:
        await service.ensure(world.rt.db, ref, "module.projects")
    assert refused.value.status_code == 403 and refused.value.extra["entitlement"] == "module.projects"


class PlanSource:
    """What billing will plug in: a plan that leaves CRM out."""

    async def snapshot(self, session: object, tenant_id: str) -> Entitlements:
        return merge(tenant_id, {"module.crm": False})


async def test_a_plan_based_source_plugs_in_behind_the_same_check(world: World) -> None:
    saved = service.cache.source
    service.cache.use_source(PlanSource())
    try:
        refused = await world.acme_member.get("/api/v1/tenants/acme/notes")
        assert refused.status_code == 200
        found = await service.current(world.rt.db, world.acme_id)
        assert not found.enabled("module.crm") and found.enabled("module.notes")
    finally:
        service.cache.use_source(saved)
