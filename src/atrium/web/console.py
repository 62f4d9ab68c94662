"""The web console: server-rendered Jinja2 pages (HTMX where it helps) over the same services as the API.

Until identity lands, a stand-in platform administrator signs in with the password printed by
``make run`` / ``atrium admin create``. Every state-changing form carries a CSRF token.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from atrium.api.deps import PlatformSession, RuntimeDep
from atrium.core import context
from atrium.core.audit import service as audit
from atrium.core.errors import AtriumError, Forbidden
from atrium.platform.admin import service as admins
from atrium.platform.tenancy import repository as tenant_repo
from atrium.platform.tenancy import service as tenants
from atrium.platform.tenancy.schemas import TenantCreate

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(include_in_schema=False)


class LoginRequired(Exception):
    pass


def flash(request: Request, message: str, kind: str = "info") -> None:
    request.session.setdefault("flashes", []).append({"message": message, "kind": kind})


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return str(token)


def require_admin(request: Request) -> dict[str, str]:
    admin_id = request.session.get("admin_id")
    if not admin_id:
        raise LoginRequired()
    context.actor.set(request.session.get("admin_email", admin_id))
    context.user_id.set(admin_id)
    return {"id": admin_id, "email": request.session.get("admin_email", "")}


Admin = Annotated[dict[str, str], Depends(require_admin)]


async def check_csrf(request: Request) -> None:
    form = await request.form()
    sent = str(form.get("csrf_token") or "").encode()
    expected = str(request.session.get("csrf", "")).encode()
    if not sent or not expected or not secrets.compare_digest(sent, expected):
        raise Forbidden("the form expired or was not sent from the console; reload and try again")


Csrf = Depends(check_csrf)


async def render(request: Request, name: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    rt = request.app.state.runtime
    tenant_choices: list[Any] = []
    if request.session.get("admin_id"):
        async with rt.db.platform_session() as session:
            tenant_choices = list((await tenant_repo.list_tenants(session, status="active", limit=200))[0])
    flashes = request.session.pop("flashes", [])
    return templates.TemplateResponse(
        request,
        name,
        {
            "csrf_token": csrf_token(request),
            "flashes": flashes,
            "tenant_choices": tenant_choices,
            "admin_email": request.session.get("admin_email"),
            **ctx,
        },
        status_code=status_code,
    )


@router.get("/login")
async def login_page(request: Request) -> HTMLResponse:
    return await render(request, "console/login.html")


@router.post("/login", dependencies=[Csrf])
async def login(
    request: Request, session: PlatformSession, email: Annotated[str, Form()], password: Annotated[str, Form()]
) -> Response:
    admin = await admins.authenticate(session, email, password)
    if admin is None:
        await audit.record(
            session, action="platform.console.login_failed", data={"email": email.strip().lower()}, actor="anonymous"
        )
        flash(request, "Wrong email or password.", "error")
        return await render(request, "console/login.html", status_code=401, email=email)
    request.session.clear()
    request.session.update({"admin_id": admin.id, "admin_email": admin.email, "csrf": secrets.token_urlsafe(32)})
    await audit.record(
        session, action="platform.console.login", object_type="admin", object_id=admin.id, actor=admin.email
    )
    return RedirectResponse("/", status_code=303)


@router.post("/logout", dependencies=[Csrf])
async def logout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@router.get("/")
async def dashboard(request: Request, admin: Admin, session: PlatformSession) -> HTMLResponse:
    rows, total = await tenant_repo.list_tenants(session, include_deleted=True, limit=1000)
    counts: dict[str, int] = {}
    for t in rows:
        counts[t.status] = counts.get(t.status, 0) + 1
    recent = await audit.list_events(session, audit.AuditFilter(limit=10))
    return await render(request, "console/dashboard.html", counts=counts, total=total, recent=recent)


@router.get("/tenants")
async def tenants_page(request: Request, admin: Admin, session: PlatformSession, rt: RuntimeDep) -> HTMLResponse:
    rows, total = await tenant_repo.list_tenants(
        session, include_deleted=request.query_params.get("deleted") == "1", limit=1000
    )
    return await render(request, "console/tenants.html", tenants=rows, total=total, regions=rt.settings.known_regions)


@router.post("/tenants", dependencies=[Csrf])
async def create_tenant(request: Request, admin: Admin, rt: RuntimeDep) -> Response:
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
    except ValidationError as exc:
        flash(request, "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()), "error")
        return RedirectResponse("/tenants", status_code=303)
    except AtriumError as exc:
        flash(request, exc.detail, "error")
        return RedirectResponse("/tenants", status_code=303)
    if tenant.status == "active":
        flash(request, f"Tenant {tenant.slug} is ready.", "success")
    else:
        flash(request, f"Tenant {tenant.slug} is still provisioning: {tenant.provisioning_error}", "error")
    return RedirectResponse(f"/tenants/{tenant.slug}", status_code=303)


@router.get("/tenants/{key}")
async def tenant_page(request: Request, key: str, admin: Admin, session: PlatformSession) -> HTMLResponse:
    tenant = await tenants.get(session, key)
    steps = await tenant_repo.steps(session, tenant.id)
    events = await audit.list_events(session, audit.AuditFilter(tenant_id=tenant.id, limit=25))
    return await render(request, "console/tenant.html", tenant=tenant, steps=steps, events=events)


@router.get("/tenants/{key}/provisioning")
async def tenant_provisioning_fragment(
    request: Request, key: str, admin: Admin, session: PlatformSession
) -> HTMLResponse:
    """HTMX fragment: the provisioning log, refreshed while a tenant provisions."""
    tenant = await tenants.get(session, key)
    steps = await tenant_repo.steps(session, tenant.id)
    return await render(request, "console/_provisioning.html", tenant=tenant, steps=steps)


@router.post("/tenants/{key}/{action}", dependencies=[Csrf])
async def tenant_action(
    request: Request, key: str, action: str, admin: Admin, rt: RuntimeDep, session: PlatformSession
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
            return RedirectResponse(f"/tenants/{key}", status_code=303)
    except AtriumError as exc:
        flash(request, exc.detail, "error")
        return RedirectResponse(f"/tenants/{key}", status_code=303)
    flash(request, f"Tenant {tenant.slug} is now {tenant.status}.", "success")
    return RedirectResponse(f"/tenants/{tenant.slug}", status_code=303)


@router.get("/audit")
async def audit_page(request: Request, admin: Admin, session: PlatformSession) -> HTMLResponse:
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
async def audit_verify(request: Request, admin: Admin, session: PlatformSession, rt: RuntimeDep) -> HTMLResponse:
    reports = [await audit.verify_chain(session, c, rt.signer) for c in await audit.chains(session)]
    return await render(request, "console/_verify.html", reports=reports)


@router.get("/switch")
async def switch_tenant(request: Request, admin: Admin, tenant: str = "") -> Response:
    return RedirectResponse(f"/tenants/{tenant}" if tenant else "/tenants", status_code=303)


def mount_console(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.exception_handler(LoginRequired)
    async def _to_login(request: Request, exc: Exception) -> Response:
        return RedirectResponse("/login", status_code=303)
