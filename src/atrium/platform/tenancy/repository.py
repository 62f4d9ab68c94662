"""Every query on the tenant registry."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.platform.tenancy.models import ProvisioningStep, Tenant


async def get(session: AsyncSession, tenant_id: str) -> Tenant | None:
    return await session.get(Tenant, tenant_id)


async def get_by_key(session: AsyncSession, key: str, *, for_update: bool = False) -> Tenant | None:
    """By id or slug, as the path `/api/v1/tenants/{tenant}` allows; an id match wins."""
    stmt = select(Tenant).where(or_(Tenant.id == key, Tenant.slug == key)).order_by((Tenant.id == key).desc())
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalars().first()


async def slug_taken(session: AsyncSession, slug: str) -> bool:
    return (await session.execute(select(Tenant.id).where(Tenant.slug == slug))).first() is not None


async def list_tenants(
    session: AsyncSession,
    *,
    status: str | None = None,
    include_deleted: bool = False,
    limit: int = 100,
    offset: int = 0,
) -> tuple[Sequence[Tenant], int]:
    stmt = select(Tenant)
    if status is not None:
        stmt = stmt.where(Tenant.status == status)
    elif not include_deleted:
        stmt = stmt.where(Tenant.status != "deleted")
    total = (await session.execute(select(func.count()).select_from(stmt.subquery()))).scalar_one()
    rows = (await session.execute(stmt.order_by(Tenant.slug).limit(limit).offset(offset))).scalars().all()
    return rows, total


async def all_with_storage(session: AsyncSession) -> Sequence[Tenant]:
    """Tenants whose storage exists (for migrate): not deleted, past the storage step."""
    stmt = select(Tenant).where(Tenant.status != "deleted").order_by(Tenant.created_at)
    return (await session.execute(stmt)).scalars().all()


async def steps(session: AsyncSession, tenant_id: str) -> Sequence[ProvisioningStep]:
    stmt = select(ProvisioningStep).where(ProvisioningStep.tenant_id == tenant_id).order_by(ProvisioningStep.position)
    return (await session.execute(stmt)).scalars().all()
