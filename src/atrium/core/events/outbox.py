"""Writing events: into the outbox, in the caller's transaction, so an event exists iff its change does."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from atrium.core.events.envelope import TOPICS, CloudEvent, make_event
from atrium.core.events.models import OutboxEvent


async def publish(
    session: AsyncSession,
    topic: str,
    type_: str,
    data: dict[str, Any],
    *,
    tenant_id: str | None = None,
    subject: str | None = None,
) -> CloudEvent:
    if topic not in TOPICS:
        raise ValueError(f"unknown topic {topic!r}; known topics: {', '.join(TOPICS)}")
    event = make_event(topic, type_, data, tenant_id=tenant_id, subject=subject)
    session.add(OutboxEvent(id=event.id, topic=topic, envelope=event.model_dump(mode="json", exclude_none=True)))
    await session.flush()
    return event
