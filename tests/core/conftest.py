"""Fixtures for the core tests: the operator's CLI run against the test's own databases."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator

import pytest
from click.testing import Result
from typer.testing import CliRunner

from atrium.cli.main import app
from atrium.core.settings import Settings, get_settings
from tests.conftest import TEST_SECRET_KEY

InvokeCli = Callable[..., Awaitable[Result]]


@pytest.fixture
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[InvokeCli]:
    """``await cli("audit", "verify")``: runs ``atrium`` on the test's platform database.

    The command runs ``asyncio.run`` itself, so it goes to a thread, off the test's event loop.
    """
    monkeypatch.setenv("ATRIUM_ENV", "test")
    monkeypatch.setenv("ATRIUM_SECRET_KEY", TEST_SECRET_KEY)
    monkeypatch.setenv("ATRIUM_DATABASE_URL", settings.platform_database_url)
    monkeypatch.setenv("ATRIUM_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("ATRIUM_BROKER_URL", settings.broker_url)
    monkeypatch.setenv("ATRIUM_EVENT_RETRY_BASE_SECONDS", str(settings.event_retry_base_seconds))
    monkeypatch.setenv("ATRIUM_LOG_JSON", "false")
    monkeypatch.delenv("ATRIUM_REDIS_URL", raising=False)
    get_settings.cache_clear()
    runner = CliRunner()

    async def invoke(*args: str) -> Result:
        return await asyncio.to_thread(runner.invoke, app, list(args))

    try:
        yield invoke
    finally:
        get_settings.cache_clear()


def flat(output: str) -> str:
    """CLI output with whitespace runs (including any line wrapping) collapsed."""
    return " ".join(output.split())
