"""Bad input to tenant creation: a clear 4xx problem naming the field, and nothing left behind."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from atrium.runtime import Runtime
from tests.conftest import POSTGRES_URL, create_tenant
from tests.platform.tenancy.conftest import AppFactory
from tests.platform.tenancy.helpers import assert_problem, footprint

TENANTS = "/api/v1/platform/tenants"


async def _refused(
    runtime: Runtime, client: httpx.AsyncClient, payload: Any, status: int, code: str, field: str
) -> dict[str, Any]:
    before = await footprint(runtime)
    body = assert_problem(await client.post(TENANTS, json=payload), status, code)
    assert field in body["detail"], body
    assert await footprint(runtime) == before, f"{payload!r} left something behind"
    return body


async def test_unknown_isolation_mode(runtime: Runtime, client: httpx.AsyncClient) -> None:
    body = await _refused(
        runtime, client, {"slug": "iso-bad", "isolation": "sharded"}, 422, "validation-failed", "isolation"
    )
    assert [e["field"] for e in body["errors"]] == ["isolation"]
    assert (await footprint(runtime))["tenants"] == set()


async def test_unknown_region(runtime: Runtime, client: httpx.AsyncClient) -> None:
    body = await _refused(
        runtime,
        client,
        {"slug": "far-away", "isolation": "database", "region": "mars"},
        422,
        "region-not-available",
        "region",
    )
    assert body["field"] == "region"
    assert "mars" in body["detail"]
    assert (await footprint(runtime))["tenants"] == set()


@pytest.mark.parametrize("isolation", ["pooled", "schema"])
async def test_pooled_or_schema_tenant_outside_the_default_region(
    app_factory: AppFactory, backend: str, tmp_path: Any, isolation: str
) -> None:
    eu = POSTGRES_URL if backend == "postgresql" else f"sqlite:///{tmp_path / 'eu' / 'platform.db'}"
    runtime, client = await app_factory(regions={"eu": eu})
    body = await _refused(
        runtime,
        client,
        {"slug": "eu-shared", "isolation": isolation, "region": "eu"},
        422,
        "region-not-available",
        "region",
    )
    assert "isolation 'database'" in body["detail"]
    assert (await footprint(runtime))["tenants"] == set()


async def test_duplicate_slug(runtime: Runtime, client: httpx.AsyncClient) -> None:
    first = await create_tenant(client, "twice", "schema")
    body = await _refused(runtime, client, {"slug": "twice", "isolation": "schema"}, 409, "tenant-slug-taken", "twice")
    assert body["field"] == "slug"
    listed = (await client.get(TENANTS)).json()
    assert [(t["slug"], t["id"]) for t in listed["items"]] == [("twice", first["id"])]
    assert (await client.get("/api/v1/tenants/twice/notes")).status_code == 200


@pytest.mark.parametrize(
    "slug",
    ["Acme", "acme_co", "-acme", "acme-", "a" * 64, "", "acme corp", "acme\n", "café", "acme/../x"],
    ids=[
        "uppercase",
        "underscore",
        "leading-hyphen",
        "trailing-hyphen",
        "64-chars",
        "empty",
        "space",
        "newline",
        "non-ascii",
        "slash",
    ],
)
async def test_slug_outside_the_allowed_characters(runtime: Runtime, client: httpx.AsyncClient, slug: str) -> None:
    body = await _refused(runtime, client, {"slug": slug, "isolation": "schema"}, 422, "validation-failed", "slug")
    assert [e["field"] for e in body["errors"]] == ["slug"]


async def test_slug_limits_that_are_allowed(client: httpx.AsyncClient) -> None:
    for slug in ("a" * 63, "7", "a-b-c-9"):
        assert (await create_tenant(client, slug))["slug"] == slug


async def test_malformed_json(runtime: Runtime, client: httpx.AsyncClient) -> None:
    before = await footprint(runtime)
    response = await client.post(
        TENANTS, content=b'{"slug": "half", "isolation": ', headers={"content-type": "application/json"}
    )
    body = assert_problem(response, 400, "malformed-json")
    assert "JSON" in body["detail"]
    assert await footprint(runtime) == before


async def test_unknown_json_field(runtime: Runtime, client: httpx.AsyncClient) -> None:
    body = await _refused(
        runtime, client, {"slug": "extra", "isolation": "schema", "colour": "blue"}, 422, "validation-failed", "colour"
    )
    assert [e["field"] for e in body["errors"]] == ["colour"]


async def test_missing_slug_and_wrong_types(runtime: Runtime, client: httpx.AsyncClient) -> None:
    await _refused(runtime, client, {"isolation": "schema"}, 422, "validation-failed", "slug")
    await _refused(runtime, client, {"slug": "typed", "sample_data": "maybe"}, 422, "validation-failed", "sample_data")
    await _refused(runtime, client, {"slug": "named", "name": "n" * 201}, 422, "validation-failed", "name")
    await _refused(runtime, client, ["slug", "list"], 422, "validation-failed", "Input should be")


async def test_oversized_body(app_factory: AppFactory) -> None:
    runtime, client = await app_factory(max_body_bytes=1024)
    before = await footprint(runtime)
    payload = {"slug": "big", "isolation": "schema", "name": "n" * 2000}
    body = assert_problem(await client.post(TENANTS, json=payload), 413, "payload-too-large")
    assert "1024" in body["detail"]

    async def chunked() -> Any:  # no Content-Length: the limit applies while reading
        for _ in range(4):
            yield b" " * 512

    response = await client.post(TENANTS, content=chunked(), headers={"content-type": "application/json"})
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "payload-too-large")
    assert await footprint(runtime) == before
    # a body under the limit still works
    assert (await create_tenant(client, "small", "schema"))["slug"] == "small"
