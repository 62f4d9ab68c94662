"""Console page of a tenant's entitlements: every member sees what the tenant may use (and whether
it is the default plan's value or an override); Platform Admins change them on the same page,
through the service the JSON API calls."""

from __future__ import annotations

from itertools import groupby

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from atrium.api.deps import RuntimeDep
from atrium.core.errors import AtriumError, ValidationFailed
from atrium.platform.entitlements import service
from atrium.platform.entitlements.catalogue import Kind, Value, definition
from atrium.platform.identity.service import TENANT_ADMIN
from atrium.web.console import Csrf, CurrentViewer, PlatformViewer, flash, form_text, redirect, render
from atrium.web.tenant_pages import MemberTenant

router = APIRouter(include_in_schema=False)

GROUPS = {"module": "Modules", "feature": "Features", "seats": "Seats", "quota": "Quotas"}


@router.get("/t/{slug}/entitlements")
async def entitlements_page(
    request: Request, tenant: MemberTenant, viewer: CurrentViewer, rt: RuntimeDep
) -> HTMLResponse:
    # permission: access.entitlement.read
    async with rt.db.platform_session() as session:
        rows = await service.describe(session, tenant.id)
    return await render(
        request,
        "console/entitlements.html",
        tenant=tenant,
        is_admin=viewer.is_platform_admin or viewer.role_in(tenant.id) == TENANT_ADMIN,
        can_edit=viewer.is_platform_admin,
        groups=[(GROUPS[g], list(items)) for g, items in groupby(rows, key=lambda r: r.group)],
    )


def _parse(key: str, text: str) -> Value:
    """The form's text as the entitlement's value: on/off for a switch, a number or nothing
    (unlimited) for a limit. The service validates the result again."""
    if definition(key).kind is Kind.switch:
        if text not in ("on", "off"):
            raise ValidationFailed(f"{key} takes on or off", field="value")
        return text == "on"
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise ValidationFailed(f"{key} takes a whole number; leave it empty for unlimited", field="value") from None


@router.post("/t/{slug}/entitlements/{key}", dependencies=[Csrf])
async def set_entitlement(
    request: Request, key: str, tenant: MemberTenant, viewer: PlatformViewer, rt: RuntimeDep
) -> Response:
    # permission: access.entitlement.manage
    form = await request.form()
    try:
        saved = await service.set_value(
            rt.db, tenant.id, key, _parse(key, form_text(form, "value")), actor=viewer.user.email
        )
    except AtriumError as exc:
        flash(request, exc.detail, "error")
    else:
        flash(request, f"{saved.title} is set for {tenant.name}.", "success")
    return redirect(f"/t/{tenant.slug}/entitlements")


@router.post("/t/{slug}/entitlements/{key}/reset", dependencies=[Csrf])
async def reset_entitlement(
    request: Request, key: str, tenant: MemberTenant, viewer: PlatformViewer, rt: RuntimeDep
) -> Response:
    # permission: access.entitlement.manage
    try:
        saved = await service.reset(rt.db, tenant.id, key, actor=viewer.user.email)
    except AtriumError as exc:
        flash(request, exc.detail, "error")
    else:
        flash(request, f"{saved.title} is back to the default.", "success")
    return redirect(f"/t/{tenant.slug}/entitlements")
