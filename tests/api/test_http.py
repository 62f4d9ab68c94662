"""HTTP basics: request and correlation ids, health and readiness, metrics, docs, problem responses."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from atrium.api.app import create_app
from atrium.runtime import Runtime
from tests.conftest import create_tenant, make_settings

PROBLEM = "application/problem+json"


@pytest.fixture
async def anonymous(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(runtime=runtime, embedded_worker=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://atrium.test") as c:
        yield c


def assert_problem(response: httpx.Response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict = response.json()
    assert body["status"] == status
    assert body["title"] and body["type"].startswith("https://")
    if code is not None:
        assert body["code"] == code
    assert body["request_id"] == response.headers["x-request-id"]
    return body


# -- request and correlation ids ------------------------------------------------------------------


async def test_every_response_carries_ids(client: httpx.AsyncClient) -> None:
    for method, url, status in (
        ("GET", "/healthz", 200),
        ("GET", "/api/v1/platform/tenants", 200),
        ("GET", "/no/such/route", 404),
        ("DELETE", "/healthz", 405),
        ("POST", "/api/v1/platform/tenants", 422),
    ):
        response = await client.request(method, url, json={} if method == "POST" else None)
        assert response.status_code == status, (method, url)
        request_id = response.headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", request_id), (method, url)
        # none given: the request starts the correlation
        assert response.headers["x-correlation-id"] == request_id, (method, url)


async def test_sane_request_id_is_echoed_and_correlation_id_kept(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/api/v1/platform/tenants", headers={"X-Request-ID": "edge-1234-abcd", "X-Correlation-ID": "order-flow-77"}
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "edge-1234-abcd"
    assert response.headers["x-correlation-id"] == "order-flow-77"

    problem = await client.get("/nowhere", headers={"X-Request-ID": "edge-5678"})
    assert problem.headers["x-request-id"] == "edge-5678"
    assert problem.headers["x-correlation-id"] == "edge-5678"
    assert problem.json()["request_id"] == "edge-5678"


async def test_insane_request_id_is_replaced(client: httpx.AsyncClient) -> None:
    for incoming in ("has spaces", "inject\\nheader", "<script>", "../../etc", ""):
        response = await client.get("/healthz", headers={"X-Request-ID": incoming})
        request_id = response.headers["x-request-id"]
        assert request_id != incoming
        assert re.fullmatch(r"[0-9a-f]{32}", request_id), incoming


async def test_overlong_ids_are_cut_to_what_the_audit_trail_stores(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": "a" * 80, "X-Correlation-ID": "b" * 80})
    assert response.headers["x-request-id"] == "a" * 64
    assert response.headers["x-correlation-id"] == "b" * 64


async def test_ids_reach_the_audit_trail(client: httpx.AsyncClient) -> None:
    await create_tenant(client, "acme")
    response = await client.post(
        "/api/v1/tenants/acme/notes",
        json={"title": "traced"},
        headers={"X-Request-ID": "req-note-1", "X-Correlation-ID": "corr-note-1"},
    )
    assert response.status_code == 201, response.text
    events = (await client.get("/api/v1/tenants/acme/audit-events", params={"action": "notes.note.created"})).json()
    [event] = events["items"]
    assert (event["request_id"], event["correlation_id"]) == ("req-note-1", "corr-note-1")
    assert event["actor"].startswith("admin-")


# -- health and readiness ---------------------------------------------------------------------


async def test_healthz(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_ok(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "broker": "ok"}}


async def test_readyz_fails_fast_when_the_broker_is_unreachable(database_url: str, tmp_path: Path) -> None:
    rt = Runtime(make_settings(database_url, tmp_path / "var", broker_url="amqp://guest:guest@127.0.0.1:1/"))
    app = create_app(runtime=rt, embedded_worker=False)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://atrium.test") as c:
            started = time.monotonic()
            response = await c.get("/readyz")
            elapsed = time.monotonic() - started
    finally:
        await rt.close()
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert (body["status"], body["code"]) == (503, "not-ready")
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"].startswith("failed")
    assert "broker" in body["detail"]
    assert elapsed < 3.5


# -- metrics ----------------------------------------------------------------------------------


def sample(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


async def test_metrics_label_requests_by_route_template(client: httpx.AsyncClient) -> None:
    route = "/api/v1/tenants/{tenant}/notes"
    before = (await client.get("/metrics")).text
    await create_tenant(client, "acme")
    for _ in range(3):
        assert (await client.get("/api/v1/tenants/acme/notes")).status_code == 200
    missing = await client.get("/definitely/not/here")
    assert missing.status_code == 404
    bad_tenant = await client.get("/api/v1/tenants/no-such-tenant/notes")
    assert bad_tenant.status_code == 404

    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = response.text
    count = "atrium_http_request_duration_seconds_count"
    assert sample(after, count, method="GET", route=route) - sample(before, count, method="GET", route=route) == 4
    assert "/api/v1/tenants/acme/notes" not in after  # concrete paths never become labels
    errors = "atrium_http_errors_total"
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert sample(after, errors, **unmatched) - sample(before, errors, **unmatched) == 1
    templated = {"method": "GET", "route": route, "status": "404"}
    assert sample(after, errors, **templated) - sample(before, errors, **templated) == 1
    ok = {"method": "GET", "route": route, "status": "200"}
    assert sample(after, errors, **ok) == 0


# -- docs ---------------------------------------------------------------------------------------


async def test_openapi_and_docs_load(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["info"]["title"] == "Atrium"
    for path in (
        "/api/v1/platform/tenants",
        "/api/v1/tenants/{tenant}/notes",
        "/api/v1/tenants/{tenant}/audit-events",
        "/api/v1/platform/audit-events",
        "/api/v1/platform/audit-verification",
        "/healthz",
        "/readyz",
    ):
        assert path in schema["paths"], path
    docs = await anonymous.get("/docs")
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in docs.text


# -- problem responses ----------------------------------------------------------------------------


async def test_unknown_route_is_a_404_problem(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/api/v1/nothing-here"), 404)
    assert body["instance"] == "/api/v1/nothing-here"


async def test_wrong_method_is_a_405_problem(client: httpx.AsyncClient) -> None:
    assert_problem(await client.delete("/healthz"), 405)
    assert_problem(await client.put("/api/v1/platform/tenants"), 405)


async def test_missing_or_wrong_token_is_a_401_problem(anonymous: httpx.AsyncClient) -> None:
    for authorization in (None, "Bearer wrong-token", "Bearer ", "Basic YWRtaW46YWRtaW4="):
        headers = {"Authorization": authorization} if authorization is not None else {}
        response = await anonymous.get("/api/v1/platform/tenants", headers=headers)
        body = assert_problem(response, 401, "unauthorized")
        assert "Bearer" in body["detail"]


async def test_valid_token_is_accepted(anonymous: httpx.AsyncClient, admin_token: str) -> None:
    response = await anonymous.get("/api/v1/platform/tenants", headers={"Authorization": f"Bearer {admin_token}"})
    assert response.status_code == 200


async def test_validation_errors_name_the_field(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.post("/api/v1/platform/tenants", json={"isolation": "pooled"}), 422)
    assert body["code"] == "validation-failed"
    assert [e["field"] for e in body["errors"]] == ["slug"]
    assert "slug" in body["detail"]

    body = assert_problem(await client.post("/api/v1/platform/tenants", json={"slug": "ok", "isolation": "x"}), 422)
    assert [e["field"] for e in body["errors"]] == ["isolation"]

    body = assert_problem(await client.get("/api/v1/platform/tenants", params={"limit": 0}), 422)
    assert [e["field"] for e in body["errors"]] == ["limit"]


async def test_malformed_json_is_a_400_problem(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/platform/tenants", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 400, "malformed-json")
