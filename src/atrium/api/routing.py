"""The router every module declares its routes on: FastAPI's, with a one-step rejection, and
the route class that commits a request's units of work.

FastAPI finds a request's route by asking every included router in turn, and each router asks
each of its routes, one Python call and one regular expression per route. With some 400 routes
in 40 routers, a request for one of the later modules paid for hundreds of misses. This router
first tries all its paths at once, in one compiled alternation, and says "not here" when none
fits; only the router that holds the path walks its routes.

The rejection is only ever a shortcut: the alternation matches whenever one of the routes
would, at the end of the path (so a router included under a further prefix still finds its
routes), with or without a trailing slash (so FastAPI's slash redirect still works). Anything
that is not a plain path route (a mount, a nested router, a websocket) switches it off.

A route's units of work (``Units``) are opened by its dependencies (``TenantContext``) and
committed by the route once the endpoint has answered, before the response leaves; on an error
they are rolled back. A generator dependency would do the same through FastAPI's exit stacks,
at several times the cost on every tenant request.

A router's guards (``APIRouter(guards=[...])``) run before any of its routes' dependencies: a
check every route of a module needs, like its entitlement, without a dependency for FastAPI to
resolve on each request.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

import anyio
from fastapi import APIRouter as FastAPIRouter
from fastapi import Request, Response
from fastapi.routing import APIRoute as FastAPIRoute
from starlette.routing import Match
from starlette.types import Scope

T = TypeVar("T")
UNITS = "atrium.units_of_work"
Guard = Callable[[Request], Awaitable[None]]

_GROUP = re.compile(r"\(\?P<\w+>")


def path_gate(patterns: list[str]) -> re.Pattern[str]:
    """One expression that finds any of the routes' path expressions at the end of a path."""
    bodies = [_GROUP.sub("(?:", p.removeprefix("^").removesuffix("$")).removesuffix("/") for p in patterns]
    return re.compile("(?:" + "|".join(bodies) + ")/?$")


class Units:
    """The units of work a request opened: committed once its endpoint has answered, and closed
    (rolled back, if not committed) whatever happened."""

    __slots__ = ("_open",)

    def __init__(self) -> None:
        self._open: list[tuple[AbstractAsyncContextManager[Any], Callable[[], Awaitable[None]]]] = []

    async def open(self, unit: AbstractAsyncContextManager[T], commit: Callable[[T], Awaitable[None]]) -> T:
        value = await unit.__aenter__()
        self._open.append((unit, lambda: commit(value)))
        return value

    async def commit(self) -> None:
        for _, commit in self._open:
            await commit()

    async def close(self, error: BaseException | None) -> None:
        """Close every unit, the last opened first, even when one fails or the request is being
        cancelled: a unit left open would hold its connection until garbage collection."""
        failure: BaseException | None = None
        with anyio.CancelScope(shield=True):
            while self._open:
                unit, _ = self._open.pop()
                try:
                    await unit.__aexit__(type(error) if error else None, error, error.__traceback__ if error else None)
                except BaseException as exc:  # the others still close; the first failure is raised
                    failure = failure or exc
        if failure is not None:
            raise failure


def units_of(request: Request) -> Units:
    """The request's units of work; only routes of this module's ``APIRoute`` have them."""
    units: Units | None = request.scope.get(UNITS)
    if units is None:
        raise RuntimeError(
            f"{request.url.path}: a route that opens a unit of work must be an atrium.api.routing.APIRoute"
        )
    return units


class APIRoute(FastAPIRoute):
    """``fastapi.routing.APIRoute`` that runs its router's guards first and commits the units
    of work its dependencies opened."""

    guards: tuple[Guard, ...] = ()

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def commit_on_success(request: Request) -> Response:
            for guard in self.guards:
                await guard(request)
            units = request.scope[UNITS] = Units()
            try:
                response = await handler(request)
                await units.commit()
            except BaseException as error:
                await units.close(error)
                raise
            await units.close(None)
            return response

        return commit_on_success


class APIRouter(FastAPIRouter):
    """``fastapi.APIRouter`` that rejects a path in one step when none of its routes can match,
    and whose routes are ``APIRoute``s."""

    def __init__(self, *args: Any, guards: Sequence[Guard] = (), **kwargs: Any) -> None:
        route_class = kwargs.setdefault("route_class", APIRoute)
        if not issubclass(route_class, APIRoute):
            raise TypeError(f"{route_class.__name__} must derive from atrium.api.routing.APIRoute")
        super().__init__(*args, **kwargs)
        self.guards = tuple(guards)
        self._gate: re.Pattern[str] | None = None
        self._gate_for = -1  # the number of routes the gate was built from

    def add_api_route(self, *args: Any, **kwargs: Any) -> None:
        super().add_api_route(*args, **kwargs)
        route = self.routes[-1]
        if self.guards and isinstance(route, APIRoute):
            route.guards = self.guards + route.guards

    def _current_gate(self) -> re.Pattern[str] | None:
        if self._gate_for != len(self.routes):
            patterns: list[str] = []
            for route in self.routes:
                regex = getattr(route, "path_regex", None)
                if regex is None or getattr(route, "methods", None) is None:
                    patterns = []  # a mount, a nested router, a websocket: no shortcut
                    break
                patterns.append(regex.pattern)
            self._gate = path_gate(patterns) if patterns else None
            self._gate_for = len(self.routes)
        return self._gate

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http":
            gate = self._current_gate()
            if gate is not None and gate.search(scope["path"]) is None:
                return Match.NONE, {}
        return super().matches(scope)
