"""Console pages of the signed-in person: profile and tenants, and security (authenticator app
with its recovery codes, security keys, sessions, API keys)."""

from __future__ import annotations

from typing import Any

import segno
from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from atrium.api.deps import RuntimeDep
from atrium.api.routing import APIRouter
from atrium.core.errors import AtriumError
from atrium.platform.access import step_up
from atrium.platform.identity import api_keys, mfa, service, sessions, trusted
from atrium.platform.identity.models import User
from atrium.platform.identity.schemas import ApiKeyCreate
from atrium.web.console import Csrf, CurrentViewer, act_in_platform, flash, problem_text, redirect, render

router = APIRouter(include_in_schema=False)


@router.get("/account")
async def account(request: Request, viewer: CurrentViewer) -> HTMLResponse:
    return await render(request, "console/account.html")


@router.post("/account/profile", dependencies=[Csrf])
async def update_profile(request: Request, viewer: CurrentViewer, rt: RuntimeDep) -> Response:
    form = await request.form()
    async with rt.db.platform_session() as session, session.begin():
        user = await session.get(User, viewer.user.id)
        assert user is not None
        await service.set_marketing_opt_in(session, user, form.get("marketing_opt_in") == "on")
    flash(request, "Your preferences are saved.", "success")
    return redirect("/account")


async def _security(request: Request, viewer: CurrentViewer, rt: RuntimeDep, **extra: Any) -> HTMLResponse:
    async with rt.db.platform_session() as session:
        totp = await mfa.confirmed_factor(session, viewer.user.id)
        has_factor = await mfa.has_second_factor(session, viewer.user.id)
        keys = await api_keys.list_own(session, viewer.user)
        devices = await trusted.list_own(session, viewer.user.id)
    active = await sessions.list_active(rt, viewer.user)
    return await render(
        request,
        "console/security.html",
        totp=totp,
        has_factor=has_factor,
        devices=devices,
        keys=keys,
        active_sessions=active,
        current_session=viewer.session.id,
        **extra,
    )


@router.get("/account/security")
async def security(request: Request, viewer: CurrentViewer, rt: RuntimeDep) -> HTMLResponse:
    return await _security(request, viewer, rt)


@router.post("/account/security/totp", dependencies=[Csrf])
async def begin_totp(request: Request, viewer: CurrentViewer, rt: RuntimeDep) -> Response:
    """Show the QR code of a new secret; the enrolment finishes with a code from the app."""
    try:
        secret, uri = await mfa.begin_enrolment(rt, viewer.user)
    except AtriumError as exc:
        flash(request, exc.detail, "error")
        return redirect("/account/security")
    qr = segno.make(uri, error="m").svg_inline(scale=5, title="Authenticator QR code")
    return await _security(request, viewer, rt, enrolment={"secret": secret, "uri": uri, "qr": qr})


@router.post("/account/security/totp/confirm", dependencies=[Csrf])
async def confirm_totp(request: Request, viewer: CurrentViewer, rt: RuntimeDep, code: str = Form()) -> Response:
    try:
        codes = await mfa.confirm_enrolment(rt, viewer.user, code)
    except AtriumError as exc:
        flash(request, exc.detail, "error")
        return redirect("/account/security")
    await sessions.mark_mfa(rt, viewer.session.id)
    flash(request, "The authenticator app is enrolled. Keep the recovery codes somewhere safe.", "success")
    return await _security(request, viewer, rt, recovery_codes=codes)


@router.post("/account/security/recovery-codes", dependencies=[Csrf])
async def regenerate_codes(request: Request, viewer: CurrentViewer, rt: RuntimeDep) -> Response:
    try:
        codes = await mfa.regenerate_recovery_codes(rt, viewer.user)
    except AtriumError as exc:
        flash(request, exc.detail, "error")
        return redirect("/account/security")
    return await _security(request, viewer, rt, recovery_codes=codes)


@router.post("/account/trusted-devices/{device_id}/forget", dependencies=[Csrf])
async def forget_device(request: Request, device_id: str, viewer: CurrentViewer, rt: RuntimeDep) -> Response:
    return await act_in_platform(
        request,
        lambda session: trusted.forget(session, viewer.user, device_id),
        back_to="/account/security",
        done="That browser will be asked for the second factor again.",
    )


@router.post("/account/sessions/{session_id}/revoke", dependencies=[Csrf])
async def revoke_session(request: Request, session_id: str, viewer: CurrentViewer, rt: RuntimeDep) -> Response:
    try:
        await sessions.revoke_own(rt, viewer.user, session_id)
    except AtriumError as exc:
        flash(request, exc.detail, "error")
        return redirect("/account/security")
    if session_id == viewer.session.id:
        request.session.clear()
        response = redirect("/login")
        response.delete_cookie(sessions.COOKIE, path="/")
        return response
    flash(request, "That session is signed out.", "success")
    return redirect("/account/security")


@router.post("/account/api-keys", dependencies=[Csrf])
async def create_api_key(request: Request, viewer: CurrentViewer, rt: RuntimeDep) -> Response:
    form = await request.form()
    try:
        data = ApiKeyCreate(
            name=str(form.get("name", "")).strip(),
            tenant=str(form.get("tenant", "")),
            scopes=[s.strip() for s in str(form.get("scopes", "")).split(",") if s.strip()] or ["*"],
            expires_in_days=int(str(form.get("expires_in_days") or 0)) or None,
        )
        membership = next((m for m in viewer.memberships if m.tenant_slug == data.tenant), None)
        if membership is None:
            raise ValueError("choose one of your tenants")
        async with rt.db.platform_session() as session, session.begin():
            await step_up.before_privileged_key(session, membership.tenant_id, viewer.user, viewer.session, data.scopes)
            _, key = await api_keys.create(
                session,
                viewer.user,
                membership.tenant_id,
                name=data.name,
                scopes=data.scopes,
                expires_in_days=data.expires_in_days,
            )
    except (ValidationError, AtriumError, ValueError) as exc:
        flash(request, problem_text(exc), "error")
        return redirect("/account/security")
    return await _security(request, viewer, rt, new_key=key)


@router.post("/account/api-keys/{key_id}/revoke", dependencies=[Csrf])
async def revoke_api_key(request: Request, key_id: str, viewer: CurrentViewer, rt: RuntimeDep) -> Response:
    return await act_in_platform(
        request,
        lambda session: api_keys.revoke(session, viewer.user, key_id),
        back_to="/account/security",
        done="The key is revoked.",
    )


@router.get("/switch")
async def switch_tenant(request: Request, viewer: CurrentViewer, tenant: str = "") -> Response:
    return redirect(f"/t/{tenant}" if tenant else "/account")
