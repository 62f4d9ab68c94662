"""The relay moves outbox rows to the bus; delivery runs consumers with retries and dead letters."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from atrium.core.db import utcnow
from atrium.core.events.bus import Bus
from atrium.core.events.consumers import ConsumerRegistry
from atrium.core.events.envelope import CloudEvent
from atrium.core.events.models import DeadLetter, OutboxEvent, ProcessedEvent
from atrium.core.settings import Settings
from atrium.core.tenancy import Database

log = structlog.get_logger(__name__)


class EventSystem:
    def __init__(self, db: Database, bus: Bus, consumers: ConsumerRegistry, settings: Settings) -> None:
        self.db, self.bus, self.consumers, self.settings = db, bus, consumers, settings
        self._prepared = False

    async def start_consumers(self) -> None:
        await self.bus.start_consuming(self.consumers.subscriptions, self.deliver)

    async def relay_once(self) -> int:
        """Publish one batch of undelivered outbox rows, oldest first; returns how many."""
        async with self.db.platform_session() as session, session.begin():
            rows = (
                await session.execute(
                    select(OutboxEvent)
                    .where(OutboxEvent.delivered_at.is_(None))
                    .order_by(OutboxEvent.created_at, OutboxEvent.id)
                    .limit(self.settings.relay_batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).scalars()
            if self.bus.publishes_concurrently:
                return await self._publish_concurrently(list(rows))
            return await self._publish_in_order(rows)

    async def _prepare(self) -> None:
        if not self._prepared:  # declare the consumers' queues before the first publish
            await self.bus.prepare(self.consumers.subscriptions)
            self._prepared = True

    async def _publish_in_order(self, rows: Iterable[OutboxEvent]) -> int:
        """One at a time: the in-process bus runs the consumers inside publish()."""
        sent = 0
        for row in rows:
            try:
                await self._prepare()
                await self.bus.publish(row.topic, row.envelope)
            except Exception as exc:  # keep the row, try again later
                _failed(row, exc)
                break
            row.delivered_at = utcnow()
            sent += 1
        return sent

    async def _publish_concurrently(self, rows: list[OutboxEvent]) -> int:
        """A broker confirms each message: wait for the batch's confirms together, not one by one.
        A row whose publish failed stays undelivered (consumers are idempotent, order is not promised)."""
        try:
            await self._prepare()
        except Exception as exc:
            for row in rows[:1]:
                _failed(row, exc)
            return 0
        results = await asyncio.gather(*(self.bus.publish(r.topic, r.envelope) for r in rows), return_exceptions=True)
        now, sent = utcnow(), 0
        for row, result in zip(rows, results, strict=True):
            if isinstance(result, BaseException):
                _failed(row, result)
            else:
                row.delivered_at = now
                sent += 1
        return sent

    async def relay_forever(self, idle_seconds: float = 0.2) -> None:
        while True:
            try:
                sent = await self.relay_once()
            except Exception:
                log.exception("outbox.relay_failed")
                sent = 0
            if sent == 0:
                await asyncio.sleep(idle_seconds)

    async def deliver(self, consumer_name: str, envelope: dict[str, Any]) -> bool:
        """Run one consumer on one event, at most once in effect. Returns False when dead-lettered."""
        consumer = self.consumers.get(consumer_name)
        if consumer is None:
            return True
        error: Exception | None = None
        try:
            event = CloudEvent.model_validate(envelope)
        except ValidationError as exc:
            await self._dead_letter(consumer_name, str(envelope.get("id", "?")), envelope, exc, attempts=1)
            return False
        for attempt in range(1, self.settings.event_max_attempts + 1):
            try:
                async with self.db.platform_session() as session, session.begin():
                    if await session.get(ProcessedEvent, (consumer_name, event.id)) is not None:
                        return True  # already processed: a duplicate delivery
                    session.add(ProcessedEvent(consumer=consumer_name, event_id=event.id))
                    try:
                        await session.flush()
                    except IntegrityError as exc:
                        raise _Duplicate() from exc  # a concurrent delivery won the ledger row
                    await consumer.handler(session, event)
                return True
            except _Duplicate:
                return True
            except Exception as exc:
                error = exc
                log.warning(
                    "event.consumer_failed", consumer=consumer_name, event_id=event.id, attempt=attempt, error=repr(exc)
                )
                if attempt < self.settings.event_max_attempts:
                    await asyncio.sleep(self.settings.event_retry_base_seconds * 2 ** (attempt - 1))
        await self._dead_letter(consumer_name, event.id, envelope, error, self.settings.event_max_attempts)
        return False

    async def _dead_letter(
        self, consumer: str, event_id: str, envelope: dict[str, Any], error: Exception | None, attempts: int
    ) -> None:
        registered = self.consumers.get(consumer)
        topic = envelope.get("topic") or (registered.topics[0] if registered else "unknown")
        async with self.db.platform_session() as session, session.begin():
            session.add(
                DeadLetter(
                    consumer=consumer,
                    event_id=event_id[:36],
                    topic=str(topic)[:60],
                    envelope=envelope,
                    error=repr(error),
                    attempts=attempts,
                )
            )
        log.error("event.dead_lettered", consumer=consumer, event_id=event_id)

    async def replay_dead_letters(self, ids: list[int] | None = None) -> tuple[int, int]:
        """Deliver dead letters again; returns (replayed, still failing)."""
        async with self.db.platform_session() as session:
            stmt = select(DeadLetter).where(DeadLetter.replayed_at.is_(None)).order_by(DeadLetter.id)
            if ids:
                stmt = stmt.where(DeadLetter.id.in_(ids))
            letters = list((await session.execute(stmt)).scalars())
        replayed = failed = 0
        for letter in letters:
            ok = await self.deliver(letter.consumer, letter.envelope)
            async with self.db.platform_session() as session, session.begin():
                await session.execute(update(DeadLetter).where(DeadLetter.id == letter.id).values(replayed_at=utcnow()))
            replayed += ok
            failed += not ok
        return replayed, failed


class _Duplicate(Exception):
    """Raised out of the transaction (rolling it back) when another delivery already recorded the event."""


def _failed(row: OutboxEvent, exc: BaseException) -> None:
    row.attempts += 1
    row.last_error = repr(exc)
    log.warning("outbox.publish_failed", event_id=row.id, error=repr(exc))
