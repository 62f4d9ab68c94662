"""The audit API: a tenant's trail, and the platform-wide view with verification."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query
from pydantic import AwareDatetime
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.api.deps import PlatformAdmin, PlatformSession, RuntimeDep
from atrium.api.routing import APIRouter
from atrium.core.audit import service
from atrium.core.audit.schemas import AuditEventRead, AuditPage, ChainReportRead
from atrium.platform.access.auth import CanReadAudit
from atrium.platform.tenancy import service as tenants

router = APIRouter(tags=["audit"])


async def _filter(  # async: FastAPI would run a plain def in a worker thread
    actor: str | None = None,
    action: Annotated[
        str | None, Query(description="Exact action, or a prefix ending in '.' (e.g. `tenant.`).")
    ] = None,
    object_type: str | None = None,
    object_id: str | None = None,
    since: Annotated[AwareDatetime | None, Query(description="ISO 8601 with a UTC offset.")] = None,
    until: Annotated[AwareDatetime | None, Query(description="ISO 8601 with a UTC offset.")] = None,
    before: Annotated[int | None, Query(description="Cursor: events older than this id.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> service.AuditFilter:
    return service.AuditFilter(
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        since=since,
        until=until,
        before_id=before,
        limit=limit,
    )


async def _page(session: AsyncSession, f: service.AuditFilter) -> AuditPage:
    events = await service.list_events(session, f)
    items = [AuditEventRead.model_validate(e) for e in events]
    return AuditPage(items=items, next_before=items[-1].id if len(items) == f.limit else None)


@router.get("/api/v1/tenants/{tenant}/audit-events", response_model=AuditPage)
async def tenant_audit_events(
    access: CanReadAudit, session: PlatformSession, f: Annotated[service.AuditFilter, Depends(_filter)]
) -> AuditPage:
    """The tenant's audit trail, newest first (Auditors and administrators)."""
    return await _page(session, service.AuditFilter(**{**f.__dict__, "tenant_id": access.tenant.id}))


@router.get("/api/v1/platform/audit-events", response_model=AuditPage)
async def platform_audit_events(
    session: PlatformSession,
    _: PlatformAdmin,
    f: Annotated[service.AuditFilter, Depends(_filter)],
    tenant: Annotated[str | None, Query(description="Tenant id or slug; `platform` for the platform chain.")] = None,
) -> AuditPage:
    """Every chain, or one tenant's (deleted tenants included: their trail outlives them)."""
    if tenant == "platform":
        f = service.AuditFilter(**{**f.__dict__, "platform_only": True})
    elif tenant:
        found = await tenants.get(session, tenant)
        f = service.AuditFilter(**{**f.__dict__, "tenant_id": found.id})
    return await _page(session, f)


@router.get("/api/v1/platform/audit-verification", response_model=list[ChainReportRead])
async def verify_audit(
    rt: RuntimeDep, session: PlatformSession, _: PlatformAdmin, tenant: str | None = None
) -> list[ChainReportRead]:
    """Walk the chains (or one tenant's) and report the first broken link of each."""
    tenant_id = (await tenants.get(session, tenant)).id if tenant and tenant != "platform" else tenant
    reports = [await service.verify_chain(session, c, rt.signer) for c in await service.chains(session, tenant_id)]
    return [ChainReportRead(**r.__dict__) for r in reports]
