"""API shapes of tenancy."""

from __future__ import annotations

import datetime as dt
import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from atrium.platform.tenancy.models import Isolation

UUID_PATTERN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: str = Field(
        description="URL name: lowercase letters, digits and hyphens, 1–63 characters, no leading/trailing hyphen.",
        examples=["acme"],
    )
    name: str | None = Field(None, max_length=200, description="Display name; defaults to the slug.")
    isolation: Isolation = Field(Isolation.pooled, description="pooled, schema or database.")
    region: str | None = Field(None, description="Region whose stores hold the tenant's data (default: `default`).")
    sample_data: bool = Field(False, description="Load sample records after provisioning.")

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str) -> str:
        if UUID_PATTERN.fullmatch(value):
            raise ValueError("slug must not look like a tenant id (a UUID)")
        if not SLUG_PATTERN.fullmatch(value):
            raise ValueError("slug must be 1-63 characters of [a-z0-9-], starting and ending with a letter or digit")
        return value


class ProvisioningStepRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    position: int
    step: str
    status: str
    attempts: int
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    duration_ms: float | None
    error: str | None


class TenantRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    slug: str
    name: str
    isolation: str
    region: str
    status: str
    schema_revision: str | None = Field(None, description="Tenant migration revision reached.")
    provisioning_error: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    status_changed_at: dt.datetime | None
    deleted_at: dt.datetime | None


class TenantDetail(TenantRead):
    provisioning: list[ProvisioningStepRead] = Field(default_factory=list)


class TenantPage(BaseModel):
    items: list[TenantRead]
    total: int


class LifecycleReason(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(None, max_length=500, description="Why; kept in the audit trail.")
