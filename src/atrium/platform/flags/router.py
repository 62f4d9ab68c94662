"""Feature flags over HTTP: platform-wide definitions (``/api/v1/platform/flags``, platform
administrators) and a tenant's view and overrides (``/api/v1/tenants/{tenant}/flags``)."""

from __future__ import annotations

from fastapi import Response, status
from openfeature.evaluation_context import EvaluationContext

from atrium.api.deps import CurrentPrincipal, PlatformAdmin, PlatformSession, RuntimeDep
from atrium.api.routing import APIRouter
from atrium.platform.access.auth import CanManageFlags, CanReadFlags
from atrium.platform.flags import service
from atrium.platform.flags.evaluation import Evaluation
from atrium.platform.flags.schemas import (
    EvaluateRequest,
    EvaluationRead,
    FlagCreate,
    FlagRead,
    FlagUpdate,
    OverrideRead,
    OverrideWrite,
    TenantFlagRead,
)

router = APIRouter()
PLATFORM = "/api/v1/platform/flags"
TENANT = "/api/v1/tenants/{tenant}/flags"


def _evaluation(found: Evaluation) -> EvaluationRead:
    return EvaluationRead(
        key=found.key,
        value=found.value,
        reason=str(found.reason),
        variant=found.variant,
        error_code=str(found.error_code) if found.error_code else None,
        error_message=found.error_message,
    )


# -- platform-wide definitions -------------------------------------------------------------------


@router.get(PLATFORM, response_model=list[FlagRead], tags=["platform: flags"])
async def list_flags(session: PlatformSession, _: PlatformAdmin) -> list[FlagRead]:
    return [FlagRead.model_validate(f) for f in await service.list_flags(session)]


@router.post(PLATFORM, status_code=status.HTTP_201_CREATED, response_model=FlagRead, tags=["platform: flags"])
async def create_flag(data: FlagCreate, rt: RuntimeDep, principal: PlatformAdmin) -> FlagRead:
    """Define a flag: its type, default value, targeting rules (first match wins) and rollout."""
    return FlagRead.model_validate(await service.create_flag(rt, data, actor=principal.email))


@router.get(PLATFORM + "/{key}", response_model=FlagRead, tags=["platform: flags"])
async def get_flag(key: str, session: PlatformSession, _: PlatformAdmin) -> FlagRead:
    return FlagRead.model_validate(await service.get_flag(session, key))


@router.patch(PLATFORM + "/{key}", response_model=FlagRead, tags=["platform: flags"])
async def update_flag(key: str, data: FlagUpdate, rt: RuntimeDep, principal: PlatformAdmin) -> FlagRead:
    """Change the fields sent; ``"rollout": null`` removes the rollout."""
    return FlagRead.model_validate(await service.update_flag(rt, key, data, actor=principal.email))


@router.delete(PLATFORM + "/{key}", status_code=status.HTTP_204_NO_CONTENT, tags=["platform: flags"])
async def delete_flag(key: str, rt: RuntimeDep, principal: PlatformAdmin) -> Response:
    """Remove the flag with every tenant's override of it."""
    await service.delete_flag(rt, key, actor=principal.email)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(PLATFORM + "/{key}/evaluate", response_model=EvaluationRead, tags=["platform: flags"])
async def evaluate_flag(key: str, data: EvaluateRequest, rt: RuntimeDep, _: PlatformAdmin) -> EvaluationRead:
    """What code asking this flag with this context gets: value, OpenFeature reason and variant."""
    context = EvaluationContext(targeting_key=data.targeting_key, attributes=data.attributes)
    return _evaluation(await service.evaluate_now(rt, key, context))


# -- a tenant's view and overrides ---------------------------------------------------------------


@router.get(TENANT, response_model=list[TenantFlagRead], tags=["tenant flags"])
async def tenant_flags(
    ctx: CanReadFlags, principal: CurrentPrincipal, session: PlatformSession
) -> list[TenantFlagRead]:
    """Every flag with its value for the caller in this tenant, and the tenant's override."""
    context = service.context_for(principal.id, principal.email, ctx.tenant)
    return [
        TenantFlagRead(
            key=flag.key,
            description=flag.description,
            value_type=flag.value_type,
            enabled=flag.enabled,
            value=found.value,
            reason=str(found.reason),
            variant=found.variant,
            override=OverrideRead.model_validate(override) if override is not None else None,
        )
        for flag, found, override in await service.tenant_view(session, ctx.tenant.id, context)
    ]


@router.put(TENANT + "/{key}", response_model=OverrideRead, tags=["tenant flags"])
async def set_override(
    key: str, data: OverrideWrite, ctx: CanManageFlags, rt: RuntimeDep, principal: CurrentPrincipal
) -> OverrideRead:
    """Set the tenant's override of the flag (replacing any): off for the tenant, user targets,
    rules, a rollout or a tenant-wide value, all consulted before the platform's rules."""
    row = await service.set_override(rt, ctx.tenant.id, key, data, actor=principal.email)
    return OverrideRead.model_validate(row)


@router.delete(TENANT + "/{key}", status_code=status.HTTP_204_NO_CONTENT, tags=["tenant flags"])
async def delete_override(key: str, ctx: CanManageFlags, rt: RuntimeDep, principal: CurrentPrincipal) -> Response:
    """Drop the tenant's override: the platform's definition applies again."""
    await service.delete_override(rt, ctx.tenant.id, key, actor=principal.email)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
