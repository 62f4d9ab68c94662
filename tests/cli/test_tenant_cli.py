"""The operator's CLI on a real database: `atrium migrate` and `atrium tenant …`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner, Result

from atrium.cli.main import app
from atrium.core import settings as settings_module
from atrium.core.db import async_url
from atrium.core.migrate import head_revision
from atrium.platform.tenancy import storage
from tests.conftest import TEST_SECRET_KEY


@pytest.fixture
def cli(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Invoke the CLI against the test database; fails the test on an unexpected exit code."""
    monkeypatch.setenv("ATRIUM_DATABASE_URL", database_url)
    monkeypatch.setenv("ATRIUM_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("ATRIUM_ENV", "test")
    monkeypatch.setenv("ATRIUM_SECRET_KEY", TEST_SECRET_KEY)
    monkeypatch.setenv("ATRIUM_BROKER_URL", "memory://")
    monkeypatch.setenv("ATRIUM_LOG_JSON", "false")
    monkeypatch.setenv("ATRIUM_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("ATRIUM_REGIONS", "{}")
    settings_module.get_settings.cache_clear()
    runner = CliRunner()

    def invoke(*args: str, code: int = 0) -> Result:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, (args, result.exit_code, result.stdout, result.stderr, result.exception)
        return result

    invoke("migrate")
    yield invoke
    settings_module.get_settings.cache_clear()


def _sql(database_url: str, statement: str, **params: Any) -> list[Any]:
    """Run one statement on the test database from a synchronous test."""

    async def run() -> list[Any]:
        engine = create_async_engine(async_url(database_url), poolclass=NullPool)
        try:
            async with engine.begin() as conn:
                result = await conn.execute(text(statement), params)
                return list(result.all()) if result.returns_rows else []
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _storage_exists(database_url: str, data_dir: Path, tenant_id: str) -> bool:
    """Whether a schema tenant's schema (PostgreSQL) or file (SQLite) exists."""
    name = f"t_{tenant_id.replace('-', '')}"
    if database_url.startswith("sqlite"):
        return (data_dir / "tenants" / f"{name}.db").exists()
    return bool(_sql(database_url, "SELECT 1 FROM information_schema.schemata WHERE schema_name = :n", n=name))


def test_tenant_commands_end_to_end(cli: Any, database_url: str, tmp_path: Path) -> None:
    created = cli("tenant", "create", "acme", "--isolation", "schema", "--name", "Acme Corp", "--json")
    tenant = json.loads(created.stdout)
    assert (tenant["slug"], tenant["name"], tenant["status"]) == ("acme", "Acme Corp", "active")
    assert (tenant["isolation"], tenant["region"], tenant["provisioning_error"]) == ("schema", "default", None)
    cli("tenant", "create", "globex", "--json")

    listed = json.loads(cli("tenant", "list", "--json").stdout)
    assert [(t["slug"], t["isolation"], t["status"]) for t in listed] == [
        ("acme", "schema", "active"),
        ("globex", "pooled", "active"),
    ]

    shown = cli("tenant", "show", "acme")
    assert "acme" in shown.stdout and "active" in shown.stdout and tenant["id"] in shown.stdout
    for step in ("record", "storage", "migrations", "default_roles", "sample_data"):
        assert step in shown.stdout
    detail = json.loads(cli("tenant", "show", tenant["id"], "--json").stdout)
    assert [s["status"] for s in detail["provisioning"]] == ["succeeded"] * 7 + ["skipped"]

    suspended = json.loads(cli("tenant", "suspend", "acme", "--reason", "unpaid", "--json").stdout)
    assert suspended["status"] == "suspended"
    again = cli("tenant", "suspend", "acme", code=1)
    assert "cannot suspend tenant 'acme' while it is suspended" in again.stderr
    assert json.loads(cli("tenant", "resume", "acme", "--json").stdout)["status"] == "active"
    refused = cli("tenant", "delete", "acme", "--yes", code=1)
    assert "cannot delete" in refused.stderr
    assert "archived" in cli("tenant", "archive", "acme").stdout
    assert _storage_exists(database_url, tmp_path / "var", tenant["id"])
    deleted = json.loads(cli("tenant", "delete", "acme", "--yes", "--reason", "closed", "--json").stdout)
    assert (deleted["status"], deleted["slug"]) == ("deleted", "acme")
    assert deleted["deleted_at"] is not None
    assert not _storage_exists(database_url, tmp_path / "var", tenant["id"])

    assert [t["slug"] for t in json.loads(cli("tenant", "list", "--json").stdout)] == ["globex"]
    tombstones = json.loads(cli("tenant", "list", "--json", "--include-deleted").stdout)
    assert {t["slug"]: t["status"] for t in tombstones} == {"acme": "deleted", "globex": "active"}
    verified = cli("audit", "verify", "--tenant", "acme")  # the trail outlives the tenant
    assert f"intact chain {tenant['id']}" in verified.stdout


def test_bad_slug_and_unknown_region_exit_non_zero(cli: Any) -> None:
    bad = cli("tenant", "create", "Bad_Slug", code=2)
    assert "slug must be 1-63 characters of [a-z0-9-]" in bad.stderr
    far = cli("tenant", "create", "far-away", "--isolation", "database", "--region", "mars", code=1)
    assert "region 'mars' has no configured store" in far.stderr
    wrong_mode = cli("tenant", "create", "odd-mode", "--isolation", "sharded", code=2)
    assert "sharded" in wrong_mode.stderr
    missing = cli("tenant", "show", "nobody", code=1)
    assert "no tenant 'nobody'" in missing.stderr
    cli("tenant", "create", "taken")
    taken = cli("tenant", "create", "taken", code=1)
    assert "already exists" in taken.stderr
    assert [t["slug"] for t in json.loads(cli("tenant", "list", "--json").stdout)] == ["taken"]


def test_migrate_command_reports_a_failing_tenant_and_resumes(
    cli: Any, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for slug in ("cm-a", "cm-b", "cm-c"):
        cli("tenant", "create", slug, "--isolation", "schema")
    _sql(database_url, "UPDATE tenants SET schema_revision = NULL WHERE slug IN ('cm-a', 'cm-b', 'cm-c')")
    real = storage.migrate_storage
    attempted: list[str] = []

    async def migrate_storage(db: Any, tenant: Any) -> str | None:
        attempted.append(tenant.slug)
        if tenant.slug == "cm-b":
            raise RuntimeError("lock timeout [on purpose]")
        return await real(db, tenant)

    monkeypatch.setattr(storage, "migrate_storage", migrate_storage)
    failed = cli("migrate", code=1)
    assert "migrated 1, already current 0, failed 1" in failed.stdout
    assert "cm-b: RuntimeError: lock timeout [on purpose]" in failed.stderr
    assert attempted == ["", "cm-a", "cm-b"]

    monkeypatch.setattr(storage, "migrate_storage", real)
    resumed = cli("migrate")
    assert "migrated 2, already current 1, failed 0" in resumed.stdout
    revisions = dict(_sql(database_url, "SELECT slug, schema_revision FROM tenants"))
    assert set(revisions.values()) == {head_revision("tenant")}
