"""The web console: server-rendered Jinja2 pages (HTMX where it helps) over the same services as the API.

People sign in with their Atrium account (the identity module's server-side session cookie); the
console's own signed cookie only carries flash messages, the CSRF token and a pending second-factor
challenge. Every state-changing form carries the CSRF token. Pages live in four routers: sign-in
and signup (``auth_pages``), the person's account (``account_pages``), a tenant's administration
(``tenant_pages``) and the platform's (``platform_pages``).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from atrium.api.routing import APIRouter
from atrium.core import context
from atrium.core.errors import AtriumError, Forbidden, Unauthorized
from atrium.platform.identity import service as identity
from atrium.platform.identity import sessions
from atrium.platform.identity.models import User, UserSession
from atrium.platform.identity.schemas import MembershipRead
from atrium.platform.tenancy import repository as tenant_repo

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")


class LoginRequired(Exception):
    pass


def flash(request: Request, message: str, kind: str = "info") -> None:
    request.session.setdefault("flashes", []).append({"message": message, "kind": kind})


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return str(token)


async def check_csrf(request: Request) -> None:
    form = await request.form()
    sent = str(form.get("csrf_token") or "").encode()
    expected = str(request.session.get("csrf", "")).encode()
    if not sent or not expected or not secrets.compare_digest(sent, expected):
        raise Forbidden("the form expired or was not sent from the console; reload and try again")


Csrf = Depends(check_csrf)


@dataclass
class Viewer:
    """The signed-in person and the tenants they may switch to."""

    user: User
    session: UserSession
    memberships: list[MembershipRead] = field(default_factory=list)

    @property
    def is_platform_admin(self) -> bool:
        return self.user.is_platform_admin

    def role_in(self, tenant_id: str) -> str | None:
        return next((m.role for m in self.memberships if m.tenant_id == tenant_id), None)


async def current_viewer(request: Request) -> Viewer:
    rt = request.app.state.runtime
    try:
        user, record = await sessions.authenticate(rt, request.cookies.get(sessions.COOKIE))
    except Unauthorized:
        raise LoginRequired() from None
    async with rt.db.platform_session() as session:
        memberships = await identity.memberships(session, user.id)
    context.actor.set(user.email)
    context.user_id.set(user.id)
    viewer = Viewer(user, record, memberships)
    request.state.viewer = viewer
    return viewer


CurrentViewer = Annotated[Viewer, Depends(current_viewer)]


async def platform_viewer(viewer: CurrentViewer) -> Viewer:
    if not viewer.is_platform_admin:
        raise Forbidden("platform administrators only")
    return viewer


PlatformViewer = Annotated[Viewer, Depends(platform_viewer)]


def problem_text(exc: Exception) -> str:
    """A person-readable line for a validation or domain error."""
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'input'}: {e['msg']}" for e in exc.errors())
    if isinstance(exc, AtriumError):
        return exc.detail
    return str(exc)


def form_text(form: FormData, name: str) -> str:
    """A text field, trimmed ("" when absent or a file)."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def form_checked(form: FormData, name: str) -> bool:
    return form.get(name) == "on"


def error_status(exc: Exception) -> int:
    """The status to re-render a form with after ``exc``."""
    return exc.status_code if isinstance(exc, AtriumError) else 400


async def render(request: Request, name: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    rt = request.app.state.runtime
    viewer: Viewer | None = getattr(request.state, "viewer", None)
    tenant_choices: list[dict[str, str]] = []
    if viewer is not None:
        tenant_choices = [{"slug": m.tenant_slug, "name": m.tenant_name} for m in viewer.memberships]
        if viewer.is_platform_admin:
            async with rt.db.platform_session() as session:
                rows = (await tenant_repo.list_tenants(session, status="active", limit=200))[0]
            known = {c["slug"] for c in tenant_choices}
            tenant_choices += [{"slug": t.slug, "name": t.name} for t in rows if t.slug not in known]
    flashes = request.session.pop("flashes", [])
    view = getattr(request.state, "tenant_view", None)
    return templates.TemplateResponse(
        request,
        name,
        {
            "csrf_token": csrf_token(request),
            "flashes": flashes,
            "tenant_choices": tenant_choices,
            "viewer": viewer,
            "signup_open": rt.settings.signup_mode == "open",
            "tenant_nav": view.nav() if view is not None else {},
            "impersonation": view.banner() if view is not None else None,
            **ctx,
        },
        status_code=status_code,
    )


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


async def act_in_platform(
    request: Request,
    change: Callable[[AsyncSession], Awaitable[object]],
    *,
    back_to: str,
    done: str | None = None,
) -> Response:
    """A console button's change, in one platform transaction: flash the refusal or ``done``,
    then go back to the page."""
    try:
        async with request.app.state.runtime.db.platform_session() as session, session.begin():
            await change(session)
    except AtriumError as exc:
        flash(request, exc.detail, "error")
    else:
        if done:
            flash(request, done, "success")
    return redirect(back_to)


def console_routers() -> list[APIRouter]:
    """The console's pages, module by module."""
    from atrium.web import (
        access_pages,  # access control: roles, organisation, approvals, notes
        account_pages,
        auth_pages,
        entitlement_pages,
        finance_bank_pages,  # finance: bank, invoices and bills
        finance_invoice_pages,
        finance_pages,  # finance: companies, ledger, rates, reports, periods
        flag_pages,  # feature flags: /platform/flags and /t/{slug}/flags
        platform_pages,
        sso_pages,
        tenant_pages,
    )

    modules = (auth_pages, account_pages, tenant_pages, platform_pages, sso_pages, entitlement_pages, flag_pages)
    return [m.router for m in (*modules, access_pages, finance_pages, finance_bank_pages, finance_invoice_pages)]


def mount_console(app: FastAPI) -> None:
    """Static files and the console's error pages; its routes come with the app's (``api.app``)."""
    from atrium.api import problems
    from atrium.platform.access.exceptions import StepUpRequired
    from atrium.web import access_pages

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.exception_handler(StepUpRequired)
    async def _confirm_password(request: Request, exc: Exception) -> Response:
        """A console page that needs a fresh password check sends the person to confirm it."""
        if request.path_params.get("slug") and problems.wants_html(request):
            return access_pages.step_up_redirect(request)
        return await problems.atrium_error(request, exc)

    @app.exception_handler(LoginRequired)
    async def _to_login(request: Request, exc: Exception) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return redirect(f"/login?next={target}" if target not in ("/", "/login") else "/login")
