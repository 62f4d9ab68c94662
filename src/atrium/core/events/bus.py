"""Buses carry relayed events to consumers: in-process by default, RabbitMQ for scale-out.

RabbitMQ layout: one durable topic exchange per topic (named after it), routing key = event type,
one durable queue per consumer (``atrium.<consumer>``) bound to its topics with ``#``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import structlog

log = structlog.get_logger(__name__)
Deliver = Callable[[str, dict[str, Any]], Awaitable[object]]


class Bus(Protocol):
    publishes_concurrently: bool

    async def publish(self, topic: str, envelope: dict[str, Any]) -> None: ...
    async def prepare(self, subscriptions: dict[str, list[str]]) -> None: ...
    async def start_consuming(self, subscriptions: dict[str, list[str]], deliver: Deliver) -> None: ...
    async def ping(self) -> None: ...
    async def close(self) -> None: ...


class InProcessBus:
    """Delivers straight to the consumers of this process (the embedded default)."""

    publishes_concurrently = False

    def __init__(self) -> None:
        self._deliver: Deliver | None = None
        self._subscriptions: dict[str, list[str]] = {}

    async def publish(self, topic: str, envelope: dict[str, Any]) -> None:
        if self._deliver is None:
            return
        for consumer in self._subscriptions.get(topic, []):
            await self._deliver(consumer, envelope)

    async def prepare(self, subscriptions: dict[str, list[str]]) -> None:
        return None

    async def start_consuming(self, subscriptions: dict[str, list[str]], deliver: Deliver) -> None:
        by_topic: dict[str, list[str]] = {}
        for consumer, topics in subscriptions.items():
            for topic in topics:
                by_topic.setdefault(topic, []).append(consumer)
        self._subscriptions, self._deliver = by_topic, deliver

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._deliver = None


class RabbitMQBus:
    publishes_concurrently = True

    def __init__(self, url: str) -> None:
        self.url = url
        self._connection: Any = None
        self._channel: Any = None
        self._exchanges: dict[str, Any] = {}
        self._lock = asyncio.Lock()

    async def _ensure(self) -> Any:
        import aio_pika

        async with self._lock:
            if self._connection is None or self._connection.is_closed:
                self._connection = await aio_pika.connect_robust(self.url)
                self._channel = await self._connection.channel(publisher_confirms=True)
                self._exchanges = {}
        return self._channel

    async def _exchange(self, topic: str) -> Any:
        import aio_pika

        channel = await self._ensure()
        if topic not in self._exchanges:
            self._exchanges[topic] = await channel.declare_exchange(topic, aio_pika.ExchangeType.TOPIC, durable=True)
        return self._exchanges[topic]

    async def publish(self, topic: str, envelope: dict[str, Any]) -> None:
        import aio_pika

        exchange = await self._exchange(topic)
        message = aio_pika.Message(
            body=json.dumps(envelope).encode(),
            content_type="application/cloudevents+json",
            message_id=envelope["id"],
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        await exchange.publish(message, routing_key=envelope["type"])

    async def _queue(self, consumer: str, topics: list[str]) -> Any:
        channel = await self._ensure()
        queue = await channel.declare_queue(f"atrium.{consumer}", durable=True)
        for topic in topics:
            await queue.bind(await self._exchange(topic), routing_key="#")
        return queue

    async def prepare(self, subscriptions: dict[str, list[str]]) -> None:
        """Declare every consumer's queue before publishing, so no event is dropped as
        unroutable while no worker has started yet."""
        for consumer, topics in subscriptions.items():
            await self._queue(consumer, topics)

    async def start_consuming(self, subscriptions: dict[str, list[str]], deliver: Deliver) -> None:
        channel = await self._ensure()
        await channel.set_qos(prefetch_count=50)
        for consumer, topics in subscriptions.items():
            queue = await self._queue(consumer, topics)

            async def on_message(message: Any, consumer: str = consumer) -> None:
                try:
                    envelope = json.loads(message.body)
                except ValueError:
                    log.error("event.malformed_message", consumer=consumer, message_id=message.message_id)
                    await message.reject(requeue=False)  # a poison message must not loop forever
                    return
                async with message.process(requeue=True):  # requeued only when the database failed
                    await deliver(consumer, envelope)

            await queue.consume(on_message)

    async def ping(self) -> None:
        await self._ensure()

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None


def make_bus(url: str) -> Bus:
    if url.startswith("memory://"):
        return InProcessBus()
    if url.startswith(("amqp://", "amqps://")):
        return RabbitMQBus(url)
    raise ValueError(f"unsupported ATRIUM_BROKER_URL {url!r}: use memory:// or amqp://")
