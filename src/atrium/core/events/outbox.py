"""Writing events: into the outbox, in the caller's transaction, so an event exists iff its change does."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from atrium.core.db import utcnow
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
    # Inserted with the transaction's next flush, so the events of one transaction go in one batch.
    session.add(
        OutboxEvent(
            id=event.id,
            topic=topic,
            envelope=event.model_dump(mode="json", exclude_none=True),
            created_at=_monotonic_now(),
        )
    )
    return event


_last_stamp = utcnow()


def _monotonic_now() -> dt.datetime:
    """Strictly increasing within this process, so the relay keeps the order events were written
    in even when many are inserted in one batch."""
    global _last_stamp
    now = utcnow()
    _last_stamp = now if now > _last_stamp else _last_stamp + dt.timedelta(microseconds=1)
    return _last_stamp
