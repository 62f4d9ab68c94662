"""Outbox throughput on PostgreSQL: events written with ``outbox.publish`` and relayed with
``EventSystem.relay_once``, in-process (``memory://``) and through RabbitMQ.

- write: ``publish()`` N events in transactions of 100 (one platform session each).
- relay, in-process: ``relay_once`` until the outbox is empty, once with nobody subscribed (the
  relay alone) and once with one registered no-op consumer (every event then also runs the
  consumer's unit of work: processed-event ledger row + handler).
- relay, RabbitMQ: ``relay_once`` until empty with the broker at ATRIUM_BENCH_RABBITMQ_URL; a
  consumer counts receipts until all N have arrived (end-to-end time from the relay's start).
- baseline: a bare ``executemany`` INSERT of the same rows (prepared beforehand) into the outbox
  table with asyncpg, in transactions of the same size.

N = 10,000 × ATRIUM_BENCH_SCALE (ATRIUM_BENCH_OUTBOX_EVENTS sets it directly).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import asyncpg
from sqlalchemy import delete, func, select

from atrium.cli.migrate import migrate_all
from atrium.core.db import utcnow
from atrium.core.events.consumers import registry
from atrium.core.events.envelope import CloudEvent, make_event
from atrium.core.events.models import OutboxEvent, ProcessedEvent
from atrium.core.events.outbox import publish
from atrium.runtime import Runtime
from bench.common import (
    RABBITMQ_URL,
    Report,
    bench_database,
    fmt_rate,
    make_settings,
    progress,
    ratio,
    run_benchmark,
    scaled,
    temp_dir,
)

NAME = "outbox"
TOPIC = "tenant.events"
BATCH = 100


async def _write(rt: Runtime, n: int, type_: str, tenant_id: str) -> float:
    """``publish`` n events, BATCH per transaction; returns seconds."""
    started = time.perf_counter()
    for first in range(0, n, BATCH):
        async with rt.db.platform_session() as session, session.begin():
            for i in range(first, min(first + BATCH, n)):
                await publish(
                    session, TOPIC, type_, {"seq": i, "note": "benchmark"}, tenant_id=tenant_id, subject=str(i)
                )
    return time.perf_counter() - started


def _baseline_rows(n: int, type_: str, tenant_id: str) -> list[tuple[Any, ...]]:
    rows = []
    for i in range(n):
        event = make_event(TOPIC, type_, {"seq": i, "note": "benchmark"}, tenant_id=tenant_id, subject=str(i))
        envelope = event.model_dump(mode="json", exclude_none=True)
        rows.append((event.id, TOPIC, json.dumps(envelope), utcnow()))
    return rows


async def _baseline_insert(url: str, rows: list[tuple[Any, ...]]) -> float:
    """Bare asyncpg executemany, BATCH rows per transaction; the rows are deleted afterwards."""
    conn = await asyncpg.connect(url)
    try:
        sql = "INSERT INTO outbox (id, topic, envelope, created_at, attempts) VALUES ($1, $2, $3, $4, 0)"
        started = time.perf_counter()
        for first in range(0, len(rows), BATCH):
            async with conn.transaction():
                await conn.executemany(sql, rows[first : first + BATCH])
        seconds = time.perf_counter() - started
        await conn.execute("DELETE FROM outbox WHERE id = ANY($1::varchar[])", [r[0] for r in rows])
        return seconds
    finally:
        await conn.close()


async def _relay_until_empty(rt: Runtime) -> tuple[float, int]:
    started = time.perf_counter()
    total = 0
    while True:
        sent = await rt.events.relay_once()
        total += sent
        if sent == 0:
            return time.perf_counter() - started, total


async def _undelivered(rt: Runtime) -> int:
    async with rt.db.platform_session() as session:
        return int(
            (
                await session.execute(
                    select(func.count()).select_from(OutboxEvent).where(OutboxEvent.delivered_at.is_(None))
                )
            ).scalar_one()
        )


async def _in_process(url: str, tmp: Any, n: int, results: dict[str, Any]) -> None:
    rt = Runtime(make_settings(url, tmp / "memory"))
    received = 0

    async def noop(session: Any, event: CloudEvent) -> None:
        nonlocal received
        received += 1

    try:
        await migrate_all(rt, show_progress=False)
        tenant_id = str(uuid.uuid4())
        run_type = f"bench.outbox.{uuid.uuid4().hex[:8]}"

        # warm-up: a few hundred events through every path, then a clean table
        await _write(rt, 300, run_type, tenant_id)
        await _baseline_insert(url, _baseline_rows(300, run_type, tenant_id))
        await _relay_until_empty(rt)
        async with rt.db.platform_session() as session, session.begin():
            await session.execute(delete(OutboxEvent))

        progress(f"baseline: executemany INSERT of {n} outbox rows")
        rows = _baseline_rows(n, run_type, tenant_id)
        base_s = await _baseline_insert(url, rows)

        progress(f"publish() {n} events, {BATCH} per transaction")
        write_s = await _write(rt, n, run_type, tenant_id)
        progress("relay_once until empty, nobody subscribed")
        relay_bare_s, sent = await _relay_until_empty(rt)
        assert sent == n, (sent, n)

        registry.register("bench.noop", TOPIC)(noop)
        await rt.events.start_consumers()
        write2_s = await _write(rt, n, run_type, tenant_id)
        progress("relay_once until empty, one no-op consumer (in-process delivery)")
        relay_s, sent = await _relay_until_empty(rt)
        assert sent == n and received == n, (sent, received, n)
        assert await _undelivered(rt) == 0
        async with rt.db.platform_session() as session:
            ledger = (
                await session.execute(
                    select(func.count()).select_from(ProcessedEvent).where(ProcessedEvent.consumer == "bench.noop")
                )
            ).scalar_one()
        assert ledger == n, (ledger, n)
    finally:
        registry.unregister("bench.noop")
        await rt.close()
    results["baseline_executemany"] = {"events": n, "seconds": round(base_s, 3), "per_second": round(n / base_s)}
    results["write_publish"] = {
        "events": n,
        "batch": BATCH,
        "seconds": round(write_s, 3),
        "per_second": round(n / write_s),
        "second_run_per_second": round(n / write2_s),
        "ratio_to_baseline": ratio(base_s, write_s),
    }
    results["relay_in_process_no_consumer"] = {
        "events": n,
        "seconds": round(relay_bare_s, 3),
        "per_second": round(n / relay_bare_s),
        "ratio_to_baseline": ratio(base_s, relay_bare_s),
    }
    results["relay_in_process_noop_consumer"] = {
        "events": n,
        "seconds": round(relay_s, 3),
        "per_second": round(n / relay_s),
        "ratio_to_baseline": ratio(base_s, relay_s),
    }


async def _rabbitmq_reachable() -> bool:
    import aio_pika

    try:
        connection = await asyncio.wait_for(aio_pika.connect(RABBITMQ_URL), 5)
    except Exception:
        return False
    await connection.close()
    return True


async def _delete_queue(name: str) -> None:
    import aio_pika

    connection = await aio_pika.connect(RABBITMQ_URL)
    try:
        channel = await connection.channel()
        await channel.queue_delete(name)
    finally:
        await connection.close()


async def _rabbitmq(url: str, tmp: Any, n: int, results: dict[str, Any]) -> None:
    consumer = f"bench.outbox-{uuid.uuid4().hex[:8]}"
    run_type = f"bench.outbox.{uuid.uuid4().hex[:8]}"
    rt = Runtime(make_settings(url, tmp / "amqp", broker_url=RABBITMQ_URL))
    received = 0
    all_in = asyncio.Event()
    warmup = 200

    async def count(session: Any, event: CloudEvent) -> None:
        nonlocal received
        if event.type == run_type:
            received += 1
            if received == target:
                all_in.set()

    target = warmup
    registry.register(consumer, TOPIC)(count)
    try:
        tenant_id = str(uuid.uuid4())
        await rt.events.start_consumers()
        await _write(rt, warmup, run_type, tenant_id)
        await _relay_until_empty(rt)
        await asyncio.wait_for(all_in.wait(), 60)

        received, target = 0, n
        all_in.clear()
        progress(f"publish() {n} events for the RabbitMQ run")
        write_s = await _write(rt, n, run_type, tenant_id)
        progress("relay_once until empty through RabbitMQ; consumer counts receipts")
        started = time.perf_counter()
        relay_s, sent = await _relay_until_empty(rt)
        assert sent == n, (sent, n)
        await asyncio.wait_for(all_in.wait(), 120 + n / 50)
        e2e_s = time.perf_counter() - started
    finally:
        registry.unregister(consumer)
        await rt.close()
        await _delete_queue(f"atrium.{consumer}")
    base_s = results["baseline_executemany"]["seconds"]
    results["rabbitmq"] = {
        "events": n,
        "write_per_second": round(n / write_s),
        "relay_seconds": round(relay_s, 3),
        "relay_per_second": round(n / relay_s),
        "relay_ratio_to_baseline": ratio(base_s, relay_s),
        "end_to_end_seconds": round(e2e_s, 3),
        "delivered_per_second": round(n / e2e_s),
        "delivered_ratio_to_baseline": ratio(base_s, e2e_s),
        "received": received,
    }


async def bench() -> Report:
    n = scaled(10_000, env="ATRIUM_BENCH_OUTBOX_EVENTS", minimum=BATCH)
    report = Report(NAME, f"Outbox throughput on PostgreSQL ({n:,} events, {BATCH} per transaction)")
    results: dict[str, Any] = {"parameters": {"events": n, "batch": BATCH, "topic": TOPIC}}
    async with bench_database("outbox") as url:
        with temp_dir(NAME) as tmp:
            await _in_process(url, tmp, n, results)
            if await _rabbitmq_reachable():
                await _rabbitmq(url, tmp, n, results)
            else:
                report.note(f"RabbitMQ not reachable at {RABBITMQ_URL}: the broker run was skipped")

    base = results["baseline_executemany"]["per_second"]

    def line(label: str, rate: float) -> None:
        report.row(label, fmt_rate(rate), fmt_rate(base), f"{ratio(rate, base)}×")

    line("write: publish() in transactions of 100", results["write_publish"]["per_second"])
    line("relay in-process, nobody subscribed", results["relay_in_process_no_consumer"]["per_second"])
    line("relay in-process, one no-op consumer", results["relay_in_process_noop_consumer"]["per_second"])
    if "rabbitmq" in results:
        r = results["rabbitmq"]
        line("relay to RabbitMQ (outbox emptied)", r["relay_per_second"])
        line("RabbitMQ end to end (all received)", r["delivered_per_second"])
    report.row("baseline: executemany INSERT", fmt_rate(base))
    report.note("ratio = rate / bare executemany INSERT rate of the same rows (higher is better; 1.0 = as fast)")
    report.data = results
    return report


def run() -> dict[str, Any]:
    return run_benchmark(bench, rabbitmq=RABBITMQ_URL.split("@")[-1])


if __name__ == "__main__":
    run()
