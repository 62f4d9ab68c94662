"""A test consumer registered on the real registry, whose handler leaves a trace in the database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.core.audit import service as audit
from atrium.core.audit.models import AuditEvent
from atrium.core.events.consumers import registry
from atrium.core.events.envelope import CloudEvent
from atrium.runtime import Runtime

CONSUMED = "test.event.consumed"


@dataclass
class Probe:
    """Handler of ``workflow.events``: writes an audit event per event it consumes (in the
    consumer's transaction), then fails while ``failures_left`` says so."""

    name: str
    calls: list[str] = field(default_factory=list)
    events: list[CloudEvent] = field(default_factory=list)
    failures_left: int = 0
    marker: str | None = None  # when set, events whose data carries another marker are ignored

    async def handle(self, session: AsyncSession, event: CloudEvent) -> None:
        if self.marker is not None and event.data.get("marker") != self.marker:
            return
        self.calls.append(event.id)
        self.events.append(event)
        await audit.record(session, action=CONSUMED, actor=self.name, object_type="event", object_id=event.id)
        if self.failures_left:
            self.failures_left -= 1
            raise RuntimeError(f"{self.name} failed on {event.id}")

    async def consumed(self, rt: Runtime) -> list[str]:
        """Event ids whose handling committed, in order."""
        async with rt.db.platform_session() as session:
            stmt = (
                select(AuditEvent.object_id)
                .where(AuditEvent.action == CONSUMED, AuditEvent.actor == self.name)
                .order_by(AuditEvent.id)
            )
            return [r for r in (await session.execute(stmt)).scalars() if r is not None]

    async def consumed_count(self, rt: Runtime) -> int:
        async with rt.db.platform_session() as session:
            stmt = select(func.count()).where(AuditEvent.action == CONSUMED, AuditEvent.actor == self.name)
            return int((await session.execute(stmt)).scalar_one())


@pytest.fixture
def probe() -> Iterator[Probe]:
    p = Probe(f"test.probe-{uuid.uuid4().hex[:10]}")
    registry.register(p.name, "workflow.events")(p.handle)
    try:
        yield p
    finally:
        registry.unregister(p.name)
