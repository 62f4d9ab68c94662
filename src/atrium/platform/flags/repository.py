"""Every query on the flag tables."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.core.db import utcnow
from atrium.platform.flags.models import FeatureFlag, FeatureFlagVersion, TenantFlagOverride

VERSION_ROW = 1


async def get_by_key(session: AsyncSession, key: str) -> FeatureFlag | None:
    return (await session.execute(select(FeatureFlag).where(FeatureFlag.key == key))).scalar_one_or_none()


async def list_flags(session: AsyncSession) -> Sequence[FeatureFlag]:
    return (await session.execute(select(FeatureFlag).order_by(FeatureFlag.key))).scalars().all()


async def get_override(session: AsyncSession, tenant_id: str, flag_id: str) -> TenantFlagOverride | None:
    return await session.get(TenantFlagOverride, (tenant_id, flag_id))


async def overrides_of_tenant(session: AsyncSession, tenant_id: str) -> dict[str, TenantFlagOverride]:
    """The tenant's overrides by flag id."""
    rows = await session.execute(select(TenantFlagOverride).where(TenantFlagOverride.tenant_id == tenant_id))
    return {o.flag_id: o for o in rows.scalars()}


async def count_overrides(session: AsyncSession, flag_id: str) -> int:
    stmt = select(func.count()).select_from(TenantFlagOverride).where(TenantFlagOverride.flag_id == flag_id)
    return int((await session.execute(stmt)).scalar_one())


async def delete_overrides(session: AsyncSession, flag_id: str) -> None:
    await session.execute(delete(TenantFlagOverride).where(TenantFlagOverride.flag_id == flag_id))


async def all_overrides(session: AsyncSession) -> Sequence[tuple[TenantFlagOverride, str]]:
    """Every override with its flag's key (for the snapshot)."""
    stmt = select(TenantFlagOverride, FeatureFlag.key).join(FeatureFlag, FeatureFlag.id == TenantFlagOverride.flag_id)
    return [(o, k) for o, k in (await session.execute(stmt)).all()]


async def current_version(session: AsyncSession) -> int:
    """0 until the first write."""
    stmt = select(FeatureFlagVersion.version).where(FeatureFlagVersion.id == VERSION_ROW)
    return int((await session.execute(stmt)).scalar_one_or_none() or 0)


async def bump_version(session: AsyncSession) -> None:
    """Announce a change to every process, in the caller's transaction (so the new version is
    seen exactly when the change is). Concurrent writers queue on the one row."""
    is_postgresql = session.bind is not None and session.bind.dialect.name == "postgresql"
    insert = postgresql.insert if is_postgresql else sqlite.insert
    stmt = insert(FeatureFlagVersion).values(id=VERSION_ROW, version=1, changed_at=utcnow())
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[FeatureFlagVersion.id],
            set_={"version": FeatureFlagVersion.version + 1, "changed_at": stmt.excluded.changed_at},
        )
    )
