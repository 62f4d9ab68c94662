"""The tenant lifecycle through the API: active ⇄ suspended → archived → deleted."""

from __future__ import annotations

import httpx
import pytest

from atrium.runtime import Runtime
from tests.conftest import create_tenant
from tests.platform.tenancy.helpers import ISOLATIONS, assert_problem, storage_exists, tenant_row

PLATFORM = "/api/v1/platform/tenants"


@pytest.mark.parametrize("isolation", ISOLATIONS)
async def test_lifecycle_suspend_resume_archive_delete(
    runtime: Runtime, client: httpx.AsyncClient, isolation: str
) -> None:
    slug = f"life-{isolation}"
    tenant = await create_tenant(client, slug, isolation)
    notes = f"/api/v1/tenants/{slug}/notes"
    assert (await client.post(notes, json={"title": "keep me"})).status_code == 201
    assert (await client.get(notes)).status_code == 200

    suspended = await client.post(f"{PLATFORM}/{slug}/suspend", json={"reason": "unpaid invoice"})
    assert suspended.status_code == 200, suspended.text
    assert suspended.json()["status"] == "suspended"
    for response in (await client.get(notes), await client.get(f"/api/v1/tenants/{tenant['id']}/settings")):
        body = assert_problem(response, 403, "tenant-inactive")
        assert (body["tenant"], body["tenant_status"]) == (slug, "suspended")
        assert "suspended" in body["detail"]
    assert_problem(await client.post(notes, json={"title": "x"}), 403, "tenant-inactive")

    resumed = await client.post(f"{PLATFORM}/{slug}/resume")
    assert resumed.json()["status"] == "active"
    listed = await client.get(notes)
    assert listed.status_code == 200
    assert [n["title"] for n in listed.json()] == ["keep me"]

    # illegal transitions answer 409 and change nothing
    body = assert_problem(await client.post(f"{PLATFORM}/{slug}/resume"), 409, "tenant-illegal-transition")
    assert body["tenant_status"] == "active"
    assert_problem(await client.delete(f"{PLATFORM}/{slug}"), 409, "tenant-illegal-transition")
    assert (await client.get(f"{PLATFORM}/{slug}")).json()["status"] == "active"

    archived = await client.post(f"{PLATFORM}/{slug}/archive")
    assert archived.json()["status"] == "archived"
    body = assert_problem(await client.get(notes), 403, "tenant-inactive")
    assert body["tenant_status"] == "archived"
    assert_problem(await client.post(f"{PLATFORM}/{slug}/suspend"), 409, "tenant-illegal-transition")

    row = await tenant_row(runtime, tenant["id"])
    assert await storage_exists(runtime, row)
    deleted = await client.delete(f"{PLATFORM}/{slug}")
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["status"] == "deleted"
    assert deleted.json()["deleted_at"] is not None

    for key in (slug, tenant["id"]):
        body = assert_problem(await client.get(f"/api/v1/tenants/{key}/notes"), 410, "tenant-deleted")
        assert body["tenant"] == key
    assert not await storage_exists(runtime, row)
    assert_problem(await client.post(f"{PLATFORM}/{slug}/resume"), 409, "tenant-illegal-transition")

    # the tombstone and the audit trail outlive the data
    tombstone = await client.get(f"{PLATFORM}/{tenant['id']}")
    assert tombstone.json()["status"] == "deleted"
    events = await client.get("/api/v1/platform/audit-events", params={"tenant": tenant["id"], "limit": 500})
    assert events.status_code == 200
    actions = [e["action"] for e in events.json()["items"]]
    for action in ("tenant.created", "tenant.activated", "tenant.suspended", "tenant.resumed", "tenant.archived"):
        assert action in actions
    assert actions[0] == "tenant.deleted"  # newest first
    assert "notes.note.created" in actions
    assert {e["tenant_id"] for e in events.json()["items"]} == {tenant["id"]}
    listed_default = (await client.get(PLATFORM)).json()
    assert slug not in [t["slug"] for t in listed_default["items"]]
    with_deleted = (await client.get(PLATFORM, params={"include_deleted": "true"})).json()
    assert slug in [t["slug"] for t in with_deleted["items"]]


async def test_unknown_tenant_answers_404(client: httpx.AsyncClient) -> None:
    for response in (
        await client.get(f"{PLATFORM}/nobody-here"),
        await client.post(f"{PLATFORM}/nobody-here/suspend"),
        await client.post(f"{PLATFORM}/nobody-here/resume-provisioning"),
        await client.delete(f"{PLATFORM}/nobody-here"),
        await client.get("/api/v1/tenants/nobody-here/notes"),
        await client.get("/api/v1/tenants/nobody-here/settings/locale"),
        await client.get("/api/v1/platform/audit-events", params={"tenant": "nobody-here"}),
    ):
        body = assert_problem(response, 404, "tenant-not-found")
        assert "nobody-here" in body["detail"]


async def test_lifecycle_requires_a_principal(runtime: Runtime, client: httpx.AsyncClient) -> None:
    await create_tenant(client, "guarded")
    anonymous = await client.post(f"{PLATFORM}/guarded/suspend", headers={"Authorization": ""})
    assert_problem(anonymous, 401, "unauthorized")
    assert (await tenant_row(runtime, "guarded")).status == "active"
