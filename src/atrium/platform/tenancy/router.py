"""Platform administration of tenants: /api/v1/platform/tenants."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, status

from atrium.api.deps import PlatformAdmin, PlatformSession, RuntimeDep
from atrium.api.routing import APIRouter
from atrium.platform.tenancy import repository, service
from atrium.platform.tenancy.models import TenantStatus
from atrium.platform.tenancy.schemas import (
    LifecycleReason,
    ProvisioningStepRead,
    TenantCreate,
    TenantDetail,
    TenantPage,
    TenantRead,
)

router = APIRouter(prefix="/api/v1/platform/tenants", tags=["platform: tenants"])


async def _detail(session: PlatformSession, key: str) -> TenantDetail:
    tenant = await service.get(session, key)
    steps = await repository.steps(session, tenant.id)
    detail = TenantDetail.model_validate(tenant)
    detail.provisioning = [ProvisioningStepRead.model_validate(s) for s in steps]
    return detail


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TenantDetail)
async def create_tenant(data: TenantCreate, rt: RuntimeDep, session: PlatformSession, _: PlatformAdmin) -> TenantDetail:
    """Create and provision a tenant. A failed step leaves it `provisioning` with the error shown."""
    tenant = await service.create(rt, data)
    return await _detail(session, tenant.id)


@router.get("", response_model=TenantPage)
async def list_tenants(
    session: PlatformSession,
    _: PlatformAdmin,
    status_: Annotated[TenantStatus | None, Query(alias="status")] = None,
    include_deleted: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> TenantPage:
    rows, total = await repository.list_tenants(
        session, status=status_.value if status_ else None, include_deleted=include_deleted, limit=limit, offset=offset
    )
    return TenantPage(items=[TenantRead.model_validate(t) for t in rows], total=total)


@router.get("/{tenant}", response_model=TenantDetail)
async def get_tenant(tenant: str, session: PlatformSession, _: PlatformAdmin) -> TenantDetail:
    return await _detail(session, tenant)


@router.get("/{tenant}/provisioning", response_model=list[ProvisioningStepRead])
async def provisioning_log(tenant: str, session: PlatformSession, _: PlatformAdmin) -> list[ProvisioningStepRead]:
    found = await service.get(session, tenant)
    return [ProvisioningStepRead.model_validate(s) for s in await repository.steps(session, found.id)]


@router.post("/{tenant}/resume-provisioning", response_model=TenantDetail)
async def resume_provisioning(tenant: str, rt: RuntimeDep, session: PlatformSession, _: PlatformAdmin) -> TenantDetail:
    found = await service.resume_provisioning(rt, tenant)
    return await _detail(session, found.id)


def _lifecycle(action: str) -> None:
    async def change(tenant: str, rt: RuntimeDep, _: PlatformAdmin, body: LifecycleReason | None = None) -> TenantRead:
        found = await service.change_status(rt, tenant, action, body.reason if body else None)
        return TenantRead.model_validate(found)

    change.__name__ = f"{action}_tenant"
    change.__doc__ = f"{action.capitalize()} the tenant (see the lifecycle in the tenancy README)."
    router.add_api_route(f"/{{tenant}}/{action}", change, methods=["POST"], response_model=TenantRead)


for _action in service.TRANSITIONS:
    _lifecycle(_action)


@router.delete("/{tenant}", response_model=TenantRead)
async def delete_tenant(tenant: str, rt: RuntimeDep, _: PlatformAdmin) -> TenantRead:
    """Drop the tenant's data; a tombstone and the audit trail remain."""
    return TenantRead.model_validate(await service.delete(rt, tenant))
