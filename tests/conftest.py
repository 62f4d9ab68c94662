"""Shared fixtures. Every database test runs on SQLite and on PostgreSQL (``backend`` param).

PostgreSQL: ``ATRIUM_TEST_POSTGRES_URL`` (default the local server); each test gets a database
of its own, and every tenant database it created is dropped afterwards. Each worker migrates one
template database per backend once; a test's database is a copy of it (``CREATE DATABASE …
TEMPLATE`` / SQLite's backup API), so the migrations the test then runs find nothing to do. A
PostgreSQL copy whose test left its shape alone is emptied and handed to the worker's next test.
With ``CI=true`` a missing PostgreSQL or RabbitMQ fails the run instead of skipping.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sqlite3
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import asyncpg
import httpx
import pytest

import atrium.consumers  # noqa: F401
from atrium.api.app import create_app
from atrium.cli.migrate import migrate_all
from atrium.core.db import execute_autocommit
from atrium.core.settings import Settings
from atrium.platform.identity import service as identity
from atrium.runtime import Runtime

POSTGRES_URL = os.environ.get("ATRIUM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
RABBITMQ_URL = os.environ.get("ATRIUM_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
TEST_SECRET_KEY = "atrium-test-secret-key-not-for-production-use"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=2):
            return True
    except OSError:
        return False


def require_service(name: str, url: str, port: int) -> None:
    if reachable(url, port):
        return
    message = f"{name} is not reachable at {url}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true requires it)")
    pytest.skip(message)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql":
        require_service("PostgreSQL", POSTGRES_URL, 5432)
    return str(request.param)


def _server_url(database: str) -> str:
    parsed = urlparse(POSTGRES_URL)
    return parsed._replace(path=f"/{database}").geturl()


# backend → the migrated template of this worker process: a PostgreSQL database name or a SQLite file
_TEMPLATES: dict[str, str] = {}
_TEMPLATE_DIR = Path(tempfile.mkdtemp(prefix="atrium-templates-"))


async def _migrated_template(backend: str) -> str:
    if backend not in _TEMPLATES:
        if backend == "sqlite":
            target = str(_TEMPLATE_DIR / "platform.db")
            url = f"sqlite:///{target}"
        else:
            target = f"atrium_template_{uuid.uuid4().hex[:10]}"
            await execute_autocommit(POSTGRES_URL, f'CREATE DATABASE "{target}"')
            url = _server_url(target)
        rt = Runtime(make_settings(url, _TEMPLATE_DIR / backend))
        try:
            await migrate_all(rt, show_progress=False)
        finally:
            await rt.close()  # no connection may stay open on a template
        _TEMPLATES[backend] = target
    return _TEMPLATES[backend]


@pytest.fixture(scope="session", autouse=True)
def _drop_templates() -> Iterator[None]:
    yield
    databases = [*_SPARE, *filter(None, [_TEMPLATES.pop("postgresql", None)])]
    _SPARE.clear()
    if databases:
        asyncio.run(
            execute_autocommit(POSTGRES_URL, *(f'DROP DATABASE IF EXISTS "{d}" WITH (FORCE)' for d in databases))
        )
    shutil.rmtree(_TEMPLATE_DIR, ignore_errors=True)


# PostgreSQL databases of this worker whose test has ended, emptied and ready for the next test
_SPARE: list[str] = []

# What a database made from the template looks like: its tables, indexes and sequences with their
# row-level security, triggers (and whether they are enabled), constraints and policies
_SHAPE = """
SELECT md5(concat_ws('|',
  (SELECT string_agg(format('%s.%s:%s:%s%s', n.nspname, c.relname, c.relkind, c.relrowsecurity, c.relforcerowsecurity),
                     ',' ORDER BY n.nspname, c.relname)
   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_t%'),
  (SELECT string_agg(f, ',' ORDER BY f) FROM (
     SELECT format('%s.%s:%s', tgrelid::regclass, tgname, tgenabled) FROM pg_trigger WHERE NOT tgisinternal
     UNION ALL SELECT format('%s.%s:%s', conrelid::regclass, conname, pg_get_constraintdef(oid))
       FROM pg_constraint WHERE connamespace = 'public'::regnamespace
     UNION ALL SELECT format('%s.%s:%s', tablename, policyname, qual) FROM pg_policies) AS parts(f))
))
"""
_SHAPES: dict[str, str] = {}


async def _pg_shape(conn: asyncpg.Connection) -> str:
    tables = await conn.fetchval(_SHAPE)
    versions = await conn.fetch(
        "SELECT version_num FROM alembic_version "
        "UNION ALL SELECT 'pooled ' || version_num FROM alembic_version_pooled ORDER BY 1"
    )
    return f"{tables}/{','.join(r[0] for r in versions)}"


async def _pg_database(template: str) -> str:
    """A spare database of this worker, or a new copy of the template."""
    if _SPARE:
        return _SPARE.pop()
    name = f"atrium_test_{uuid.uuid4().hex[:10]}"
    await execute_autocommit(POSTGRES_URL, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return name


async def _pg_release(name: str, template: str) -> None:
    """After a test: drop the tenant databases it made; then empty its database for the next test
    when its shape is still the template's (copying the template costs ten times more than
    deleting a test's few rows), or drop it when the test changed it (migration tests do)."""
    server = await asyncpg.connect(POSTGRES_URL)
    try:
        rows = await server.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1", f"{name}%")
        for (other,) in rows:
            if other != name:
                await server.execute(f'DROP DATABASE IF EXISTS "{other}" WITH (FORCE)')
        if template not in _SHAPES:
            async with _connected(template) as conn:
                _SHAPES[template] = await _pg_shape(conn)
        # Under a new name, so nothing the test left running can reconnect to what the next test uses.
        fresh = await _renamed(server, name)
        if fresh is None:
            await server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        async with _connected(fresh) as conn:
            reusable = await _pg_emptied(conn, _SHAPES[template])
        if reusable:
            _SPARE.append(fresh)
        else:
            await server.execute(f'DROP DATABASE IF EXISTS "{fresh}" WITH (FORCE)')
    finally:
        await server.close()


_TERMINATE = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()"


async def _renamed(server: asyncpg.Connection, name: str) -> str | None:
    """Close every connection to the database and rename it; None when connections keep coming."""
    fresh = f"atrium_test_{uuid.uuid4().hex[:10]}"
    for _ in range(20):
        await server.execute(_TERMINATE, name)
        try:
            await server.execute(f'ALTER DATABASE "{name}" RENAME TO "{fresh}"')
            return fresh
        except asyncpg.ObjectInUseError:  # a terminated backend has not exited yet, or one reconnected
            await asyncio.sleep(0.05)
    return None


@asynccontextmanager
async def _connected(database: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(_server_url(database))
    try:
        yield conn
    finally:
        await conn.close()


async def _pg_emptied(conn: asyncpg.Connection, shape: str) -> bool:
    """Delete every row (triggers and foreign keys off: the append-only audit trail refuses it
    otherwise) and restart the sequences, in one transaction; False, touching nothing, when the
    database no longer has the template's shape."""
    for schema in await conn.fetch(
        "SELECT nspname FROM pg_namespace WHERE nspname NOT IN ('public', 'information_schema') "
        "AND nspname NOT LIKE 'pg_%'"
    ):
        await conn.execute(f'DROP SCHEMA "{schema[0]}" CASCADE')  # schema-isolated tenants
    if await _pg_shape(conn) != shape:
        return False
    tables = await conn.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE 'alembic_version%'"
    )
    sequences = await conn.fetch("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")
    async with conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute("; ".join(f'DELETE FROM public."{t[0]}"' for t in tables))
        for (sequence,) in sequences:
            await conn.execute(f"SELECT setval('public.\"{sequence}\"', 1, false)")
    return True


@pytest.fixture
async def database_url(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    template = await _migrated_template(backend)
    if backend == "sqlite":
        path = tmp_path / "platform.db"
        with closing(sqlite3.connect(template)) as source, closing(sqlite3.connect(path)) as copy:
            source.backup(copy)
        yield f"sqlite:///{path}"
        return
    name = await _pg_database(template)
    try:
        yield _server_url(name)
    finally:
        await _pg_release(name, template)


def make_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "test",
        "secret_key": TEST_SECRET_KEY,
        "data_dir": data_dir,
        "database_url": database_url,
        "broker_url": "memory://",
        "log_json": False,
        "log_level": "WARNING",
        "event_retry_base_seconds": 0.01,
        "tenant_cache_ttl_seconds": 0.0,
        # cheap Argon2id: the suite hashes hundreds of passwords; bench/ measures the real parameters
        "password_hash_time_cost": 1,
        "password_hash_memory_kib": 1024,
    }
    values.update(overrides)
    if values["env"] == "production" and "password_hash_time_cost" not in overrides:
        del values["password_hash_time_cost"], values["password_hash_memory_kib"]  # production refuses cheap ones
    return Settings(**values)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path / "var")


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    rt = Runtime(settings)
    await migrate_all(rt, show_progress=False)
    try:
        yield rt
    finally:
        await rt.close()


@pytest.fixture
async def admin_token(runtime: Runtime) -> str:
    async with runtime.db.platform_session() as session, session.begin():
        _, _, token = await identity.bootstrap_platform_admin(
            session, f"admin-{uuid.uuid4().hex[:6]}@example.com", password=None, terms_version="test"
        )
    return token


@pytest.fixture
async def client(runtime: Runtime, admin_token: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(runtime=runtime, embedded_worker=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://atrium.test", headers={"Authorization": f"Bearer {admin_token}"}
    ) as c:
        yield c


@pytest.fixture
def rabbitmq_url() -> str:
    require_service("RabbitMQ", RABBITMQ_URL, 5672)
    return RABBITMQ_URL


async def create_tenant(
    client: httpx.AsyncClient, slug: str, isolation: str = "pooled", **extra: Any
) -> dict[str, Any]:
    response = await client.post("/api/v1/platform/tenants", json={"slug": slug, "isolation": isolation, **extra})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "active", body.get("provisioning_error") or body
    return body


REDIS_URL = os.environ.get("ATRIUM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_url() -> str:
    require_service("Redis", REDIS_URL, 6379)
    return REDIS_URL
