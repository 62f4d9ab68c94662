"""/api/v1/tenants/{tenant}/entitlements: members read their tenant's, Platform Admins change them."""

from __future__ import annotations

from atrium.api.deps import PlatformAdmin, PlatformSession, RuntimeDep
from atrium.api.routing import APIRouter
from atrium.core.tenancy import TenantRef
from atrium.platform.access.auth import CanReadEntitlements
from atrium.platform.entitlements import service
from atrium.platform.entitlements.schemas import EntitlementRead, EntitlementWrite
from atrium.platform.tenancy.exceptions import TenantNotFound
from atrium.runtime import Runtime

router = APIRouter(prefix="/api/v1/tenants/{tenant}/entitlements", tags=["entitlements"])


async def _tenant(rt: Runtime, key: str) -> TenantRef:
    """A Platform Admin may change a tenant in any state but deleted (a suspended one included)."""
    ref = await rt.tenants.resolve(key)
    if ref is None or ref.status == "deleted":
        raise TenantNotFound(key)
    return ref


@router.get("", response_model=list[EntitlementRead])
async def list_entitlements(ctx: CanReadEntitlements, session: PlatformSession) -> list[EntitlementRead]:
    """Every entitlement with the tenant's value and whether it is the default or an override."""
    return await service.describe(session, ctx.tenant.id)


@router.put("/{key}", response_model=EntitlementRead)
async def set_entitlement(
    tenant: str, key: str, data: EntitlementWrite, admin: PlatformAdmin, rt: RuntimeDep
) -> EntitlementRead:
    """Override one entitlement (Platform Admins; until billing brings plans). Effective at once
    in this process, in every other within seconds."""
    ref = await _tenant(rt, tenant)
    return await service.set_value(rt.db, ref.id, key, data.value, actor=admin.email)


@router.delete("/{key}", response_model=EntitlementRead)
async def reset_entitlement(tenant: str, key: str, admin: PlatformAdmin, rt: RuntimeDep) -> EntitlementRead:
    """Back to the default: drop the override (answers the entitlement as it now is)."""
    ref = await _tenant(rt, tenant)
    return await service.reset(rt.db, ref.id, key, actor=admin.email)
