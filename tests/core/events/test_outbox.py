"""outbox.publish: an event exists iff the caller's transaction commits, in a CloudEvents envelope."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import func, select

from atrium.core import context
from atrium.core.events import outbox
from atrium.core.events.envelope import TOPICS
from atrium.core.events.models import OutboxEvent
from atrium.runtime import Runtime


async def outbox_rows(rt: Runtime) -> list[OutboxEvent]:
    async with rt.db.platform_session() as session:
        return list((await session.execute(select(OutboxEvent).order_by(OutboxEvent.created_at))).scalars())


async def test_rolled_back_transaction_leaves_no_event(runtime: Runtime) -> None:
    with pytest.raises(RuntimeError, match="business rule"):
        async with runtime.db.platform_session() as session, session.begin():
            event = await outbox.publish(session, "workflow.events", "workflow.started", {"n": 1})
            # flushed inside the transaction, visible to it
            assert await session.get(OutboxEvent, event.id) is not None
            raise RuntimeError("business rule failed after the publish")
    assert await outbox_rows(runtime) == []


async def test_committed_transaction_writes_a_cloudevents_envelope(runtime: Runtime) -> None:
    tenant_id = str(uuid.uuid4())
    tokens = (
        context.actor.set("alice@example.com"),
        context.user_id.set("user-42"),
        context.request_id.set("req-7"),
        context.correlation_id.set("corr-7"),
    )
    try:
        before = dt.datetime.now(dt.UTC)
        async with runtime.db.platform_session() as session, session.begin():
            event = await outbox.publish(
                session,
                "billing.events",
                "billing.invoice.issued",
                {"invoice": "inv-1"},
                tenant_id=tenant_id,
                subject="inv-1",
            )
        after = dt.datetime.now(dt.UTC)
    finally:
        context.actor.reset(tokens[0])
        context.user_id.reset(tokens[1])
        context.request_id.reset(tokens[2])
        context.correlation_id.reset(tokens[3])

    [row] = await outbox_rows(runtime)
    assert (row.id, row.topic, row.delivered_at, row.attempts) == (event.id, "billing.events", None, 0)
    envelope = row.envelope
    assert envelope["specversion"] == "1.0"
    assert envelope["id"] == event.id == str(uuid.UUID(envelope["id"]))
    assert envelope["source"] == "/atrium"
    assert envelope["type"] == "billing.invoice.issued"
    assert envelope["subject"] == "inv-1"
    assert envelope["datacontenttype"] == "application/json"
    assert envelope["data"] == {"invoice": "inv-1"}
    assert envelope["tenantid"] == tenant_id
    assert envelope["userid"] == "user-42"
    assert envelope["correlationid"] == "corr-7"
    time = dt.datetime.fromisoformat(envelope["time"])
    assert time.tzinfo is not None and before <= time <= after


async def test_envelope_falls_back_to_actor_and_request_id(runtime: Runtime) -> None:
    tokens = (context.actor.set("cli:ops"), context.request_id.set("req-9"))
    try:
        async with runtime.db.platform_session() as session, session.begin():
            await outbox.publish(session, "workflow.events", "workflow.started", {})
    finally:
        context.actor.reset(tokens[0])
        context.request_id.reset(tokens[1])
    [row] = await outbox_rows(runtime)
    assert row.envelope["userid"] == "cli:ops"
    assert row.envelope["correlationid"] == "req-9"
    assert "tenantid" not in row.envelope  # unset extension attributes are omitted, not null


async def test_each_publish_is_its_own_event(runtime: Runtime) -> None:
    async with runtime.db.platform_session() as session, session.begin():
        first = await outbox.publish(session, "workflow.events", "workflow.step", {"n": 1})
        second = await outbox.publish(session, "workflow.events", "workflow.step", {"n": 1})
    assert first.id != second.id
    assert [r.id for r in await outbox_rows(runtime)] == [first.id, second.id]


async def test_unknown_topic_raises(runtime: Runtime) -> None:
    async with runtime.db.platform_session() as session, session.begin():
        for topic in ("nope.events", "", "workflow", "Workflow.Events"):
            with pytest.raises(ValueError, match="unknown topic"):
                await outbox.publish(session, topic, "x.happened", {})
        assert (await session.execute(select(func.count()).select_from(OutboxEvent))).scalar_one() == 0
    assert "workflow.events" in TOPICS
