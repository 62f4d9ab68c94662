"""HTTP glue: the Tenant Admin's token routes under /api/v1, and the SCIM 2.0 service at /scim/v2.

One base URL serves every tenant: the bearer token names the tenant. Each SCIM route owns one
platform transaction (``_unit_of_work``) that commits only when the service call succeeds; a failure
rolls it back before the SCIM error is answered.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, Header, Request, Response, status
from pydantic import ValidationError
from scim2_models import (
    Context,
    Error,
    InvalidSyntaxException,
    InvalidValueException,
    ListResponse,
    Meta,
    NotFoundException,
    NotImplementedException,
    Resource,
    ResourceType,
    ResponseParameters,
    Schema,
    UnauthorizedException,
)
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.api.deps import CurrentPrincipal, PlatformSession, RuntimeDep, get_runtime
from atrium.api.routing import APIRouter
from atrium.core import context
from atrium.core.errors import NotFound
from atrium.platform.access import catalog
from atrium.platform.access.auth import CanManageSecurity
from atrium.platform.access.service import ensure_can_grant
from atrium.platform.entitlements.deps import require_entitlement
from atrium.platform.identity.scim import resources as scim
from atrium.platform.identity.scim import service, tokens
from atrium.platform.identity.scim.errors import ScimResponse, ScimRoute, error_response

# ------------------------------------------------------------------------ token (Tenant Admin API)
# The token lives in the platform database: it is written through a platform session (the tenant
# context's session runs as the tenant's restricted role on PostgreSQL).

token_router = APIRouter(
    prefix="/api/v1/tenants/{tenant}/scim", tags=["scim"], dependencies=[require_entitlement("feature.scim")]
)


@token_router.post("/token", status_code=status.HTTP_201_CREATED, response_model=tokens.TokenCreated)
async def create_token(
    ctx: CanManageSecurity, principal: CurrentPrincipal, session: PlatformSession
) -> tokens.TokenCreated:
    """Create the tenant's SCIM token, or rotate it (the old one stops working). Shown once. The IdP
    it connects can put people into groups that hold any role, so its maker must hold them all."""
    ensure_can_grant(ctx.subject, frozenset(catalog.PERMISSIONS))
    token = await tokens.create_token(session, ctx.tenant.id, principal.email)
    state = await tokens.token_status(session, ctx.tenant.id)
    return tokens.TokenCreated(token=token, **state.model_dump())


@token_router.get("/token", response_model=tokens.TokenStatus)
async def token_status(ctx: CanManageSecurity, session: PlatformSession) -> tokens.TokenStatus:
    """Whether the tenant has a SCIM token, when it was created and last used."""
    return await tokens.token_status(session, ctx.tenant.id)


@token_router.delete("/token", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_token(ctx: CanManageSecurity, principal: CurrentPrincipal, session: PlatformSession) -> Response:
    """Revoke the tenant's SCIM token; provisioning stops until a new one is created."""
    if not await tokens.revoke_token(session, ctx.tenant.id, principal.email):
        raise NotFound("this tenant has no SCIM token", field="token")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ------------------------------------------------------------------------------- SCIM 2.0 service

BASE = "/scim/v2"
router = APIRouter(prefix=BASE, tags=["scim"], route_class=ScimRoute)
ENDPOINTS = ("serviceproviderconfig", "resourcetypes", "schemas", "users", "groups", ".search")


async def scim_caller(request: Request, rt: RuntimeDep) -> service.Caller:
    """The tenant behind the bearer token (401 SCIM error when it is missing or not live)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthorizedException(detail="send the tenant's SCIM token: 'Authorization: Bearer scim_…'")
    found = await tokens.authenticate(rt, token.strip())
    if found is None:
        raise UnauthorizedException(detail="this SCIM token is not valid (revoked, rotated or mistyped)")
    tenant_id, prefix = found
    actor = f"scim:{prefix}"
    context.actor.set(actor)
    return service.Caller(tenant_id=tenant_id, actor=actor, base_url=rt.settings.public_url.rstrip("/") + BASE)


Caller = Annotated[service.Caller, Depends(scim_caller)]


@asynccontextmanager
async def _unit_of_work(request: Request) -> AsyncIterator[AsyncSession]:
    """One platform transaction: committed when the block succeeds, rolled back when it raises."""
    async with (await get_runtime(request)).db.platform_session() as session, session.begin():
        yield session


IfMatch = Annotated[str | None, Header(alias="If-Match", include_in_schema=False)]


async def _body(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        raise InvalidSyntaxException(detail="the request body is not valid JSON") from None


def _int(params: Mapping[str, Any], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise InvalidValueException(detail=f"{name} must be an integer") from None


def _list_query(params: Mapping[str, Any]) -> service.ListQuery:
    """RFC 7644 §3.4.2: startIndex below 1 means 1, a negative count means 0, count is capped."""
    order = str(params.get("sortOrder") or "ascending")
    if order not in ("ascending", "descending"):
        raise InvalidValueException(detail="sortOrder must be 'ascending' or 'descending'")
    filter_ = params.get("filter")
    sort_by = params.get("sortBy")
    return service.ListQuery(
        filter=str(filter_) if filter_ is not None else None,
        sort_by=str(sort_by) if sort_by else None,
        descending=order == "descending",
        start_index=max(1, _int(params, "startIndex", 1)),
        count=min(scim.MAX_RESULTS, max(0, _int(params, "count", scim.MAX_RESULTS))),
    )


def _response_parameters(model: type[Resource[Any]], params: Mapping[str, Any]) -> ResponseParameters[Any]:
    values = {k: params[k] for k in ("attributes", "excludedAttributes") if params.get(k)}
    try:
        return ResponseParameters[model].model_validate(values)  # type: ignore[valid-type]
    except ValidationError as exc:
        raise InvalidValueException(detail=exc.errors()[0]["msg"]) from None


def _resource(
    resource: Resource[Any], ctx: Context, params: ResponseParameters[Any] | None = None, code: int = 200
) -> ScimResponse:
    headers = {}
    if resource.meta is not None and resource.meta.version:
        headers["ETag"] = resource.meta.version
    if code == status.HTTP_201_CREATED and resource.meta is not None and resource.meta.location:
        headers["Location"] = resource.meta.location
    body = resource.model_dump(scim_ctx=ctx, response_parameters=params)
    return ScimResponse(body, status_code=code, headers=headers)


def _list(model: type[Resource[Any]], page: service.Page, params: ResponseParameters[Any] | None) -> ScimResponse:
    listing = ListResponse[model](  # type: ignore[valid-type]
        total_results=page.total,
        start_index=page.start_index,
        items_per_page=len(page.resources),
        resources=page.resources,
    )
    return ScimResponse(listing.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE, response_parameters=params))


# discovery ---------------------------------------------------------------------------------------


def _discovery_meta(caller: service.Caller, kind: str, path: str) -> Meta:
    return Meta(resource_type=kind, location=f"{caller.base_url}/{path}")


def _resource_types(caller: service.Caller) -> list[ResourceType]:
    found = []
    for resource_type in scim.resource_types():
        resource_type.meta = _discovery_meta(caller, "ResourceType", f"ResourceTypes/{resource_type.id}")
        found.append(resource_type)
    return found


def _schemas(caller: service.Caller) -> list[Schema]:
    found = []
    for schema in scim.schemas():
        schema.meta = _discovery_meta(caller, "Schema", f"Schemas/{schema.id}")
        found.append(schema)
    return found


@router.get("/ServiceProviderConfig")
async def service_provider_config(caller: Caller) -> Response:
    config = scim.CONFIG.model_copy(
        update={"meta": _discovery_meta(caller, "ServiceProviderConfig", "ServiceProviderConfig")}
    )
    return _resource(config, Context.RESOURCE_QUERY_RESPONSE)


@router.get("/ResourceTypes")
async def resource_types(caller: Caller) -> Response:
    found = _resource_types(caller)
    return _list(ResourceType, service.Page(len(found), 1, found), None)


@router.get("/ResourceTypes/{resource_type_id}")
async def resource_type(resource_type_id: str, caller: Caller) -> Response:
    for found in _resource_types(caller):
        if found.id == resource_type_id:
            return _resource(found, Context.RESOURCE_QUERY_RESPONSE)
    raise NotFoundException(detail=f"no resource type {resource_type_id!r}")


@router.get("/Schemas")
async def schemas(caller: Caller) -> Response:
    found = _schemas(caller)
    return _list(Schema, service.Page(len(found), 1, found), None)


@router.get("/Schemas/{schema_id}")
async def schema(schema_id: str, caller: Caller) -> Response:
    for found in _schemas(caller):
        if found.id == schema_id:
            return _resource(found, Context.RESOURCE_QUERY_RESPONSE)
    raise NotFoundException(detail=f"no schema {schema_id!r}")


# users -------------------------------------------------------------------------------------------


@router.post("/Users", status_code=status.HTTP_201_CREATED)
async def create_user(request: Request, caller: Caller) -> Response:
    async with _unit_of_work(request) as session:
        created = await service.create_user(session, caller, await _body(request))
    return _resource(created, Context.RESOURCE_CREATION_RESPONSE, code=status.HTTP_201_CREATED)


@router.get("/Users")
async def list_users(request: Request, caller: Caller) -> Response:
    params = request.query_params
    async with _unit_of_work(request) as session:
        page = await service.list_users(session, caller, _list_query(params))
    return _list(scim.User, page, _response_parameters(scim.User, params))


@router.post("/Users/.search")
async def search_users(request: Request, caller: Caller) -> Response:
    params = _search_body(await _body(request))
    async with _unit_of_work(request) as session:
        page = await service.list_users(session, caller, _list_query(params))
    return _list(scim.User, page, _response_parameters(scim.User, params))


@router.get("/Users/{scim_id}")
async def get_user(scim_id: str, request: Request, caller: Caller) -> Response:
    async with _unit_of_work(request) as session:
        found = await service.get_user(session, caller, scim_id)
    return _resource(found, Context.RESOURCE_QUERY_RESPONSE, _response_parameters(scim.User, request.query_params))


@router.put("/Users/{scim_id}")
async def replace_user(scim_id: str, request: Request, caller: Caller, if_match: IfMatch = None) -> Response:
    async with _unit_of_work(request) as session:
        replaced = await service.replace_user(session, caller, scim_id, await _body(request), if_match)
    return _resource(replaced, Context.RESOURCE_REPLACEMENT_RESPONSE)


@router.patch("/Users/{scim_id}")
async def patch_user(scim_id: str, request: Request, caller: Caller, if_match: IfMatch = None) -> Response:
    async with _unit_of_work(request) as session:
        patched = await service.patch_user(session, caller, scim_id, await _body(request), if_match)
    return _resource(patched, Context.RESOURCE_PATCH_RESPONSE)


@router.delete("/Users/{scim_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_user(scim_id: str, request: Request, caller: Caller, if_match: IfMatch = None) -> Response:
    async with _unit_of_work(request) as session:
        await service.delete_user(session, caller, scim_id, if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# groups ------------------------------------------------------------------------------------------


@router.post("/Groups", status_code=status.HTTP_201_CREATED)
async def create_group(request: Request, caller: Caller) -> Response:
    async with _unit_of_work(request) as session:
        created = await service.create_group(session, caller, await _body(request))
    return _resource(created, Context.RESOURCE_CREATION_RESPONSE, code=status.HTTP_201_CREATED)


@router.get("/Groups")
async def list_groups(request: Request, caller: Caller) -> Response:
    params = request.query_params
    async with _unit_of_work(request) as session:
        page = await service.list_groups(session, caller, _list_query(params))
    return _list(scim.Group, page, _response_parameters(scim.Group, params))


@router.post("/Groups/.search")
async def search_groups(request: Request, caller: Caller) -> Response:
    params = _search_body(await _body(request))
    async with _unit_of_work(request) as session:
        page = await service.list_groups(session, caller, _list_query(params))
    return _list(scim.Group, page, _response_parameters(scim.Group, params))


@router.get("/Groups/{group_id}")
async def get_group(group_id: str, request: Request, caller: Caller) -> Response:
    async with _unit_of_work(request) as session:
        found = await service.get_group(session, caller, group_id)
    return _resource(found, Context.RESOURCE_QUERY_RESPONSE, _response_parameters(scim.Group, request.query_params))


@router.put("/Groups/{group_id}")
async def replace_group(group_id: str, request: Request, caller: Caller, if_match: IfMatch = None) -> Response:
    async with _unit_of_work(request) as session:
        replaced = await service.replace_group(session, caller, group_id, await _body(request), if_match)
    return _resource(replaced, Context.RESOURCE_REPLACEMENT_RESPONSE)


@router.patch("/Groups/{group_id}")
async def patch_group(group_id: str, request: Request, caller: Caller, if_match: IfMatch = None) -> Response:
    async with _unit_of_work(request) as session:
        patched = await service.patch_group(session, caller, group_id, await _body(request), if_match)
    return _resource(patched, Context.RESOURCE_PATCH_RESPONSE)


@router.delete("/Groups/{group_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_group(group_id: str, request: Request, caller: Caller, if_match: IfMatch = None) -> Response:
    async with _unit_of_work(request) as session:
        await service.delete_group(session, caller, group_id, if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# the rest ----------------------------------------------------------------------------------------


def _search_body(payload: Any) -> dict[str, Any]:
    """A SearchRequest body (RFC 7644 §3.4.3), read into the same parameters as a query string."""
    if not isinstance(payload, dict) or scim.SEARCH_SCHEMA not in (payload.get("schemas") or []):
        raise InvalidSyntaxException(detail=f"'schemas' must contain {scim.SEARCH_SCHEMA}")
    params = {k: v for k, v in payload.items() if k != "schemas"}
    for key in ("attributes", "excludedAttributes"):
        if isinstance(params.get(key), list):
            params[key] = ",".join(str(v) for v in params[key])
    return params


@router.post("/.search")
async def search_everything(caller: Caller) -> Response:
    """Searching users and groups at once is not offered; search /Users or /Groups."""
    raise NotImplementedException(detail="search /Users/.search or /Groups/.search instead")


@router.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
async def elsewhere(rest: str, request: Request, caller: Caller) -> Response:
    """Anything else: 405 on a SCIM endpoint used with the wrong method, else 404 (both SCIM errors)."""
    first = rest.strip("/").split("/", 1)[0].lower()
    if first in ENDPOINTS:
        return error_response(Error(status=405, detail=f"{request.method} is not allowed on {request.url.path}"))
    return error_response(Error(status=404, detail=f"nothing at {request.url.path}"))
