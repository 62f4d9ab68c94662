"""Console page of a tenant's entitlements: every member sees what the tenant may use (and whether
it is the default plan's value or an override); Platform Admins change them on the same page,
through the service the JSON API calls."""

from __future__ import annotations

from itertools import groupby
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response

from atrium.api.deps import RuntimeDep
from atrium.api.routing import APIRouter
from atrium.core.errors import AtriumError, ValidationFailed
from atrium.core.tenancy import TenantRef
from atrium.platform.entitlements import service
from atrium.platform.entitlements.catalogue import Kind, Value, definition
from atrium.web.console import Csrf, CurrentViewer, PlatformViewer, flash, form_text, redirect, render
from atrium.web.tenant_access import TenantView, requiring
from atrium.web.tenant_pages import MemberTenant

router = APIRouter(include_in_schema=False)

GROUPS = {"module": "Modules", "feature": "Features", "seats": "Seats", "quota": "Quotas"}


async def _reading_tenant(view: Annotated[TenantView, Depends(requiring("access.entitlement.read"))]) -> TenantRef:
    return view.tenant


@router.get("/t/{slug}/entitlements")
async def entitlements_page(
    request: Request, tenant: Annotated[TenantRef, Depends(_reading_tenant)], viewer: CurrentViewer, rt: RuntimeDep
) -> HTMLResponse:
    async with rt.db.platform_session() as session:
        rows = await service.describe(session, tenant.id)
    return await render(
        request,
        "console/entitlements.html",
        tenant=tenant,
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
