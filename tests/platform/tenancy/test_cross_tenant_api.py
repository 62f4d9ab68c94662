"""Through the API, another tenant's object answers 404 (never 403) on every tenant-scoped route."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import create_tenant
from tests.platform.tenancy.helpers import ISOLATIONS, assert_problem


@pytest.mark.parametrize("isolation", ISOLATIONS)
async def test_other_tenants_objects_answer_404(client: httpx.AsyncClient, isolation: str) -> None:
    a = await create_tenant(client, f"xt-a-{isolation}", isolation)
    b = await create_tenant(client, f"xt-b-{isolation}", isolation)
    created = await client.post(f"/api/v1/tenants/{a['slug']}/notes", json={"title": "secret plan", "body": "A only"})
    assert created.status_code == 201, created.text
    note_id = created.json()["id"]

    for key in (b["slug"], b["id"]):
        url = f"/api/v1/tenants/{key}/notes/{note_id}"
        assert_problem(await client.get(url), 404, "not-found")
        assert_problem(await client.patch(url, json={"title": "hijacked"}), 404, "not-found")
        assert_problem(await client.delete(url), 404, "not-found")
    listed = await client.get(f"/api/v1/tenants/{b['slug']}/notes")
    assert listed.status_code == 200
    assert listed.json() == []

    mine = await client.get(f"/api/v1/tenants/{a['slug']}/notes/{note_id}")
    assert mine.status_code == 200
    assert (mine.json()["title"], mine.json()["body"]) == ("secret plan", "A only")

    # a setting only A has
    put = await client.put(f"/api/v1/tenants/{a['slug']}/settings/billing.iban", json={"value": "DE89 3704"})
    assert put.status_code == 200, put.text
    body = assert_problem(await client.get(f"/api/v1/tenants/{b['slug']}/settings/billing.iban"), 404, "not-found")
    assert "billing.iban" in body["detail"]
    b_settings = (await client.get(f"/api/v1/tenants/{b['slug']}/settings")).json()
    assert "billing.iban" not in b_settings
    assert b_settings["locale"] == "en"
    a_setting = await client.get(f"/api/v1/tenants/{a['slug']}/settings/billing.iban")
    assert a_setting.json() == {"value": "DE89 3704"}

    # audit trails: B's holds none of A's events
    a_events = (await client.get(f"/api/v1/tenants/{a['slug']}/audit-events", params={"limit": 500})).json()["items"]
    b_events = (await client.get(f"/api/v1/tenants/{b['slug']}/audit-events", params={"limit": 500})).json()["items"]
    assert {"notes.note.created", "tenant.setting.changed"} <= {e["action"] for e in a_events}
    assert b_events, "B has its own provisioning events"
    assert {e["tenant_id"] for e in b_events} == {b["id"]}
    assert {e["tenant_id"] for e in a_events} == {a["id"]}
    assert not {e["object_id"] for e in b_events} & {note_id, "billing.iban", a["id"]}
    assert not {e["id"] for e in a_events} & {e["id"] for e in b_events}
