"""The worker role: outbox relay, event consumers and the periodic-job scheduler."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import delete

from atrium.core.audit.service import write_checkpoints
from atrium.core.db import utcnow
from atrium.core.events.models import OutboxEvent
from atrium.core.jobs import PeriodicJob, Scheduler
from atrium.runtime import Runtime


def periodic_jobs(rt: Runtime) -> list[PeriodicJob]:
    async def audit_checkpoint() -> None:
        async with rt.db.platform_session() as session, session.begin():
            await write_checkpoints(session, rt.signer)

    async def purge_outbox() -> None:
        cutoff = utcnow() - dt.timedelta(days=7)
        async with rt.db.platform_session() as session, session.begin():
            await session.execute(delete(OutboxEvent).where(OutboxEvent.delivered_at < cutoff))

    return [
        PeriodicJob(
            "audit.checkpoint", dt.timedelta(seconds=rt.settings.audit_checkpoint_interval_seconds), audit_checkpoint
        ),
        PeriodicJob("events.purge_outbox", dt.timedelta(hours=1), purge_outbox),
    ]


async def background_tasks(rt: Runtime) -> list[asyncio.Task[None]]:
    """Start relay, consumers and scheduler as tasks of the current loop."""
    import atrium.consumers  # noqa: F401  (registers the platform's consumers)

    await rt.events.start_consumers()
    scheduler = Scheduler(rt.db, periodic_jobs(rt))
    return [
        asyncio.create_task(rt.events.relay_forever(), name="atrium-relay"),
        asyncio.create_task(scheduler.run_forever(), name="atrium-scheduler"),
    ]


async def run_worker(rt: Runtime) -> None:
    tasks = await background_tasks(rt)
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await rt.close()
