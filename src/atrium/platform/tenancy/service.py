"""Tenant lifecycle: provisioning → active ⇄ suspended → archived → deleted."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.core.audit import service as audit
from atrium.core.db import new_id, utcnow
from atrium.core.events.outbox import publish
from atrium.platform.tenancy import provisioning, repository, storage
from atrium.platform.tenancy.exceptions import (
    IllegalTransition,
    RegionNotAvailable,
    SlugTaken,
    TenantGone,
    TenantNotFound,
)
from atrium.platform.tenancy.models import Isolation, Tenant, TenantStatus
from atrium.platform.tenancy.registry import to_ref
from atrium.platform.tenancy.schemas import TenantCreate

if TYPE_CHECKING:
    from atrium.runtime import Runtime

# action → (statuses it may start from, status it leads to, audit action and event type)
TRANSITIONS: dict[str, tuple[frozenset[str], str, str]] = {
    "suspend": (frozenset({"active"}), "suspended", "tenant.suspended"),
    "resume": (frozenset({"suspended"}), "active", "tenant.resumed"),
    "archive": (frozenset({"active", "suspended"}), "archived", "tenant.archived"),
}


def check_region(rt: Runtime, requested: str | None, isolation: Isolation) -> str:
    """Data residency is decided here, before anything is written; returns the region."""
    region = requested or rt.settings.default_region
    if rt.settings.region_server_url(region) is None:
        raise RegionNotAvailable(
            f"region {region!r} has no configured store; known regions: {', '.join(rt.settings.known_regions)}",
            field="region",
        )
    if region != "default" and isolation != Isolation.database:
        raise RegionNotAvailable(
            f"pooled and schema tenants live in the platform database (region 'default'); "
            f"a tenant in region {region!r} needs isolation 'database'",
            field="region",
        )
    return region


async def get(session: AsyncSession, key: str, *, allow_deleted: bool = True, for_update: bool = False) -> Tenant:
    tenant = await repository.get_by_key(session, key, for_update=for_update)
    if tenant is None:
        raise TenantNotFound(key)
    if not allow_deleted and tenant.status == TenantStatus.deleted.value:
        raise TenantGone(key)
    return tenant


async def create(rt: Runtime, data: TenantCreate) -> Tenant:
    """Validate, write the tenant record and its provisioning plan, then run the pipeline."""
    region = check_region(rt, data.region, data.isolation)
    tenant_id = new_id()
    async with rt.db.platform_session() as session:
        if await repository.slug_taken(session, data.slug):
            raise SlugTaken(data.slug)
        tenant = Tenant(
            id=tenant_id,
            slug=data.slug,
            name=data.name or data.slug,
            isolation=data.isolation.value,
            region=region,
            status=TenantStatus.provisioning.value,
            storage_name=storage.storage_name_for(rt.db, tenant_id, data.isolation.value),
            with_sample_data=data.sample_data,
            status_changed_at=utcnow(),
        )
        session.add(tenant)
        try:
            await session.flush()
        except IntegrityError as exc:  # a concurrent create won the slug
            raise SlugTaken(data.slug) from exc
        session.add_all(provisioning.plan(tenant))
        await audit.record(
            session,
            action="tenant.created",
            tenant_id=tenant_id,
            object_type="tenant",
            object_id=tenant_id,
            data={"slug": data.slug, "isolation": data.isolation.value, "region": region},
        )
        await publish(
            session,
            "tenant.events",
            "tenant.created",
            {"tenant_id": tenant_id, "slug": data.slug, "isolation": data.isolation.value, "region": region},
            tenant_id=tenant_id,
            subject=tenant_id,
        )
        await session.commit()
    return await provisioning.run(rt, tenant_id)


async def resume_provisioning(rt: Runtime, key: str) -> Tenant:
    async with rt.db.platform_session() as session:
        tenant = await get(session, key)
    if tenant.status != TenantStatus.provisioning.value:
        raise IllegalTransition(tenant.slug, tenant.status, "resume provisioning of")
    return await provisioning.run(rt, tenant.id)


async def change_status(rt: Runtime, key: str, action: str, reason: str | None = None) -> Tenant:
    """Suspend, resume or archive, in its own unit of work: every process's tenant cache is told
    only after the commit, so none can re-cache the old status in between."""
    async with rt.db.platform_session() as session, session.begin():
        tenant = await _change_status(session, key, action, reason)
    await rt.tenants.invalidate(tenant)
    return tenant


async def _change_status(session: AsyncSession, key: str, action: str, reason: str | None) -> Tenant:
    allowed_from, target, happened = TRANSITIONS[action]
    tenant = await get(session, key, for_update=True)  # concurrent changes queue up and re-check
    if tenant.status not in allowed_from:
        raise IllegalTransition(tenant.slug, tenant.status, action)
    previous = tenant.status
    tenant.status, tenant.status_changed_at = target, utcnow()
    await audit.record(
        session,
        action=happened,
        tenant_id=tenant.id,
        object_type="tenant",
        object_id=tenant.id,
        data={"from": previous, "to": target, "reason": reason},
    )
    await publish(
        session,
        "tenant.events",
        happened,
        {"tenant_id": tenant.id, "slug": tenant.slug, "from": previous, "to": target},
        tenant_id=tenant.id,
        subject=tenant.id,
    )
    await session.flush()
    return tenant


async def delete(rt: Runtime, key: str, reason: str | None = None) -> Tenant:
    """Drop the tenant's storage and keep a tombstone and the audit trail. Allowed for archived
    tenants and for tenants whose provisioning never finished; safe to run again after a crash."""
    async with rt.db.platform_session() as session:
        tenant = await get(session, key)
    if tenant.status not in (TenantStatus.archived.value, TenantStatus.provisioning.value, TenantStatus.deleted.value):
        raise IllegalTransition(tenant.slug, tenant.status, "delete")
    ref = to_ref(tenant)
    await rt.tenants.invalidate(ref)
    dropped = await storage.drop_storage(rt.db, ref)
    provisioning.remove_objects(rt, ref)
    async with rt.db.platform_session() as session, session.begin():
        tenant = await get(session, key, for_update=True)
        if tenant.status != TenantStatus.deleted.value:
            previous = tenant.status
            tenant.status, tenant.status_changed_at, tenant.deleted_at = "deleted", utcnow(), utcnow()
            await audit.record(
                session,
                action="tenant.deleted",
                tenant_id=tenant.id,
                object_type="tenant",
                object_id=tenant.id,
                data={"from": previous, "storage": dropped, "reason": reason},
            )
            await publish(
                session,
                "tenant.events",
                "tenant.deleted",
                {"tenant_id": tenant.id, "slug": tenant.slug},
                tenant_id=tenant.id,
                subject=tenant.id,
            )
    await rt.tenants.invalidate(tenant)
    return tenant
