"""The process-wide objects every role shares (api, worker, CLI): one per process."""

from __future__ import annotations

from atrium.core.audit.service import CheckpointSigner
from atrium.core.events.bus import make_bus
from atrium.core.events.consumers import registry as consumer_registry
from atrium.core.events.relay import EventSystem
from atrium.core.settings import Settings
from atrium.core.tenancy import Database
from atrium.platform.identity import passwords
from atrium.platform.identity.throttle import RedisThrottle, make_throttle
from atrium.platform.tenancy.registry import TenantRegistry


class Runtime:
    def __init__(self, settings: Settings) -> None:
        settings.check()
        self.settings = settings
        passwords.configure(time_cost=settings.password_hash_time_cost, memory_kib=settings.password_hash_memory_kib)
        self.db = Database(settings)
        self.tenants = TenantRegistry(self.db, settings.tenant_cache_ttl_seconds, settings.redis_url)
        self.bus = make_bus(settings.broker_url)
        self.events = EventSystem(self.db, self.bus, consumer_registry, settings)
        self.signer = CheckpointSigner(settings)
        self.login_throttle = make_throttle(
            settings.redis_url, settings.login_max_failures, settings.login_failure_window_minutes * 60
        )

    async def close(self) -> None:
        await self.bus.close()
        await self.tenants.close()
        if isinstance(self.login_throttle, RedisThrottle):
            await self.login_throttle.close()
        await self.db.dispose()
