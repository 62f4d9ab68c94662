"""Fixtures of the tenancy tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from atrium.api.app import create_app
from atrium.cli.migrate import migrate_all
from atrium.platform.identity import service as identity
from atrium.runtime import Runtime
from tests.conftest import make_settings

AppFactory = Callable[..., Awaitable[tuple[Runtime, httpx.AsyncClient]]]


@pytest.fixture
async def app_factory(database_url: str, tmp_path: Path) -> AsyncIterator[AppFactory]:
    """Like the ``runtime`` + ``client`` fixtures, but with settings overrides:
    ``rt, client = await app_factory(tenant_engine_cache_size=2)``. Once per test."""
    async with AsyncExitStack() as stack:

        async def make(**overrides: Any) -> tuple[Runtime, httpx.AsyncClient]:
            rt = Runtime(make_settings(database_url, tmp_path / "var", **overrides))
            stack.push_async_callback(rt.close)
            await migrate_all(rt, show_progress=False)
            async with rt.db.platform_session() as session, session.begin():
                _, _, token = await identity.bootstrap_platform_admin(
                    session, f"admin-{uuid.uuid4().hex[:6]}@example.com", password=None, terms_version="test"
                )
            client = await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=create_app(runtime=rt, embedded_worker=False)),
                    base_url="http://atrium.test",
                    headers={"Authorization": f"Bearer {token}"},
                )
            )
            return rt, client

        yield make
