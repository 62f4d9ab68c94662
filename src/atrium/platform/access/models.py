"""Control-plane tables of access control. System roles and permission sets live in code
(``catalog``); these rows hold what each tenant adds: custom roles, assignments, its organisation,
impersonations and approvals. Roles are named, and a name is what assignments refer to."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from atrium.core.db import ControlBase, UTCDateTime, new_id, utcnow


class CustomRole(ControlBase):
    """A tenant's own role: permission sets, an optional row condition, and a sign-in policy."""

    __tablename__ = "access_roles"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(500), default="")
    permission_sets: Mapped[list[str]] = mapped_column(JSON, default=list)
    condition: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    require_mfa: Mapped[bool] = mapped_column(Boolean, default=False)
    session_minutes: Mapped[int | None] = mapped_column(Integer, default=None)
    step_up: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(254), default=None)


# A role's name is unique within the tenant, whatever its case.
Index("uq_access_roles_tenant_id_name", CustomRole.tenant_id, func.lower(CustomRole.name), unique=True)


class RoleAssignment(ControlBase):
    """A role given to one member or to a group (SCIM's or the console's)."""

    __tablename__ = "access_role_assignments"
    __table_args__ = (
        CheckConstraint("(user_id IS NULL) <> (group_id IS NULL)", name="one_holder"),
        UniqueConstraint("tenant_id", "role", "user_id"),
        UniqueConstraint("tenant_id", "role", "group_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(100))
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), default=None, index=True)
    group_id: Mapped[str | None] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), default=None, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(254), default=None)


class Department(ControlBase):
    """A node of the tenant's organisation tree (until the HR module takes it over)."""

    __tablename__ = "access_departments"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[str | None] = mapped_column(
        ForeignKey("access_departments.id", ondelete="RESTRICT"), default=None, index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Person(ControlBase):
    """A member's place in the organisation: department, manager, and attributes (``region``)
    that row conditions may compare with a record's."""

    __tablename__ = "access_people"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    department_id: Mapped[str | None] = mapped_column(
        ForeignKey("access_departments.id", ondelete="SET NULL"), default=None, index=True
    )
    manager_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)
    attributes: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Impersonation(ControlBase):
    """An administrator viewing a tenant as another member, bound to the administrator's session."""

    __tablename__ = "access_impersonations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    session_id: Mapped[str] = mapped_column(ForeignKey("user_sessions.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(String(500))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


class Approval(ControlBase):
    """A privileged action waiting for a second person: it runs only once someone else approves."""

    __tablename__ = "access_approvals"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(100))
    summary: Mapped[str] = mapped_column(String(500))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending|approved|rejected|failed
    reason: Mapped[str] = mapped_column(String(500), default="")
    requested_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)
    requested_by_email: Mapped[str] = mapped_column(String(254))
    decided_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)
    decided_by_email: Mapped[str | None] = mapped_column(String(254), default=None)
    decision_note: Mapped[str] = mapped_column(String(500), default="")
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


class ApprovalRule(ControlBase):
    """The tenant requires a second person's approval for this privileged action."""

    __tablename__ = "access_approval_rules"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    action: Mapped[str] = mapped_column(String(100), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(254), default=None)
