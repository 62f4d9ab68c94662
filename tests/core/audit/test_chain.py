"""The audit chain: linked appends per chain, concurrency, and verification of an intact trail."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import select

from atrium.core import context
from atrium.core.audit import service as audit
from atrium.core.audit.models import PLATFORM_CHAIN, AuditChainHead
from atrium.runtime import Runtime
from tests.core.audit.helpers import append, chain_rows, checkpoint, head, verify


def assert_linked(rows: list, chain: str, tenant_id: str | None) -> None:
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
    prev = audit.GENESIS_HASH
    for row in rows:
        assert row.chain == chain
        assert row.tenant_id == tenant_id
        assert row.prev_hash == prev
        assert row.hash == audit.event_hash(prev, [getattr(row, c.key) for c in audit.HASHED_COLUMNS])
        assert len(row.hash) == 64
        prev = row.hash


async def test_record_appends_linked_events_per_chain(runtime: Runtime) -> None:
    acme, globex = str(uuid.uuid4()), str(uuid.uuid4())
    # interleave the chains across several transactions: each keeps its own numbering
    await append(runtime, 2, acme)
    await append(runtime, 3, None)
    await append(runtime, 1, globex)
    await append(runtime, 2, acme)
    await append(runtime, 2, globex)

    expected = {acme: (4, acme), globex: (3, globex), PLATFORM_CHAIN: (3, None)}
    for chain, (count, tenant_id) in expected.items():
        rows = await chain_rows(runtime, chain)
        assert len(rows) == count
        assert_linked(rows, chain, tenant_id)
        chain_head = await head(runtime, chain)
        assert chain_head is not None
        assert (chain_head.seq, chain_head.hash) == (count, rows[-1].hash)
        report = await verify(runtime, chain)
        assert report.ok, report
        assert (report.checked, report.broken_seq, report.reason) == (count, None, None)

    async with runtime.db.platform_session() as session:
        assert await audit.chains(session) == sorted([acme, globex, PLATFORM_CHAIN])
        assert await audit.chains(session, acme) == [acme]


async def test_record_many_links_a_batch_between_single_records(runtime: Runtime) -> None:
    tenant = str(uuid.uuid4())
    async with runtime.db.platform_session() as session, session.begin():
        await audit.record(session, action="test.before", tenant_id=tenant, actor="tester", data={"n": 0})
        batch = [("test.batch", "thing", f"t{n}", {"n": n, "amount": "1.50"}) for n in range(1, 6)]
        await audit.record_many(session, batch, tenant_id=tenant, actor="batcher")
        await audit.record(session, action="test.after", tenant_id=tenant, actor="tester", data={"n": 6})
    async with runtime.db.platform_session() as session, session.begin():
        await audit.record_many(session, [], tenant_id=tenant)  # nothing to write, nothing locked
    await append(runtime, 1, tenant)  # a later transaction goes on from the batch's end

    rows = await chain_rows(runtime, tenant)
    assert [r.action for r in rows] == ["test.before", *["test.batch"] * 5, "test.after", "test.event"]
    assert [r.data.get("n") for r in rows[:7]] == list(range(7))
    assert {r.actor for r in rows[1:6]} == {"batcher"}
    assert [r.object_id for r in rows[1:6]] == [f"t{n}" for n in range(1, 6)]
    assert_linked(rows, tenant, tenant)
    assert (await verify(runtime, tenant)).ok


async def test_record_takes_actor_and_ids_from_the_context(runtime: Runtime) -> None:
    tokens = (
        context.actor.set("alice@example.com"),
        context.request_id.set("req-1"),
        context.correlation_id.set("corr-1"),
    )
    try:
        async with runtime.db.platform_session() as session, session.begin():
            event = await audit.record(session, action="test.context", object_type="note", object_id="n1")
    finally:
        context.actor.reset(tokens[0])
        context.request_id.reset(tokens[1])
        context.correlation_id.reset(tokens[2])
    [row] = await chain_rows(runtime, PLATFORM_CHAIN)
    assert row.id == event.id
    assert (row.actor, row.request_id, row.correlation_id) == ("alice@example.com", "req-1", "corr-1")
    assert (row.object_type, row.object_id, row.data) == ("note", "n1", {})
    assert row.occurred_at.tzinfo is not None


async def test_a_rolled_back_record_leaves_no_trace(runtime: Runtime) -> None:
    await append(runtime, 2)
    with pytest.raises(RuntimeError, match="abort"):
        async with runtime.db.platform_session() as session, session.begin():
            await audit.record(session, action="test.lost")
            raise RuntimeError("abort")
    await append(runtime, 1)
    rows = await chain_rows(runtime, PLATFORM_CHAIN)
    assert [r.action for r in rows] == ["test.event"] * 3
    assert_linked(rows, PLATFORM_CHAIN, None)
    assert (await verify(runtime, PLATFORM_CHAIN)).ok


async def test_a_rolled_back_savepoint_takes_back_only_its_events(runtime: Runtime) -> None:
    tenant = str(uuid.uuid4())
    async with runtime.db.platform_session() as session, session.begin():
        await audit.record(session, action="test.kept", tenant_id=tenant, data={"n": 1})
        with pytest.raises(RuntimeError, match="abort"):
            async with session.begin_nested():
                await audit.record(session, action="test.lost", tenant_id=tenant)
                async with session.begin_nested():  # released, but inside the one rolled back
                    await audit.record_many(session, [("test.lost", None, None, {})], tenant_id=tenant)
                raise RuntimeError("abort")
        async with session.begin_nested():
            await audit.record_many(session, [("test.kept", None, None, {"n": 2})], tenant_id=tenant)
        await audit.record(session, action="test.kept", tenant_id=tenant, data={"n": 3})
    rows = await chain_rows(runtime, tenant)
    assert [(r.action, r.data["n"]) for r in rows] == [("test.kept", 1), ("test.kept", 2), ("test.kept", 3)]
    assert_linked(rows, tenant, tenant)
    assert (await verify(runtime, tenant)).ok


async def test_a_transaction_committed_with_a_savepoint_open_keeps_every_event(runtime: Runtime) -> None:
    tenant = str(uuid.uuid4())
    async with runtime.db.platform_session() as session, session.begin():
        await audit.record(session, action="test.outer", tenant_id=tenant)
        await session.begin_nested()  # left open: the transaction's commit releases it
        await audit.record(session, action="test.inner", tenant_id=tenant)
    rows = await chain_rows(runtime, tenant)
    assert [r.action for r in rows] == ["test.outer", "test.inner"]
    assert_linked(rows, tenant, tenant)


async def test_an_empty_batch_records_nothing_and_opens_nothing(runtime: Runtime) -> None:
    async with runtime.db.platform_session() as session:
        await audit.record_many(session, [], tenant_id=str(uuid.uuid4()))
        assert not session.in_transaction()
        async with session.begin():  # the caller's own transaction can still start
            await audit.record(session, action="test.after")


@pytest.mark.parametrize("backend", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
async def test_an_open_transaction_holds_no_lock_on_its_chain(runtime: Runtime) -> None:
    """Events are linked at commit, so the chain's head is locked only while a transaction commits.
    Here the first transaction records an event and then waits for a row the second one holds
    while the second records on the same chain: had the first locked the head when it recorded,
    the two would deadlock (PostgreSQL would fail one of them)."""
    tenant = str(uuid.uuid4())
    await append(runtime, 1, tenant)  # the head row exists
    row = select(AuditChainHead).where(AuditChainHead.chain == f"row-{tenant[:30]}").with_for_update()
    async with runtime.db.platform_session() as session, session.begin():
        session.add(AuditChainHead(chain=f"row-{tenant[:30]}", hash="0" * 64))  # any row will do
    first_recorded, second_holds_row = asyncio.Event(), asyncio.Event()

    async def first() -> None:
        async with runtime.db.platform_session() as session, session.begin():
            await audit.record(session, action="test.first", tenant_id=tenant)
            first_recorded.set()
            await second_holds_row.wait()
            await session.execute(row)  # waits for the second transaction's lock

    async def second() -> None:
        async with runtime.db.platform_session() as session, session.begin():
            await session.execute(row)  # holds it until commit
            second_holds_row.set()
            await first_recorded.wait()
            await asyncio.sleep(0.2)  # the first is now waiting for the row
            await audit.record(session, action="test.second", tenant_id=tenant)

    await asyncio.wait_for(asyncio.gather(first(), second()), timeout=20)
    rows = await chain_rows(runtime, tenant)
    assert [r.action for r in rows] == ["test.event", "test.second", "test.first"]  # in commit order
    assert_linked(rows, tenant, tenant)
    assert (await verify(runtime, tenant)).ok


async def test_concurrent_appends_never_fork_a_chain(runtime: Runtime) -> None:
    tenant = str(uuid.uuid4())
    await asyncio.gather(*(append(runtime, 2, tenant) for _ in range(6)))
    rows = await chain_rows(runtime, tenant)
    assert len(rows) == 12
    assert_linked(rows, tenant, tenant)
    report = await verify(runtime, tenant)
    assert report.ok and report.checked == 12, report


async def test_checkpoints_sign_only_heads_that_moved(runtime: Runtime) -> None:
    tenant = str(uuid.uuid4())
    await append(runtime, 3, tenant)
    await append(runtime, 1)
    assert await checkpoint(runtime) == 2
    assert await checkpoint(runtime) == 0
    await append(runtime, 2, tenant)
    assert await checkpoint(runtime) == 1
    report = await verify(runtime, tenant)
    assert report.ok and (report.checked, report.checkpoints) == (5, 2), report
    assert (await verify(runtime, PLATFORM_CHAIN)).checkpoints == 1


async def test_verify_an_empty_or_unknown_chain_is_ok(runtime: Runtime) -> None:
    report = await verify(runtime, str(uuid.uuid4()))
    assert report.ok and report.checked == 0
