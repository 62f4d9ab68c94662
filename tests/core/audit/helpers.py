"""Helpers for the audit tests: append events, read chains back, and play the privileged attacker."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from atrium.core.audit import service as audit
from atrium.core.audit.models import AuditChainHead, AuditEvent
from atrium.runtime import Runtime


async def append(
    rt: Runtime, count: int, tenant_id: str | None = None, *, action: str = "test.event", actor: str = "tester"
) -> list[AuditEvent]:
    """Record ``count`` events on one chain in one committed transaction."""
    async with rt.db.platform_session() as session, session.begin():
        return [
            await audit.record(session, action=action, tenant_id=tenant_id, actor=actor, data={"n": n})
            for n in range(count)
        ]


async def chain_rows(rt: Runtime, chain: str) -> list[AuditEvent]:
    async with rt.db.platform_session() as session:
        stmt = select(AuditEvent).where(AuditEvent.chain == chain).order_by(AuditEvent.seq)
        return list((await session.execute(stmt)).scalars())


async def head(rt: Runtime, chain: str) -> AuditChainHead | None:
    async with rt.db.platform_session() as session:
        return await session.get(AuditChainHead, chain)


async def verify(rt: Runtime, chain: str, *, signed: bool = True) -> audit.ChainReport:
    async with rt.db.platform_session() as session:
        return await audit.verify_chain(session, chain, rt.signer if signed else None)


async def checkpoint(rt: Runtime) -> int:
    async with rt.db.platform_session() as session, session.begin():
        return await audit.write_checkpoints(session, rt.signer)


async def disable_append_only(rt: Runtime) -> None:
    """What someone with DDL rights could do: switch the append-only triggers off."""
    async with rt.db.engine.begin() as conn:
        if rt.db.is_sqlite:
            await conn.exec_driver_sql("DROP TRIGGER audit_events_no_update")
            await conn.exec_driver_sql("DROP TRIGGER audit_events_no_delete")
        else:
            await conn.exec_driver_sql("ALTER TABLE audit_events DISABLE TRIGGER USER")


async def alter(rt: Runtime, chain: str, seq: int, **values: Any) -> None:
    async with rt.db.engine.begin() as conn:
        result = await conn.execute(
            update(AuditEvent).where(AuditEvent.chain == chain, AuditEvent.seq == seq).values(**values)
        )
        assert result.rowcount == 1


async def rewrite_from(rt: Runtime, chain: str, seq: int, **values: Any) -> None:
    """Alter event ``seq`` and recompute every later link and the head, so the chain is
    internally consistent again: only a signed checkpoint can tell."""
    await alter(rt, chain, seq, **values)
    rows = await chain_rows(rt, chain)
    prev = rows[seq - 2].hash if seq > 1 else audit.GENESIS_HASH
    async with rt.db.engine.begin() as conn:
        for row in rows[seq - 1 :]:
            new_hash = audit.event_hash(prev, [getattr(row, c.key) for c in audit.HASHED_COLUMNS])
            await conn.execute(update(AuditEvent).where(AuditEvent.id == row.id).values(prev_hash=prev, hash=new_hash))
            prev = new_hash
        await conn.execute(
            update(AuditChainHead).where(AuditChainHead.chain == chain).values(seq=rows[-1].seq, hash=prev)
        )
