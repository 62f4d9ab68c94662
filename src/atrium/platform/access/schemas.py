"""Request and response bodies of access control."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

_FORBID = ConfigDict(extra="forbid")


class PermissionRead(BaseModel):
    name: str
    description: str
    privileged: bool


class PermissionSetRead(BaseModel):
    key: str
    name: str
    description: str
    patterns: list[str]
    permissions: list[str]


class RoleCreate(BaseModel):
    model_config = _FORBID
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=500)
    permission_sets: list[str] = Field(min_length=1, max_length=50)
    condition: dict[str, Any] | None = Field(
        default=None, description="A row condition in the predicate language; none: every row."
    )
    require_mfa: bool = False
    session_minutes: int | None = Field(default=None, ge=5, le=1440)
    step_up: bool = False


class RoleUpdate(BaseModel):
    model_config = _FORBID
    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=500)
    permission_sets: list[str] | None = Field(default=None, min_length=1, max_length=50)
    condition: dict[str, Any] | None = None
    require_mfa: bool | None = None
    session_minutes: int | None = Field(default=None, ge=5, le=1440)
    step_up: bool | None = None


class RoleRead(BaseModel):
    id: str | None  # none for a system role
    name: str
    description: str
    system: bool
    platform_wide: bool = False
    permission_sets: list[str]
    permissions: list[str]
    condition: dict[str, Any] | None = None
    require_mfa: bool = False
    session_minutes: int | None = None
    step_up: bool = False
    version: int = 1
    updated_at: dt.datetime | None = None


class AssignmentCreate(BaseModel):
    model_config = _FORBID
    role: str = Field(min_length=1, max_length=100)
    user_id: str | None = None
    group_id: str | None = None

    @model_validator(mode="after")
    def _one_holder(self) -> AssignmentCreate:
        if (self.user_id is None) == (self.group_id is None):
            raise ValueError("give exactly one of user_id and group_id")
        return self


class AssignmentRead(BaseModel):
    id: str
    role: str
    user_id: str | None
    email: str | None
    group_id: str | None
    group_name: str | None
    created_at: dt.datetime
    created_by: str | None


class MemberRoleUpdate(BaseModel):
    model_config = _FORBID
    role: str = Field(min_length=1, max_length=100)


class MemberRolesRead(BaseModel):
    user_id: str
    email: str
    primary_role: str
    roles: list[str]


class DepartmentCreate(BaseModel):
    model_config = _FORBID
    name: str = Field(min_length=1, max_length=200)
    parent_id: str | None = None


class DepartmentUpdate(BaseModel):
    model_config = _FORBID
    name: str | None = Field(default=None, min_length=1, max_length=200)
    parent_id: str | None = None


class DepartmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    parent_id: str | None


class PersonUpdate(BaseModel):
    model_config = _FORBID
    department_id: str | None = None
    manager_id: str | None = None
    attributes: dict[str, str] = Field(default_factory=dict, max_length=20)


class PersonRead(BaseModel):
    user_id: str
    email: str
    department_id: str | None
    manager_id: str | None
    attributes: dict[str, str]


class GroupCreate(BaseModel):
    model_config = _FORBID
    display_name: str = Field(min_length=1, max_length=255)


class GroupMemberAdd(BaseModel):
    model_config = _FORBID
    user_id: str


class GroupRead(BaseModel):
    id: str
    display_name: str
    external_id: str | None
    members: list[str]


class ImpersonationStart(BaseModel):
    model_config = _FORBID
    user_id: str
    reason: str = Field(max_length=500)


class ImpersonationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    tenant_id: str
    actor_id: str
    subject_id: str
    reason: str
    started_at: dt.datetime
    ended_at: dt.datetime | None


class ApprovalRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    action: str
    summary: str
    payload: dict[str, Any]
    status: str
    reason: str
    requested_by: str | None
    requested_by_email: str
    decided_by_email: str | None
    decision_note: str
    result: dict[str, Any] | None
    created_at: dt.datetime
    decided_at: dt.datetime | None


class ApprovalDecision(BaseModel):
    model_config = _FORBID
    note: str = Field(default="", max_length=500)


class ApprovalRules(BaseModel):
    model_config = _FORBID
    actions: list[str] = Field(max_length=50)


class ApprovalActionRead(BaseModel):
    action: str
    description: str
    permission: str
    required: bool
