"""Entitlement rules: reading a tenant's entitlements, overriding them, and the seat check.

Reads on the request path go through the per-process cache (``cache``); writes run in their own
transaction, audited (and announced on ``tenant.events``) under ``tenant.entitlement.set`` or
``tenant.entitlement.reset``, and drop the cached snapshot only after the commit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError

from atrium.core import context
from atrium.core.audit import service as audit
from atrium.core.db import utcnow
from atrium.core.errors import Conflict
from atrium.core.events.outbox import publish
from atrium.platform.entitlements import repository
from atrium.platform.entitlements.cache import EntitlementCache
from atrium.platform.entitlements.catalogue import DEFINITIONS, SEATS, Value, definition, validate
from atrium.platform.entitlements.exceptions import EntitlementMissing, SeatLimitReached
from atrium.platform.entitlements.models import TenantEntitlement
from atrium.platform.entitlements.schemas import EntitlementRead
from atrium.platform.entitlements.source import DEFAULT, OVERRIDE, Entitlements
from atrium.platform.tenancy.exceptions import TenantNotFound

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from atrium.core.tenancy import Database, TenantRef

cache = EntitlementCache()


async def current(db: Database, tenant_id: str) -> Entitlements:
    """The tenant's entitlements for a request: cached, at most ``CACHE_SECONDS`` old."""
    return await cache.get(db, tenant_id)


async def ensure(db: Database, tenant: TenantRef, key: str) -> Entitlements:
    """Refuse (403 naming ``key``) a tenant without the switch ``key``: for code not behind the
    router dependency, such as a module's console page."""
    definition(key)
    found = await cache.get(db, tenant.id)
    if found.values.get(key) is not True:
        raise EntitlementMissing(key, tenant.slug)
    return found


async def read(session: AsyncSession, tenant_id: str) -> Entitlements:
    """The tenant's entitlements as the caller's transaction sees them (no cache)."""
    return await cache.source.snapshot(session, tenant_id)


async def describe(session: AsyncSession, tenant_id: str) -> list[EntitlementRead]:
    """Every catalogue entry with the tenant's value, where it comes from, and who set it."""
    found = await read(session, tenant_id)
    rows = {row.key: row for row in await repository.overrides(session, tenant_id)}
    return [_view(found, rows.get(d.key), d.key) for d in DEFINITIONS]


def _view(found: Entitlements, row: TenantEntitlement | None, key: str) -> EntitlementRead:
    d = definition(key)
    source = found.sources[key]
    return EntitlementRead(
        key=key,
        group=d.group,
        kind=d.kind.value,
        title=d.title,
        description=d.description,
        value=found.values[key],
        default=d.default,
        source=source,
        updated_at=row.updated_at if row is not None and source == OVERRIDE else None,
        updated_by=row.updated_by if row is not None and source == OVERRIDE else None,
    )


def _same(a: object, b: object) -> bool:
    return type(a) is type(b) and a == b  # True == 1 in Python; not here


async def set_value(
    db: Database, tenant_id: str, key: str, value: object, *, actor: str | None = None
) -> EntitlementRead:
    """Override ``key`` for the tenant (validated first: nothing is written when it is refused).
    Setting the value it already has changes nothing and records nothing."""
    checked = validate(key, value)
    actor = actor or context.actor.get()
    try:
        async with db.platform_session() as session, session.begin():
            await _existing_tenant(session, tenant_id)
            before = await read(session, tenant_id)
            row = await repository.override(session, tenant_id, key, for_update=True)
            if row is not None and _same(row.value, checked):
                return _view(before, row, key)
            if row is None:
                row = TenantEntitlement(tenant_id=tenant_id, key=key, value=checked, updated_by=actor)
                session.add(row)
            else:
                row.value, row.updated_by, row.updated_at = checked, actor, utcnow()
            await session.flush()
            await _record(session, "tenant.entitlement.set", tenant_id, key, before, checked, actor)
            view = _view(await read(session, tenant_id), row, key)
    except IntegrityError:  # a concurrent first override of the same key won
        raise Conflict(f"{key} was changed at the same moment; try again", field="key") from None
    cache.invalidate(tenant_id)
    return view


async def reset(db: Database, tenant_id: str, key: str, *, actor: str | None = None) -> EntitlementRead:
    """Drop the override: the tenant has the default again. Without an override, nothing happens."""
    definition(key)
    actor = actor or context.actor.get()
    async with db.platform_session() as session, session.begin():
        await _existing_tenant(session, tenant_id)
        before = await read(session, tenant_id)
        row = await repository.override(session, tenant_id, key, for_update=True)
        if row is not None:
            await session.delete(row)
            await session.flush()
            after = await read(session, tenant_id)
            await _record(session, "tenant.entitlement.reset", tenant_id, key, before, after.values[key], actor)
        else:
            after = before
        view = _view(after, None, key)
    cache.invalidate(tenant_id)
    return view


async def _existing_tenant(session: AsyncSession, tenant_id: str) -> None:
    found = await repository.tenant(session, tenant_id)
    if found is None or found.status == "deleted":
        raise TenantNotFound(tenant_id)


async def _record(
    session: AsyncSession, action: str, tenant_id: str, key: str, before: Entitlements, to: Value, actor: str | None
) -> None:
    to_source = DEFAULT if action.endswith(".reset") else OVERRIDE
    data = {
        "key": key,
        "from": before.values[key],
        "from_source": before.sources[key],
        "to": to,
        "to_source": to_source,
    }
    await audit.record(
        session, action=action, tenant_id=tenant_id, object_type="entitlement", object_id=key, data=data, actor=actor
    )
    await publish(session, "tenant.events", action, {"tenant_id": tenant_id, **data}, tenant_id=tenant_id, subject=key)


async def check_seat_available(session: AsyncSession, tenant_id: str) -> None:
    """Refuse (409 naming ``seats``) a new active member when the tenant's seats are all taken.
    Call it in the transaction that adds the membership, before adding it: with a limit, the
    tenant row stays locked until that transaction ends, so two joins cannot share the last seat."""
    limit = (await read(session, tenant_id)).limit(SEATS)
    if limit is None:
        return
    await repository.tenant(session, tenant_id, lock=True)
    used = await repository.seats_used(session, tenant_id)
    if used >= limit:
        raise SeatLimitReached(limit, used)
