"""What the platform adds to a tenant-scoped read: the full app against a bare FastAPI app.

Full: ``GET /api/v1/tenants/{tenant}/notes/{id}`` through ``create_app`` — request-context
middleware, session middleware, routing among some 400 routes, bearer-token auth, the module's
entitlement, TenantContext (tenant resolution through the registry cache, the tenant's unit of
work; on PostgreSQL pooled tenants also the row-level-security role and tenant id, sent with the
BEGIN), the permission check, the notes service, the ORM tenant filter and the COMMIT.
Baseline: a bare ``FastAPI()`` with one route reading the same row by id with a plain
``AsyncSession`` on a plain engine, returning the same ``NoteRead``.

Both run in one process through ``httpx.AsyncClient(transport=ASGITransport(app))``, one request
at a time, in alternating blocks after a warm-up; p50/p99 latency and the p50 ratio (goal ≤ 1.3×).
Configurations: pooled and schema tenants on PostgreSQL, a pooled tenant on SQLite.
A no-database pair (``/healthz`` vs a bare ``/ping``) shows the middleware/framework share.

Over HTTP: for the PostgreSQL pooled tenant also both apps served by uvicorn (one process each,
as ``atrium serve`` runs them, heaps settled) and asked over loopback with keep-alive: the latency
a client sees, HTTP parsing and sockets included.

Requests: 3,000 per app and configuration, times ATRIUM_BENCH_SCALE (ATRIUM_BENCH_REQUESTS sets it).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, HTTPException
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from atrium.api.app import create_app
from atrium.apps.notes.models import Note
from atrium.apps.notes.schemas import NoteRead
from atrium.cli.migrate import migrate_all
from atrium.core.db import async_url
from atrium.platform.identity import service as identity
from atrium.platform.tenancy import service as tenancy
from atrium.platform.tenancy.models import Isolation
from atrium.platform.tenancy.registry import to_ref
from atrium.platform.tenancy.schemas import TenantCreate
from atrium.runtime import Runtime
from bench.common import (
    Report,
    bench_database,
    fmt_ms,
    make_settings,
    progress,
    ratio,
    run_benchmark,
    scaled,
    summary_ms,
    temp_dir,
)

# httpx's ASGI transport tries ``import sniffio`` on every request. Without sniffio installed that
# failed import searches the whole path each time (about 80 µs here): a cost of the test client
# that both apps would share, flattering the ratio. A None entry makes the import fail at once.
if "sniffio" not in sys.modules:
    try:
        import sniffio  # noqa: F401
    except ImportError:
        sys.modules["sniffio"] = None  # type: ignore[assignment]

NAME = "request_overhead"
GOAL_RATIO = 1.3
WARMUP = 300
BLOCK = 250


def bare_app(engine: AsyncEngine, same_sql: tuple[str, str] | None = None) -> FastAPI:
    """One route reading the note with a plain AsyncSession. With ``same_sql`` = (role, tenant id)
    a second route also takes the role and tenant id for row-level security, as the tenant session
    of a PostgreSQL pooled tenant does, and filters by tenant, without the rest of the app. (It
    sends them as a statement of their own; the app sends them with the transaction's BEGIN.)"""
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    app = FastAPI()

    @app.get("/notes/{note_id}", response_model=NoteRead)
    async def get_note(note_id: str) -> NoteRead:
        async with sessions() as session:
            note = (await session.execute(select(Note).where(Note.id == note_id))).scalar_one_or_none()
            if note is None:
                raise HTTPException(404)
            return NoteRead.model_validate(note)

    if same_sql is not None:
        role, tenant_id = same_sql

        @app.get("/same-sql/notes/{note_id}", response_model=NoteRead)
        async def get_note_same_sql(note_id: str) -> NoteRead:
            async with sessions() as session, session.begin():
                await session.execute(
                    text("SELECT set_config('role', :r, true), set_config('atrium.tenant_id', :t, true)"),
                    {"r": role, "t": tenant_id},
                )
                stmt = select(Note).where(Note.id == note_id, Note.tenant_id == tenant_id)
                note = (await session.execute(stmt)).scalar_one_or_none()
                if note is None:
                    raise HTTPException(404)
                return NoteRead.model_validate(note)

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _serve(kind: str, url: str, data_dir: str, port: int, schema: str | None) -> None:
    """A server process: the full app (as ``atrium.api.asgi`` builds it) or the bare one."""
    import uvicorn

    from atrium.core.process import settle_heap

    if kind == "full":
        import atrium.consumers  # noqa: F401  (as atrium.api.asgi)

        app = create_app(make_settings(url, Path(data_dir)), embedded_worker=False)
    else:
        engine = create_async_engine(async_url(url))
        app = bare_app(engine.execution_options(schema_translate_map={None: schema}) if schema else engine)
    settle_heap()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _over_http(url: str, data_dir: Path, paths: dict[str, str], token: str, n: int) -> dict[str, Any]:
    """Both apps under uvicorn, one process each, asked one request at a time over loopback."""
    spawn = multiprocessing.get_context("spawn")
    ports = {kind: _free_port() for kind in ("full", "bare")}
    servers = [
        spawn.Process(target=_serve, args=(k, url, str(data_dir), p, None), daemon=True) for k, p in ports.items()
    ]
    for server in servers:
        server.start()
    try:
        clients = {
            kind: httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}",
                headers={"Authorization": f"Bearer {token}"} if kind == "full" else {},
            )
            for kind, port in ports.items()
        }
        for kind, client in clients.items():
            for _ in range(300):  # up within 30 s
                try:
                    if (await client.get(paths[kind])).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        times = await compare({kind: probe(client, paths[kind]) for kind, client in clients.items()}, n)
        for client in clients.values():
            await client.aclose()
    finally:
        for server in servers:
            server.terminate()
            server.join(10)
    f, b = summary_ms(times["full"]), summary_ms(times["bare"])
    return {"full": f, "bare": b, "ratio_p50": ratio(f["median_ms"], b["median_ms"])}


Probe = Callable[[], Awaitable[float]]


def probe(client: httpx.AsyncClient, path: str) -> Probe:
    async def one() -> float:
        started = time.perf_counter()
        response = await client.get(path)
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} answered {response.status_code}: {response.text[:300]}")
        return elapsed

    return one


async def compare(probes: dict[str, Probe], n: int) -> dict[str, list[float]]:
    """Warm every probe up, then alternate blocks so drift affects all alike."""
    for _ in range(WARMUP):
        for one in probes.values():
            await one()
    times: dict[str, list[float]] = {name: [] for name in probes}
    done = 0
    while done < n:
        block = min(BLOCK, n - done)
        for name, one in probes.items():
            for _ in range(block):
                times[name].append(await one())
        done += block
    return times


async def _configuration(label: str, url: str, data_dir: Path, isolation: str, n: int) -> dict[str, Any]:
    settings = make_settings(url, data_dir)
    rt = Runtime(settings)
    engines: list[AsyncEngine] = []
    over_http: dict[str, Any] | None = None
    try:
        await migrate_all(rt, show_progress=False)
        async with rt.db.platform_session() as session, session.begin():
            _, _, token = await identity.bootstrap_platform_admin(
                session, "bench@example.com", password=None, terms_version="bench"
            )
        tenant = await tenancy.create(rt, TenantCreate(slug=f"bench-{isolation}", isolation=Isolation(isolation)))
        ref = to_ref(tenant)
        async with rt.db.tenant_session(ref) as session:
            note = Note(title="Quarterly planning", body="Agenda: budget, hiring, roadmap." * 4, author="bench")
            session.add(note)
            await session.commit()
            note_id = note.id

        plain = create_async_engine(async_url(url))
        engines.append(plain)
        bare_engine = plain
        if isolation == "schema" and not rt.db.is_sqlite:
            bare_engine = plain.execution_options(schema_translate_map={None: tenant.storage_name})
        same_sql = None
        if isolation == "pooled" and not rt.db.is_sqlite:
            same_sql = (settings.app_role, tenant.id)
        app = create_app(runtime=rt, embedded_worker=False)
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://full", headers=headers) as fc,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=bare_app(bare_engine, same_sql)), base_url="http://bare"
            ) as bc,
        ):
            probes = {
                "full": probe(fc, f"/api/v1/tenants/{tenant.slug}/notes/{note_id}"),
                "bare": probe(bc, f"/notes/{note_id}"),
            }
            if same_sql is not None:
                probes["bare_same_sql"] = probe(bc, f"/same-sql/notes/{note_id}")
            progress(f"{label}: {n:,} tenant-scoped GETs per variant ({', '.join(probes)}; +{WARMUP} warm-up)")
            times = await compare(probes, n)
            progress(f"{label}: {n:,} no-database GETs per app")
            pings = await compare({"full": probe(fc, "/healthz"), "bare": probe(bc, "/ping")}, n)
        if isolation == "pooled" and not rt.db.is_sqlite:
            progress(f"{label}: {n:,} tenant-scoped GETs per app over HTTP (uvicorn, loopback)")
            paths = {"full": f"/api/v1/tenants/{tenant.slug}/notes/{note_id}", "bare": f"/notes/{note_id}"}
            over_http = await _over_http(url, data_dir, paths, token, n)
    finally:
        for engine in engines:
            await engine.dispose()
        await rt.close()
    f, b = summary_ms(times["full"]), summary_ms(times["bare"])
    fp, bp = summary_ms(pings["full"]), summary_ms(pings["bare"])
    extra: dict[str, Any] = {}
    if over_http is not None:
        extra["over_http"] = over_http
    if "bare_same_sql" in times:
        ss = summary_ms(times["bare_same_sql"])
        extra["bare_same_sql"] = ss
        extra["ratio_p50_to_bare_same_sql"] = ratio(f["median_ms"], ss["median_ms"])
    return {
        **extra,
        "isolation": isolation,
        "requests": n,
        "full": f,
        "bare": b,
        "ratio_p50": ratio(f["median_ms"], b["median_ms"]),
        "ratio_p99": ratio(f["p99_ms"], b["p99_ms"]),
        "overhead_p50_ms": round(f["median_ms"] - b["median_ms"], 3),
        "goal_ratio": GOAL_RATIO,
        "goal_met": f["median_ms"] / b["median_ms"] <= GOAL_RATIO,
        "no_db": {"full_healthz": fp, "bare_ping": bp, "ratio_p50": ratio(fp["median_ms"], bp["median_ms"])},
    }


async def bench() -> Report:
    n = scaled(3_000, env="ATRIUM_BENCH_REQUESTS", minimum=100)
    report = Report(NAME, f"Tenant-scoped GET: full app vs bare FastAPI ({n:,} requests each, sequential)")
    results: dict[str, Any] = {"parameters": {"requests": n, "warmup": WARMUP, "block": BLOCK}}
    configs: dict[str, Any] = {}
    async with bench_database("req") as url:
        with temp_dir("pg") as tmp:
            configs["postgresql_pooled"] = await _configuration("PostgreSQL pooled", url, tmp / "var", "pooled", n)
    async with bench_database("reqs") as url:
        with temp_dir("pg") as tmp:
            configs["postgresql_schema"] = await _configuration("PostgreSQL schema", url, tmp / "var", "schema", n)
    with temp_dir("sqlite") as tmp:
        sqlite_url = f"sqlite:///{tmp / 'var' / 'platform.db'}"
        configs["sqlite_pooled"] = await _configuration("SQLite pooled", sqlite_url, tmp / "var", "pooled", n)
    results["configurations"] = configs
    for key, c in configs.items():
        f, b = c["full"], c["bare"]
        report.row(
            f"{key}: p50",
            fmt_ms(f["median_ms"]),
            fmt_ms(b["median_ms"]),
            f"{c['ratio_p50']}×",
            f"≤ {GOAL_RATIO}×",
            "yes" if c["goal_met"] else "NO",
        )
        report.row(f"{key}: p99", fmt_ms(f["p99_ms"]), fmt_ms(b["p99_ms"]), f"{c['ratio_p99']}×")
        pairs = []
        if "bare_same_sql" in c:
            pairs.append(("vs bare issuing the same SQL", f, c["bare_same_sql"], c["ratio_p50_to_bare_same_sql"]))
        if "over_http" in c:
            h = c["over_http"]
            pairs.append(("over HTTP (uvicorn, loopback)", h["full"], h["bare"], h["ratio_p50"]))
        nd = c["no_db"]
        pairs.append(("no-db route (/healthz vs /ping)", nd["full_healthz"], nd["bare_ping"], nd["ratio_p50"]))
        for label, value, baseline, times in pairs:
            report.row(f"{key}: p50 {label}", fmt_ms(value["median_ms"]), fmt_ms(baseline["median_ms"]), f"{times}×")
    report.note("value = full app, baseline = bare FastAPI + plain AsyncSession; one request at a time")
    report.note("settings as the tests build them but with the default 10 s tenant-cache TTL")
    report.note(
        "'bare issuing the same SQL' = bare route + the row-level-security role and tenant id + tenant filter, "
        "the settings as a round trip of their own (the app sends them with BEGIN)"
    )
    report.data = results
    return report


def run() -> dict[str, Any]:
    return run_benchmark(bench)


if __name__ == "__main__":
    run()
