"""A pooled tenant's change and its audit event commit together, or not at all."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from atrium.apps.notes.models import Note
from atrium.core.audit import service as audit
from atrium.core.audit.models import AuditEvent
from atrium.platform.tenancy import service
from atrium.platform.tenancy.registry import to_ref
from atrium.platform.tenancy.schemas import TenantCreate
from atrium.runtime import Runtime


async def _audit_actions(rt: Runtime, tenant_id: str) -> list[str]:
    async with rt.db.platform_session() as session:
        rows = await session.execute(select(AuditEvent.action).where(AuditEvent.tenant_id == tenant_id))
        return list(rows.scalars())


async def test_pooled_change_and_audit_event_share_one_transaction(runtime: Runtime) -> None:
    ref = to_ref(await service.create(runtime, TenantCreate(slug="atomic")))
    async with runtime.db.tenant_unit_of_work(ref) as (session, writer):
        assert writer is session
        session.add(Note(title="kept"))
        await session.flush()
        await audit.record(writer, action="notes.note.created", tenant_id=ref.id, object_type="note")
        await session.commit()
    with pytest.raises(RuntimeError):
        async with runtime.db.tenant_unit_of_work(ref) as (session, writer):
            session.add(Note(title="lost"))
            await session.flush()
            await audit.record(writer, action="notes.note.created", tenant_id=ref.id, object_type="note")
            raise RuntimeError("the request failed after both writes")
    async with runtime.db.tenant_session(ref) as session:
        titles = list((await session.execute(select(Note.title))).scalars())
    assert titles == ["kept"]
    assert (await _audit_actions(runtime, ref.id)).count("notes.note.created") == 1
    verified = await _verify(runtime, ref.id)
    assert verified.ok and verified.checked >= 1


async def _verify(rt: Runtime, chain: str) -> audit.ChainReport:
    async with rt.db.platform_session() as session:
        return await audit.verify_chain(session, chain, rt.signer)


async def test_a_pooled_tenant_session_cannot_read_the_audit_trail(runtime: Runtime, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("roles and grants exist on PostgreSQL only")
    ref = to_ref(await service.create(runtime, TenantCreate(slug="no-peeking")))
    async with runtime.db.tenant_session(ref) as session:
        with pytest.raises(DBAPIError, match="permission denied"):
            await session.execute(text("SELECT actor, data FROM audit_events"))
