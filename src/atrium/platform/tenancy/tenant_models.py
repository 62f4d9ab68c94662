"""Tenant-side tables the platform itself owns: settings."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from atrium.core.db import TenantBase, TenantScoped, Timestamped


class TenantSetting(TenantBase, TenantScoped, Timestamped):
    __tablename__ = "tenant_settings"

    tenant_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
