"""The in-process relay: delivery, the processed-event ledger, retries, dead letters and replay."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import select

from atrium.cli.migrate import migrate_all
from atrium.core.events import outbox
from atrium.core.events.models import DeadLetter, OutboxEvent, ProcessedEvent
from atrium.core.settings import Settings
from atrium.runtime import Runtime
from tests.conftest import make_settings
from tests.core.conftest import InvokeCli, flat
from tests.core.events.conftest import Probe


async def publish(rt: Runtime, count: int = 1, type_: str = "workflow.step.done") -> list[dict[str, Any]]:
    async with rt.db.platform_session() as session, session.begin():
        events = [await outbox.publish(session, "workflow.events", type_, {"n": n}) for n in range(count)]
    return [e.model_dump(mode="json", exclude_none=True) for e in events]


async def rows_of(rt: Runtime, model: Any) -> list[Any]:
    async with rt.db.platform_session() as session:
        return list((await session.execute(select(model))).scalars())


async def ledger(rt: Runtime, consumer: str) -> list[str]:
    async with rt.db.platform_session() as session:
        stmt = select(ProcessedEvent.event_id).where(ProcessedEvent.consumer == consumer)
        return list((await session.execute(stmt)).scalars())


async def dead_letters(rt: Runtime, consumer: str) -> list[DeadLetter]:
    async with rt.db.platform_session() as session:
        stmt = select(DeadLetter).where(DeadLetter.consumer == consumer).order_by(DeadLetter.id)
        return list((await session.execute(stmt)).scalars())


async def test_relay_delivers_each_event_once_in_order(runtime: Runtime, probe: Probe) -> None:
    await runtime.events.start_consumers()
    envelopes = await publish(runtime, 3)
    ids = [e["id"] for e in envelopes]

    assert await runtime.events.relay_once() == 3
    assert probe.calls == ids
    assert await probe.consumed(runtime) == ids
    assert sorted(await ledger(runtime, probe.name)) == sorted(ids)
    rows = await rows_of(runtime, OutboxEvent)
    assert {r.id for r in rows} == set(ids)
    assert all(r.delivered_at is not None for r in rows)

    assert await runtime.events.relay_once() == 0
    assert probe.calls == ids

    more = await publish(runtime, 1)
    assert await runtime.events.relay_once() == 1
    assert probe.calls == [*ids, more[0]["id"]]


async def test_handler_receives_the_envelope(runtime: Runtime, probe: Probe) -> None:
    await runtime.events.start_consumers()
    [envelope] = await publish(runtime, 1, "workflow.approval.requested")
    await runtime.events.relay_once()
    [event] = probe.events
    assert (event.id, event.type, event.topic, event.data) == (
        envelope["id"],
        "workflow.approval.requested",
        "workflow.events",
        {"n": 0},
    )
    assert event.specversion == "1.0"
    assert event.model_dump(mode="json", exclude_none=True) == envelope


async def test_relay_without_undelivered_rows_does_nothing(runtime: Runtime, probe: Probe) -> None:
    await runtime.events.start_consumers()
    assert await runtime.events.relay_once() == 0
    assert probe.calls == []


async def test_duplicate_delivery_runs_the_handler_once(runtime: Runtime, probe: Probe) -> None:
    [envelope] = await publish(runtime, 1)
    assert await runtime.events.deliver(probe.name, envelope) is True
    assert await runtime.events.deliver(probe.name, envelope) is True
    assert probe.calls == [envelope["id"]]
    assert await probe.consumed_count(runtime) == 1
    assert await ledger(runtime, probe.name) == [envelope["id"]]


async def test_concurrent_duplicate_deliveries_run_the_handler_once(runtime: Runtime, probe: Probe) -> None:
    [envelope] = await publish(runtime, 1)
    results = await asyncio.gather(*(runtime.events.deliver(probe.name, envelope) for _ in range(4)))
    assert results == [True] * 4
    assert await probe.consumed_count(runtime) == 1
    assert await ledger(runtime, probe.name) == [envelope["id"]]
    assert await dead_letters(runtime, probe.name) == []


async def test_delivery_to_an_unknown_consumer_is_a_no_op(runtime: Runtime) -> None:
    [envelope] = await publish(runtime, 1)
    assert await runtime.events.deliver("no.such-consumer", envelope) is True
    assert await ledger(runtime, "no.such-consumer") == []


async def test_failing_consumer_is_retried_until_it_succeeds(runtime: Runtime, probe: Probe) -> None:
    probe.failures_left = 2
    await runtime.events.start_consumers()
    [envelope] = await publish(runtime, 1)
    assert await runtime.events.relay_once() == 1
    assert probe.calls == [envelope["id"]] * 3
    # the failed attempts were rolled back with their ledger row: one trace, one ledger entry
    assert await probe.consumed(runtime) == [envelope["id"]]
    assert await ledger(runtime, probe.name) == [envelope["id"]]
    assert await dead_letters(runtime, probe.name) == []


async def test_always_failing_consumer_ends_in_dead_letters_then_replays(runtime: Runtime, probe: Probe) -> None:
    attempts = runtime.settings.event_max_attempts
    probe.failures_left = 10_000
    await runtime.events.start_consumers()
    [envelope] = await publish(runtime, 1)
    assert await runtime.events.relay_once() == 1
    assert probe.calls == [envelope["id"]] * attempts
    assert await probe.consumed_count(runtime) == 0
    assert await ledger(runtime, probe.name) == []
    [letter] = await dead_letters(runtime, probe.name)
    assert (letter.event_id, letter.topic, letter.attempts) == (envelope["id"], "workflow.events", attempts)
    assert letter.envelope["id"] == envelope["id"]
    assert "RuntimeError" in letter.error and "failed on" in letter.error
    assert letter.replayed_at is None

    # still failing: the letter is marked replayed and a new one records the new failure
    assert await runtime.events.replay_dead_letters() == (0, 1)
    first, second = await dead_letters(runtime, probe.name)
    assert first.id == letter.id and first.replayed_at is not None
    assert second.replayed_at is None and second.event_id == envelope["id"]

    # fixed: replay delivers it once and marks the letter replayed
    probe.failures_left = 0
    calls_before = len(probe.calls)
    assert await runtime.events.replay_dead_letters() == (1, 0)
    assert len(probe.calls) == calls_before + 1
    assert await probe.consumed(runtime) == [envelope["id"]]
    assert await ledger(runtime, probe.name) == [envelope["id"]]
    assert all(d.replayed_at is not None for d in await dead_letters(runtime, probe.name))
    # nothing left to replay
    assert await runtime.events.replay_dead_letters() == (0, 0)


async def test_replay_by_id_leaves_the_other_letters(runtime: Runtime, probe: Probe) -> None:
    probe.failures_left = 10_000
    first, second = await publish(runtime, 2)
    assert await runtime.events.deliver(probe.name, first) is False
    assert await runtime.events.deliver(probe.name, second) is False
    letters = await dead_letters(runtime, probe.name)
    probe.failures_left = 0
    assert await runtime.events.replay_dead_letters([letters[1].id]) == (1, 0)
    assert await probe.consumed(runtime) == [second["id"]]
    after = {d.id: d.replayed_at for d in await dead_letters(runtime, probe.name)}
    assert after[letters[0].id] is None and after[letters[1].id] is not None


async def test_events_replay_cli(runtime: Runtime, probe: Probe, cli: InvokeCli) -> None:
    probe.failures_left = 10_000
    [envelope] = await publish(runtime, 1)
    assert await runtime.events.deliver(probe.name, envelope) is False

    result = await cli("events", "replay")
    assert result.exit_code == 1, result.output
    assert "replayed 0, failed again 1" in flat(result.output)

    probe.failures_left = 0
    result = await cli("events", "replay")
    assert result.exit_code == 0, result.output
    assert "replayed 1, failed again 0" in flat(result.output)
    assert await probe.consumed(runtime) == [envelope["id"]]
    assert all(d.replayed_at is not None for d in await dead_letters(runtime, probe.name))

    result = await cli("events", "replay")
    assert result.exit_code == 0
    assert "replayed 0, failed again 0" in flat(result.output)


async def test_events_replay_cli_by_id(runtime: Runtime, probe: Probe, cli: InvokeCli) -> None:
    probe.failures_left = 10_000
    first, second = await publish(runtime, 2)
    await runtime.events.deliver(probe.name, first)
    await runtime.events.deliver(probe.name, second)
    letters = await dead_letters(runtime, probe.name)
    probe.failures_left = 0
    result = await cli("events", "replay", str(letters[0].id))
    assert result.exit_code == 0, result.output
    assert "replayed 1, failed again 0" in flat(result.output)
    assert await probe.consumed(runtime) == [first["id"]]


async def test_relay_keeps_rows_while_the_broker_is_down(settings: Settings, tmp_path: Path) -> None:
    rt = Runtime(
        make_settings(settings.platform_database_url, tmp_path / "down", broker_url="amqp://guest:guest@127.0.0.1:1/")
    )
    try:
        await migrate_all(rt, show_progress=False)
        [envelope] = await publish(rt, 1)
        assert await asyncio.wait_for(rt.events.relay_once(), 10) == 0
        assert await asyncio.wait_for(rt.events.relay_once(), 10) == 0
        [row] = await rows_of(rt, OutboxEvent)
        assert row.id == envelope["id"]
        assert row.delivered_at is None
        assert row.attempts == 2
        assert row.last_error and "Connect" in row.last_error
    finally:
        await rt.close()


async def test_relay_works_in_batches(settings: Settings, tmp_path: Path, probe: Probe) -> None:
    rt = Runtime(make_settings(settings.platform_database_url, tmp_path / "batch", relay_batch_size=2))
    try:
        await migrate_all(rt, show_progress=False)
        await rt.events.start_consumers()
        envelopes = await publish(rt, 5)
        assert [await rt.events.relay_once() for _ in range(4)] == [2, 2, 1, 0]
        assert probe.calls == [e["id"] for e in envelopes]
    finally:
        await rt.close()
