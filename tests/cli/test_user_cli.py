"""`atrium user create`: an operator bootstraps the first platform administrator."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from atrium.api.app import create_app
from atrium.cli.main import app
from atrium.core.settings import get_settings
from atrium.platform.identity.models import ApiKey, EmailToken, User
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


async def _app_client(database_url: str, data_dir: Path) -> tuple[Runtime, httpx.AsyncClient]:
    rt = Runtime(make_settings(database_url, data_dir))
    transport = httpx.ASGITransport(app=create_app(runtime=rt, embedded_worker=False))
    return rt, httpx.AsyncClient(transport=transport, base_url="http://t")


async def test_a_setup_link_lets_the_person_choose_their_password_once(cli_env: Path, database_url: str) -> None:
    assert (await asyncio.to_thread(_invoke, "migrate"))[0] == 0
    code, output = await asyncio.to_thread(
        _invoke, "user", "create", "ops@example.com", "--platform-admin", "--setup-link"
    )
    assert code == 0, output
    assert "password:" not in output  # nothing to copy but the link
    link = re.search(r"(\S+)/reset-password\?token=(\S+)", output)
    assert link, output
    token = link.group(2)
    rt, client = await _app_client(database_url, cli_env)
    try:
        async with rt.db.platform_session() as session:
            stored = (await session.execute(select(EmailToken))).scalar_one()
        assert abs(stored.expires_at - stored.created_at - dt.timedelta(hours=24)) < dt.timedelta(seconds=5)
        async with client:
            password = "a passphrase the operator never sees"
            confirm = "/api/v1/auth/password-reset/confirm"
            assert (await client.post(confirm, json={"token": token, "password": password})).status_code == 204
            again = await client.post(confirm, json={"token": token, "password": password + " again"})
            assert again.status_code == 400
            login = await client.post("/api/v1/auth/login", json={"email": "ops@example.com", "password": password})
            assert login.status_code == 200, login.text
            assert (await client.get("/api/v1/platform/tenants")).status_code == 200
    finally:
        await rt.close()


async def test_demo_creates_the_administrator_and_its_key_once(cli_env: Path, database_url: str) -> None:
    code, first = await asyncio.to_thread(_invoke, "demo")
    assert code == 0, first
    found = re.search(r"Platform administrator\s+(\S+@\S+)\s+password:\s*(\S+)", first)
    key = re.search(r"Platform API key: (atk_\S+)", first)
    assert found and key, first
    code, second = await asyncio.to_thread(_invoke, "demo")
    assert code == 0, second
    assert "shown once" not in second and "atk_" not in second

    rt, client = await _app_client(database_url, cli_env)
    try:
        async with client:
            tenants = await client.get("/api/v1/platform/tenants", headers={"Authorization": f"Bearer {key.group(1)}"})
            assert tenants.status_code == 200, tenants.text
            assert [t["slug"] for t in tenants.json()["items"]] == ["demo"]
            email, password = found.groups()
            login = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
            assert login.status_code == 200, login.text
            assert [(m["tenant_slug"], m["role"]) for m in login.json()["memberships"]] == [("demo", "Tenant Admin")]
        async with rt.db.platform_session() as session:
            assert await session.scalar(select(func.count()).select_from(User)) == 1
            assert await session.scalar(select(func.count()).select_from(ApiKey)) == 1
    finally:
        await rt.close()
