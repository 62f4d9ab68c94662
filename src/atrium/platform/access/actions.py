"""The privileged changes of access control that a tenant may put behind a second person's
approval. Each takes a JSON payload (validated again when it finally runs) and returns a result."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from atrium.platform.access import approvals, service
from atrium.platform.access.approvals import Actor
from atrium.platform.access.schemas import AssignmentCreate, RoleCreate, RoleUpdate


async def _create_role(session: AsyncSession, tenant_id: str, payload: dict[str, Any], actor: Actor) -> dict[str, Any]:
    role = await service.create_role(
        session, tenant_id, RoleCreate.model_validate(payload), actor=actor.email, grantor=actor.subject
    )
    return {"role": role.name, "id": role.id}


async def _update_role(session: AsyncSession, tenant_id: str, payload: dict[str, Any], actor: Actor) -> dict[str, Any]:
    changes = RoleUpdate.model_validate(payload["changes"])
    role = await service.update_role(
        session, tenant_id, payload["role"], changes, actor=actor.email, grantor=actor.subject
    )
    return {"role": role.name, "version": role.version}


async def _delete_role(session: AsyncSession, tenant_id: str, payload: dict[str, Any], actor: Actor) -> dict[str, Any]:
    await service.delete_role(session, tenant_id, payload["role"], actor=actor.email)
    return {"deleted": payload["role"]}


async def _assign(session: AsyncSession, tenant_id: str, payload: dict[str, Any], actor: Actor) -> dict[str, Any]:
    record = await service.assign(
        session, tenant_id, AssignmentCreate.model_validate(payload), actor=actor.email, grantor=actor.subject
    )
    return {"assignment_id": record.id, "role": record.role}


async def _unassign(session: AsyncSession, tenant_id: str, payload: dict[str, Any], actor: Actor) -> dict[str, Any]:
    await service.unassign(session, tenant_id, payload["assignment_id"], actor=actor.email)
    return {"deleted": payload["assignment_id"]}


async def _member_role(session: AsyncSession, tenant_id: str, payload: dict[str, Any], actor: Actor) -> dict[str, Any]:
    membership = await service.set_member_role(
        session, tenant_id, payload["user_id"], payload["role"], actor=actor.email, grantor=actor.subject
    )
    return {"user_id": membership.user_id, "role": membership.role}


async def _rules(session: AsyncSession, tenant_id: str, payload: dict[str, Any], actor: Actor) -> dict[str, Any]:
    await approvals.set_rules(session, tenant_id, list(payload["actions"]), actor=actor.email)
    return {"actions": sorted(payload["actions"])}


ROLE_CREATE = "access.role.create"
ROLE_UPDATE = "access.role.update"
ROLE_DELETE = "access.role.delete"
ASSIGN = "access.assignment.create"
UNASSIGN = "access.assignment.delete"
MEMBER_ROLE = "access.member.role"
RULES = "access.approval.rules"

approvals.register(ROLE_CREATE, "Create a custom role", "access.role.manage", _create_role)
approvals.register(ROLE_UPDATE, "Change a custom role", "access.role.manage", _update_role)
approvals.register(ROLE_DELETE, "Delete a custom role", "access.role.manage", _delete_role)
approvals.register(ASSIGN, "Assign a role to a member or group", "access.assignment.manage", _assign)
approvals.register(UNASSIGN, "Take a role assignment away", "access.assignment.manage", _unassign)
approvals.register(RULES, "Change which actions need approval", "access.role.manage", _rules)
approvals.register(MEMBER_ROLE, "Change a member's primary role", "access.assignment.manage", _member_role)
