"""Shared request dependencies: the runtime, units of work, the caller, and the TenantContext."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.api.routing import units_of
from atrium.core import context
from atrium.core.errors import Forbidden, Unauthorized
from atrium.core.tenancy import TenantRef
from atrium.platform.access import impersonation
from atrium.platform.identity import api_keys, policies, sessions
from atrium.platform.identity import service as identity
from atrium.platform.identity.oauth import tokens as oauth_tokens
from atrium.platform.tenancy.exceptions import TenantGone, TenantInactive, TenantNotFound, TenantProvisioning
from atrium.runtime import Runtime


def runtime_of(request: Request) -> Runtime:
    """The app's runtime. The dependencies every request passes through read it here rather
    than depend on ``get_runtime``: each dependency FastAPI resolves costs a few microseconds."""
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_runtime(request: Request) -> Runtime:
    """Async although it awaits nothing: FastAPI runs a plain ``def`` dependency in a worker
    thread."""
    return runtime_of(request)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def _commit_begun(session: AsyncSession) -> None:
    if session.in_transaction():
        await session.commit()


async def platform_unit_of_work(request: Request) -> AsyncSession:
    """A platform-database session, committed by the route once the endpoint has answered
    without error, like the tenant's (``atrium.api.routing.Units``): a route's units of work
    commit in the order they were opened."""
    return await units_of(request).open(runtime_of(request).db.platform_session(), _commit_begun)


PlatformSession = Annotated[AsyncSession, Depends(platform_unit_of_work)]


@dataclass(frozen=True)
class Principal:
    """Who calls. A platform administrator reaches every tenant; anyone else only ``tenant_ids``."""

    id: str
    email: str
    platform_admin: bool = False
    tenant_ids: frozenset[str] = frozenset()
    via: str = "session"
    mfa: bool = False  # a browser session that passed a second factor (or an IdP)
    scopes: frozenset[str] = frozenset()  # an OAuth token's scopes, for access control to enforce
    session_id: str | None = None  # the browser session behind a cookie
    signed_in_at: dt.datetime | None = None
    reauthenticated_at: dt.datetime | None = None  # the last password check, for step-up
    impersonator_id: str | None = None  # set while an administrator views the tenant as this person
    impersonator_email: str | None = None
    impersonation_id: str | None = None

    def may_enter(self, tenant_id: str) -> bool:
        return self.platform_admin or tenant_id in self.tenant_ids


def check_cookie_csrf(request: Request) -> None:
    """Refuse a cookie-authenticated POST that a cross-site page could have sent: a form (or a
    ``no-cors`` fetch) can only send form or plain-text bodies, never JSON and never a custom
    header. The session cookie is also SameSite=Lax; this is the second line."""
    if request.method != "POST":
        return  # PUT, PATCH and DELETE cannot leave another site without a CORS preflight
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind in ("", "application/json") or _csrf_header_ok(request):
        return
    raise Forbidden("send JSON, or the X-CSRF-Token header, with a change made through a browser session")


def _csrf_header_ok(request: Request) -> bool:
    sent = request.headers.get("x-csrf-token", "").encode()
    expected = str(request.session.get("csrf", "") if "session" in request.scope else "").encode()
    return bool(sent and expected) and secrets.compare_digest(sent, expected)


async def _user_principal(rt: Runtime, cookie: str) -> Principal:
    user, record = await sessions.authenticate(rt, cookie)
    async with rt.db.platform_session() as session:
        tenant_ids = frozenset(m.tenant_id for m in await identity.memberships(session, user.id))
    return Principal(
        user.id,
        user.email,
        platform_admin=user.is_platform_admin,
        tenant_ids=tenant_ids,
        via="session",
        mfa=record.mfa,
        session_id=record.id,
        signed_in_at=record.created_at,
        reauthenticated_at=record.reauthenticated_at or record.created_at,
    )


async def _api_key_principal(rt: Runtime, key: str) -> Principal | None:
    found = await api_keys.authenticate(rt, key)
    if found is None:
        return None
    user, record = found
    if record.tenant_id is None:  # a platform key (its owner is a platform administrator)
        return Principal(user.id, user.email, platform_admin=True, via="api_key")
    return Principal(
        user.id,
        user.email,
        platform_admin=False,
        tenant_ids=frozenset({record.tenant_id}),
        via="api_key",
        scopes=frozenset(record.scopes),  # the most the key may do; access control narrows to them
    )


async def _oauth_principal(rt: Runtime, token: str) -> Principal:
    """An OAuth client's access token: the client, in its one tenant (refused: 401)."""
    claims, client = await oauth_tokens.verify(rt, token)
    return Principal(
        claims.client_id,
        client.name,
        platform_admin=False,
        tenant_ids=frozenset({claims.tenant_id}),
        via="oauth",
        scopes=claims.scopes,
    )


async def _authenticate(request: Request) -> Principal:
    rt = runtime_of(request)
    principal: Principal | None = None
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer ") and header[7:].strip().startswith(api_keys.KEY_PREFIX):
        principal = await _api_key_principal(rt, header[7:].strip())
    elif header.lower().startswith("bearer ") and oauth_tokens.looks_like_jwt(header[7:].strip()):
        principal = await _oauth_principal(rt, header[7:].strip())
    elif request.cookies.get(sessions.COOKIE):
        check_cookie_csrf(request)
        principal = await _user_principal(rt, request.cookies[sessions.COOKIE])
        if request.session.get(impersonation.SESSION_KEY) if "session" in request.scope else None:
            principal = await impersonation.apply(rt, request, principal)
    if principal is None:
        raise Unauthorized("sign in, or send 'Authorization: Bearer <API key>'")
    if principal.impersonator_email is None:
        context.actor.set(principal.email)
    else:
        context.actor.set(f"{principal.email} (impersonated by {principal.impersonator_email})")
    context.user_id.set(principal.id)
    return principal


PRINCIPAL_KEY = "atrium.principal"  # where the request scope keeps its caller


async def principal_of(request: Request) -> Principal:
    """Who calls: a bearer ``atk_`` API key (a platform key for platform administrators), an
    OAuth access token, or a user's session cookie. A cookie-authenticated change must send
    JSON or the console's CSRF header: a cross-site form can do neither, so it cannot ride on
    the cookie. Worked out once per request; the request-path dependencies call this instead of
    depending on ``current_principal``, which saves FastAPI a dependency to resolve for each."""
    found: Principal | None = request.scope.get(PRINCIPAL_KEY)
    if found is None:
        found = request.scope[PRINCIPAL_KEY] = await _authenticate(request)
    return found


async def current_principal(request: Request) -> Principal:
    """The caller (``principal_of``), as a dependency."""
    return await principal_of(request)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


async def platform_admin(principal: CurrentPrincipal) -> Principal:
    if not principal.platform_admin:
        raise Forbidden("platform administrators only")
    return principal


PlatformAdmin = Annotated[Principal, Depends(platform_admin)]


@dataclass(frozen=True)
class TenantContext:
    """The request's tenant, its data session, and the session for audit and outbox *writes*
    (the same session for pooled tenants; otherwise a platform session committed right after the
    tenant session, so an audit event never outlives its change). Reads of platform tables take
    a PlatformSession of their own."""

    tenant: TenantRef
    session: AsyncSession
    platform: AsyncSession


async def resolve_tenant(rt: Runtime, key: str, principal: Principal) -> TenantRef:
    """Resolve ``{tenant}`` (id or slug) and refuse tenants whose data cannot be used. A tenant
    the caller may not enter is not found, whatever its state, so nothing about it leaks."""
    ref = await rt.tenants.resolve(key)
    if ref is None or not principal.may_enter(ref.id):
        raise TenantNotFound(key)
    if ref.status == "deleted":
        raise TenantGone(key)
    if ref.status == "provisioning":
        raise TenantProvisioning(ref.slug)
    if ref.status != "active":
        raise TenantInactive(ref.slug, ref.status)
    return ref


async def tenant_context(
    request: Request, tenant: Annotated[str, Path(description="Tenant id or slug.")]
) -> TenantContext:
    """Resolved once per request. The tenant's unit of work is the route's to commit once the
    endpoint has answered (``atrium.api.routing.APIRoute``), and to roll back on an error."""
    rt, principal = runtime_of(request), await principal_of(request)
    ref = await resolve_tenant(rt, tenant, principal)
    if not principal.platform_admin:
        ip = request.client.host if request.client else None
        await policies.enforce(rt, ref.id, ip=ip, mfa=principal.mfa, interactive=principal.via == "session")
    session, platform = await units_of(request).open(
        rt.db.tenant_unit_of_work(ref), lambda pair: rt.db.commit_unit_of_work(*pair)
    )
    return TenantContext(ref, session, platform)


Tenant = Annotated[TenantContext, Depends(tenant_context)]
