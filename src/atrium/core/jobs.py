"""Periodic jobs. Claiming a run is one conditional UPDATE on the job's schedule row, so however
many workers tick at once, exactly one of them runs each slot."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite

from atrium.core.db import utcnow
from atrium.core.jobs_models import JobSchedule
from atrium.core.tenancy import Database

log = structlog.get_logger(__name__)
JobFunction = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    interval: dt.timedelta
    run: JobFunction


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Scheduler:
    def __init__(self, db: Database, jobs: list[PeriodicJob], holder: str | None = None) -> None:
        self.db, self.jobs, self.holder = db, jobs, holder or worker_name()

    async def _claim(self, job: PeriodicJob, now: dt.datetime) -> bool:
        insert = postgresql.insert if not self.db.is_sqlite else sqlite.insert
        async with self.db.platform_session() as session, session.begin():
            await session.execute(
                insert(JobSchedule).values(name=job.name, next_run_at=now, runs=0).on_conflict_do_nothing()
            )
            claimed = await session.execute(
                update(JobSchedule)
                .where(JobSchedule.name == job.name, JobSchedule.next_run_at <= now)
                .values(
                    next_run_at=now + job.interval, holder=self.holder, runs=JobSchedule.runs + 1, last_started_at=now
                )
            )
        return bool(claimed.rowcount)  # type: ignore[attr-defined]

    async def tick(self) -> list[str]:
        """Run every job that is due and that this worker won; returns the names it ran."""
        ran = []
        for job in self.jobs:
            if not await self._claim(job, utcnow()):
                continue
            error = None
            try:
                await job.run()
            except Exception as exc:
                error = repr(exc)[:2000]
                log.exception("job.failed", job=job.name)
            async with self.db.platform_session() as session, session.begin():
                await session.execute(
                    update(JobSchedule)
                    .where(JobSchedule.name == job.name)
                    .values(last_finished_at=utcnow(), last_error=error)
                )
            ran.append(job.name)
        return ran

    async def run_forever(self, poll_seconds: float = 1.0) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("scheduler.tick_failed")
            await asyncio.sleep(poll_seconds)
