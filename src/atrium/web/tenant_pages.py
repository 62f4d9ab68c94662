"""Console pages inside one tenant: its home, and for its administrators the people (members,
invitations, sessions) and security settings (policy, single sign-on, SCIM, OAuth clients).
Accepting an invitation lives here too. A tenant the viewer may not enter is not found."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from atrium.api.deps import RuntimeDep
from atrium.core.errors import AtriumError
from atrium.core.tenancy import TenantRef
from atrium.platform.identity import invitations, members, policies, sessions
from atrium.platform.identity.service import ROLES_OFFERED, TENANT_ADMIN
from atrium.platform.tenancy.exceptions import TenantNotFound
from atrium.runtime import Runtime
from atrium.web.auth_pages import signed_in
from atrium.web.console import Csrf, CurrentViewer, Viewer, flash, problem_text, redirect, render

router = APIRouter(include_in_schema=False)


async def _tenant(request: Request, slug: str, viewer: CurrentViewer) -> TenantRef:
    rt: Runtime = request.app.state.runtime
    ref = await rt.tenants.resolve(slug)
    if ref is None or ref.status == "deleted" or not (viewer.is_platform_admin or viewer.role_in(ref.id)):
        raise TenantNotFound(slug)
    request.session["tenant"] = ref.slug
    return ref


async def _admin_tenant(request: Request, slug: str, viewer: CurrentViewer) -> TenantRef:
    ref = await _tenant(request, slug, viewer)
    if not (viewer.is_platform_admin or viewer.role_in(ref.id) == TENANT_ADMIN):
        raise TenantNotFound(slug)  # members do not learn which pages exist for administrators
    return ref


MemberTenant = Annotated[TenantRef, Depends(_tenant)]
AdminTenant = Annotated[TenantRef, Depends(_admin_tenant)]


def _is_admin(viewer: Viewer, tenant: TenantRef) -> bool:
    return viewer.is_platform_admin or viewer.role_in(tenant.id) == TENANT_ADMIN


@router.get("/t/{slug}")
async def tenant_home(request: Request, tenant: MemberTenant, viewer: CurrentViewer, rt: RuntimeDep) -> HTMLResponse:
    guard = await policies.guard(rt, tenant.id)
    notice = None
    if not viewer.is_platform_admin:
        ip = request.client.host if request.client else None
        if not guard.allows_ip(ip):
            notice = f"This tenant does not allow access from your address ({ip})."
        elif guard.mfa_required and not viewer.session.mfa:
            notice = "This tenant requires a second factor: set one up under Account → Security, then sign in again."
    return await render(
        request,
        "console/tenant_home.html",
        tenant=tenant,
        role=viewer.role_in(tenant.id) or "Platform administrator",
        is_admin=_is_admin(viewer, tenant),
        notice=notice,
    )


@router.get("/t/{slug}/members")
async def members_page(request: Request, tenant: AdminTenant, viewer: CurrentViewer, rt: RuntimeDep) -> HTMLResponse:
    async with rt.db.platform_session() as session:
        people = await members.list_members(session, tenant.id)
        pending = await invitations.list_for_tenant(session, tenant.id)
        live = await members.list_sessions(session, rt.settings, tenant.id)
    return await render(
        request,
        "console/tenant_members.html",
        tenant=tenant,
        is_admin=True,
        people=people,
        invitations=pending,
        live_sessions=live,
        roles=ROLES_OFFERED,
    )


@router.post("/t/{slug}/invitations", dependencies=[Csrf])
async def invite(
    request: Request,
    tenant: AdminTenant,
    viewer: CurrentViewer,
    rt: RuntimeDep,
    email: Annotated[str, Form()],
    role: Annotated[str, Form()],
) -> Response:
    try:
        await invitations.invite(rt, tenant.id, email, role, invited_by=viewer.user.email)
    except AtriumError as exc:
        flash(request, exc.detail, "error")
    else:
        flash(request, f"Invitation sent to {email.strip().lower()}.", "success")
    return redirect(f"/t/{tenant.slug}/members")


@router.post("/t/{slug}/invitations/{invitation_id}/revoke", dependencies=[Csrf])
async def revoke_invitation(
    request: Request, invitation_id: str, tenant: AdminTenant, viewer: CurrentViewer, rt: RuntimeDep
) -> Response:
    try:
        async with rt.db.platform_session() as session, session.begin():
            await invitations.revoke(session, tenant.id, invitation_id, actor=viewer.user.email)
    except AtriumError as exc:
        flash(request, exc.detail, "error")
    return redirect(f"/t/{tenant.slug}/members")


@router.post("/t/{slug}/members/{user_id}/remove", dependencies=[Csrf])
async def remove_member(
    request: Request, user_id: str, tenant: AdminTenant, viewer: CurrentViewer, rt: RuntimeDep
) -> Response:
    try:
        async with rt.db.platform_session() as session, session.begin():
            await members.remove_member(session, tenant.id, user_id, actor=viewer.user.email)
    except AtriumError as exc:
        flash(request, exc.detail, "error")
    else:
        flash(request, "The member is removed from the tenant.", "success")
    return redirect(f"/t/{tenant.slug}/members")


@router.post("/t/{slug}/sessions/{session_id}/end", dependencies=[Csrf])
async def end_session(
    request: Request, session_id: str, tenant: AdminTenant, viewer: CurrentViewer, rt: RuntimeDep
) -> Response:
    try:
        async with rt.db.platform_session() as session, session.begin():
            await members.end_session(session, tenant.id, session_id, actor=viewer.user.email)
    except AtriumError as exc:
        flash(request, exc.detail, "error")
    else:
        flash(request, "The session is ended.", "success")
    return redirect(f"/t/{tenant.slug}/members")


@router.get("/t/{slug}/security")
async def security_page(request: Request, tenant: AdminTenant, viewer: CurrentViewer, rt: RuntimeDep) -> HTMLResponse:
    async with rt.db.platform_session() as session:
        policy = await policies.get(session, tenant.id)
    return await render(request, "console/tenant_security.html", tenant=tenant, is_admin=True, policy=policy)


def _optional_int(value: object) -> int | None:
    text = str(value or "").strip()
    return int(text) if text else None


@router.post("/t/{slug}/security/policy", dependencies=[Csrf])
async def save_policy(request: Request, tenant: AdminTenant, viewer: CurrentViewer, rt: RuntimeDep) -> Response:
    form = await request.form()
    try:
        data = policies.PolicyUpdate(
            session_idle_minutes=_optional_int(form.get("session_idle_minutes")),
            session_absolute_hours=_optional_int(form.get("session_absolute_hours")),
            password_min_length=_optional_int(form.get("password_min_length")) or policies.PLATFORM_MIN_LENGTH,
            password_block_common=form.get("password_block_common") == "on",
            mfa_required=form.get("mfa_required") == "on",
            ip_allowlist=[c for c in str(form.get("ip_allowlist", "")).replace(",", "\n").split() if c],
            trusted_device_days=_optional_int(form.get("trusted_device_days")) or 0,
        )
        async with rt.db.platform_session() as session, session.begin():
            await policies.update(session, tenant.id, data, actor=viewer.user.email)
    except (ValidationError, AtriumError, ValueError) as exc:
        flash(request, problem_text(exc), "error")
        return redirect(f"/t/{tenant.slug}/security")
    flash(request, "The security policy is saved.", "success")
    return redirect(f"/t/{tenant.slug}/security")


@router.get("/invitations/accept")
async def invitation_page(request: Request, rt: RuntimeDep) -> HTMLResponse:
    token = request.query_params.get("token", "")
    try:
        view = await invitations.lookup(rt, token)
    except AtriumError as exc:
        return await render(request, "console/invitation.html", status_code=exc.status_code, error=exc.detail)
    user = await sessions.optional_user(rt, request.cookies.get(sessions.COOKIE))
    return await render(request, "console/invitation.html", invitation=view, token=token, signed_in_as=user)


@router.post("/invitations/accept", dependencies=[Csrf])
async def accept_invitation(request: Request, rt: RuntimeDep) -> Response:
    form = await request.form()
    token = str(form.get("token", ""))
    user = await sessions.optional_user(rt, request.cookies.get(sessions.COOKIE))
    password = str(form.get("password") or "") or None
    try:
        joined, view = await invitations.accept(
            rt, token, user=user, password=password, accept_terms=form.get("accept_terms") == "on"
        )
    except AtriumError as exc:
        flash(request, exc.detail, "error")
        return redirect(f"/invitations/accept?token={token}")
    if user is not None:
        flash(request, f"Welcome to {view.tenant_name}.", "success")
        return redirect(f"/t/{view.tenant_slug}")
    assert password is not None
    ip = request.client.host if request.client else None
    from atrium.platform.identity import mfa

    result = await mfa.sign_in(rt, joined.email, password, ip=ip, user_agent=request.headers.get("user-agent"))
    if isinstance(result, str):  # cannot happen for a new account, but never skip a factor
        return redirect("/login")
    flash(request, f"Welcome to {view.tenant_name}.", "success")
    return signed_in(request, rt, result, f"/t/{view.tenant_slug}")
