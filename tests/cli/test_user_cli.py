"""`atrium user create`: an operator bootstraps the first platform administrator."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from atrium.api.app import create_app
from atrium.cli.main import app
from atrium.core.settings import get_settings
from atrium.runtime import Runtime
from tests.conftest import TEST_SECRET_KEY, make_settings


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path) -> Path:
    data_dir = tmp_path / "var"
    for name, value in {
        "ATRIUM_DATABASE_URL": database_url,
        "ATRIUM_DATA_DIR": str(data_dir),
        "ATRIUM_ENV": "test",
        "ATRIUM_SECRET_KEY": TEST_SECRET_KEY,
        "ATRIUM_LOG_JSON": "false",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    return data_dir


def _invoke(*args: str) -> tuple[int, str]:
    get_settings.cache_clear()
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


async def test_a_platform_administrator_created_from_the_cli_can_sign_in_and_administer(
    cli_env: Path, database_url: str
) -> None:
    # the CLI runs its own event loop: call it from a thread
    assert (await asyncio.to_thread(_invoke, "migrate"))[0] == 0
    code, output = await asyncio.to_thread(
        _invoke, "user", "create", "Ops@Example.com", "--platform-admin", "--generate"
    )
    assert code == 0, output
    password = re.search(r"password: (\S+)", output)
    assert password, output
    rt = Runtime(make_settings(database_url, cli_env))
    try:
        client_app = create_app(runtime=rt, embedded_worker=False)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=client_app), base_url="http://t") as client:
            login = await client.post(
                "/api/v1/auth/login", json={"email": "ops@example.com", "password": password.group(1)}
            )
            assert login.status_code == 200, login.text
            assert (await client.get("/api/v1/platform/tenants")).status_code == 200
    finally:
        await rt.close()


def test_bad_input_is_refused(cli_env: Path) -> None:
    assert _invoke("migrate")[0] == 0
    assert _invoke("user", "create", "not-an-email", "--generate")[0] == 2
    assert _invoke("user", "create", "a@example.com", "--password", "short")[0] == 2
    assert _invoke("user", "create", "a@example.com", "--password", "long enough password")[0] == 0
    code, output = _invoke("user", "create", "a@example.com", "--password", "long enough password")
    assert code == 1 and "already exists" in output
