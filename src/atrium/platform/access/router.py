"""Access control inside a tenant (``/api/v1/tenants/{tenant}/…``): roles, permission sets,
assignments, groups, departments, impersonation and approvals; and step-up (``/api/v1/auth``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from atrium.api.deps import CurrentPrincipal, PlatformSession, RuntimeDep
from atrium.api.routing import APIRouter
from atrium.core import context
from atrium.core.errors import BadRequest, Forbidden, NotFound
from atrium.platform.access import actions, approvals, catalog, impersonation, service
from atrium.platform.access import repository as repo
from atrium.platform.access import step_up as step_up_service
from atrium.platform.access.auth import (
    AccessDep,
    CanAssignRoles,
    CanDecideApprovals,
    CanImpersonate,
    CanManageDepartments,
    CanManageMembers,
    CanManageRoles,
    CanReadApprovals,
    CanReadMembers,
    CanReadRoles,
)
from atrium.platform.access.models import Approval
from atrium.platform.access.schemas import (
    ApprovalActionRead,
    ApprovalDecision,
    ApprovalRead,
    ApprovalRules,
    AssignmentCreate,
    AssignmentRead,
    DepartmentCreate,
    DepartmentRead,
    DepartmentUpdate,
    GroupCreate,
    GroupMemberAdd,
    GroupRead,
    ImpersonationRead,
    ImpersonationStart,
    MemberRolesRead,
    MemberRoleUpdate,
    PermissionRead,
    PermissionSetRead,
    PersonRead,
    PersonUpdate,
    RoleCreate,
    RoleRead,
    RoleUpdate,
)

router = APIRouter(prefix="/api/v1/tenants/{tenant}", tags=["access control"])
auth_router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


def _actor() -> str:
    return context.actor.get() or "unknown"


async def perform(
    access: AccessDep,
    session: PlatformSession,
    action: str,
    payload: dict[str, Any],
    summary: str,
    *,
    force: bool = False,
) -> dict[str, Any] | JSONResponse:
    """Run a privileged change, or answer 202 with the approval request the tenant requires."""
    done = await approvals.perform(
        session,
        access.tenant.id,
        action,
        payload,
        summary=summary,
        requester=access.subject,
        requested_by=None if access.principal.via == "oauth" else access.principal.id,
        requested_by_email=access.principal.email,
        force=force,
    )
    if isinstance(done, Approval):
        await session.flush()
        body = ApprovalRead.model_validate(done).model_dump(mode="json")
        location = f"/api/v1/tenants/{access.tenant.slug}/approvals/{done.id}"
        return JSONResponse(body, status_code=status.HTTP_202_ACCEPTED, headers={"Location": location})
    return done


QUEUED: dict[int | str, dict[str, Any]] = {
    202: {"model": ApprovalRead, "description": "The tenant requires approval: the request is queued."}
}

# -- catalogue and roles ------------------------------------------------------------------------


@router.get("/permissions", response_model=list[PermissionRead])
async def list_permissions(access: CanReadRoles) -> list[PermissionRead]:
    return [
        PermissionRead(name=p.name, description=p.description, privileged=p.privileged)
        for p in sorted(catalog.PERMISSIONS.values(), key=lambda p: p.name)
    ]


@router.get("/permission-sets", response_model=list[PermissionSetRead])
async def list_permission_sets(access: CanReadRoles) -> list[PermissionSetRead]:
    return service.permission_sets()


@router.get("/roles", response_model=list[RoleRead])
async def list_roles(access: CanReadRoles, session: PlatformSession) -> list[RoleRead]:
    return await service.list_roles(session, access.tenant.id)


@router.get("/roles/{name}", response_model=RoleRead)
async def get_role(name: str, access: CanReadRoles, session: PlatformSession) -> RoleRead:
    return await service.get_role(session, access.tenant.id, name)


@router.post("/roles", status_code=status.HTTP_201_CREATED, response_model=RoleRead, responses=QUEUED)
async def create_role(data: RoleCreate, access: CanManageRoles, session: PlatformSession) -> Any:
    done = await perform(
        access, session, actions.ROLE_CREATE, data.model_dump(mode="json"), f"Create role {data.name!r}"
    )
    if isinstance(done, JSONResponse):
        return done
    return await service.get_role(session, access.tenant.id, done["role"])


@router.patch("/roles/{name}", response_model=RoleRead, responses=QUEUED)
async def update_role(name: str, data: RoleUpdate, access: CanManageRoles, session: PlatformSession) -> Any:
    payload = {"role": name, "changes": data.model_dump(mode="json", exclude_unset=True)}
    done = await perform(access, session, actions.ROLE_UPDATE, payload, f"Change role {name!r}")
    if isinstance(done, JSONResponse):
        return done
    return await service.get_role(session, access.tenant.id, done["role"])


@router.delete("/roles/{name}", status_code=status.HTTP_204_NO_CONTENT, responses=QUEUED)
async def delete_role(name: str, access: CanManageRoles, session: PlatformSession) -> Response:
    done = await perform(access, session, actions.ROLE_DELETE, {"role": name}, f"Delete role {name!r}")
    return done if isinstance(done, JSONResponse) else Response(status_code=status.HTTP_204_NO_CONTENT)


# -- assignments --------------------------------------------------------------------------------


@router.get("/role-assignments", response_model=list[AssignmentRead])
async def list_assignments(access: CanReadRoles, session: PlatformSession) -> list[AssignmentRead]:
    """Roles given to members and groups besides each member's primary role."""
    return await service.list_assignments(session, access.tenant.id)


@router.post("/role-assignments", status_code=status.HTTP_201_CREATED, response_model=AssignmentRead, responses=QUEUED)
async def assign(data: AssignmentCreate, access: CanAssignRoles, session: PlatformSession) -> Any:
    holder = data.user_id or data.group_id
    done = await perform(
        access, session, actions.ASSIGN, data.model_dump(mode="json"), f"Give {data.role!r} to {holder}"
    )
    if isinstance(done, JSONResponse):
        return done
    [(record, email, group)] = await repo.assignments(session, access.tenant.id, done["assignment_id"])
    return service.assignment_read(record, email, group)


@router.delete("/role-assignments/{assignment_id}", status_code=status.HTTP_204_NO_CONTENT, responses=QUEUED)
async def unassign(assignment_id: str, access: CanAssignRoles, session: PlatformSession) -> Response:
    if await repo.assignment(session, access.tenant.id, assignment_id) is None:
        raise NotFound(f"no role assignment {assignment_id!r}", field="assignment_id")
    payload = {"assignment_id": assignment_id}
    done = await perform(access, session, actions.UNASSIGN, payload, f"Take away assignment {assignment_id}")
    return done if isinstance(done, JSONResponse) else Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/role-assignments/members", response_model=list[MemberRolesRead])
async def member_roles(access: CanReadRoles, session: PlatformSession) -> list[MemberRolesRead]:
    """Every member with their primary role and all the roles they hold."""
    return await service.member_roles(session, access.tenant.id)


@router.put("/role-assignments/members/{user_id}", response_model=MemberRolesRead, responses=QUEUED)
async def set_member_role(
    user_id: str, data: MemberRoleUpdate, access: CanAssignRoles, session: PlatformSession
) -> Any:
    payload = {"user_id": user_id, "role": data.role}
    done = await perform(access, session, actions.MEMBER_ROLE, payload, f"Make {user_id} a {data.role}")
    if isinstance(done, JSONResponse):
        return done
    return next(m for m in await service.member_roles(session, access.tenant.id) if m.user_id == user_id)


# -- groups -------------------------------------------------------------------------------------


@router.get("/groups", response_model=list[GroupRead])
async def list_groups(access: CanReadMembers, session: PlatformSession) -> list[GroupRead]:
    """The tenant's groups, from SCIM or made here; roles can be assigned to them."""
    return await service.list_groups(session, access.tenant.id)


@router.post("/groups", status_code=status.HTTP_201_CREATED, response_model=GroupRead)
async def create_group(data: GroupCreate, access: CanManageMembers, session: PlatformSession) -> GroupRead:
    group = await service.create_group(session, access.tenant.id, data.display_name, actor=_actor())
    return GroupRead(id=group.id, display_name=group.display_name, external_id=group.external_id, members=[])


@router.post("/groups/{group_id}/members", status_code=status.HTTP_204_NO_CONTENT)
async def add_group_member(
    group_id: str, data: GroupMemberAdd, access: CanManageMembers, session: PlatformSession
) -> Response:
    await service.add_to_group(
        session, access.tenant.id, group_id, data.user_id, actor=_actor(), grantor=access.subject
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/groups/{group_id}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_group_member(
    group_id: str, user_id: str, access: CanManageMembers, session: PlatformSession
) -> Response:
    await service.remove_from_group(session, access.tenant.id, group_id, user_id, actor=_actor())
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- organisation -------------------------------------------------------------------------------


@router.get("/departments", response_model=list[DepartmentRead])
async def list_departments(access: CanReadRoles, session: PlatformSession) -> list[DepartmentRead]:
    return [DepartmentRead.model_validate(d) for d in await repo.departments(session, access.tenant.id)]


@router.post("/departments", status_code=status.HTTP_201_CREATED, response_model=DepartmentRead)
async def create_department(
    data: DepartmentCreate, access: CanManageDepartments, session: PlatformSession
) -> DepartmentRead:
    return DepartmentRead.model_validate(
        await service.create_department(session, access.tenant.id, data, actor=_actor())
    )


@router.get("/departments/people", response_model=list[PersonRead])
async def list_people(access: CanReadRoles, session: PlatformSession) -> list[PersonRead]:
    """Each member's department, manager and attributes (what row conditions compare)."""
    return await service.list_people(session, access.tenant.id)


@router.put("/departments/people/{user_id}", response_model=PersonRead)
async def place_person(
    user_id: str, data: PersonUpdate, access: CanManageDepartments, session: PlatformSession
) -> PersonRead:
    await service.place_person(session, access.tenant.id, user_id, data, actor=_actor(), grantor=access.subject)
    return next(p for p in await service.list_people(session, access.tenant.id) if p.user_id == user_id)


@router.patch("/departments/{department_id}", response_model=DepartmentRead)
async def update_department(
    department_id: str, data: DepartmentUpdate, access: CanManageDepartments, session: PlatformSession
) -> DepartmentRead:
    return DepartmentRead.model_validate(
        await service.update_department(session, access.tenant.id, department_id, data, actor=_actor())
    )


@router.delete("/departments/{department_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_department(department_id: str, access: CanManageDepartments, session: PlatformSession) -> Response:
    await service.delete_department(session, access.tenant.id, department_id, actor=_actor())
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- the caller ---------------------------------------------------------------------------------


class MyAccess(BaseModel):
    user_id: str
    roles: list[str]
    permissions: list[str]
    conditional: list[str] = Field(description="Permissions that apply to some rows only.")
    impersonated_by: str | None


@router.get("/access", response_model=MyAccess)
async def my_access(access: AccessDep) -> MyAccess:
    """What the caller may do here: roles, permissions, and which of them carry row conditions."""
    subject = access.subject
    return MyAccess(
        user_id=subject.user_id,
        roles=list(subject.roles),
        permissions=sorted(subject.grants),
        conditional=sorted(p for p in subject.grants if not subject.unconditional(p)),
        impersonated_by=access.principal.impersonator_email,
    )


# -- impersonation ------------------------------------------------------------------------------


@router.post("/impersonation", status_code=status.HTTP_201_CREATED, response_model=ImpersonationRead)
async def start_impersonation(
    data: ImpersonationStart, request: Request, access: CanImpersonate, session: PlatformSession
) -> ImpersonationRead:
    """View this tenant as another member (the browser session only), with a reason."""
    record = await impersonation.start(
        session,
        tenant_id=access.tenant.id,
        actor=access.principal,
        actor_subject=access.subject,
        subject_id=data.user_id,
        reason=data.reason,
    )
    request.session[impersonation.SESSION_KEY] = record.id
    return ImpersonationRead.model_validate(record)


@router.delete("/impersonation", status_code=status.HTTP_204_NO_CONTENT)
async def stop_impersonation(request: Request, access: AccessDep, session: PlatformSession) -> Response:
    """Back to being oneself. Anyone may stop their own impersonation, whatever their roles."""
    principal = access.principal
    if principal.impersonation_id is None or principal.impersonator_id is None:
        raise BadRequest("you are not viewing as another member")
    await impersonation.stop(session, principal.impersonation_id, principal.impersonator_id)
    request.session.pop(impersonation.SESSION_KEY, None)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- approvals ----------------------------------------------------------------------------------


@router.get("/approvals", response_model=list[ApprovalRead])
async def list_approvals(
    access: CanReadApprovals,
    session: PlatformSession,
    status_: Annotated[str | None, Query(alias="status", pattern="^(pending|approved|rejected|failed)$")] = None,
) -> list[ApprovalRead]:
    return [ApprovalRead.model_validate(a) for a in await repo.approvals(session, access.tenant.id, status_)]


@router.get("/approvals/rules", response_model=list[ApprovalActionRead])
async def approval_rules(access: CanReadApprovals, session: PlatformSession) -> list[ApprovalActionRead]:
    """Which privileged actions need a second person's approval in this tenant."""
    return await approvals.rules(session, access.tenant.id)


@router.put("/approvals/rules", response_model=list[ApprovalActionRead], responses=QUEUED)
async def set_approval_rules(data: ApprovalRules, access: CanManageRoles, session: PlatformSession) -> Any:
    """Which actions need a second person. Taking a rule away needs one too, so a single
    administrator cannot switch four-eyes off and then act alone."""
    current = await repo.approval_rules(session, access.tenant.id)
    payload = {"actions": data.actions}
    done = await perform(
        access, session, actions.RULES, payload, "Change the approval rules", force=bool(current - set(data.actions))
    )
    if isinstance(done, JSONResponse):
        return done
    return await approvals.rules(session, access.tenant.id)


@router.get("/approvals/{approval_id}", response_model=ApprovalRead)
async def get_approval(approval_id: str, access: CanReadApprovals, session: PlatformSession) -> ApprovalRead:
    found = await repo.approval(session, access.tenant.id, approval_id)
    if found is None:
        raise NotFound(f"no approval request {approval_id!r}", field="approval_id")
    return ApprovalRead.model_validate(found)


async def _decide(approval_id: str, approve: bool, data: ApprovalDecision, access: Any, session: Any) -> ApprovalRead:
    if access.principal.via == "oauth":
        raise Forbidden("a person decides approval requests, not an OAuth client")
    decided = await approvals.decide(
        session,
        access.tenant.id,
        approval_id,
        approve=approve,
        approver=access.subject,
        approver_email=access.principal.email,
        note=data.note,
    )
    return ApprovalRead.model_validate(decided)


@router.post("/approvals/{approval_id}/approve", response_model=ApprovalRead)
async def approve(
    approval_id: str, data: ApprovalDecision, access: CanDecideApprovals, session: PlatformSession
) -> ApprovalRead:
    """Approve someone else's request: the action runs now, in this transaction."""
    return await _decide(approval_id, True, data, access, session)


@router.post("/approvals/{approval_id}/reject", response_model=ApprovalRead)
async def reject(
    approval_id: str, data: ApprovalDecision, access: CanDecideApprovals, session: PlatformSession
) -> ApprovalRead:
    return await _decide(approval_id, False, data, access, session)


# -- step-up ------------------------------------------------------------------------------------


class StepUp(BaseModel):
    password: str = Field(min_length=1, max_length=1024)


@auth_router.post("/step-up", status_code=status.HTTP_204_NO_CONTENT)
async def step_up(data: StepUp, principal: CurrentPrincipal, rt: RuntimeDep) -> Response:
    """Confirm the password again before privileged actions (roles with step-up ask for it)."""
    if principal.via != "session" or principal.session_id is None:
        raise BadRequest("step-up confirms a browser session; API keys do not need it")
    await step_up_service.confirm(
        rt,
        actor_id=principal.impersonator_id or principal.id,
        session_id=principal.session_id,
        password=data.password,
        tenant_id=None,
        actor=principal.email,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
