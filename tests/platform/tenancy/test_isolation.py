"""A tenant session only ever reads and writes its own tenant's rows, in every isolation mode."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy.exc
from sqlalchemy import bindparam, delete, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.apps.notes.models import Note
from atrium.core import bulk
from atrium.core.db import create_engine, driver_of, sql_literal, utcnow
from atrium.core.tenancy import TenantIsolationError, TenantRef
from atrium.platform.tenancy.tenant_models import TenantSetting
from atrium.runtime import Runtime
from tests.conftest import create_tenant
from tests.platform.tenancy.helpers import ISOLATIONS, postgres_only


async def _two_tenants(
    runtime: Runtime, client: httpx.AsyncClient, prefix: str, isolation: str
) -> tuple[TenantRef, TenantRef]:
    a = await create_tenant(client, f"{prefix}-a", isolation)
    b = await create_tenant(client, f"{prefix}-b", isolation)
    ref_a, ref_b = await runtime.tenants.resolve(a["id"]), await runtime.tenants.resolve(b["id"])
    assert ref_a is not None and ref_b is not None
    return ref_a, ref_b


async def _add_notes(runtime: Runtime, ref: TenantRef, *titles: str) -> list[str]:
    async with runtime.db.tenant_session(ref) as session:
        notes = [Note(title=t, body=f"body of {t}") for t in titles]
        session.add_all(notes)
        await session.commit()
        return [n.id for n in notes]


async def _titles(runtime: Runtime, ref: TenantRef) -> list[str]:
    async with runtime.db.tenant_session(ref) as session:
        return sorted((await session.execute(select(Note.title))).scalars())


@pytest.mark.parametrize("isolation", ISOLATIONS)
async def test_tenant_session_reads_only_its_own_rows(
    runtime: Runtime, client: httpx.AsyncClient, isolation: str
) -> None:
    a, b = await _two_tenants(runtime, client, f"read-{isolation}", isolation)
    await _add_notes(runtime, a, "a-1", "a-2")
    [b_note] = await _add_notes(runtime, b, "b-1")

    async with runtime.db.tenant_session(a) as session:
        notes = (await session.execute(select(Note).order_by(Note.title))).scalars().all()
        assert [n.title for n in notes] == ["a-1", "a-2"]
        assert {n.tenant_id for n in notes} == {a.id}
        assert (await session.execute(select(Note).where(Note.id == b_note))).scalar_one_or_none() is None
        assert await session.get(Note, b_note) is None
        # the default settings of both tenants exist, but only A's are visible
        keys = (await session.execute(select(TenantSetting.tenant_id, TenantSetting.key))).all()
        assert keys and {tid for tid, _ in keys} == {a.id}
        assert await session.get(TenantSetting, (b.id, "locale")) is None

    assert await _titles(runtime, b) == ["b-1"]


@pytest.mark.parametrize("isolation", ISOLATIONS)
async def test_tenant_session_cannot_change_other_tenants_rows(
    runtime: Runtime, client: httpx.AsyncClient, isolation: str
) -> None:
    a, b = await _two_tenants(runtime, client, f"write-{isolation}", isolation)
    [a_note] = await _add_notes(runtime, a, "a-1")
    [b_note] = await _add_notes(runtime, b, "b-1")

    async with runtime.db.tenant_session(a) as session:
        updated = await session.execute(update(Note).where(Note.id == b_note).values(title="hijacked"))
        deleted = await session.execute(delete(Note).where(Note.id == b_note))
        everything = await session.execute(update(Note).values(body="touched"))
        await session.commit()
    assert updated.rowcount == 0
    assert deleted.rowcount == 0
    assert everything.rowcount == 1  # A's own note only

    async with runtime.db.tenant_session(b) as session:
        note = await session.get(Note, b_note)
        assert note is not None
        assert (note.title, note.body, note.tenant_id) == ("b-1", "body of b-1", b.id)

    # a new object carrying B's tenant id
    async with runtime.db.tenant_session(a) as session:
        session.add(Note(title="smuggled", tenant_id=b.id))
        with pytest.raises(TenantIsolationError):
            await session.flush()
    # one of A's objects handed over to B
    async with runtime.db.tenant_session(a) as session:
        mine = await session.get(Note, a_note)
        assert mine is not None
        mine.tenant_id = b.id
        with pytest.raises(TenantIsolationError):
            await session.flush()
    # a setting written under B's key
    async with runtime.db.tenant_session(a) as session:
        session.add(TenantSetting(tenant_id=b.id, key="locale", value="xx"))
        with pytest.raises(TenantIsolationError):
            await session.flush()
    # ORM insert() and update() statements skip the flush; they are refused too
    async with runtime.db.tenant_session(a) as session:
        now = utcnow()
        row = {"title": "smuggled", "body": "", "tenant_id": b.id, "created_at": now, "updated_at": now}
        with pytest.raises(TenantIsolationError):
            await session.execute(insert(Note).values(**row))
        with pytest.raises(TenantIsolationError):
            await session.execute(insert(Note), [row])
        with pytest.raises(TenantIsolationError):
            await session.execute(update(Note).where(Note.id == a_note).values(tenant_id=b.id))
        # a named parameter is judged by the value it is given, in one call or many
        named = insert(Note).values(**{**row, "tenant_id": bindparam("owner")})
        with pytest.raises(TenantIsolationError):
            await session.execute(named, {"owner": b.id})
        with pytest.raises(TenantIsolationError):
            await session.execute(named, [{"owner": a.id}, {"owner": b.id}])
        defaulted = insert(Note).values(**{**row, "tenant_id": bindparam("owner", value=b.id)})
        with pytest.raises(TenantIsolationError):  # a row that leaves it out takes the default
            await session.execute(defaulted, [{"owner": a.id}, {}])
        # bulk writes bind the tenant once, and are held to it the same way
        with pytest.raises(TenantIsolationError):
            await bulk.insert_rows(session, Note, [{"title": "smuggled"}], constants={"tenant_id": b.id})

    assert await _titles(runtime, b) == ["b-1"]
    assert await _titles(runtime, a) == ["a-1"]
    async with runtime.db.tenant_session(b) as session:
        assert (await session.get(TenantSetting, (b.id, "locale"))).value == "en"  # type: ignore[union-attr]


@postgres_only
async def test_row_level_security_backs_up_the_orm_filter_on_postgres_pooled(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    a, b = await _two_tenants(runtime, client, "rls", "pooled")
    a_notes = await _add_notes(runtime, a, "a-1", "a-2")
    [b_note] = await _add_notes(runtime, b, "b-1")

    async with runtime.db.tenant_session(a) as session:
        rows = (await session.execute(text("SELECT id, tenant_id FROM notes"))).all()
        assert sorted(r.id for r in rows) == sorted(a_notes)
        assert {r.tenant_id for r in rows} == {a.id}
        settings = (await session.execute(text("SELECT DISTINCT tenant_id FROM tenant_settings"))).scalars().all()
        assert settings == [a.id]
        assert (await session.execute(text("UPDATE notes SET title = 'x' WHERE id = :i"), {"i": b_note})).rowcount == 0
        assert (await session.execute(text("DELETE FROM notes WHERE id = :i"), {"i": b_note})).rowcount == 0
        await session.commit()

    insert_b = text(
        "INSERT INTO notes (id, title, body, tenant_id, created_at, updated_at) "
        "VALUES ('raw-1', 'smuggled', '', :tenant, now(), now())"
    )
    async with runtime.db.tenant_session(a) as session:
        with pytest.raises(sqlalchemy.exc.DBAPIError, match="row-level security"):
            await session.execute(insert_b, {"tenant": b.id})
    async with runtime.db.tenant_session(a) as session:
        with pytest.raises(sqlalchemy.exc.DBAPIError, match="row-level security"):
            await session.execute(text("UPDATE notes SET tenant_id = :b WHERE id = :i"), {"b": b.id, "i": a_notes[0]})
    # the same raw insert with A's own id is allowed: the refusal above is RLS, not a bad statement
    async with runtime.db.tenant_session(a) as session:
        await session.execute(insert_b, {"tenant": a.id})
        await session.commit()

    # seen by the owner (no RLS), every row is where it belongs
    async with runtime.db.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT tenant_id, count(*) FROM notes GROUP BY tenant_id"))).all()
    assert dict(rows) == {a.id: 3, b.id: 1}
    assert await _titles(runtime, b) == ["b-1"]


@postgres_only
async def test_row_level_security_travels_with_begin_and_never_outlives_its_transaction(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    """The role and tenant id go out with the transaction's BEGIN (``PrologueConnection``): they
    hold for that transaction only, a prologue nothing picked up is dropped at check-in, and a
    session joining a transaction already under way sets them with a statement of its own."""
    a, b = await _two_tenants(runtime, client, "prologue", "pooled")
    await _add_notes(runtime, a, "a-1")
    await _add_notes(runtime, b, "b-1")
    settings = text("SELECT current_user, current_setting('atrium.tenant_id', true)")
    engine = create_engine(runtime.settings.platform_database_url, runtime.settings, pool_size=1, max_overflow=0)
    try:
        tenant_b = AsyncSession(engine)
        tenant_b.info.update(tenant_id=b.id, rls_tenant_id=b.id, rls_role=runtime.settings.app_role)
        async with tenant_b:
            assert (await tenant_b.execute(settings)).one() == (runtime.settings.app_role, b.id)
            assert (await tenant_b.execute(text("SELECT title FROM notes"))).scalars().all() == ["b-1"]
            await tenant_b.commit()
            # a new transaction of the same session on the same connection: set again
            assert (await tenant_b.execute(settings)).one() == (runtime.settings.app_role, b.id)

        idle = AsyncSession(engine)
        idle.info.update(tenant_id=a.id, rls_tenant_id=a.id, rls_role=runtime.settings.app_role)
        async with idle:
            await idle.connection()  # begins (the prologue is set) but sends nothing
        async with engine.connect() as conn:  # the pool's one connection, for the owner
            user, tenant = (await conn.execute(settings)).one()
            assert user != runtime.settings.app_role and not tenant
            assert sorted((await conn.execute(text("SELECT title FROM notes"))).scalars()) == ["a-1", "b-1"]

            await conn.execute(text("SELECT 1"))  # the connection's transaction is under way
            joined = AsyncSession(bind=conn, join_transaction_mode="create_savepoint")
            joined.info.update(tenant_id=a.id, rls_tenant_id=a.id, rls_role=runtime.settings.app_role)
            assert (await joined.execute(settings)).one() == (runtime.settings.app_role, a.id)
            assert (await joined.execute(text("SELECT title FROM notes"))).scalars().all() == ["a-1"]
            await joined.close()
    finally:
        await engine.dispose()


def test_sql_literal_quotes_and_refuses_what_it_cannot_quote_safely() -> None:
    assert sql_literal("it's") == "'it''s'"
    for bad in ("a\\b", "a\x00b"):  # a backslash would depend on standard_conforming_strings
        with pytest.raises(ValueError, match="NUL or backslash"):
            sql_literal(bad)


@postgres_only
async def test_a_failed_prologue_leaves_a_usable_connection(runtime: Runtime, client: httpx.AsyncClient) -> None:
    """The BEGIN runs even when what rides on it fails (a role that does not exist): the
    connection must go back to the pool out of that aborted transaction, not poison its next user."""
    [a, _] = await _two_tenants(runtime, client, "badrole", "pooled")
    engine = create_engine(runtime.settings.platform_database_url, runtime.settings, pool_size=1, max_overflow=0)
    try:
        broken = AsyncSession(engine)
        broken.info.update(tenant_id=a.id, rls_tenant_id=a.id, rls_role="no_such_role")
        async with broken:
            with pytest.raises(sqlalchemy.exc.DBAPIError, match="no_such_role"):
                await broken.execute(text("SELECT 1"))
        for _ in range(2):  # the pool's one connection, twice: for the owner, then for the tenant
            async with engine.connect() as conn:
                assert (await conn.execute(text("SELECT count(*) FROM tenants"))).scalar_one() >= 2
        tenant_a = AsyncSession(engine)
        tenant_a.info.update(tenant_id=a.id, rls_tenant_id=a.id, rls_role=runtime.settings.app_role)
        async with tenant_a:
            assert (await tenant_a.execute(text("SELECT current_setting('atrium.tenant_id')"))).scalar_one() == a.id
    finally:
        await engine.dispose()


@postgres_only
async def test_a_prologue_never_reaches_a_lent_connection_or_escapes_raw_driver_calls(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    a, b = await _two_tenants(runtime, client, "lent", "pooled")
    await _add_notes(runtime, a, "a-1")
    await _add_notes(runtime, b, "b-1")
    async with runtime.db.engine.connect() as conn:
        lent = AsyncSession(bind=conn)  # a session on a connection it does not own
        lent.info.update(tenant_id=a.id, rls_tenant_id=a.id, rls_role=runtime.settings.app_role)
        await lent.connection()  # begins, sends nothing
        await lent.close()
        assert (await conn.execute(text("SELECT current_setting('atrium.tenant_id', true)"))).scalar_one() in (None, "")
        assert sorted((await conn.execute(text("SELECT title FROM notes"))).scalars()) == ["a-1", "b-1"]

    async with runtime.db.tenant_session(a) as session:
        driver = await driver_of(await session.connection())  # raw calls run inside the RLS transaction
        assert [r["title"] for r in await driver.fetch("SELECT title FROM notes")] == ["a-1"]
        assert await driver.fetchval("SELECT current_setting('atrium.tenant_id')") == a.id
