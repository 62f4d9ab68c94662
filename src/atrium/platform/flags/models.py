"""Control-plane tables of feature flags: platform-wide definitions, tenants' overrides, and the
one version number every process polls to know when its in-memory snapshot is stale."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from atrium.core.db import ControlBase, UTCDateTime, new_id, utcnow


class FeatureFlag(ControlBase):
    """A flag as the platform defines it. ``rules`` and ``rollout`` are stored as checked JSON
    (see ``schemas.RuleIn`` / ``RolloutIn``); values are JSON of the flag's ``value_type``."""

    __tablename__ = "feature_flags"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    value_type: Mapped[str] = mapped_column(String(10))
    default_value: Mapped[Any] = mapped_column(JSON, nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    rules: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    rollout: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(254), default=None)


class TenantFlagOverride(ControlBase):
    """One tenant's say on one flag: off for the tenant, or its own user targets, rules, rollout
    and value, consulted before the platform's rules. Goes with the tenant or the flag."""

    __tablename__ = "tenant_flag_overrides"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    flag_id: Mapped[str] = mapped_column(
        ForeignKey("feature_flags.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    value: Mapped[Any] = mapped_column(JSON(none_as_null=True), nullable=True, default=None)
    targets: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    rules: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    rollout: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), default=None)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(254), default=None)


class FeatureFlagVersion(ControlBase):
    """A single row (id 1) whose ``version`` every flag write bumps in its own transaction: a
    process compares it with its snapshot's version (one indexed read a second at most)."""

    __tablename__ = "feature_flag_versions"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(default=0)
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
