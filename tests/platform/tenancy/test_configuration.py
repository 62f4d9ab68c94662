"""Start-up configuration: production refuses insecure defaults; database URLs pick async drivers."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from atrium.core.db import async_url, is_sqlite
from atrium.core.settings import DEVELOPMENT_SECRET_KEY, InsecureConfiguration, Settings
from atrium.runtime import Runtime
from tests.conftest import make_settings


def _settings(tmp_path: Path, **overrides: object) -> Settings:
    return make_settings(f"sqlite:///{tmp_path / 'platform.db'}", tmp_path / "var", **overrides)


def test_production_with_the_default_secret_refuses_to_start(tmp_path: Path) -> None:
    settings = _settings(tmp_path, env="production", secret_key=DEVELOPMENT_SECRET_KEY)
    assert settings.secret_key.get_secret_value() == DEVELOPMENT_SECRET_KEY
    with pytest.raises(InsecureConfiguration, match="ATRIUM_SECRET_KEY"):
        Runtime(settings)


def test_production_with_a_short_secret_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(InsecureConfiguration, match="32 characters"):
        Runtime(_settings(tmp_path, env="production", secret_key="too-short-but-not-default"))


async def test_production_with_a_long_secret_starts(tmp_path: Path) -> None:
    runtime = Runtime(_settings(tmp_path, env="production", secret_key="s" * 48))
    try:
        assert runtime.settings.env == "production"
    finally:
        await runtime.close()


async def test_only_development_accepts_the_default_secret(tmp_path: Path) -> None:
    runtime = Runtime(_settings(tmp_path, env="development", secret_key=DEVELOPMENT_SECRET_KEY))
    await runtime.close()
    with pytest.raises(InsecureConfiguration, match="ATRIUM_SECRET_KEY"):
        Runtime(_settings(tmp_path, env="test", secret_key=DEVELOPMENT_SECRET_KEY))


def test_settings_come_from_atrium_environment_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ATRIUM_ENV", "production")
    monkeypatch.setenv("ATRIUM_TENANT_ENGINE_CACHE_SIZE", "3")
    monkeypatch.setenv("ATRIUM_REGIONS", '{"eu": "postgresql://db-eu/postgres"}')
    monkeypatch.setenv("ATRIUM_DATA_DIR", str(tmp_path / "data"))
    settings = Settings()
    assert (settings.env, settings.tenant_engine_cache_size) == ("production", 3)
    assert settings.known_regions == ["default", "eu"]
    assert settings.region_server_url("eu") == "postgresql://db-eu/postgres"
    assert settings.region_server_url("default") == f"sqlite:///{tmp_path / 'data' / 'platform.db'}"
    assert settings.region_server_url("mars") is None
    with pytest.raises(InsecureConfiguration):
        settings.check()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@db:5432/atrium", "postgresql+asyncpg://u:p@db:5432/atrium"),
        ("postgresql+psycopg2://u@db/atrium", "postgresql+asyncpg://u@db/atrium"),
        ("postgresql+asyncpg://u@db/atrium", "postgresql+asyncpg://u@db/atrium"),
        ("sqlite:///var/platform.db", "sqlite+aiosqlite:///var/platform.db"),
        ("sqlite+aiosqlite:////abs/platform.db", "sqlite+aiosqlite:////abs/platform.db"),
    ],
)
def test_async_url_picks_the_async_driver(given: str, expected: str) -> None:
    assert async_url(given) == expected


def test_async_url_keeps_the_password() -> None:
    assert make_url(async_url("postgresql://user:s3cr%40t@db/atrium")).password == "s3cr@t"


@pytest.mark.parametrize("url", ["mysql://u@db/atrium", "mssql+pyodbc://u@db/atrium", "oracle://u@db/x"])
def test_async_url_rejects_other_databases(url: str) -> None:
    with pytest.raises(ValueError, match="unsupported database URL"):
        async_url(url)


def test_is_sqlite() -> None:
    assert is_sqlite("sqlite:///x.db") and is_sqlite("sqlite+aiosqlite:///x.db")
    assert not is_sqlite("postgresql://db/atrium")
