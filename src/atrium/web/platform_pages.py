"""Console pages of the platform's operators (platform administrators only): overview, tenants
with their lifecycle and provisioning log, sales-provided provisioning (invite a tenant's first
administrator), the audit trail, the local mailbox and the social sign-in providers."""

from __future__ import annotations

from email import message_from_bytes, policy
from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from atrium.api.deps import PlatformSession, RuntimeDep
from atrium.api.routing import APIRouter
from atrium.core.audit import service as audit
from atrium.core.errors import AtriumError, NotFound
from atrium.platform.identity import invitations
from atrium.platform.identity.service import TENANT_ADMIN
from atrium.platform.identity.sso import social
from atrium.platform.identity.sso.schemas import SocialConnectionCreate, SocialConnectionRead, SocialConnectionUpdate
from atrium.platform.tenancy import repository as tenant_repo
from atrium.platform.tenancy import service as tenants
from atrium.platform.tenancy.schemas import TenantCreate
from atrium.runtime import Runtime
from atrium.web.console import (
    Csrf,
    CurrentViewer,
    PlatformViewer,
    error_status,
    flash,
    form_checked,
    form_text,
    problem_text,
    redirect,
    render,
)

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


# -- social sign-in providers ------------------------------------------------------------------------

SOCIAL_PAGE = "/social"
_SOCIAL_FIELDS = ("provider", "name", "client_id", "scopes", "discovery_url")


def _social_url(connection_id: str) -> str:
    return f"{SOCIAL_PAGE}?connection={connection_id}#social-{connection_id}"


def _social_refill(form: FormData, *names: str) -> dict[str, Any]:
    """What the administrator typed, to show again after an error (never the client secret)."""
    flags = {"enabled": form_checked(form, "enabled"), "allow_signup": form_checked(form, "allow_signup")}
    return {**{n: form_text(form, n) for n in names}, **flags}


async def _social_page(
    request: Request, rt: Runtime, status_code: int = 200, open_connection: str | None = None, **extra: Any
) -> HTMLResponse:
    """The providers page, one provider's settings unfolded; ``extra`` carries a form to fill in
    again after an error."""
    async with rt.db.platform_session() as session:
        providers = await social.list_social(rt, session)
    return await render(
        request,
        "console/platform_social.html",
        status_code=status_code,
        providers=providers,
        provider_names=social.PROVIDER_NAMES,
        open_connection=open_connection or request.query_params.get("connection"),
        **extra,
    )


@router.get(SOCIAL_PAGE)
async def social_page(request: Request, viewer: PlatformViewer, rt: RuntimeDep) -> HTMLResponse:
    return await _social_page(request, rt)


@router.post(SOCIAL_PAGE, dependencies=[Csrf])
async def create_social_provider(request: Request, viewer: PlatformViewer, rt: RuntimeDep) -> Response:
    """Offer sign-in through a provider; an OIDC discovery document is fetched and checked first."""
    form = await request.form()
    try:
        data = SocialConnectionCreate.model_validate(
            {
                "provider": form_text(form, "provider"),
                "name": form_text(form, "name") or None,
                "client_id": form_text(form, "client_id"),
                "client_secret": form_text(form, "client_secret"),
                "scopes": form_text(form, "scopes") or None,
                "discovery_url": form_text(form, "discovery_url") or None,
                "enabled": form_checked(form, "enabled"),
                "allow_signup": form_checked(form, "allow_signup"),
            }
        )
        async with rt.db.platform_session() as session, session.begin():
            created = await social.create_social(rt, session, data, viewer.user)
    except (ValidationError, AtriumError) as exc:
        flash(request, problem_text(exc), "error")
        new_form = _social_refill(form, *_SOCIAL_FIELDS)
        return await _social_page(request, rt, status_code=error_status(exc), new_form=new_form)
    flash(request, f"{created.name} is added. Register the callback URL below at the provider.", "success")
    return redirect(_social_url(created.id))


def _social_changes(form: FormData, current: SocialConnectionRead) -> dict[str, Any]:
    """The update a submitted edit form asks for. The provider settings are sent only when they
    changed (an empty box keeps the stored value), so a rename does not fetch the discovery again."""
    given: dict[str, Any] = {
        "name": form_text(form, "name"),
        "enabled": form_checked(form, "enabled"),
        "allow_signup": form_checked(form, "allow_signup"),
    }
    typed = {n: " ".join(form_text(form, n).split()) for n in ("client_id", "scopes", "discovery_url")}
    given |= {n: value for n, value in typed.items() if value and value != getattr(current, n)}
    if secret := form_text(form, "client_secret"):
        given["client_secret"] = secret
    return given


@router.post(SOCIAL_PAGE + "/{connection_id}", dependencies=[Csrf])
async def update_social_provider(
    request: Request, connection_id: str, viewer: PlatformViewer, rt: RuntimeDep
) -> Response:
    """Rename, enable or disable, open or close signup, or change the client or discovery settings."""
    form = await request.form()
    try:
        async with rt.db.platform_session() as session, session.begin():
            current = social.to_read(rt, await social.get_social(session, connection_id))
            data = SocialConnectionUpdate.model_validate(_social_changes(form, current))
            saved = await social.update_social(rt, session, connection_id, data, viewer.user)
    except NotFound:
        raise
    except (ValidationError, AtriumError) as exc:
        flash(request, problem_text(exc), "error")
        edit_form = {"id": connection_id, **_social_refill(form, *_SOCIAL_FIELDS[1:])}
        return await _social_page(
            request, rt, status_code=error_status(exc), edit_form=edit_form, open_connection=connection_id
        )
    flash(request, f"{saved.name} is saved ({'enabled' if saved.enabled else 'disabled'}).", "success")
    return redirect(_social_url(saved.id))


@router.post(SOCIAL_PAGE + "/{connection_id}/delete", dependencies=[Csrf])
async def delete_social_provider(
    request: Request, connection_id: str, viewer: PlatformViewer, rt: RuntimeDep
) -> Response:
    """Remove the provider and its linked identities (the accounts stay, with their passwords)."""
    async with rt.db.platform_session() as session, session.begin():
        await social.delete_social(session, connection_id, viewer.user)
    flash(request, "The provider is deleted; people who used it sign in with their passwords.", "success")
    return redirect(SOCIAL_PAGE)
