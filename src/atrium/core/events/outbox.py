"""Writing events: into the outbox, in the caller's transaction, so an event exists iff its change does."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from atrium.core import bulk
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
    _known(topic)
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


async def publish_many(
    session: AsyncSession,
    topic: str,
    events: Sequence[tuple[str, dict[str, Any], str | None]],
    *,
    tenant_id: str | None = None,
) -> None:
    """Many events of one topic and tenant, ``(type, data, subject)`` each, written with one
    statement (a batch of postings emits hundreds). Each is the envelope ``publish`` would make."""
    if not events:
        return
    _known(topic)
    first_type, first_data, first_subject = events[0]
    # Everything but id, type, subject and data is the same for all of them: made and checked once.
    shared = make_event(topic, first_type, first_data, tenant_id=tenant_id, subject=first_subject)
    template = shared.model_dump(mode="json", exclude_none=True, exclude={"id", "type", "subject", "data"})
    rows = []
    for type_, data, subject in events:
        envelope = {**template, "id": str(uuid.uuid4()), "type": type_, "data": data}
        if subject is not None:
            envelope["subject"] = subject
        rows.append(
            {"id": envelope["id"], "topic": topic, "envelope": envelope, "created_at": _monotonic_now(), "attempts": 0}
        )
    await bulk.insert_rows(session, OutboxEvent, rows)


def _known(topic: str) -> None:
    if topic not in TOPICS:
        raise ValueError(f"unknown topic {topic!r}; known topics: {', '.join(TOPICS)}")


_last_stamp = utcnow()


def _monotonic_now() -> dt.datetime:
    """Strictly increasing within this process, so the relay keeps the order events were written
    in even when many are inserted in one batch."""
    global _last_stamp
    now = utcnow()
    _last_stamp = now if now > _last_stamp else _last_stamp + dt.timedelta(microseconds=1)
    return _last_stamp
