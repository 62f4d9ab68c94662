"""Run the two Alembic trees: ``control`` on the platform database and ``tenant`` on each tenant store.

The tenant tree is applied to three kinds of target: the pooled tables (in the platform database,
with row-level security on PostgreSQL), a tenant schema (PostgreSQL) or attached file (SQLite),
and a tenant database.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

MIGRATIONS_DIR = Path(__file__).resolve().parents[3] / "migrations"
POOLED_VERSION_TABLE = "alembic_version_pooled"


@dataclass(frozen=True)
class TenantTarget:
    """Where the tenant tree is applied. ``schema`` is None for pooled tables and tenant databases."""

    pooled: bool = False
    schema: str | None = None
    app_role: str = "atrium_app"

    @property
    def version_table(self) -> str:
        return POOLED_VERSION_TABLE if self.pooled else "alembic_version"


def _config(tree: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR / tree))
    cfg.set_main_option("version_locations", str(MIGRATIONS_DIR / tree / "versions"))
    cfg.set_main_option("path_separator", "os")
    return cfg


@functools.cache
def head_revision(tree: str) -> str:
    head = ScriptDirectory.from_config(_config(tree)).get_current_head()
    assert head is not None, f"migration tree {tree} has no revisions"
    return head


def _upgrade_control(connection: Connection, app_role: str) -> None:
    cfg = _config("control")
    cfg.attributes["connection"] = connection
    cfg.attributes["app_role"] = app_role
    command.upgrade(cfg, "head")


def _upgrade_tenant(connection: Connection, target: TenantTarget) -> str | None:
    cfg = _config("tenant")
    if target.schema is not None:
        connection = connection.execution_options(schema_translate_map={None: target.schema})
    cfg.attributes["connection"] = connection
    cfg.attributes["target"] = target
    command.upgrade(cfg, "head")
    return current_revision(connection, target)


def current_revision(connection: Connection, target: TenantTarget | None = None) -> str | None:
    opts: dict[str, str] = {}
    if target is not None:
        opts["version_table"] = target.version_table
        if target.schema:
            opts["version_table_schema"] = target.schema
    return MigrationContext.configure(connection, opts=opts).get_current_revision()  # type: ignore[arg-type]


async def upgrade_control(conn: AsyncConnection, app_role: str = "atrium_app") -> None:
    await conn.run_sync(_upgrade_control, app_role)


async def upgrade_tenant(conn: AsyncConnection, target: TenantTarget) -> str | None:
    return await conn.run_sync(_upgrade_tenant, target)


def ensure_app_role(role: str) -> None:
    """Inside a migration on PostgreSQL: the application role (no BYPASSRLS) exists, and the
    migrating user may switch to it."""
    from alembic import op

    op.execute(f"DO $$ BEGIN CREATE ROLE {role} NOLOGIN NOBYPASSRLS; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    op.execute(
        f"DO $$ BEGIN GRANT {role} TO CURRENT_USER; "
        "EXCEPTION WHEN insufficient_privilege OR invalid_grant_operation THEN NULL; END $$"
    )


def tenant_schema() -> str | None:
    """Inside a tenant-tree migration: the schema to name in ALTER and DROP operations, which
    (unlike CREATE TABLE) do not go through the connection's schema translation."""
    from alembic import context

    target: TenantTarget | None = context.config.attributes.get("target")
    return target.schema if target is not None else None


def protect_pooled_table(table: str) -> None:
    """Inside a tenant-tree migration: on the pooled PostgreSQL target, back the ORM's tenant
    filter with forced row-level security, and let the application role use the table."""
    from alembic import context, op

    target: TenantTarget | None = context.config.attributes.get("target")
    if target is None or not target.pooled or op.get_bind().dialect.name != "postgresql":
        return
    role = target.app_role
    ensure_app_role(role)
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    predicate = "tenant_id = current_setting('atrium.tenant_id', true)"
    op.execute(f"CREATE POLICY tenant_isolation ON {table} USING ({predicate}) WITH CHECK ({predicate})")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {role}")
