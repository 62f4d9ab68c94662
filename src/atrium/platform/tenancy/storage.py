"""Creating, migrating and dropping a tenant's storage in each isolation mode. Every function
is idempotent, so a provisioning or deletion interrupted anywhere can simply run again."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import delete, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from atrium.core.db import TenantBase, autocommit_connection, is_sqlite
from atrium.core.migrate import TenantTarget, head_revision, upgrade_tenant
from atrium.core.tenancy import SQLITE_TENANT_ALIAS, Database, TenantRef

_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def storage_name_for(db: Database, tenant_id: str, isolation: str) -> str | None:
    """Schema name, database name or file stem; deterministic from the tenant id."""
    hex_id = tenant_id.replace("-", "")
    if isolation == "pooled":
        return None
    if isolation == "database" and not db.is_sqlite:
        platform_db = re.sub(r"[^a-z0-9_]", "_", (make_url(db.url).database or "atrium").lower())
        return f"{platform_db[:30]}_t_{hex_id[:24]}"
    return f"t_{hex_id}"


def _quoted(identifier: str) -> str:
    if not _IDENT.match(identifier):
        raise ValueError(f"unsafe identifier {identifier!r}")
    return f'"{identifier}"'


async def create_storage(db: Database, tenant: TenantRef) -> str:
    """Make the schema, database or file; returns a description for the provisioning log."""
    if tenant.isolation == "pooled":
        return "shared tables"
    assert tenant.storage_name
    if tenant.isolation == "schema" and db.is_sqlite:
        path = db.sqlite_tenant_file(tenant.storage_name)
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"file {path.name}"
    if tenant.isolation == "schema":
        async with db.engine.begin() as conn:
            await conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {_quoted(tenant.storage_name)}")
        return f"schema {tenant.storage_name}"
    url = db.tenant_database_url(tenant)
    if is_sqlite(url):
        file = Path(make_url(url).database or "")
        file.parent.mkdir(parents=True, exist_ok=True)
        return f"file {file.name}"
    server = db.settings.region_server_url(tenant.region)
    assert server
    async with autocommit_connection(server) as conn:
        exists = await conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": tenant.storage_name})
        if exists.scalar() is None:
            await conn.exec_driver_sql(f"CREATE DATABASE {_quoted(tenant.storage_name)}")
    return f"database {tenant.storage_name} in region {tenant.region}"


async def migrate_storage(db: Database, tenant: TenantRef) -> str | None:
    """Bring the tenant's tables to the tenant tree's head; returns the revision reached."""
    role = db.settings.app_role
    if tenant.isolation == "pooled":
        async with db.engine.connect() as conn:
            return await _upgrade(conn, TenantTarget(pooled=True, app_role=role))
    if tenant.isolation == "schema" and db.is_sqlite:
        async with db._attached(tenant) as conn:
            return await _upgrade(conn, TenantTarget(schema=SQLITE_TENANT_ALIAS, app_role=role))
    if tenant.isolation == "schema":
        assert tenant.storage_name
        async with db.engine.connect() as conn:
            return await _upgrade(conn, TenantTarget(schema=tenant.storage_name, app_role=role))
    engine = await db.tenant_engines.get(db.tenant_database_url(tenant))
    async with engine.connect() as conn:
        return await _upgrade(conn, TenantTarget(app_role=role))


async def _upgrade(conn: AsyncConnection, target: TenantTarget) -> str | None:
    """Run the tenant tree unless the target already stands at head."""
    head = head_revision("tenant")
    if await _stored_revision(conn, target) == head:
        return head
    revision = await upgrade_tenant(conn, target)
    await conn.commit()
    return revision


async def _stored_revision(conn: AsyncConnection, target: TenantTarget) -> str | None:
    """A plain read of the version table: far cheaper than Alembic's catalog inspection, which
    slows down as thousands of schemas fill the catalog."""
    table = f"{_quoted(target.schema)}.{target.version_table}" if target.schema else target.version_table
    statement = f"SELECT version_num FROM {table}"
    try:
        if conn.dialect.name == "postgresql":
            async with conn.begin_nested():  # a missing table must not abort the transaction
                return (await conn.exec_driver_sql(statement)).scalar()
        return (await conn.exec_driver_sql(statement)).scalar()
    except DBAPIError:
        return None


async def drop_storage(db: Database, tenant: TenantRef) -> str:
    """Remove every row, schema, database or file of the tenant; the audit trail stays."""
    if tenant.isolation == "pooled":
        # Through the tenant session: with forced row-level security only a transaction that
        # carries the tenant's id may see (and so delete) its rows, whoever owns the tables.
        deleted = 0
        async with db.tenant_session(tenant) as session, session.begin():
            if not db.is_sqlite:  # lets the ledger's immutability triggers allow this one purge
                await session.execute(text("SELECT set_config('atrium.purge', 'on', true)"))
            for table in reversed(TenantBase.metadata.sorted_tables):
                result = await session.execute(delete(table).where(table.c.tenant_id == tenant.id))
                deleted += result.rowcount  # type: ignore[attr-defined]
        return f"{deleted} pooled rows deleted"
    assert tenant.storage_name
    if tenant.isolation == "schema" and not db.is_sqlite:
        async with db.engine.begin() as conn:
            await conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {_quoted(tenant.storage_name)} CASCADE")
        return f"schema {tenant.storage_name} dropped"
    if tenant.isolation == "schema":
        path = db.sqlite_tenant_file(tenant.storage_name)
    else:
        url = db.tenant_database_url(tenant)
        await db.tenant_engines.discard(url)
        if not is_sqlite(url):
            server = db.settings.region_server_url(tenant.region)
            assert server
            async with autocommit_connection(server) as conn:
                await conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {_quoted(tenant.storage_name)} WITH (FORCE)")
            return f"database {tenant.storage_name} dropped"
        path = Path(make_url(url).database or "")
    for suffix in ("", "-wal", "-shm", "-journal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    return f"file {path.name} removed"
