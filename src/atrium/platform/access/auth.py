"""How routes ask the access service: one ``Access`` per request, and a typed dependency alias
per permission so OpenAPI lists the permission each operation needs (as its security scope).

    NotesRead = Annotated[Access, Security(authorize, scopes=permission("notes.note.read"))]

    @router.get("")
    async def list_notes(access: NotesRead) -> ...:
        stmt = access.filter("notes.note.read", select(Note))
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar, get_type_hints

from fastapi import Depends, Request, Security
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security import SecurityScopes
from fastapi.security.base import SecurityBase
from sqlalchemy import Select, false
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.api.deps import Principal, Tenant, TenantContext, principal_of, runtime_of
from atrium.core.db import utcnow
from atrium.core.errors import Unauthorized
from atrium.core.tenancy import TenantRef
from atrium.platform.access import catalog, predicates
from atrium.platform.access import subject as subjects
from atrium.platform.access.exceptions import (
    ImpersonationBlocked,
    MfaRequiredByRole,
    PermissionDenied,
    StepUpRequired,
)
from atrium.platform.access.step_up import STEP_UP_MINUTES
from atrium.platform.access.subject import Subject
from atrium.runtime import Runtime

T = TypeVar("T", bound=Select[Any])


@dataclass
class Access:
    """The caller inside one tenant: ``check()`` one object, ``filter()`` a list query. Both read
    the same compiled conditions, and the subject caches every decision for the request."""

    ctx: TenantContext
    principal: Principal
    subject: Subject

    @property
    def tenant(self) -> TenantRef:
        return self.ctx.tenant

    @property
    def session(self) -> AsyncSession:
        return self.ctx.session

    @property
    def platform(self) -> AsyncSession:
        return self.ctx.platform

    @property
    def impersonating(self) -> bool:
        return self.principal.impersonator_id is not None

    def check(self, permission: str, obj: Any = None) -> bool:
        """May the caller do this (to this object)? Without an object: to at least some rows."""
        if obj is None or not self.subject.allows(permission):
            return self.subject.allows(permission)
        resource = predicates.RESOURCES.get(permission.rsplit(".", 1)[0])
        if resource is None:
            return True
        return self.subject.check(permission, obj, resource)

    def filter(self, permission: str, stmt: T) -> T:
        """The list query narrowed to the rows ``check()`` would allow one by one."""
        if self.subject.unconditional(permission):
            return stmt
        resource = predicates.RESOURCES.get(permission.rsplit(".", 1)[0])
        if resource is None:
            return stmt if self.subject.allows(permission) else stmt.where(false())
        return stmt.where(self.subject.where(permission, resource))  # type: ignore[return-value]

    def require(self, permission: str, obj: Any = None) -> None:
        if not self.check(permission, obj):
            raise PermissionDenied(permission)

    def demand(self, permission: str) -> None:
        demand(self.principal, self.subject, permission)


def recently_authenticated(principal: Principal, now: dt.datetime | None = None) -> bool:
    at = principal.reauthenticated_at
    return at is not None and (now or utcnow()) - at <= dt.timedelta(minutes=STEP_UP_MINUTES)


def demand(principal: Principal, subject: Subject, permission: str) -> None:
    """The route-level gate: the permission at all, and for a privileged one, not while
    impersonating and after a recent password check when a role asks for step-up."""
    if not subject.allows(permission):
        raise PermissionDenied(permission)
    if not catalog.is_privileged(permission):
        return
    if principal.impersonator_id is not None:
        raise ImpersonationBlocked(f"{permission!r} is privileged: stop viewing as another member first")
    if subject.policy.step_up and principal.via == "session" and not recently_authenticated(principal):
        raise StepUpRequired(
            f"confirm your password to use {permission!r} (at most every {STEP_UP_MINUTES} minutes)",
            permission=permission,
        )


def system_access(ctx: TenantContext, actor: str = "system") -> Access:
    """Jobs and operator commands (the ledger generator, scheduled closes) act with every
    permission, under a named actor that the audit trail shows."""
    principal = Principal(id=actor, email=f"{actor}@atrium.invalid", tenant_ids=frozenset({ctx.tenant.id}))
    return Access(ctx, principal, subjects.everything(actor, ctx.tenant.id))


async def load_subject(rt: Runtime, principal: Principal, tenant_id: str) -> Subject:
    if principal.platform_admin:
        return subjects.everything(principal.id, tenant_id)
    if principal.via == "oauth":
        return subjects.scoped(principal.id, tenant_id, principal.scopes)
    async with rt.db.platform_session() as session:
        subject = await subjects.load(session, tenant_id, principal.id)
    if principal.via == "api_key":  # a key does what its owner may, and at most what its scopes name
        allowed = catalog.expand(list(principal.scopes))
        subject.grants = {p: c for p, c in subject.grants.items() if p in allowed}
    return subject


def enforce_role_policy(principal: Principal, subject: Subject, now: dt.datetime | None = None) -> None:
    """A role may demand a second factor and a shorter session than the tenant's policy."""
    if principal.via != "session" or principal.impersonator_id is not None:
        return
    policy = subject.policy
    if policy.require_mfa and not principal.mfa:
        raise MfaRequiredByRole("one of your roles requires a second factor: sign in again with it")
    limit = dt.timedelta(minutes=policy.session_minutes or 0)
    if policy.session_minutes and principal.signed_in_at and (now or utcnow()) - principal.signed_in_at > limit:
        raise Unauthorized(f"one of your roles limits a session to {policy.session_minutes} minutes; sign in again")


_ACCESS = "atrium.access"


async def access_of(request: Request, ctx: TenantContext) -> Access:
    """The caller's ``Access`` in the request's tenant, worked out once per request."""
    found: Access | None = request.scope.get(_ACCESS)
    if found is None:
        principal = await principal_of(request)
        subject = await load_subject(runtime_of(request), principal, ctx.tenant.id)
        enforce_role_policy(principal, subject)
        found = request.scope[_ACCESS] = Access(ctx, principal, subject)
    return found


async def access_for(request: Request, ctx: Tenant) -> Access:
    return await access_of(request, ctx)


AccessDep = Annotated[Access, Depends(access_for)]


class _Authorize(SecurityBase):
    """The route's permission gate (``Security(authorize, scopes=permission("…"))``), which is
    also what OpenAPI shows as the operation's security, the permission as its scope. One
    dependency doing both, instead of a gate depending on a scheme: FastAPI resolves one node
    fewer on every tenant request."""

    def __init__(self) -> None:
        self.model = HTTPBearerModel(
            description="An API key, an OAuth access token or the console's session; "
            "the scopes are the permissions the operation needs."
        )
        self.scheme_name = "atrium"

    async def __call__(self, scopes: SecurityScopes, request: Request, ctx: Tenant) -> Access:
        access = await access_of(request, ctx)
        for permission in scopes.scopes:
            access.demand(permission)
        return access


# FastAPI reads a callable instance's annotations without its module's globals: give it objects.
_Authorize.__call__.__annotations__ = get_type_hints(_Authorize.__call__, include_extras=True)
authorize = _Authorize()


def permission(name: str) -> list[str]:
    """The scopes of a route's ``Security(authorize, scopes=permission("…"))``, checked against
    the catalogue when the module is imported, so a typo fails at start-up, not in production."""
    if name not in catalog.PERMISSIONS:
        raise ValueError(f"undeclared permission {name!r}")
    return [name]


CanReadRoles = Annotated[Access, Security(authorize, scopes=permission("access.role.read"))]
CanManageRoles = Annotated[Access, Security(authorize, scopes=permission("access.role.manage"))]
CanAssignRoles = Annotated[Access, Security(authorize, scopes=permission("access.assignment.manage"))]
CanManageDepartments = Annotated[Access, Security(authorize, scopes=permission("access.department.manage"))]
CanReadMembers = Annotated[Access, Security(authorize, scopes=permission("identity.member.read"))]
CanManageMembers = Annotated[Access, Security(authorize, scopes=permission("identity.member.manage"))]
CanManageSessions = Annotated[Access, Security(authorize, scopes=permission("identity.session.manage"))]
CanManageSecurity = Annotated[Access, Security(authorize, scopes=permission("identity.security.manage"))]
CanImpersonate = Annotated[Access, Security(authorize, scopes=permission("access.impersonation.start"))]
CanReadApprovals = Annotated[Access, Security(authorize, scopes=permission("access.approval.read"))]
CanDecideApprovals = Annotated[Access, Security(authorize, scopes=permission("access.approval.decide"))]
CanReadFlags = Annotated[Access, Security(authorize, scopes=permission("access.flag.read"))]
CanManageFlags = Annotated[Access, Security(authorize, scopes=permission("access.flag.manage"))]
CanReadEntitlements = Annotated[Access, Security(authorize, scopes=permission("access.entitlement.read"))]
CanReadTenant = Annotated[Access, Security(authorize, scopes=permission("tenancy.tenant.read"))]
CanManageTenant = Annotated[Access, Security(authorize, scopes=permission("tenancy.tenant.manage"))]
CanReadAudit = Annotated[Access, Security(authorize, scopes=permission("audit.event.read"))]
