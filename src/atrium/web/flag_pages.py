"""Console pages of feature flags: the platform's definitions (``/platform/flags``, platform
administrators) and a tenant's flags with its overrides (``/t/{slug}/flags``: members see the
values, the tenant's administrators set overrides). Rules and user targets are typed as JSON and
checked by the same service as the API."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from atrium.api.deps import RuntimeDep
from atrium.api.routing import APIRouter
from atrium.core.errors import AtriumError, NotFound, ValidationFailed
from atrium.core.tenancy import TenantRef
from atrium.platform.flags import service as flags
from atrium.platform.flags.evaluation import TARGETING_KEY, VALUE_TYPES
from atrium.platform.flags.models import FeatureFlag, TenantFlagOverride
from atrium.platform.flags.schemas import FlagCreate, FlagUpdate, OverrideWrite
from atrium.runtime import Runtime
from atrium.web.console import (
    Csrf,
    CurrentViewer,
    PlatformViewer,
    Viewer,
    error_status,
    flash,
    form_checked,
    form_text,
    problem_text,
    redirect,
    render,
)
from atrium.web.tenant_access import TenantView, requiring

router = APIRouter(include_in_schema=False)


async def _flag_admin(view: Annotated[TenantView, Depends(requiring("access.flag.manage"))]) -> TenantRef:
    return view.tenant


FlagAdmin = Annotated[TenantRef, Depends(_flag_admin)]
PAGE = "/platform/flags"
RULES_EXAMPLE = (
    '[{"name": "staff", "conditions": '
    '[{"attribute": "email", "operator": "ends_with", "values": ["@example.com"]}], "value": true}]'
)
TARGETS_EXAMPLE = '[{"users": ["<user id>"], "value": true}]'


# -- typed form values ---------------------------------------------------------------------------


def value_text(value_type: str, value: Any) -> str:
    """A value as its form box shows it: a string as typed, anything else as JSON."""
    if value is None:
        return ""
    return value if value_type == "string" and isinstance(value, str) else json.dumps(value)


def _typed(value_type: str, text: str, field: str) -> Any:
    """The value typed into a box, as the flag's type: a string as typed, else JSON."""
    if value_type == "string":
        return text
    try:
        return json.loads(text)
    except ValueError:
        kind = {"bool": "true or false", "number": "a number", "object": "a JSON object or array"}[value_type]
        raise ValidationFailed(f"{field}: enter {kind}", field=field) from None


def _json_list(text: str, field: str) -> Any:
    if not text:
        return []
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValidationFailed(f"{field}: not valid JSON ({exc})", field=field) from None


def _rollout(form: FormData, value_type: str) -> dict[str, Any] | None:
    """The rollout boxes: an empty percent means no rollout."""
    percent = form_text(form, "rollout_percent")
    if not percent:
        return None
    return {
        "percent": percent,
        "value": _typed(value_type, form_text(form, "rollout_value"), "rollout.value"),
        "bucket_by": form_text(form, "bucket_by") or TARGETING_KEY,
    }


def _status(exc: Exception) -> int:
    """The status to show a refused form with: 422 for bad input, as the API answers."""
    return 422 if isinstance(exc, ValidationError) else error_status(exc)


FLAG_FIELDS = (
    "key",
    "description",
    "value_type",
    "default_value",
    "rules",
    "rollout_percent",
    "rollout_value",
    "bucket_by",
)


def _refill(form: FormData) -> dict[str, Any]:
    """What the administrator typed, to show again after an error."""
    return {**{n: form_text(form, n) for n in FLAG_FIELDS}, "enabled": form_checked(form, "enabled")}


@dataclass(frozen=True)
class FlagForm:
    """A flag's edit form, filled in from the flag."""

    key: str
    description: str
    value_type: str
    default_value: str
    enabled: bool
    rules: str
    rollout_percent: str
    rollout_value: str
    bucket_by: str
    rule_count: int = 0


def _form_of(flag: FeatureFlag) -> FlagForm:
    rollout = flag.rollout or {}
    return FlagForm(
        key=flag.key,
        description=flag.description,
        value_type=flag.value_type,
        default_value=value_text(flag.value_type, flag.default_value),
        enabled=flag.enabled,
        rules=json.dumps(flag.rules, indent=2) if flag.rules else "",
        rollout_percent=f"{rollout['percent']:g}" if rollout else "",
        rollout_value=value_text(flag.value_type, rollout.get("value")),
        bucket_by=rollout.get("bucket_by", TARGETING_KEY),
        rule_count=len(flag.rules),
    )


# -- platform definitions ------------------------------------------------------------------------


async def _platform_page(
    request: Request, rt: Runtime, status_code: int = 200, open_flag: str | None = None, **extra: Any
) -> HTMLResponse:
    """The flags page, one flag's form unfolded; ``extra`` carries a form to fill in again."""
    async with rt.db.platform_session() as session:
        rows = await flags.list_flags(session)
    return await render(
        request,
        "console/flags.html",
        status_code=status_code,
        flags=[_form_of(f) for f in rows],
        value_types=VALUE_TYPES,
        open_flag=open_flag or request.query_params.get("flag"),
        rules_example=RULES_EXAMPLE,
        **extra,
    )


def _flag_url(key: str) -> str:
    return f"{PAGE}?flag={key}#flag-{key}"


@router.get(PAGE)
async def flags_page(request: Request, viewer: PlatformViewer, rt: RuntimeDep) -> HTMLResponse:
    return await _platform_page(request, rt)


@router.post(PAGE, dependencies=[Csrf])
async def create_flag(request: Request, viewer: PlatformViewer, rt: RuntimeDep) -> Response:
    form = await request.form()
    value_type = form_text(form, "value_type")
    try:
        if value_type not in VALUE_TYPES:
            raise ValidationFailed(f"value_type: choose one of {', '.join(VALUE_TYPES)}", field="value_type")
        data = FlagCreate.model_validate(
            {
                "key": form_text(form, "key"),
                "description": form_text(form, "description"),
                "value_type": value_type,
                "default_value": _typed(value_type, form_text(form, "default_value"), "default_value"),
                "enabled": form_checked(form, "enabled"),
                "rules": _json_list(form_text(form, "rules"), "rules"),
                "rollout": _rollout(form, value_type),
            }
        )
        created = await flags.create_flag(rt, data, actor=viewer.user.email)
    except (ValidationError, AtriumError) as exc:
        flash(request, problem_text(exc), "error")
        return await _platform_page(request, rt, status_code=_status(exc), new_form=_refill(form))
    flash(request, f"The flag {created.key} is created.", "success")
    return redirect(_flag_url(created.key))


@router.post(PAGE + "/{key}", dependencies=[Csrf])
async def update_flag(request: Request, key: str, viewer: PlatformViewer, rt: RuntimeDep) -> Response:
    """Save the edit form: every field is sent, an empty rollout percent removes the rollout."""
    form = await request.form()
    try:
        async with rt.db.platform_session() as session:
            value_type = (await flags.get_flag(session, key)).value_type
        data = FlagUpdate.model_validate(
            {
                "description": form_text(form, "description"),
                "default_value": _typed(value_type, form_text(form, "default_value"), "default_value"),
                "enabled": form_checked(form, "enabled"),
                "rules": _json_list(form_text(form, "rules"), "rules"),
                "rollout": _rollout(form, value_type),
            }
        )
        saved = await flags.update_flag(rt, key, data, actor=viewer.user.email)
    except NotFound:
        raise
    except (ValidationError, AtriumError) as exc:
        flash(request, problem_text(exc), "error")
        edit_form = {**_refill(form), "key": key}
        return await _platform_page(request, rt, status_code=_status(exc), edit_form=edit_form, open_flag=key)
    flash(request, f"The flag {saved.key} is saved ({'enabled' if saved.enabled else 'disabled'}).", "success")
    return redirect(_flag_url(saved.key))


@router.post(PAGE + "/{key}/delete", dependencies=[Csrf])
async def delete_flag(request: Request, key: str, viewer: PlatformViewer, rt: RuntimeDep) -> Response:
    await flags.delete_flag(rt, key, actor=viewer.user.email)
    flash(request, f"The flag {key} is deleted, with the tenants' overrides of it.", "success")
    return redirect(PAGE)


# -- a tenant's flags ----------------------------------------------------------------------------


async def _reading_tenant(view: Annotated[TenantView, Depends(requiring("access.flag.read"))]) -> TenantRef:
    """A tenant whose flags the viewer may see (its IP allowlist and forced MFA apply)."""
    return view.tenant


ReadingTenant = Annotated[TenantRef, Depends(_reading_tenant)]


@dataclass(frozen=True)
class TenantFlagView:
    key: str
    description: str
    value_type: str
    enabled: bool
    value: str
    reason: str
    variant: str | None
    override: TenantFlagOverride | None
    form: dict[str, Any]


def _override_form(flag: FeatureFlag, row: TenantFlagOverride | None) -> dict[str, Any]:
    if row is None:
        return {"enabled": True, "value": "", "targets": "", "rules": "", "rollout_percent": "", "rollout_value": ""}
    rollout = row.rollout or {}
    return {
        "enabled": row.enabled,
        "value": value_text(flag.value_type, row.value),
        "targets": json.dumps(row.targets, indent=2) if row.targets else "",
        "rules": json.dumps(row.rules, indent=2) if row.rules else "",
        "rollout_percent": f"{rollout['percent']:g}" if rollout else "",
        "rollout_value": value_text(flag.value_type, rollout.get("value")),
        "bucket_by": rollout.get("bucket_by", TARGETING_KEY),
    }


async def _tenant_page(
    request: Request,
    tenant: TenantRef,
    viewer: Viewer,
    rt: Runtime,
    status_code: int = 200,
    open_flag: str | None = None,
    **extra: Any,
) -> HTMLResponse:
    context = flags.context_for(viewer.user.id, viewer.user.email, tenant)
    async with rt.db.platform_session() as session:
        rows = await flags.tenant_view(session, tenant.id, context)
    views = [
        TenantFlagView(
            key=flag.key,
            description=flag.description,
            value_type=flag.value_type,
            enabled=flag.enabled,
            value=value_text(flag.value_type, found.value),
            reason=str(found.reason),
            variant=found.variant,
            override=row,
            form=_override_form(flag, row),
        )
        for flag, found, row in rows
    ]
    return await render(
        request,
        "console/flags_tenant.html",
        status_code=status_code,
        tenant=tenant,
        is_admin=request.state.tenant_view.may("access.flag.manage"),
        flags=views,
        open_flag=open_flag or request.query_params.get("flag"),
        rules_example=RULES_EXAMPLE,
        targets_example=TARGETS_EXAMPLE,
        **extra,
    )


@router.get("/t/{slug}/flags")
async def tenant_flags_page(
    request: Request, tenant: ReadingTenant, viewer: CurrentViewer, rt: RuntimeDep
) -> HTMLResponse:
    # permission: access.flag.read
    return await _tenant_page(request, tenant, viewer, rt)


@router.post("/t/{slug}/flags/{key}", dependencies=[Csrf])
async def save_override(
    request: Request, key: str, tenant: FlagAdmin, viewer: CurrentViewer, rt: RuntimeDep
) -> Response:
    """Set the tenant's override from the form (replacing any)."""
    # permission: access.flag.manage
    form = await request.form()
    back = f"/t/{tenant.slug}/flags?flag={key}#flag-{key}"
    try:
        async with rt.db.platform_session() as session:
            value_type = (await flags.get_flag(session, key)).value_type
        value = form_text(form, "value")
        data = OverrideWrite.model_validate(
            {
                "enabled": form_checked(form, "enabled"),
                "value": _typed(value_type, value, "value") if value else None,
                "targets": _json_list(form_text(form, "targets"), "targets"),
                "rules": _json_list(form_text(form, "rules"), "rules"),
                "rollout": _rollout(form, value_type),
            }
        )
        await flags.set_override(rt, tenant.id, key, data, actor=viewer.user.email)
    except NotFound:
        raise
    except (ValidationError, AtriumError) as exc:
        flash(request, problem_text(exc), "error")
        refill = {
            **{n: form_text(form, n) for n in ("value", "targets", "rules", "rollout_percent", "rollout_value")},
            "enabled": form_checked(form, "enabled"),
            "bucket_by": form_text(form, "bucket_by") or TARGETING_KEY,
            "key": key,
        }
        return await _tenant_page(
            request, tenant, viewer, rt, status_code=_status(exc), override_form=refill, open_flag=key
        )
    flash(request, f"The tenant's override of {key} is saved.", "success")
    return redirect(back)


@router.post("/t/{slug}/flags/{key}/delete", dependencies=[Csrf])
async def delete_override(
    request: Request, key: str, tenant: FlagAdmin, viewer: CurrentViewer, rt: RuntimeDep
) -> Response:
    # permission: access.flag.manage
    try:
        await flags.delete_override(rt, tenant.id, key, actor=viewer.user.email)
    except AtriumError as exc:
        flash(request, exc.detail, "error")
    else:
        flash(request, f"The override of {key} is removed: the platform's definition applies.", "success")
    return redirect(f"/t/{tenant.slug}/flags")
