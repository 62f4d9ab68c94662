"""Events through the real RabbitMQ: outbox → relay → topic exchange → consumer queue → handler."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest

from atrium.api.app import create_app
from atrium.cli.migrate import migrate_all
from atrium.core.events import outbox
from atrium.core.events.consumers import ConsumerRegistry
from atrium.core.events.models import OutboxEvent
from atrium.runtime import Runtime
from tests.conftest import make_settings
from tests.core.events.conftest import Probe

pytestmark = pytest.mark.rabbitmq
TOPIC = "workflow.events"


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {within} s")
        await asyncio.sleep(0.05)


@pytest.fixture
async def rabbit(rabbitmq_url: str, database_url: str, tmp_path: Path) -> AsyncIterator[tuple[Runtime, Probe]]:
    """A runtime on RabbitMQ with one probe consumer of its own.

    Its consumers come from a private registry holding just the probe (under a unique name), so
    the test declares one queue of its own and touches no other consumer's queue; the queue is
    deleted afterwards. Other runs may publish to the same exchange: the probe only counts events
    carrying this run's marker.
    """
    rt = Runtime(make_settings(database_url, tmp_path / "var", broker_url=rabbitmq_url))
    probe = Probe(f"test.rmq-{uuid.uuid4().hex[:12]}", marker=uuid.uuid4().hex)
    registry = ConsumerRegistry()
    registry.register(probe.name, TOPIC)(probe.handle)
    rt.events.consumers = registry
    try:
        await migrate_all(rt, show_progress=False)
        yield rt, probe
    finally:
        await rt.close()
        connection = await aio_pika.connect_robust(rabbitmq_url)
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(f"atrium.{probe.name}")


async def publish(rt: Runtime, probe: Probe, count: int, type_: str) -> list[str]:
    async with rt.db.platform_session() as session, session.begin():
        events = [await outbox.publish(session, TOPIC, type_, {"n": n, "marker": probe.marker}) for n in range(count)]
    return [e.id for e in events]


async def test_outbox_events_reach_the_consumer_through_rabbitmq(
    rabbit: tuple[Runtime, Probe], rabbitmq_url: str
) -> None:
    rt, probe = rabbit
    type_ = f"workflow.test-{probe.marker[:8]}"
    await rt.events.start_consumers()

    # a queue of our own on the topic exchange shows what the relay publishes
    connection = await aio_pika.connect_robust(rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(TOPIC)  # declared by start_consumers, named after the topic
        tap = await channel.declare_queue(exclusive=True, auto_delete=True)
        await tap.bind(exchange, routing_key=type_)

        ids = await publish(rt, probe, 3, type_)
        assert await rt.events.relay_once() == 3
        assert await rt.events.relay_once() == 0

        async def all_consumed() -> bool:
            return sorted(await probe.consumed(rt)) == sorted(ids)

        await eventually(all_consumed)
        assert sorted(probe.calls) == sorted(ids)

        tapped: list[Any] = []

        async def all_tapped() -> bool:
            message = await tap.get(fail=False)
            if message is not None:
                await message.ack()
                tapped.append(message)
            return len(tapped) == 3

        await eventually(all_tapped)
    assert sorted(m.message_id for m in tapped) == sorted(ids)
    for message in tapped:
        assert message.routing_key == type_
        assert message.exchange == TOPIC
        assert message.content_type == "application/cloudevents+json"
        body = json.loads(message.body)
        assert body["id"] == message.message_id
        assert (body["specversion"], body["type"], body["topic"]) == ("1.0", type_, TOPIC)
        assert body["data"]["marker"] == probe.marker

    async with rt.db.platform_session() as session:
        for event_id in ids:
            row = await session.get(OutboxEvent, event_id)
            assert row is not None and row.delivered_at is not None


async def test_redelivered_message_is_processed_once(rabbit: tuple[Runtime, Probe]) -> None:
    rt, probe = rabbit
    deliveries: list[str] = []
    deliver = rt.events.deliver

    async def counting_deliver(consumer: str, envelope: dict[str, Any]) -> bool:
        result = await deliver(consumer, envelope)
        if consumer == probe.name and envelope.get("data", {}).get("marker") == probe.marker:
            deliveries.append(envelope["id"])
        return result

    rt.events.deliver = counting_deliver  # type: ignore[method-assign]  # observe what the bus hands over
    await rt.events.start_consumers()

    [event_id] = await publish(rt, probe, 1, "workflow.test.redelivery")
    async with rt.db.platform_session() as session:
        row = await session.get(OutboxEvent, event_id)
        assert row is not None
        envelope = row.envelope
    # the same message id three times: the relay's publish, and two redeliveries
    assert await rt.events.relay_once() == 1
    await rt.bus.publish(TOPIC, envelope)
    await rt.bus.publish(TOPIC, envelope)

    async def all_delivered() -> bool:
        return len(deliveries) == 3

    await eventually(all_delivered)
    assert deliveries == [event_id] * 3
    assert probe.calls == [event_id]
    assert await probe.consumed(rt) == [event_id]


async def test_failing_consumer_is_retried_then_succeeds_through_rabbitmq(rabbit: tuple[Runtime, Probe]) -> None:
    rt, probe = rabbit
    probe.failures_left = 2
    await rt.events.start_consumers()
    [event_id] = await publish(rt, probe, 1, "workflow.test.retry")
    assert await rt.events.relay_once() == 1

    async def consumed() -> bool:
        return await probe.consumed(rt) == [event_id]

    await eventually(consumed)
    assert probe.calls == [event_id] * 3


async def test_readyz_sees_rabbitmq(rabbit: tuple[Runtime, Probe]) -> None:
    rt, _ = rabbit
    app = create_app(runtime=rt, embedded_worker=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://atrium.test") as client:
        response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "broker": "ok"}}
