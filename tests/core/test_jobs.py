"""The scheduler: however many workers tick at once, each slot of a periodic job runs once."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import update

from atrium.core.audit.models import AuditCheckpoint
from atrium.core.db import utcnow
from atrium.core.jobs import PeriodicJob, Scheduler
from atrium.core.jobs_models import JobSchedule
from atrium.runtime import Runtime
from atrium.worker import periodic_jobs
from tests.core.audit.helpers import append


async def schedule_of(rt: Runtime, name: str) -> JobSchedule:
    async with rt.db.platform_session() as session:
        row = await session.get(JobSchedule, name)
        assert row is not None
        return row


async def test_concurrent_schedulers_run_each_slot_once(runtime: Runtime) -> None:
    runs: list[int] = []

    async def work() -> None:
        runs.append(len(runs))
        await asyncio.sleep(0.01)

    job = PeriodicJob("test.hourly", dt.timedelta(hours=1), work)
    first, second = Scheduler(runtime.db, [job], holder="worker-a"), Scheduler(runtime.db, [job], holder="worker-b")

    results = await asyncio.gather(*(s.tick() for _ in range(8) for s in (first, second)))
    assert runs == [0]
    assert sum(r == ["test.hourly"] for r in results) == 1
    assert all(r in ([], ["test.hourly"]) for r in results)
    row = await schedule_of(runtime, "test.hourly")
    assert row.runs == 1
    assert row.holder in ("worker-a", "worker-b")
    assert row.last_started_at is not None and row.last_finished_at is not None
    assert row.last_error is None
    assert row.next_run_at - row.last_started_at == dt.timedelta(hours=1)

    # not due yet: more ticks do nothing
    assert await asyncio.gather(first.tick(), second.tick()) == [[], []]
    assert runs == [0]

    # the next slot comes due: it runs once more, on one worker
    async with runtime.db.platform_session() as session, session.begin():
        await session.execute(
            update(JobSchedule)
            .where(JobSchedule.name == "test.hourly")
            .values(next_run_at=utcnow() - dt.timedelta(seconds=1))
        )
    results = await asyncio.gather(*(s.tick() for _ in range(8) for s in (first, second)))
    assert runs == [0, 1]
    assert sum(r == ["test.hourly"] for r in results) == 1
    assert (await schedule_of(runtime, "test.hourly")).runs == 2


async def test_a_failing_job_records_its_error_and_keeps_its_schedule(runtime: Runtime) -> None:
    async def broken() -> None:
        raise RuntimeError("disk full")

    async def fine() -> None:
        return None

    scheduler = Scheduler(
        runtime.db,
        [
            PeriodicJob("test.broken", dt.timedelta(hours=1), broken),
            PeriodicJob("test.fine", dt.timedelta(hours=1), fine),
        ],
        holder="worker-a",
    )
    assert await scheduler.tick() == ["test.broken", "test.fine"]
    row = await schedule_of(runtime, "test.broken")
    assert row.runs == 1
    assert row.last_error is not None and "disk full" in row.last_error
    assert row.next_run_at > utcnow()
    assert (await schedule_of(runtime, "test.fine")).last_error is None
    assert await scheduler.tick() == []


async def test_worker_checkpoint_job_signs_the_audit_chains(runtime: Runtime) -> None:
    await append(runtime, 3)
    jobs = periodic_jobs(runtime)
    assert {j.name for j in jobs} == {"audit.checkpoint", "events.purge_outbox"}
    assert await Scheduler(runtime.db, jobs, holder="worker-a").tick() == ["audit.checkpoint", "events.purge_outbox"]
    async with runtime.db.platform_session() as session:
        [checkpoint] = (await session.execute(AuditCheckpoint.__table__.select())).all()
    assert (checkpoint.chain, checkpoint.seq) == ("platform", 3)
