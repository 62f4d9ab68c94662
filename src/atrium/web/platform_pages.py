"""Console pages of the platform's operators (platform administrators only): overview, tenants
with their lifecycle and provisioning log, sales-provided provisioning (invite a tenant's first
administrator), the audit trail and the local mailbox."""

from __future__ import annotations

from email import message_from_bytes, policy
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from atrium.api.deps import PlatformSession, RuntimeDep
from atrium.core.audit import service as audit
from atrium.core.errors import AtriumError
from atrium.platform.identity import invitations
from atrium.platform.identity.service import TENANT_ADMIN
from atrium.platform.tenancy import repository as tenant_repo
from atrium.platform.tenancy import service as tenants
from atrium.platform.tenancy.schemas import TenantCreate
from atrium.web.console import Csrf, CurrentViewer, PlatformViewer, flash, problem_text, redirect, render

router = APIRouter(include_in_schema=False)


@router.get("/")
async def home(request: Request, viewer: CurrentViewer, session: PlatformSession) -> Response:
    """Platform administrators land on the platform overview; everyone else in their tenant."""
    if not viewer.is_platform_admin:
        return redirect(f"/t/{viewer.memberships[0].tenant_slug}" if viewer.memberships else "/account")
    rows, total = await tenant_repo.list_tenants(session, include_deleted=True, limit=1000)
    counts: dict[str, int] = {}
    for t in rows:
        counts[t.status] = counts.get(t.status, 0) + 1
    recent = await audit.list_events(session, audit.AuditFilter(limit=10))
    return await render(request, "console/dashboard.html", counts=counts, total=total, recent=recent)


@router.get("/tenants")
async def tenants_page(
    request: Request, viewer: PlatformViewer, session: PlatformSession, rt: RuntimeDep
) -> HTMLResponse:
    rows, total = await tenant_repo.list_tenants(
        session, include_deleted=request.query_params.get("deleted") == "1", limit=1000
    )
    return await render(request, "console/tenants.html", tenants=rows, total=total, regions=rt.settings.known_regions)


@router.post("/tenants", dependencies=[Csrf])
async def create_tenant(request: Request, viewer: PlatformViewer, rt: RuntimeDep) -> Response:
    form = await request.form()
    try:
        data = TenantCreate(
            slug=str(form.get("slug", "")).strip(),
            name=str(form.get("name", "")).strip() or None,
            isolation=str(form.get("isolation", "pooled")),
            region=str(form.get("region", "")) or None,
            sample_data=form.get("sample_data") == "on",
        )
        tenant = await tenants.create(rt, data)
    except (ValidationError, AtriumError) as exc:
        flash(request, problem_text(exc), "error")
        return redirect("/tenants")
    if tenant.status == "active":
        flash(request, f"Tenant {tenant.slug} is ready.", "success")
    else:
        flash(request, f"Tenant {tenant.slug} is still provisioning: {tenant.provisioning_error}", "error")
    return redirect(f"/tenants/{tenant.slug}")


@router.get("/tenants/{key}")
async def tenant_page(request: Request, key: str, viewer: PlatformViewer, session: PlatformSession) -> HTMLResponse:
    tenant = await tenants.get(session, key)
    steps = await tenant_repo.steps(session, tenant.id)
    events = await audit.list_events(session, audit.AuditFilter(tenant_id=tenant.id, limit=25))
    pending = await invitations.list_for_tenant(session, tenant.id)
    return await render(request, "console/tenant.html", tenant=tenant, steps=steps, events=events, invitations=pending)


@router.get("/tenants/{key}/provisioning")
async def tenant_provisioning_fragment(
    request: Request, key: str, viewer: PlatformViewer, session: PlatformSession
) -> HTMLResponse:
    """HTMX fragment: the provisioning log, refreshed while a tenant provisions."""
    tenant = await tenants.get(session, key)
    steps = await tenant_repo.steps(session, tenant.id)
    return await render(request, "console/_provisioning.html", tenant=tenant, steps=steps)


@router.post("/tenants/{key}/invite-admin", dependencies=[Csrf])
async def invite_first_admin(
    request: Request, key: str, viewer: PlatformViewer, rt: RuntimeDep, email: Annotated[str, Form()]
) -> Response:
    """Sales-provided provisioning: the operator made the tenant; its first administrator is invited."""
    try:
        async with rt.db.platform_session() as session, session.begin():
            tenant = await tenants.get(session, key)
        await invitations.invite(rt, tenant.id, email, TENANT_ADMIN, invited_by=viewer.user.email)
    except (ValidationError, AtriumError) as exc:
        flash(request, problem_text(exc), "error")
        return redirect(f"/tenants/{key}")
    flash(request, f"Invitation sent to {email.strip().lower()}.", "success")
    return redirect(f"/tenants/{key}")


@router.post("/tenants/{key}/{action}", dependencies=[Csrf])
async def tenant_action(
    request: Request, key: str, action: str, viewer: PlatformViewer, rt: RuntimeDep, session: PlatformSession
) -> Response:
    form = await request.form()
    reason = str(form.get("reason", "")) or None
    try:
        if action in tenants.TRANSITIONS:
            tenant = await tenants.change_status(rt, key, action, reason)
        elif action == "resume-provisioning":
            tenant = await tenants.resume_provisioning(rt, key)
        elif action == "delete":
            tenant = await tenants.delete(rt, key, reason)
        else:
            flash(request, f"Unknown action {action}.", "error")
            return redirect(f"/tenants/{key}")
    except AtriumError as exc:
        flash(request, exc.detail, "error")
        return redirect(f"/tenants/{key}")
    flash(request, f"Tenant {tenant.slug} is now {tenant.status}.", "success")
    return redirect(f"/tenants/{tenant.slug}")


@router.get("/audit")
async def audit_page(request: Request, viewer: PlatformViewer, session: PlatformSession) -> HTMLResponse:
    q = request.query_params
    tenant_key = q.get("tenant") or None
    tenant_id = None
    if tenant_key and tenant_key != "platform":
        tenant_id = (await tenants.get(session, tenant_key)).id
    f = audit.AuditFilter(
        tenant_id=tenant_id,
        platform_only=tenant_key == "platform",
        actor=q.get("actor") or None,
        action=q.get("action") or None,
        object_type=q.get("object_type") or None,
        before_id=int(q["before"]) if q.get("before", "").isdigit() else None,
        limit=50,
    )
    events = await audit.list_events(session, f)
    return await render(
        request, "console/audit.html", events=events, q=q, next_before=events[-1].id if len(events) == 50 else None
    )


@router.post("/audit/verify", dependencies=[Csrf])
async def audit_verify(
    request: Request, viewer: PlatformViewer, session: PlatformSession, rt: RuntimeDep
) -> HTMLResponse:
    reports = [await audit.verify_chain(session, c, rt.signer) for c in await audit.chains(session)]
    return await render(request, "console/_verify.html", reports=reports)


@router.get("/mailbox")
async def mailbox(request: Request, viewer: PlatformViewer, rt: RuntimeDep) -> HTMLResponse:
    """The embedded mailer's messages (when no SMTP server is configured), newest first."""
    folder = rt.settings.data_dir / "mailbox"
    files = sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True)[:50] if folder.exists() else []
    messages = []
    for path in files:
        mail = message_from_bytes(path.read_bytes(), policy=policy.default)
        body = mail.get_body(preferencelist=("plain",))
        messages.append(
            {
                "to": mail["To"],
                "subject": mail["Subject"],
                "date": mail["Date"],
                "body": body.get_content() if body is not None else "",
            }
        )
    return await render(request, "console/mailbox.html", messages=messages, smtp=bool(rt.settings.smtp_url))
