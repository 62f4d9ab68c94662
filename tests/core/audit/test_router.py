"""The audit API: a tenant's trail with filters and paging, the platform view, verification."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx
import pytest

from atrium.core.audit import service as audit
from atrium.core.db import utcnow
from atrium.runtime import Runtime
from tests.conftest import create_tenant
from tests.core.audit.helpers import alter, disable_append_only


async def record(rt: Runtime, tenant_id: str | None, **fields: Any) -> int:
    async with rt.db.platform_session() as session, session.begin():
        event = await audit.record(session, tenant_id=tenant_id, **fields)
    return event.id


async def items(client: httpx.AsyncClient, url: str, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(url, params=params)
    assert response.status_code == 200, response.text
    body: list[dict[str, Any]] = response.json()["items"]
    return body


@pytest.fixture
async def trail(client: httpx.AsyncClient, runtime: Runtime) -> dict[str, Any]:
    """Two tenants (their creation is audited too) and some events of our own, in three time slices."""
    acme = await create_tenant(client, "acme")
    globex = await create_tenant(client, "globex")
    ids: dict[str, int] = {}
    ids["alice-invoice"] = await record(
        runtime, acme["id"], action="invoice.created", actor="alice", object_type="invoice", object_id="inv-1"
    )
    ids["bob-invoice"] = await record(
        runtime, acme["id"], action="invoice.created", actor="bob", object_type="invoice", object_id="inv-2"
    )
    await asyncio.sleep(0.01)
    middle_from = utcnow()
    await asyncio.sleep(0.01)
    ids["alice-paid"] = await record(
        runtime, acme["id"], action="invoice.paid", actor="alice", object_type="invoice", object_id="inv-1"
    )
    ids["alice-run"] = await record(runtime, acme["id"], action="invoicing.run", actor="alice", object_type="batch")
    await asyncio.sleep(0.01)
    middle_until = utcnow()
    await asyncio.sleep(0.01)
    ids["bob-contact"] = await record(
        runtime, acme["id"], action="crm.contact.created", actor="bob", object_type="contact", object_id="c-1"
    )
    ids["globex-alice"] = await record(
        runtime, globex["id"], action="invoice.created", actor="alice", object_type="invoice", object_id="inv-1"
    )
    ids["platform"] = await record(runtime, None, action="platform.setting.changed", actor="alice")
    return {"acme": acme, "globex": globex, "ids": ids, "middle": (middle_from, middle_until)}


async def test_tenant_trail_holds_only_its_events_newest_first(client: httpx.AsyncClient, trail: dict) -> None:
    acme, globex = trail["acme"], trail["globex"]
    events = await items(client, "/api/v1/tenants/acme/audit-events", limit=500)
    assert {e["tenant_id"] for e in events} == {acme["id"]}
    assert {e["chain"] for e in events} == {acme["id"]}
    assert [e["id"] for e in events] == sorted((e["id"] for e in events), reverse=True)
    actions = [e["action"] for e in events]
    assert actions[:5] == ["crm.contact.created", "invoicing.run", "invoice.paid", "invoice.created", "invoice.created"]
    assert "tenant.created" in actions and "tenant.activated" in actions
    assert trail["ids"]["globex-alice"] not in {e["id"] for e in events}
    # the id in the path may be the tenant's id as well as its slug
    by_id = await items(client, f"/api/v1/tenants/{acme['id']}/audit-events", limit=500)
    assert [e["id"] for e in by_id] == [e["id"] for e in events]
    other = await items(client, f"/api/v1/tenants/{globex['slug']}/audit-events", limit=500)
    assert {e["tenant_id"] for e in other} == {globex["id"]}


async def test_tenant_trail_filters(client: httpx.AsyncClient, trail: dict) -> None:
    url, ids = "/api/v1/tenants/acme/audit-events", trail["ids"]

    async def found(**params: Any) -> list[int]:
        return [e["id"] for e in await items(client, url, **params)]

    assert await found(actor="alice") == [ids["alice-run"], ids["alice-paid"], ids["alice-invoice"]]
    assert await found(actor="bob") == [ids["bob-contact"], ids["bob-invoice"]]
    assert await found(actor="carol") == []
    assert await found(action="invoice.created") == [ids["bob-invoice"], ids["alice-invoice"]]
    # a prefix must end with '.': 'invoice.' does not match 'invoicing.run'
    assert await found(action="invoice.") == [ids["alice-paid"], ids["bob-invoice"], ids["alice-invoice"]]
    assert await found(action="invoice") == []
    assert await found(action="crm.") == [ids["bob-contact"]]
    tenant_events = await items(client, url, action="tenant.", limit=500)
    assert tenant_events and all(e["action"].startswith("tenant.") for e in tenant_events)
    assert [e["action"] for e in await items(client, url, action="tenant.activated")] == ["tenant.activated"]
    assert await found(object_type="invoice") == [ids["alice-paid"], ids["bob-invoice"], ids["alice-invoice"]]
    assert await found(object_type="invoice", object_id="inv-1") == [ids["alice-paid"], ids["alice-invoice"]]
    assert await found(object_id="c-1") == [ids["bob-contact"]]
    assert await found(actor="alice", action="invoice.", object_id="inv-1") == [ids["alice-paid"], ids["alice-invoice"]]

    since, until = trail["middle"]
    assert await found(since=since.isoformat(), until=until.isoformat()) == [ids["alice-run"], ids["alice-paid"]]
    assert await found(since=until.isoformat()) == [ids["bob-contact"]]
    before_middle = await found(until=since.isoformat(), actor="alice")
    assert before_middle == [ids["alice-invoice"]]
    later = (utcnow() + dt.timedelta(hours=1)).isoformat()
    assert await found(since=later) == []


async def test_tenant_trail_pages_with_before(client: httpx.AsyncClient, trail: dict) -> None:
    url = "/api/v1/tenants/acme/audit-events"
    everything = [e["id"] for e in await items(client, url, limit=500)]
    assert len(everything) > 5
    seen: list[int] = []
    before: int | None = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if before is not None:
            params["before"] = before
        response = await client.get(url, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= 2
        seen += [e["id"] for e in page["items"]]
        before = page["next_before"]
        if before is None:
            break
        assert before == page["items"][-1]["id"]
    assert seen == everything
    # cursor combined with a filter
    ids = trail["ids"]
    assert [e["id"] for e in await items(client, url, actor="alice", before=ids["alice-paid"])] == [
        ids["alice-invoice"]
    ]
    # a short last page has no cursor
    last = (await client.get(url, params={"limit": 500})).json()
    assert last["next_before"] is None


BAD_PARAMETERS = (
    ({"limit": 0}, "limit"),
    ({"limit": 501}, "limit"),
    ({"since": "yesterday"}, "since"),
    ({"before": "x"}, "before"),
    # times without a UTC offset are ambiguous: refused, not guessed (and never a 500)
    ({"since": "2026-01-01T00:00:00"}, "since"),
    ({"until": "2026-01-01"}, "until"),
)


async def test_audit_events_reject_bad_parameters(client: httpx.AsyncClient, trail: dict) -> None:
    for url in ("/api/v1/tenants/acme/audit-events", "/api/v1/platform/audit-events"):
        for params, field in BAD_PARAMETERS:
            response = await client.get(url, params=params)
            assert response.status_code == 422, (url, params, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
            assert field in [e["field"] for e in response.json()["errors"]], (url, params)


async def test_tenant_trail_of_unknown_tenant_is_404(client: httpx.AsyncClient, trail: dict) -> None:
    response = await client.get("/api/v1/tenants/no-such-tenant/audit-events")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_platform_view(client: httpx.AsyncClient, trail: dict) -> None:
    acme, ids = trail["acme"], trail["ids"]
    url = "/api/v1/platform/audit-events"
    platform = await items(client, url, tenant="platform", limit=500)
    assert platform and {e["chain"] for e in platform} == {"platform"}
    assert {e["tenant_id"] for e in platform} == {None}
    assert ids["platform"] in [e["id"] for e in platform]
    assert "user.created" in [e["action"] for e in platform]

    acme_only = await items(client, url, tenant="acme", limit=500)
    assert {e["tenant_id"] for e in acme_only} == {acme["id"]}
    assert acme_only == await items(client, "/api/v1/tenants/acme/audit-events", limit=500)

    everything = await items(client, url, limit=500)
    assert {e["chain"] for e in everything} == {"platform", acme["id"], trail["globex"]["id"]}
    alice_invoices = await items(client, url, actor="alice", action="invoice.created")
    assert [e["id"] for e in alice_invoices] == [ids["globex-alice"], ids["alice-invoice"]]

    assert (await client.get(url, params={"tenant": "nope"})).status_code == 404


async def test_platform_verification(client: httpx.AsyncClient, runtime: Runtime, trail: dict) -> None:
    acme, globex = trail["acme"], trail["globex"]
    response = await client.get("/api/v1/platform/audit-verification")
    assert response.status_code == 200, response.text
    reports = {r["chain"]: r for r in response.json()}
    assert set(reports) == {"platform", acme["id"], globex["id"]}
    for report in reports.values():
        assert report["ok"] is True, report
        assert report["checked"] > 0
        assert report["broken_seq"] is None and report["reason"] is None

    only = (await client.get("/api/v1/platform/audit-verification", params={"tenant": "acme"})).json()
    assert [r["chain"] for r in only] == [acme["id"]]

    await disable_append_only(runtime)
    await alter(runtime, acme["id"], 2, data={"tampered": True})
    reports = {r["chain"]: r for r in (await client.get("/api/v1/platform/audit-verification")).json()}
    assert reports[acme["id"]]["ok"] is False
    assert reports[acme["id"]]["broken_seq"] == 2
    assert "altered" in reports[acme["id"]]["reason"]
    assert reports[globex["id"]]["ok"] is True and reports["platform"]["ok"] is True


async def test_audit_api_needs_a_token(client: httpx.AsyncClient, trail: dict) -> None:
    for url in (
        "/api/v1/tenants/acme/audit-events",
        "/api/v1/platform/audit-events",
        "/api/v1/platform/audit-verification",
    ):
        response = await client.get(url, headers={"Authorization": "Bearer wrong"})
        assert response.status_code == 401, url
