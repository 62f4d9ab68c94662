"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio

from fastapi import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from atrium.api.deps import RuntimeDep
from atrium.api.problems import ProblemResponse
from atrium.api.routing import APIRouter

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
async def readyz(rt: RuntimeDep) -> dict[str, object] | ProblemResponse:
    """Ready when the platform database and the broker answer."""
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(3):
            async with rt.db.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"failed: {type(exc).__name__}"
    try:
        async with asyncio.timeout(3):
            await rt.bus.ping()
        checks["broker"] = "ok"
    except Exception as exc:
        checks["broker"] = f"failed: {type(exc).__name__}"
    if all(v == "ok" for v in checks.values()):
        return {"status": "ready", "checks": checks}
    return ProblemResponse(
        {
            "type": "https://atrium.dev/problems/not-ready",
            "title": "Not ready",
            "status": 503,
            "detail": ", ".join(f"{k} {v}" for k, v in checks.items() if v != "ok"),
            "code": "not-ready",
            "checks": checks,
        },
        status_code=503,
    )


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
