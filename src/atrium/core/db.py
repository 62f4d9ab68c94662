"""Engines, metadata and the two declarative bases (control plane and tenant data).

Control-plane tables live in the platform database. Tenant tables carry ``tenant_id`` and live
wherever the tenant's isolation mode puts them; see ``platform.tenancy.routing``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import DateTime, MetaData, String, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import ConnectionPoolEntry, NullPool
from sqlalchemy.types import TypeDecorator

from atrium.core.settings import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def canonical_json(value: Any) -> str:
    """The one JSON text of a value (sorted keys, no spaces). Engines store JSON columns this way,
    so the audit chain can hash the stored text without parsing it."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_id() -> str:
    """A random (version 4) UUID as text, the same as ``str(uuid.uuid4())`` at a third of the cost:
    a posting makes one per line."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; Atrium stores aware UTC times only")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class ControlBase(DeclarativeBase):
    """Tables of the platform database (tenants, audit, outbox, jobs …)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TenantBase(DeclarativeBase):
    """Tables of tenant data; every one carries ``tenant_id`` (see ``TenantScoped``)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TenantScoped:
    """Mixin for tenant tables: the tenant session filters and stamps ``tenant_id`` itself."""

    tenant_id: Mapped[str] = mapped_column(String(36), index=True)


class Timestamped:
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


def async_url(url: str) -> str:
    """Pick the async driver for a plain ``postgresql://`` or ``sqlite:///`` URL."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql" and parsed.drivername != "postgresql+asyncpg":
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif backend == "sqlite" and parsed.drivername != "sqlite+aiosqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif backend not in ("postgresql", "sqlite"):
        raise ValueError(f"unsupported database URL scheme {parsed.drivername!r}: use postgresql:// or sqlite:///")
    return parsed.render_as_string(hide_password=False)


class PrologueConnection(asyncpg.Connection):  # type: ignore[misc]
    """An asyncpg connection that sends a few statements together with its next ``BEGIN``.

    The SQLAlchemy adapter opens a transaction lazily, with a ``BEGIN`` of its own just before
    the first statement. A session that must set something up first (row-level security's role
    and tenant) would pay one more round trip; set as a prologue, that SQL travels in the same
    simple-query message as the ``BEGIN``. Values must be inlined, so callers quote them
    (``sql_literal``)."""

    __slots__ = ("_prologue",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._prologue: str | None = None

    def set_prologue(self, sql: str | None) -> None:
        self._prologue = sql

    @property
    def prologue_pending(self) -> bool:
        return self._prologue is not None

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str:  # noqa: ASYNC109 (asyncpg's signature)
        prologue = self._prologue
        if prologue is None or args or not query.startswith("BEGIN"):
            return await super().execute(query, *args, timeout=timeout)  # type: ignore[no-any-return]
        self._prologue = None
        try:
            return await super().execute(f"{query.rstrip(';')}; {prologue}", timeout=timeout)  # type: ignore[no-any-return]
        except BaseException:
            # The BEGIN ran, the prologue failed: the server holds an aborted transaction that
            # nobody would end (the adapter never saw it start), and asyncpg still counts it as
            # this connection's transaction (its own slot, _top_xact). End both, or the pool hands
            # out a broken connection.
            self._top_xact = None  # type: ignore[misc]
            try:
                await super().execute("ROLLBACK")
            except BaseException:
                self.terminate()
            raise


def sql_literal(value: str) -> str:
    """A PostgreSQL string literal. A backslash or NUL is refused, so the quoting holds whatever
    ``standard_conforming_strings`` is; the values inlined here are ids and role names."""
    if "\x00" in value or "\\" in value:
        raise ValueError("a NUL or backslash in an SQL literal")
    return "'" + value.replace("'", "''") + "'"


async def driver_of(conn: AsyncConnection) -> Any:
    """The driver connection under ``conn``, for raw driver calls in the SQLAlchemy transaction.
    A prologue still waiting for its BEGIN (row-level security) is sent first, so raw calls run
    with it, as the session's own statements would."""
    driver = (await conn.get_raw_connection()).driver_connection
    if isinstance(driver, PrologueConnection) and driver.prologue_pending:
        await conn.exec_driver_sql("SELECT 1")
    return driver


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(
    url: str, settings: Settings, *, pool_size: int | None = None, max_overflow: int | None = None
) -> AsyncEngine:
    """An async engine; SQLite gets WAL, a busy timeout and foreign keys on every connection."""
    aurl = async_url(url)
    if is_sqlite(aurl):
        database = make_url(aurl).database
        if database and database != ":memory:":
            from pathlib import Path

            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            aurl, connect_args={"timeout": settings.sqlite_busy_timeout_ms / 1000}, json_serializer=canonical_json
        )
        busy = settings.sqlite_busy_timeout_ms

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={int(busy)}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    engine = create_async_engine(
        aurl,
        connect_args={"connection_class": PrologueConnection},
        pool_size=pool_size or settings.pool_size,
        max_overflow=settings.pool_max_overflow if max_overflow is None else max_overflow,
        pool_pre_ping=settings.db_pool_pre_ping,
        pool_recycle=settings.db_pool_recycle_seconds,
        json_serializer=canonical_json,
    )

    @event.listens_for(engine.sync_engine, "checkin")
    def _forget_prologue(dbapi_connection: DBAPIConnection | None, record: ConnectionPoolEntry) -> None:
        """A prologue no statement picked up must not reach the connection's next user."""
        driver = getattr(dbapi_connection, "driver_connection", None)
        if isinstance(driver, PrologueConnection):
            driver.set_prologue(None)

    return engine


@asynccontextmanager
async def autocommit_connection(url: str) -> AsyncIterator[AsyncConnection]:
    """A one-off autocommit connection (CREATE/DROP DATABASE cannot run in a transaction)."""
    engine = create_async_engine(async_url(url), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            yield conn
    finally:
        await engine.dispose()


async def execute_autocommit(url: str, *statements: str) -> list[list[Any] | None]:
    """Run statements outside any transaction; returns each one's rows (None when it has none)."""
    results: list[list[Any] | None] = []
    async with autocommit_connection(url) as conn:
        for statement in statements:
            result = await conn.execute(text(statement))
            results.append(list(result.fetchall()) if result.returns_rows else None)
    return results
