"""Tenancy routing: which engine, schema or attached file a tenant's session uses.

Nothing outside this module filters by tenant by hand. A tenant session carries the tenant id in
``session.info``; the ORM listeners below add ``tenant_id = :id`` to every ORM statement on tenant
tables and stamp it on new rows. On PostgreSQL pooled tenants the session also runs as the
application role with ``atrium.tenant_id`` set for the transaction, so row-level security refuses
whatever the ORM filter might have missed (raw SQL included).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, with_loader_criteria
from sqlalchemy.sql.elements import BindParameter

from atrium.core.db import PrologueConnection, TenantScoped, create_engine, is_sqlite, sql_literal
from atrium.core.settings import Settings

SQLITE_TENANT_ALIAS = "tenant"


@dataclass(frozen=True)
class TenantRef:
    """What routing needs to know about a tenant; cached, immutable, cheap to pass to jobs."""

    id: str
    slug: str
    name: str
    isolation: str
    region: str
    status: str
    storage_name: str | None


class EngineCache:
    """A bounded LRU of engines for database-mode tenants: connections stay bounded however
    many tenants there are (capacity × small pool)."""

    def __init__(self, capacity: int, factory: Callable[[str], AsyncEngine]) -> None:
        self.capacity = capacity
        self._factory = factory
        self._engines: OrderedDict[str, AsyncEngine] = OrderedDict()
        self._lock = asyncio.Lock()

    def __len__(self) -> int:
        return len(self._engines)

    async def get(self, url: str) -> AsyncEngine:
        engine = self._engines.get(url)
        if engine is not None:
            self._engines.move_to_end(url)
            return engine
        async with self._lock:
            engine = self._engines.get(url)
            if engine is None:
                engine = self._factory(url)
                self._engines[url] = engine
                while len(self._engines) > self.capacity:
                    _, evicted = self._engines.popitem(last=False)
                    await evicted.dispose()
            return engine

    async def discard(self, url: str) -> None:
        engine = self._engines.pop(url, None)
        if engine is not None:
            await engine.dispose()

    async def dispose(self) -> None:
        for engine in self._engines.values():
            await engine.dispose()
        self._engines.clear()


class Database:
    """The platform engine plus the routing of tenant sessions."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = settings.platform_database_url
        self.is_sqlite = is_sqlite(self.url)
        self._schema_binds: OrderedDict[str, AsyncEngine] = OrderedDict()
        self.engine = create_engine(self.url, settings)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.tenant_engines = EngineCache(settings.tenant_engine_cache_size, self._tenant_engine)

    @property
    def tenants_dir(self) -> Path:
        return self.settings.data_dir / "tenants"

    def _tenant_engine(self, url: str) -> AsyncEngine:
        return create_engine(
            url,
            self.settings,
            pool_size=self.settings.tenant_pool_size,
            max_overflow=self.settings.tenant_pool_max_overflow,
        )

    # -- where a tenant's data lives ------------------------------------------------------

    def sqlite_tenant_file(self, storage_name: str, region_url: str | None = None) -> Path:
        base = Path(make_url(region_url).database or "").parent / "tenants" if region_url else self.tenants_dir
        return base / f"{storage_name}.db"

    def tenant_database_url(self, tenant: TenantRef) -> str:
        """The URL of a database-mode tenant's own database, on its region's server."""
        assert tenant.storage_name, "database-mode tenant without storage"
        server = self.settings.region_server_url(tenant.region)
        if server is None:
            raise LookupError(f"no store configured for region {tenant.region!r}")
        if is_sqlite(server):
            region_url = None if tenant.region == "default" else server
            return f"sqlite:///{self.sqlite_tenant_file(tenant.storage_name, region_url)}"
        return make_url(server).set(database=tenant.storage_name).render_as_string(hide_password=False)

    # -- sessions ----------------------------------------------------------------------------

    def platform_session(self) -> AsyncSession:
        return self.sessions()

    @asynccontextmanager
    async def tenant_session(self, tenant: TenantRef) -> AsyncIterator[AsyncSession]:
        """A session that can only see ``tenant``'s rows. The caller commits."""
        if tenant.isolation == "schema" and self.is_sqlite:
            async with self._attached(tenant) as conn:
                attached = await conn.execution_options(schema_translate_map={None: SQLITE_TENANT_ALIAS})
                session = _scoped(AsyncSession(attached, expire_on_commit=False), tenant)
                try:
                    yield session
                finally:
                    await session.close()
            return
        session = await self._session_of(tenant)
        try:
            yield session
        finally:
            await session.close()

    async def _session_of(self, tenant: TenantRef) -> AsyncSession:
        """A tenant session on the tenant's own engine (all modes but SQLite schemas, which attach).
        Its callers close it with ``await session.close()`` rather than ``async with``: the
        session's own ``__aexit__`` runs the close in a task of its own, measurably slower on
        every request (about 2 % of a tenant GET), and the route's units of work already close
        shielded from cancellation."""
        if tenant.isolation == "database":
            engine = await self.tenant_engines.get(self.tenant_database_url(tenant))
            return _scoped(AsyncSession(engine, expire_on_commit=False), tenant)
        if tenant.isolation == "schema":
            return _scoped(AsyncSession(self._schema_bind(tenant.storage_name), expire_on_commit=False), tenant)
        session = _scoped(AsyncSession(self.engine, expire_on_commit=False), tenant)
        if not self.is_sqlite:
            session.info["rls_tenant_id"] = tenant.id
            session.info["rls_role"] = self.settings.app_role
        return session

    def _schema_bind(self, schema: str | None) -> AsyncEngine:
        """The platform engine translated to one tenant schema (kept for the busiest tenants)."""
        assert schema
        bind = self._schema_binds.get(schema)
        if bind is None:
            bind = self._schema_binds[schema] = self.engine.execution_options(schema_translate_map={None: schema})
            if len(self._schema_binds) > 1024:
                self._schema_binds.popitem(last=False)
        return bind

    @asynccontextmanager
    async def tenant_unit_of_work(self, tenant: TenantRef) -> AsyncIterator[tuple[AsyncSession, AsyncSession]]:
        """The tenant session and the session that writes its audit events and outbox rows.

        A pooled tenant's rows share the platform database, so both are one session and one
        transaction: the audit event and the change commit together. (On SQLite it must be so
        anyway, one writer per file; on PostgreSQL the application role may append to the audit
        trail and the outbox but not read them.) Other modes get a platform session that
        commits right after the tenant session (``commit_unit_of_work``).
        """
        if tenant.isolation == "schema" and self.is_sqlite:
            async with self.tenant_session(tenant) as session, self.platform_session() as platform:
                yield session, platform
            return
        # the common modes open their session here rather than through tenant_session: one
        # context manager fewer on every request
        session = await self._session_of(tenant)
        platform = session if tenant.isolation == "pooled" else self.platform_session()
        try:
            yield session, platform
        finally:
            try:
                await session.close()
            finally:
                if platform is not session and (platform.in_transaction() or platform.identity_map or platform.new):
                    await platform.close()  # most requests never touch it: nothing to close, and closing costs

    @staticmethod
    async def commit_unit_of_work(session: AsyncSession, platform: AsyncSession) -> None:
        """Commit what ``tenant_unit_of_work`` gave. With two sessions the platform's audit events
        are linked and written first, so that only the platform's final COMMIT follows the
        tenant's: a failure there (a lock, a bad row) cannot leave committed tenant data behind."""
        from atrium.core.audit.service import link_now  # audit builds on the database layer

        split = platform is not session
        if split and platform.in_transaction():
            await link_now(platform)
        if session.in_transaction():
            await session.commit()
        if split and platform.in_transaction():
            await platform.commit()

    @asynccontextmanager
    async def _attached(self, tenant: TenantRef) -> AsyncIterator[AsyncConnection]:
        """A platform connection with the tenant's file attached for this session only, which
        keeps SQLite's attach limit out of reach however many tenants there are."""
        assert tenant.storage_name
        path = self.sqlite_tenant_file(tenant.storage_name)
        conn = await self.engine.connect()
        try:
            await conn.exec_driver_sql(f"ATTACH DATABASE ? AS {SQLITE_TENANT_ALIAS}", (str(path),))
            await conn.exec_driver_sql(f"PRAGMA {SQLITE_TENANT_ALIAS}.journal_mode=WAL")
            await conn.commit()
            yield conn
        finally:
            try:
                await conn.rollback()
                await conn.exec_driver_sql(f"DETACH DATABASE {SQLITE_TENANT_ALIAS}")
                await conn.commit()
            except Exception:
                await conn.invalidate()
            await conn.close()

    async def dispose(self) -> None:
        await self.tenant_engines.dispose()
        await self.engine.dispose()


def _scoped(session: AsyncSession, tenant: TenantRef) -> AsyncSession:
    session.info["tenant_id"] = tenant.id
    return session


class TenantIsolationError(RuntimeError):
    """A row of another tenant was about to be written through a tenant session."""


def _refuse_other_tenant(state: ORMExecuteState, tenant_id: str) -> None:
    """insert()/update() statements skip the flush: refuse any that write another tenant's id."""
    stmt: Any = state.statement
    params = state.parameters
    given: list[Any] = list(params) if isinstance(params, (list, tuple)) else [params or {}]
    rows = [*given, getattr(stmt, "_values", None) or {}]
    for multi in getattr(stmt, "_multi_values", None) or ():
        rows.extend(multi)
    for row in rows:
        for key, value in row.items():
            if (key if isinstance(key, str) else getattr(key, "key", None)) != "tenant_id":
                continue
            if isinstance(value, BindParameter):  # a named parameter: the value each row gives it counts
                values = [g.get(value.key, value.effective_value) for g in given]
            else:
                values = [value]
            if any(not isinstance(v, str) or v != tenant_id for v in values):
                raise TenantIsolationError("refusing to write a row of another tenant")


# The tenant filter of a SELECT: one option for every tenant, its tenant id a bound parameter the
# statement is given when it runs. Built per statement with the id captured in the lambda, the
# option cost SQLAlchemy a fresh analysis and cache key each time: some 70 µs per SELECT.
_TENANT_PARAM = "atrium_tenant_id"
_TENANT_VALUE: BindParameter[str] = bindparam(_TENANT_PARAM)
_SELECT_FILTER = with_loader_criteria(TenantScoped, lambda cls: cls.tenant_id == _TENANT_VALUE, include_aliases=True)


@event.listens_for(Session, "do_orm_execute")
def _filter_by_tenant(state: ORMExecuteState) -> None:
    tenant_id = state.session.info.get("tenant_id")
    if tenant_id is None:
        return
    if state.is_insert or state.is_update:
        _refuse_other_tenant(state, tenant_id)
    params = state.parameters
    if state.is_select and (params is None or isinstance(params, Mapping)):
        state.statement = state.statement.options(_SELECT_FILTER)
        state.parameters = {**(params or {}), _TENANT_PARAM: tenant_id}
    elif state.is_select or state.is_update or state.is_delete:
        # an UPDATE's parameters may be the values it sets: the id stays inside the criteria
        state.statement = state.statement.options(
            with_loader_criteria(TenantScoped, lambda cls: cls.tenant_id == tenant_id, include_aliases=True)
        )


@event.listens_for(Session, "before_flush")
def _stamp_tenant(session: Session, flush_context: Any, instances: Any) -> None:
    tenant_id = session.info.get("tenant_id")
    if tenant_id is None:
        return
    for obj in list(session.new) + list(session.dirty):
        if isinstance(obj, TenantScoped):
            if obj.tenant_id is None:
                obj.tenant_id = tenant_id
            elif obj.tenant_id != tenant_id:
                raise TenantIsolationError("refusing to write a row of another tenant")


@event.listens_for(Session, "after_begin")
def _enter_row_level_security(session: Session, transaction: SessionTransaction, connection: Any) -> None:
    """Take the application role and the tenant id for the transaction's row-level security.
    Sent with the transaction's ``BEGIN`` when it has not gone out yet: no round trip of its own."""
    tenant_id = session.info.get("rls_tenant_id")
    if tenant_id is None:
        return
    role = session.info["rls_role"]
    driver = connection.connection.driver_connection
    if isinstance(driver, PrologueConnection) and not driver.is_in_transaction():
        # SET rather than SELECT set_config(): the same, without a query for the server to plan
        role, tenant = sql_literal(role), sql_literal(tenant_id)
        driver.set_prologue(f"SET LOCAL ROLE {role}; SET LOCAL atrium.tenant_id = {tenant}")
        session.info[_PROLOGUE_ON] = driver
        return
    connection.execute(
        text("SELECT set_config('role', :role, true), set_config('atrium.tenant_id', :tenant_id, true)"),
        {"role": role, "tenant_id": tenant_id},
    )


_PROLOGUE_ON = "atrium.prologue_on"


@event.listens_for(Session, "after_transaction_end")
def _drop_unsent_prologue(session: Session, transaction: SessionTransaction) -> None:
    """A transaction that ended without a statement never sent its BEGIN: its prologue must not
    wait for the next BEGIN on that connection, whoever sends it (a connection the session was
    only lent, say). Pool check-in drops it too; this also covers connections never checked in."""
    if transaction.parent is None:
        driver = session.info.pop(_PROLOGUE_ON, None)
        if driver is not None:
            driver.set_prologue(None)
