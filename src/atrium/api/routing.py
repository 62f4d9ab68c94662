"""The router every module declares its routes on: FastAPI's, with a one-step rejection.

FastAPI finds a request's route by asking every included router in turn, and each router asks
each of its routes, one Python call and one regular expression per route. With some 400 routes
in 40 routers, a request for one of the later modules paid for hundreds of misses. This router
first tries all its paths at once, in one compiled alternation, and says "not here" when none
fits; only the router that holds the path walks its routes.

The rejection is only ever a shortcut: the alternation matches whenever one of the routes
would, at the end of the path (so a router included under a further prefix still finds its
routes), with or without a trailing slash (so FastAPI's slash redirect still works). Anything
that is not a plain path route (a mount, a nested router, a websocket) switches it off.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter as FastAPIRouter
from starlette.routing import Match
from starlette.types import Scope

_GROUP = re.compile(r"\(\?P<\w+>")


def path_gate(patterns: list[str]) -> re.Pattern[str]:
    """One expression that finds any of the routes' path expressions at the end of a path."""
    bodies = [_GROUP.sub("(?:", p.removeprefix("^").removesuffix("$")).removesuffix("/") for p in patterns]
    return re.compile("(?:" + "|".join(bodies) + ")/?$")


class APIRouter(FastAPIRouter):
    """``fastapi.APIRouter`` that rejects a path in one step when none of its routes can match."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._gate: re.Pattern[str] | None = None
        self._gate_for = -1  # the number of routes the gate was built from

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
