"""The database refuses changes to the trail; what a privileged hand still does is detected."""

from __future__ import annotations

import base64
import uuid

import pytest
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.exc import DBAPIError

from atrium.core.audit import service as audit
from atrium.core.audit.models import PLATFORM_CHAIN, AuditChainHead, AuditCheckpoint, AuditEvent
from atrium.core.db import utcnow
from atrium.core.settings import Settings
from atrium.runtime import Runtime
from tests.conftest import make_settings
from tests.core.audit.helpers import (
    alter,
    append,
    chain_rows,
    checkpoint,
    disable_append_only,
    rewrite_from,
    verify,
)

# -- the database refuses -------------------------------------------------------------------------


REFUSED = (
    "UPDATE audit_events SET actor = 'mallory'",
    "UPDATE audit_events SET data = '{}' WHERE seq = 2",
    "DELETE FROM audit_events WHERE seq = 2",
    "DELETE FROM audit_events",
)


async def test_database_refuses_update_and_delete(runtime: Runtime) -> None:
    tenant = str(uuid.uuid4())
    await append(runtime, 3, tenant)
    before = [(r.id, r.actor, r.data, r.hash) for r in await chain_rows(runtime, tenant)]
    for statement in REFUSED:
        with pytest.raises(DBAPIError, match="append-only"):
            async with runtime.db.engine.begin() as conn:
                await conn.execute(text(statement))
        after = [(r.id, r.actor, r.data, r.hash) for r in await chain_rows(runtime, tenant)]
        assert after == before, statement
    assert (await verify(runtime, tenant)).ok


# TRUNCATE exists on PostgreSQL only: narrow the conftest's `backend` fixture to it
@pytest.mark.parametrize("backend", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
async def test_postgresql_refuses_truncate(runtime: Runtime) -> None:
    await append(runtime, 2)
    with pytest.raises(DBAPIError, match="append-only"):
        async with runtime.db.engine.begin() as conn:
            await conn.execute(text("TRUNCATE audit_events"))
    assert len(await chain_rows(runtime, PLATFORM_CHAIN)) == 2


async def test_appending_still_works_alongside_the_triggers(runtime: Runtime) -> None:
    await append(runtime, 2)
    async with runtime.db.engine.begin() as conn:
        count = (await conn.execute(text("SELECT count(*) FROM audit_events"))).scalar_one()
    assert count == 2


# -- tampering is detected, and the first broken event named ----------------------------------------


@pytest.fixture
async def trail(runtime: Runtime) -> tuple[str, str]:
    """Two tenant chains of five events each and a platform chain, triggers switched off."""
    victim, bystander = str(uuid.uuid4()), str(uuid.uuid4())
    await append(runtime, 5, victim)
    await append(runtime, 5, bystander)
    await append(runtime, 2)
    for chain in (victim, bystander, PLATFORM_CHAIN):
        assert (await verify(runtime, chain)).ok
    await disable_append_only(runtime)
    return victim, bystander


async def assert_only_victim_broken(runtime: Runtime, victim: str, bystander: str) -> audit.ChainReport:
    assert (await verify(runtime, bystander)).ok
    assert (await verify(runtime, PLATFORM_CHAIN)).ok
    report = await verify(runtime, victim)
    assert not report.ok, report
    return report


ALTERATIONS = (
    (3, {"actor": "mallory"}),
    (3, {"data": {"n": 99}}),
    (1, {"action": "test.innocent"}),
    (5, {"object_id": "someone-else"}),
    (2, {"occurred_at": utcnow()}),
    (4, {"tenant_id": None}),
)


async def test_altered_event_is_named(runtime: Runtime, trail: tuple[str, str]) -> None:
    _, bystander = trail
    for seq, values in ALTERATIONS:
        victim = str(uuid.uuid4())
        await append(runtime, 5, victim)
        await alter(runtime, victim, seq, **values)
        report = await assert_only_victim_broken(runtime, victim, bystander)
        rows = await chain_rows(runtime, victim)
        assert report.broken_seq == seq, values
        assert report.broken_id == rows[seq - 1].id, values
        assert report.checked == seq - 1, values
        assert "altered" in (report.reason or ""), values


async def test_altering_two_events_names_the_first(runtime: Runtime, trail: tuple[str, str]) -> None:
    victim, bystander = trail
    await alter(runtime, victim, 4, actor="mallory")
    await alter(runtime, victim, 2, actor="mallory")
    report = await assert_only_victim_broken(runtime, victim, bystander)
    assert report.broken_seq == 2


async def test_removed_middle_event_is_named(runtime: Runtime, trail: tuple[str, str]) -> None:
    victim, bystander = trail
    async with runtime.db.engine.begin() as conn:
        await conn.execute(text("DELETE FROM audit_events WHERE chain = :c AND seq = 3"), {"c": victim})
    report = await assert_only_victim_broken(runtime, victim, bystander)
    assert report.broken_seq == 3
    assert "removed" in (report.reason or "")
    assert "3..3" in (report.reason or "")


async def test_removed_last_event_is_caught_by_the_head(runtime: Runtime, trail: tuple[str, str]) -> None:
    victim, bystander = trail
    async with runtime.db.engine.begin() as conn:
        await conn.execute(text("DELETE FROM audit_events WHERE chain = :c AND seq = 5"), {"c": victim})
    report = await assert_only_victim_broken(runtime, victim, bystander)
    assert report.broken_seq == 5
    assert report.checked == 4
    assert "removed" in (report.reason or "")


async def test_truncated_chain_is_caught_by_the_head(runtime: Runtime, trail: tuple[str, str]) -> None:
    victim, bystander = trail
    async with runtime.db.engine.begin() as conn:
        await conn.execute(text("DELETE FROM audit_events WHERE chain = :c"), {"c": victim})
    report = await assert_only_victim_broken(runtime, victim, bystander)
    assert (report.broken_seq, report.checked) == (5, 0)


async def _insert_forged(runtime: Runtime, chain: str, at_seq: int, *, linked: bool) -> None:
    """Make room at ``at_seq`` by renumbering the later events, then insert a forged event there."""
    rows = await chain_rows(runtime, chain)
    async with runtime.db.engine.begin() as conn:
        # two steps, so the (chain, seq) unique constraint never sees a duplicate
        shifted = (AuditEvent.chain == chain) & (AuditEvent.seq >= at_seq)
        await conn.execute(update(AuditEvent).where(shifted).values(seq=AuditEvent.seq + 1000))
        await conn.execute(
            update(AuditEvent).where(AuditEvent.chain == chain, AuditEvent.seq > 1000).values(seq=AuditEvent.seq - 999)
        )
        prev = rows[at_seq - 2].hash if linked else "f" * 64
        fields = {
            "chain": chain,
            "seq": at_seq,
            "occurred_at": rows[at_seq - 2].occurred_at,
            "tenant_id": chain,
            "actor": "mallory",
            "action": "test.forged",
            "object_type": None,
            "object_id": None,
            "data": {"forged": True},
            "request_id": None,
            "correlation_id": None,
        }
        forged_hash = audit.event_hash(prev, [fields[c.key] for c in audit.HASHED_COLUMNS])
        await conn.execute(insert(AuditEvent).values(**fields, prev_hash=prev, hash=forged_hash))
        last = len(rows) + 1
        await conn.execute(update(AuditChainHead).where(AuditChainHead.chain == chain).values(seq=last))


async def test_inserted_event_with_wrong_prev_hash_is_named(runtime: Runtime, trail: tuple[str, str]) -> None:
    victim, bystander = trail
    await _insert_forged(runtime, victim, 3, linked=False)
    report = await assert_only_victim_broken(runtime, victim, bystander)
    assert report.broken_seq == 3
    assert "prev_hash" in (report.reason or "") and "inserted" in (report.reason or "")
    forged = (await chain_rows(runtime, victim))[2]
    assert (forged.action, report.broken_id) == ("test.forged", forged.id)


async def test_inserted_well_linked_event_breaks_the_next_link(runtime: Runtime, trail: tuple[str, str]) -> None:
    victim, bystander = trail
    await _insert_forged(runtime, victim, 3, linked=True)
    report = await assert_only_victim_broken(runtime, victim, bystander)
    # the forgery links to event 2, but the original event 3 (now seq 4) still links to event 2
    assert report.broken_seq == 4
    assert report.checked == 3
    assert "prev_hash" in (report.reason or "")


async def test_consistent_rewrite_is_caught_by_the_signed_checkpoint(runtime: Runtime, trail: tuple[str, str]) -> None:
    victim, bystander = trail
    assert await checkpoint(runtime) == 3
    await rewrite_from(runtime, victim, 3, actor="mallory", data={"n": 42})
    rows = await chain_rows(runtime, victim)
    assert rows[2].actor == "mallory"

    report = await assert_only_victim_broken(runtime, victim, bystander)
    assert report.broken_seq == 5
    assert report.checked == 5  # every link holds: only the checkpoint tells
    assert "checkpoint" in (report.reason or "")

    # without a checkpoint the same rewrite would pass: the checkpoint is what catches it
    unsigned = str(uuid.uuid4())
    await append(runtime, 5, unsigned)
    await rewrite_from(runtime, unsigned, 3, actor="mallory")
    assert (await verify(runtime, unsigned)).ok


async def test_rewrite_names_the_earliest_checkpoint_it_contradicts(runtime: Runtime, trail: tuple[str, str]) -> None:
    victim, bystander = trail
    assert await checkpoint(runtime) == 3  # victim signed at seq 5
    await append(runtime, 3, victim)
    assert await checkpoint(runtime) == 1  # victim signed at seq 8
    # the older checkpoint is re-inserted (as a restore would): ids no longer follow seqs
    async with runtime.db.engine.begin() as conn:
        old = (
            (
                await conn.execute(
                    select(AuditCheckpoint).where(AuditCheckpoint.chain == victim, AuditCheckpoint.seq == 5)
                )
            )
            .one()
            ._asdict()
        )
        await conn.execute(delete(AuditCheckpoint).where(AuditCheckpoint.id == old.pop("id")))
        await conn.execute(insert(AuditCheckpoint).values(**old))
    assert (await verify(runtime, victim)).ok
    await rewrite_from(runtime, victim, 2, actor="mallory")
    report = await assert_only_victim_broken(runtime, victim, bystander)
    assert report.broken_seq == 5
    assert "checkpoint" in (report.reason or "")


def other_signer(tmp_settings: Settings) -> audit.CheckpointSigner:
    return audit.CheckpointSigner(
        make_settings(
            tmp_settings.platform_database_url,
            tmp_settings.data_dir,
            audit_signing_key=base64.b64encode(b"\x07" * 32).decode(),
        )
    )


async def test_checkpoint_with_forged_signature_is_detected(
    runtime: Runtime, settings: Settings, trail: tuple[str, str]
) -> None:
    victim, bystander = trail
    await checkpoint(runtime)
    # the attacker rewrites the chain and re-signs its checkpoint with a key of their own
    await rewrite_from(runtime, victim, 2, actor="mallory")
    rows = await chain_rows(runtime, victim)
    forger = other_signer(settings)
    assert forger.key_id != runtime.signer.key_id
    async with runtime.db.engine.begin() as conn:
        await conn.execute(
            update(AuditCheckpoint)
            .where(AuditCheckpoint.chain == victim)
            .values(hash=rows[-1].hash, signature=forger.sign(victim, 5, rows[-1].hash))
        )
    report = await assert_only_victim_broken(runtime, victim, bystander)
    assert report.broken_seq == 5
    assert "invalid signature" in (report.reason or "")
    # the forged checkpoint agrees with the rewritten chain: only its signature gives it away
    assert (await verify(runtime, victim, signed=False)).ok


async def test_checkpoint_with_garbage_signature_is_detected(runtime: Runtime, trail: tuple[str, str]) -> None:
    victim, bystander = trail
    await checkpoint(runtime)
    for signature in ("not base64 at all!", base64.b64encode(b"\x00" * 64).decode(), ""):
        async with runtime.db.engine.begin() as conn:
            await conn.execute(
                update(AuditCheckpoint).where(AuditCheckpoint.chain == victim).values(signature=signature)
            )
        report = await assert_only_victim_broken(runtime, victim, bystander)
        assert report.broken_seq == 5, signature
        assert "invalid signature" in (report.reason or ""), signature


async def test_checkpoint_for_a_missing_seq_is_detected(runtime: Runtime, trail: tuple[str, str]) -> None:
    """A checkpoint moved to another seq (signature and all) no longer matches the chain."""
    victim, bystander = trail
    await checkpoint(runtime)
    async with runtime.db.platform_session() as session:
        cp = (await session.execute(select(AuditCheckpoint).where(AuditCheckpoint.chain == victim))).scalar_one()
    rows = await chain_rows(runtime, victim)
    async with runtime.db.engine.begin() as conn:
        await conn.execute(
            update(AuditCheckpoint)
            .where(AuditCheckpoint.id == cp.id)
            .values(seq=3, signature=runtime.signer.sign(victim, 3, cp.hash))
        )
    report = await assert_only_victim_broken(runtime, victim, bystander)
    assert report.broken_seq == 3
    assert rows[2].hash != cp.hash
    assert "differs from signed checkpoint" in (report.reason or "")
