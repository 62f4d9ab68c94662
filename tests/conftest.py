"""Shared fixtures. Every database test runs on SQLite and on PostgreSQL (``backend`` param).

PostgreSQL: ``ATRIUM_TEST_POSTGRES_URL`` (default the local server); each test gets its own
database, dropped afterwards with every tenant database it created. Each worker migrates one
template database per backend once; a test's database is a copy of it (``CREATE DATABASE …
TEMPLATE`` / SQLite's backup API), so the migrations the test then runs find nothing to do. With ``CI=true`` a missing
PostgreSQL or RabbitMQ fails the run instead of skipping.
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
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

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
    database = _TEMPLATES.pop("postgresql", None)
    if database is not None:
        asyncio.run(execute_autocommit(POSTGRES_URL, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    shutil.rmtree(_TEMPLATE_DIR, ignore_errors=True)


@pytest.fixture
async def database_url(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    template = await _migrated_template(backend)
    if backend == "sqlite":
        path = tmp_path / "platform.db"
        with closing(sqlite3.connect(template)) as source, closing(sqlite3.connect(path)) as copy:
            source.backup(copy)
        yield f"sqlite:///{path}"
        return
    name = f"atrium_test_{uuid.uuid4().hex[:10]}"
    await execute_autocommit(POSTGRES_URL, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield _server_url(name)
    finally:
        [rows] = await execute_autocommit(POSTGRES_URL, f"SELECT datname FROM pg_database WHERE datname LIKE '{name}%'")
        await execute_autocommit(POSTGRES_URL, *[f'DROP DATABASE IF EXISTS "{r[0]}" WITH (FORCE)' for r in rows])


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
