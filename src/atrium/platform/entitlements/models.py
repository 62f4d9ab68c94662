"""The control-plane table of today's entitlement source: per-tenant overrides of the defaults."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from atrium.core.db import ControlBase, UTCDateTime, utcnow


class TenantEntitlement(ControlBase):
    """One entitlement a Platform Admin set for one tenant. No row: the catalogue's default.
    ``value`` is JSON: true/false for a switch, a number for a limit, null for unlimited."""

    __tablename__ = "tenant_entitlements"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(254), default=None)
