"""Every query of entitlements: the overrides table and the seat count."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.platform.entitlements.models import TenantEntitlement
from atrium.platform.identity.models import Membership
from atrium.platform.tenancy.models import Tenant


async def overrides(session: AsyncSession, tenant_id: str) -> Sequence[TenantEntitlement]:
    stmt = select(TenantEntitlement).where(TenantEntitlement.tenant_id == tenant_id).order_by(TenantEntitlement.key)
    return (await session.execute(stmt)).scalars().all()


async def override(
    session: AsyncSession, tenant_id: str, key: str, *, for_update: bool = False
) -> TenantEntitlement | None:
    stmt = select(TenantEntitlement).where(TenantEntitlement.tenant_id == tenant_id, TenantEntitlement.key == key)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def tenant(session: AsyncSession, tenant_id: str, *, lock: bool = False) -> Tenant | None:
    """The tenant row; ``lock`` holds it (PostgreSQL ``FOR NO KEY UPDATE``, which leaves foreign
    keys to it alone) so that concurrent seat checks of one tenant queue up instead of both
    counting the last free seat."""
    stmt = select(Tenant).where(Tenant.id == tenant_id)
    if lock:
        stmt = stmt.with_for_update(key_share=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def seats_used(session: AsyncSession, tenant_id: str) -> int:
    """Active members: a member the IdP deactivated (SCIM) frees their seat."""
    stmt = (
        select(func.count())
        .select_from(Membership)
        .where(Membership.tenant_id == tenant_id, Membership.active.is_(True))
    )
    return int((await session.execute(stmt)).scalar_one())
