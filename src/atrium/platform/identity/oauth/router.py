"""OAuth clients of a tenant (Tenant Admins), the token endpoint, and the discovery documents."""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import unquote_plus

from fastapi import Request, status
from fastapi.responses import JSONResponse

from atrium.api.deps import CurrentPrincipal, PlatformSession, Principal, RuntimeDep
from atrium.api.routing import APIRouter
from atrium.platform.access.auth import CanManageSecurity
from atrium.platform.entitlements.deps import require_entitlement
from atrium.platform.identity.oauth import service, tokens
from atrium.platform.identity.oauth.schemas import (
    AuthorizationServerMetadata,
    OAuthClientCreate,
    OAuthClientRead,
    OAuthClientWithSecret,
    TokenError,
    TokenResponse,
)
from atrium.platform.identity.oauth.service import OAuthError

API_ENTITLED = require_entitlement("feature.api_access")
router = APIRouter(tags=["oauth"])
CLIENTS = "/api/v1/tenants/{tenant}/oauth-clients"
TOKEN_PATH = "/api/v1/oauth/token"
JWKS_PATH = "/api/v1/oauth/jwks.json"
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_FORM = "application/x-www-form-urlencoded"


def _actor(principal: Principal) -> service.Actor:
    return service.Actor(principal.id, principal.email)


@router.post(
    CLIENTS, status_code=status.HTTP_201_CREATED, response_model=OAuthClientWithSecret, dependencies=[API_ENTITLED]
)
async def create_client(
    data: OAuthClientCreate, ctx: CanManageSecurity, principal: CurrentPrincipal, session: PlatformSession
) -> OAuthClientWithSecret:
    """A client for machine access to this tenant; the response is the only time the secret is shown."""
    client, secret = await service.create(
        session, ctx.tenant.id, name=data.name, scopes=data.scopes, actor=_actor(principal), grantor=ctx.subject
    )
    return OAuthClientWithSecret(**OAuthClientRead.model_validate(client).model_dump(), client_secret=secret)


@router.get(CLIENTS, response_model=list[OAuthClientRead], dependencies=[API_ENTITLED])
async def list_clients(ctx: CanManageSecurity, session: PlatformSession) -> list[OAuthClientRead]:
    """The tenant's clients, newest first, revoked ones included; never their secrets."""
    return [OAuthClientRead.model_validate(c) for c in await service.list_for_tenant(session, ctx.tenant.id)]


@router.delete(CLIENTS + "/{client_id}", response_model=OAuthClientRead, dependencies=[API_ENTITLED])
async def revoke_client(
    client_id: str, ctx: CanManageSecurity, principal: CurrentPrincipal, session: PlatformSession
) -> OAuthClientRead:
    """Revoke a client: no new tokens; tokens already issued stop working within seconds, at the
    latest when they expire."""
    client = await service.revoke(session, ctx.tenant.id, client_id, actor=_actor(principal))
    return OAuthClientRead.model_validate(client)


@router.post(CLIENTS + "/{client_id}/secret", response_model=OAuthClientWithSecret, dependencies=[API_ENTITLED])
async def rotate_client_secret(
    client_id: str, ctx: CanManageSecurity, principal: CurrentPrincipal, session: PlatformSession
) -> OAuthClientWithSecret:
    """Replace the client's secret; the old one stops working at once."""
    client, secret = await service.rotate_secret(session, ctx.tenant.id, client_id, actor=_actor(principal))
    return OAuthClientWithSecret(**OAuthClientRead.model_validate(client).model_dump(), client_secret=secret)


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    """RFC 6749 §2.3.1: ``Basic base64(urlencoded id ":" urlencoded secret)``; None without Basic."""
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as error:
        raise OAuthError("invalid_client", "malformed HTTP Basic credentials", status=401) from error
    client_id, sep, secret = decoded.partition(":")
    if not sep or not client_id:
        raise OAuthError("invalid_client", "malformed HTTP Basic credentials", status=401)
    return unquote_plus(client_id), unquote_plus(secret)


async def _token_request(request: Request) -> tuple[str, str, str | None]:
    """Client id, secret and requested scope of a well-formed client-credentials request."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != _FORM:
        raise OAuthError("invalid_request", f"send the parameters as {_FORM}")
    form = await request.form()
    params: dict[str, str] = {}
    for name in ("grant_type", "scope", "client_id", "client_secret"):
        values = form.getlist(name)
        if len(values) > 1:
            raise OAuthError("invalid_request", f"parameter {name!r} is given more than once")
        if values:
            if not isinstance(values[0], str):
                raise OAuthError("invalid_request", f"parameter {name!r} must be a plain value")
            params[name] = values[0]
    grant_type = params.get("grant_type")
    if not grant_type:
        raise OAuthError("invalid_request", "grant_type is missing")
    if grant_type != "client_credentials":
        raise OAuthError("unsupported_grant_type", "only the client_credentials grant is supported")
    basic = _basic_credentials(request.headers.get("authorization"))
    if basic is not None:
        if "client_secret" in params or params.get("client_id", basic[0]) != basic[0]:
            raise OAuthError("invalid_request", "authenticate the client one way only: HTTP Basic or form fields")
        return basic[0], basic[1], params.get("scope")
    if not params.get("client_id") or "client_secret" not in params:
        raise OAuthError("invalid_client", "client authentication is missing", status=401)
    return params["client_id"], params["client_secret"], params.get("scope")


def _error(error: OAuthError) -> JSONResponse:
    headers = dict(_NO_STORE)
    if error.status == status.HTTP_401_UNAUTHORIZED:
        headers["WWW-Authenticate"] = 'Basic realm="atrium", charset="UTF-8"'
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    body = {"error": error.error, "error_description": error.description}
    return JSONResponse(body, status_code=error.status, headers=headers)


_TOKEN_FORM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["grant_type"],
    "properties": {
        "grant_type": {"type": "string", "enum": ["client_credentials"]},
        "scope": {"type": "string", "description": "Space-separated subset of the client's scopes."},
        "client_id": {"type": "string", "description": "With client_secret_post (else HTTP Basic)."},
        "client_secret": {"type": "string", "description": "With client_secret_post (else HTTP Basic)."},
    },
}


@router.post(
    TOKEN_PATH,
    response_model=TokenResponse,
    responses={400: {"model": TokenError}, 401: {"model": TokenError}, 429: {"model": TokenError}},
    openapi_extra={"requestBody": {"required": True, "content": {_FORM: {"schema": _TOKEN_FORM_SCHEMA}}}},
)
async def token(request: Request, rt: RuntimeDep, session: PlatformSession) -> JSONResponse:
    """RFC 6749 §4.4 client-credentials grant. Client authentication by HTTP Basic
    (client_secret_basic) or form fields (client_secret_post). Errors follow RFC 6749 §5.2,
    not problem+json, because OAuth clients expect that format."""
    ip = request.client.host if request.client else None
    try:
        client_id, secret, scope = await _token_request(request)
        grant = await service.grant(session, rt, client_id=client_id, client_secret=secret, scope=scope, ip=ip)
    except OAuthError as error:
        return _error(error)
    body = TokenResponse(access_token=grant.access_token, expires_in=grant.expires_in, scope=grant.scope)
    return JSONResponse(body.model_dump(), headers=_NO_STORE)


@router.get(JWKS_PATH)
async def jwks(rt: RuntimeDep) -> JSONResponse:
    """The public key that signs access tokens (RFC 7517 key set)."""
    return JSONResponse(tokens.jwks(rt.settings), headers={"Cache-Control": "public, max-age=300"})


@router.get("/.well-known/oauth-authorization-server", response_model=AuthorizationServerMetadata)
async def metadata(rt: RuntimeDep) -> AuthorizationServerMetadata:
    """RFC 8414 metadata: where to get tokens and the key that verifies them."""
    issuer = tokens.issuer(rt.settings)
    return AuthorizationServerMetadata(
        issuer=issuer,
        token_endpoint=issuer + TOKEN_PATH,
        jwks_uri=issuer + JWKS_PATH,
        grant_types_supported=["client_credentials"],
        token_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post"],
    )
