"""The in-process snapshot of every flag, one per runtime, so evaluation never queries.

Freshness: every write bumps ``feature_flag_versions.version`` in its transaction. ``refresh``
reads that one number at most once per ``interval`` (1 s) and reloads the whole snapshot only
when it moved; a write in this process also invalidates at once (``invalidate``), so its own
next refresh reloads. Staleness across processes is thus bounded by the interval.

Who refreshes:

- ``start(rt)`` (the API's lifespan): installs the OpenFeature provider and runs ``keep_fresh``,
  which loads the snapshot at once and then checks every interval;
- the ``deps.FreshFlags`` dependency, for a route that evaluates flags: at most one version read a
  second, then the snapshot;
- the provider itself, when asked from a running event loop with a snapshot older than the
  interval: it answers from the snapshot it has and schedules a refresh in the background
  (stale-while-revalidate), so a sync ``get_boolean_value`` never waits for the database.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from typing import TYPE_CHECKING

import structlog

from atrium.platform.flags import repository
from atrium.platform.flags.evaluation import (
    Flag,
    Override,
    Snapshot,
    rollout_from,
    rule_from,
    target_from,
)
from atrium.platform.flags.models import FeatureFlag, TenantFlagOverride

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from atrium.core.tenancy import Database
    from atrium.runtime import Runtime

log = structlog.get_logger(__name__)
INTERVAL_SECONDS = 1.0


def to_flag(row: FeatureFlag) -> Flag:
    return Flag(
        key=row.key,
        value_type=row.value_type,
        default=row.default_value,
        enabled=row.enabled,
        rules=tuple(rule_from(r) for r in row.rules),
        rollout=rollout_from(row.rollout),
        description=row.description,
    )


def to_override(row: TenantFlagOverride, flag_key: str) -> Override:
    return Override(
        tenant_id=row.tenant_id,
        flag_key=flag_key,
        enabled=row.enabled,
        value=row.value,
        targets=tuple(target_from(t) for t in row.targets),
        rules=tuple(rule_from(r) for r in row.rules),
        rollout=rollout_from(row.rollout),
    )


class FlagStore:
    """Holds the current snapshot; ``snapshot`` is a plain attribute read, safe from any thread."""

    def __init__(self, db: Database, interval: float = INTERVAL_SECONDS) -> None:
        self.db, self.interval = db, interval
        self.snapshot = Snapshot()
        self._checked_at = -float("inf")  # monotonic time of the last version read
        self._lock: asyncio.Lock | None = None
        self._background: asyncio.Task[Snapshot] | None = None

    @property
    def stale(self) -> bool:
        return time.monotonic() - self._checked_at >= self.interval

    def invalidate(self) -> None:
        """This process changed a flag: the next refresh checks the version (and so reloads)."""
        self._checked_at = -float("inf")

    async def refresh(self, max_age: float | None = None) -> Snapshot:
        """The snapshot, after checking the version if the last check is older than ``max_age``
        seconds (the interval by default; 0 checks now). Reloads only when the version moved."""
        max_age = self.interval if max_age is None else max_age
        if time.monotonic() - self._checked_at < max_age and self.snapshot.loaded:
            return self.snapshot
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # one refresh at a time; those who waited find it done
            started = time.monotonic()
            if started - self._checked_at < max_age and self.snapshot.loaded:
                return self.snapshot
            async with self.db.platform_session() as session:
                version = await repository.current_version(session)
                if version != self.snapshot.version:
                    self.snapshot = await self._load(session, version)
            self._checked_at = started
        return self.snapshot

    @staticmethod
    async def _load(session: AsyncSession, version: int) -> Snapshot:
        # The version is read first: the rows are at least that new; a write landing in between
        # only makes the next check reload once more.
        flags = {row.key: to_flag(row) for row in await repository.list_flags(session)}
        overrides = {(o.tenant_id, key): to_override(o, key) for o, key in await repository.all_overrides(session)}
        return Snapshot(version=version, flags=flags, overrides=overrides)

    def refresh_soon(self) -> None:
        """From sync code on a running loop: refresh in the background when stale."""
        if not self.stale or (self._background is not None and not self._background.done()):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop in this thread: the background task or a dependency refreshes
        self._background = loop.create_task(self._refresh_logged(), name="atrium-flags-refresh")

    async def _refresh_logged(self) -> Snapshot:
        try:
            return await self.refresh()
        except Exception as exc:  # the old snapshot keeps answering
            log.warning("flags.refresh_failed", error=repr(exc))
            return self.snapshot


_stores: weakref.WeakKeyDictionary[Runtime, FlagStore] = weakref.WeakKeyDictionary()


def store_for(rt: Runtime) -> FlagStore:
    """The runtime's store (made on first use)."""
    store = _stores.get(rt)
    if store is None:
        store = _stores[rt] = FlagStore(rt.db)
    return store


async def refresh(rt: Runtime, max_age: float | None = None) -> Snapshot:
    """The runtime's snapshot, checked for changes at most once per interval (see ``FlagStore``)."""
    return await store_for(rt).refresh(max_age)


def invalidate(rt: Runtime) -> None:
    store_for(rt).invalidate()


async def keep_fresh(rt: Runtime) -> None:
    """Background task: load at once, then check every interval until cancelled. A failing
    database is logged and retried less and less often (up to 30 s); the last snapshot keeps
    answering meanwhile."""
    store = store_for(rt)
    failures = 0
    while True:
        try:
            await store.refresh()
            failures = 0
        except Exception as exc:
            failures += 1
            log.warning("flags.refresh_failed", error=repr(exc), failures=failures)
        await asyncio.sleep(min(store.interval * 2**failures, 30.0))


def start(rt: Runtime) -> asyncio.Task[None]:
    """At startup: make ``openfeature.api.get_client()`` answer from this runtime's flags, and
    keep them fresh. Returns the background task (cancel it at shutdown)."""
    from atrium.platform.flags.provider import install

    install(rt)
    return asyncio.create_task(keep_fresh(rt), name="atrium-flags")
