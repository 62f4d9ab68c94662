"""Identity inside a tenant, for its administrators: members, invitations, sessions and the
security policy (``/api/v1/tenants/{tenant}/…``); and accepting an invitation (``/api/v1/auth/…``)."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response, status
from fastapi.responses import JSONResponse

from atrium.api.deps import CurrentPrincipal, PlatformSession, RuntimeDep
from atrium.api.routing import APIRouter
from atrium.core import context
from atrium.platform.access.auth import CanManageMembers, CanManageSecurity, CanManageSessions, CanReadMembers
from atrium.platform.access.router import QUEUED, perform
from atrium.platform.identity import actions, invitations, members, policies, sessions
from atrium.platform.identity.schemas import (
    InvitationAccept,
    InvitationCreate,
    InvitationPreview,
    InvitationRead,
    InvitationToken,
    MemberRead,
    MeRead,
    SecurityPolicyRead,
    TenantSessionRead,
)

router = APIRouter(tags=["tenant identity"])
BASE = "/api/v1/tenants/{tenant}"


def _actor() -> str:
    return context.actor.get() or "unknown"


@router.get(f"{BASE}/members", response_model=list[MemberRead])
async def list_members(ctx: CanReadMembers, session: PlatformSession) -> list[MemberRead]:
    return await members.list_members(session, ctx.tenant.id)


@router.delete(f"{BASE}/members/{{user_id}}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_member(user_id: str, ctx: CanManageMembers, session: PlatformSession) -> Response:
    """Take a person out of the tenant (their account stays)."""
    await members.remove_member(session, ctx.tenant.id, user_id, actor=_actor())
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(f"{BASE}/invitations", response_model=list[InvitationRead])
async def list_invitations(ctx: CanReadMembers, session: PlatformSession) -> list[InvitationRead]:
    """Invitations still waiting for an answer."""
    return [InvitationRead.model_validate(i) for i in await invitations.list_for_tenant(session, ctx.tenant.id)]


@router.post(f"{BASE}/invitations", status_code=status.HTTP_201_CREATED, response_model=InvitationRead)
async def invite(data: InvitationCreate, ctx: CanManageMembers, rt: RuntimeDep) -> InvitationRead:
    """Mail an invitation; a pending one to the same address is replaced."""
    created = await invitations.invite(
        rt, ctx.tenant.id, str(data.email), data.role, invited_by=_actor(), grantor=ctx.subject
    )
    return InvitationRead.model_validate(created)


@router.delete(f"{BASE}/invitations/{{invitation_id}}", response_model=InvitationRead)
async def revoke_invitation(invitation_id: str, ctx: CanManageMembers, session: PlatformSession) -> InvitationRead:
    return InvitationRead.model_validate(
        await invitations.revoke(session, ctx.tenant.id, invitation_id, actor=_actor())
    )


@router.get(f"{BASE}/sessions", response_model=list[TenantSessionRead])
async def list_sessions(ctx: CanManageSessions, session: PlatformSession, rt: RuntimeDep) -> list[TenantSessionRead]:
    """Live browser sessions of the tenant's members."""
    return await members.list_sessions(session, rt.settings, ctx.tenant.id)


@router.delete(f"{BASE}/sessions/{{session_id}}", status_code=status.HTTP_204_NO_CONTENT)
async def end_session(session_id: str, ctx: CanManageSessions, session: PlatformSession) -> Response:
    await members.end_session(session, ctx.tenant.id, session_id, actor=_actor())
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(f"{BASE}/security-policy", response_model=SecurityPolicyRead)
async def get_policy(ctx: CanManageSecurity, session: PlatformSession) -> SecurityPolicyRead:
    return SecurityPolicyRead.model_validate(await policies.get(session, ctx.tenant.id))


@router.put(f"{BASE}/security-policy", response_model=SecurityPolicyRead, responses=QUEUED)
async def put_policy(
    data: policies.PolicyUpdate,
    request: Request,
    ctx: CanManageSecurity,
    session: PlatformSession,
    principal: CurrentPrincipal,
) -> Any:
    """Set the policy (omitted fields keep their value). Lifetimes and the password rule apply from
    the next sign-in or password change; the IP allowlist and forced MFA within seconds."""
    ip = None if principal.platform_admin else (request.client.host if request.client else "")
    payload = {"changes": data.model_dump(mode="json", exclude_unset=True), "caller_ip": ip}
    done = await perform(ctx, session, actions.SECURITY_POLICY, payload, "Change the security policy")
    if isinstance(done, JSONResponse):
        return done
    return SecurityPolicyRead.model_validate(await policies.get(session, ctx.tenant.id))


@router.post("/api/v1/auth/invitations/lookup", response_model=InvitationPreview)
async def lookup_invitation(data: InvitationToken, rt: RuntimeDep) -> InvitationPreview:
    """What an invitation offers, for the person holding its token."""
    view = await invitations.lookup(rt, data.token)
    return InvitationPreview(
        tenant_slug=view.tenant_slug,
        tenant_name=view.tenant_name,
        email=view.email,
        role=view.role,
        account_exists=view.account_exists,
    )


@router.post("/api/v1/auth/invitations/accept", response_model=MeRead)
async def accept_invitation(data: InvitationAccept, request: Request, rt: RuntimeDep) -> MeRead:
    """Join the tenant: signed in as the invited address, or creating the account (password and
    terms) when the address has none. Sign in afterwards as usual."""
    from atrium.platform.identity.router import _me

    user = await sessions.optional_user(rt, request.cookies.get(sessions.COOKIE))
    joined, _ = await invitations.accept(
        rt, data.token, user=user, password=data.password, accept_terms=data.accept_terms
    )
    return await _me(rt, joined)
