"""Module routers reject a path in one step (``api.routing``) and otherwise route as FastAPI does."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter as FastAPIRouter
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.routing import APIRoute as FastAPIRoute
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from atrium.api.app import routers as app_routers
from atrium.api.routing import APIRouter, Units, path_gate, units_of


def test_the_gate_finds_any_route_path_at_the_end_of_a_path() -> None:
    gate = path_gate(
        ["^/api/v1/tenants/(?P<tenant>[^/]+)/notes$", "^/api/v1/tenants/(?P<tenant>[^/]+)/notes/(?P<id>[^/]+)$"]
    )
    assert gate.search("/api/v1/tenants/acme/notes")
    assert gate.search("/api/v1/tenants/acme/notes/")  # FastAPI's slash redirect must still find it
    assert gate.search("/api/v1/tenants/acme/notes/n-1")
    assert gate.search("/under/a/prefix/api/v1/tenants/acme/notes")  # a router included under a prefix
    assert not gate.search("/api/v1/tenants/acme/finance/companies")
    assert not gate.search("/api/v1/tenants/acme/notes/n-1/extra")


def _app() -> FastAPI:
    first, second, prefixed = APIRouter(prefix="/first"), APIRouter(prefix="/second/{key}"), APIRouter()

    @first.get("/items")
    async def first_items() -> dict[str, str]:
        return {"router": "first"}

    @second.get("/items/{item}")
    async def second_item(key: str, item: str) -> dict[str, str]:
        return {"router": "second", "key": key, "item": item}

    @second.post("/items/")
    async def second_create(key: str) -> dict[str, str]:
        return {"router": "second", "key": key}

    @prefixed.get("/here")
    async def here() -> dict[str, str]:
        return {"router": "prefixed"}

    app = FastAPI()
    app.include_router(first)
    app.include_router(second)
    app.include_router(prefixed, prefix="/mounted")
    return app


@pytest.fixture
async def plain() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app()), base_url="http://test") as client:
        yield client


async def test_routes_behind_the_gate_answer_as_before(plain: httpx.AsyncClient) -> None:
    assert (await plain.get("/first/items")).json() == {"router": "first"}
    assert (await plain.get("/second/k/items/i")).json() == {"router": "second", "key": "k", "item": "i"}
    assert (await plain.get("/mounted/here")).json() == {"router": "prefixed"}
    assert (await plain.get("/nowhere")).status_code == 404
    assert (await plain.delete("/second/k/items/i")).status_code == 405  # path found, method not
    redirected = await plain.post("/second/k/items", follow_redirects=False)  # the route is declared with a slash
    assert redirected.status_code == 307 and redirected.headers["location"].endswith("/second/k/items/")
    assert (await plain.get("/first/items/", follow_redirects=True)).json() == {"router": "first"}


async def test_a_router_holding_anything_but_path_routes_has_no_gate(tmp_path: Path) -> None:
    (tmp_path / "app.css").write_text("body {}")
    router = APIRouter()

    @router.get("/x")
    async def x() -> dict[str, str]:
        return {"route": "x"}

    assert router._current_gate() is not None
    router.routes.append(Mount("/static", app=StaticFiles(directory=tmp_path)))
    assert router._current_gate() is None  # rebuilt when the routes change, and off
    app = FastAPI()
    app.include_router(router)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        assert (await client.get("/static/app.css")).text == "body {}"
        assert (await client.get("/x")).json() == {"route": "x"}


async def test_the_platform_answers_unknown_paths_and_methods_as_problems(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/v1/no-such-module")
    assert missing.status_code == 404
    wrong_method = await client.delete("/api/v1/platform/tenants")
    assert wrong_method.status_code == 405


async def test_openapi_still_names_each_operation_permission_and_tenant(client: httpx.AsyncClient) -> None:
    """The gate is one dependency that is also the security scheme: OpenAPI keeps the scopes."""
    spec = (await client.get("/openapi.json")).json()
    read = spec["paths"]["/api/v1/tenants/{tenant}/notes/{note_id}"]["get"]
    assert read["security"] == [{"atrium": ["notes.note.read"]}]
    assert {p["name"] for p in read["parameters"]} == {"tenant", "note_id"}
    assert spec["components"]["securitySchemes"]["atrium"]["scheme"] == "bearer"
    post = spec["paths"]["/api/v1/tenants/{tenant}/finance/journal-entries"]["post"]
    assert post["security"] == [{"atrium": ["finance.journal.post"]}]


class _Unit:
    """A unit of work that reports what happened to it."""

    async def __aenter__(self) -> _Unit:
        _LOG.append("open")
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: object) -> None:
        _LOG.append(f"close after {kind.__name__ if kind else 'success'}")


_LOG: list[str] = []


async def _guard(request: Request) -> None:
    _LOG.append("guard")
    if request.path_params["key"] == "refused":
        raise HTTPException(403, "refused by the guard")


async def _commit(_: _Unit) -> None:
    _LOG.append("commit")


async def _open_unit(request: Request) -> _Unit:
    return await units_of(request).open(_Unit(), _commit)


Unit = Annotated[_Unit, Depends(_open_unit)]


async def test_guards_run_first_and_units_of_work_commit_only_on_success() -> None:
    router = APIRouter(prefix="/{key}", guards=[_guard])

    @router.get("/ok")
    async def ok(unit: Unit) -> dict[str, bool]:
        _LOG.append("endpoint")
        return {"ok": True}

    @router.get("/fails")
    async def fails(unit: Unit) -> None:
        raise HTTPException(409, "conflict")

    app = FastAPI()
    app.include_router(router)
    _LOG.clear()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        assert (await client.get("/k/ok")).status_code == 200
        assert _LOG == ["guard", "open", "endpoint", "commit", "close after success"]
        _LOG.clear()
        assert (await client.get("/k/fails")).status_code == 409
        assert _LOG == ["guard", "open", "close after HTTPException"]  # rolled back, never committed
        _LOG.clear()
        assert (await client.get("/refused/ok")).status_code == 403
        assert _LOG == ["guard"]  # no dependency ran


async def test_a_unit_of_work_outside_an_atrium_route_is_refused() -> None:
    router = FastAPIRouter()

    @router.get("/plain")
    async def plain(unit: Unit) -> None:
        return None

    app = FastAPI()
    app.include_router(router)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        with pytest.raises(RuntimeError, match=r"must be an atrium\.api\.routing\.APIRoute"):
            await client.get("/plain")


def test_a_router_refuses_a_route_class_that_would_not_commit() -> None:
    with pytest.raises(TypeError, match=r"must derive from atrium\.api\.routing\.APIRoute"):
        APIRouter(route_class=FastAPIRoute)


def _sample(path: str) -> str:
    """A concrete path for a route template: each parameter filled with a word of its own."""
    path = re.sub(r"\{(\w+):path\}", "some/file", path)
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: f"sample-{m.group(1)}", path)


def test_no_route_of_one_router_answers_a_path_of_another() -> None:
    """What lets ``api.app`` order its routers for speed: the order can never change which route
    answers a request. Two routers both matching a path and method would make it matter."""
    clashes = []
    all_routers = app_routers()
    for router in all_routers:
        for route in router.routes:
            if not isinstance(route, FastAPIRoute):
                continue
            path = _sample(route.path)
            for other in all_routers:
                if other is router:
                    continue
                for candidate in other.routes:
                    regex = getattr(candidate, "path_regex", None)
                    methods = getattr(candidate, "methods", None) or set()
                    if regex is not None and regex.match(path) and methods & route.methods:
                        clashes.append(f"{sorted(route.methods)} {route.path} <-> {candidate.path}")
    assert sum(len(r.routes) for r in all_routers) > 300
    assert clashes == []


class _Failing(_Unit):
    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: object) -> None:
        _LOG.append("failing close")
        raise RuntimeError("close failed")


async def test_every_unit_closes_even_when_one_fails_to() -> None:
    units = Units()
    _LOG.clear()
    await units.open(_Unit(), _commit)
    await units.open(_Failing(), _commit)
    with pytest.raises(RuntimeError, match="close failed"):
        await units.close(None)
    assert _LOG == ["open", "open", "failing close", "close after success"]
