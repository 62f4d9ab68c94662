"""Control-plane tables of tenancy: the tenant registry and its provisioning log."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from atrium.core.db import ControlBase, Timestamped, UTCDateTime, new_id


class Isolation(enum.StrEnum):
    pooled = "pooled"
    schema = "schema"
    database = "database"


class TenantStatus(enum.StrEnum):
    provisioning = "provisioning"
    active = "active"
    suspended = "suspended"
    archived = "archived"
    deleted = "deleted"


class StepStatus(enum.StrEnum):
    pending = "pending"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    skipped = "skipped"


class Tenant(ControlBase, Timestamped):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    isolation: Mapped[str] = mapped_column(String(16))
    region: Mapped[str] = mapped_column(String(32), default="default")
    status: Mapped[str] = mapped_column(String(16), default=TenantStatus.provisioning.value, index=True)
    storage_name: Mapped[str | None] = mapped_column(String(63), default=None)
    with_sample_data: Mapped[bool] = mapped_column(Boolean, default=False)
    schema_revision: Mapped[str | None] = mapped_column(String(64), default=None)
    provisioning_error: Mapped[str | None] = mapped_column(Text, default=None)
    status_changed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


class ProvisioningStep(ControlBase):
    __tablename__ = "tenant_provisioning_steps"
    __table_args__ = (UniqueConstraint("tenant_id", "step"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    step: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16), default=StepStatus.pending.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    duration_ms: Mapped[float | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
