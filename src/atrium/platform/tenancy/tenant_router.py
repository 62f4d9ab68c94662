"""Tenant-scoped basics: /api/v1/tenants/{tenant} and its settings."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from atrium.api.deps import Tenant
from atrium.api.routing import APIRouter
from atrium.core.audit import service as audit
from atrium.core.errors import NotFound
from atrium.platform.access.auth import CanManageTenant, CanReadTenant
from atrium.platform.tenancy.tenant_models import TenantSetting

router = APIRouter(prefix="/api/v1/tenants/{tenant}", tags=["tenant"])


class TenantSummary(BaseModel):
    id: str
    slug: str
    name: str
    isolation: str
    region: str
    status: str


class SettingValue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: Any = Field(description="Any JSON value.")


@router.get("", response_model=TenantSummary)
async def tenant_summary(tenant: Tenant) -> TenantSummary:
    t = tenant.tenant
    return TenantSummary(id=t.id, slug=t.slug, name=t.name, isolation=t.isolation, region=t.region, status=t.status)


@router.get("/settings", response_model=dict[str, Any])
async def list_settings(tenant: CanReadTenant) -> dict[str, Any]:
    rows = (await tenant.session.execute(select(TenantSetting).order_by(TenantSetting.key))).scalars()
    return {row.key: row.value for row in rows}


SettingKey = Annotated[str, Path(min_length=1, max_length=100, description="Setting name.")]


@router.get("/settings/{key}", response_model=SettingValue)
async def get_setting(tenant: CanReadTenant, key: SettingKey) -> SettingValue:
    row = await tenant.session.get(TenantSetting, (tenant.tenant.id, key))
    if row is None:
        raise NotFound(f"no setting {key!r}", field="key")
    return SettingValue(value=row.value)


@router.put("/settings/{key}", response_model=SettingValue)
async def put_setting(tenant: CanManageTenant, key: SettingKey, body: SettingValue) -> SettingValue:
    row = await tenant.session.get(TenantSetting, (tenant.tenant.id, key))
    if row is None:
        tenant.session.add(TenantSetting(key=key, value=body.value))
    else:
        row.value = body.value
    await tenant.session.flush()
    await audit.record(
        tenant.platform,
        action="tenant.setting.changed",
        tenant_id=tenant.tenant.id,
        object_type="setting",
        object_id=key,
    )
    return body
