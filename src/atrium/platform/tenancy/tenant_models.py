"""Tenant-side tables the platform itself owns: settings and (until access control) role placeholders."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from atrium.core.db import TenantBase, TenantScoped, Timestamped, new_id


class TenantSetting(TenantBase, TenantScoped, Timestamped):
    __tablename__ = "tenant_settings"

    tenant_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)


class Role(TenantBase, TenantScoped, Timestamped):
    """Placeholder rows for the default roles; access control gives them permission sets."""

    __tablename__ = "roles"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(500), default="")
    is_system: Mapped[bool] = mapped_column(Boolean, default=True)
