"""Shared request dependencies: the runtime, units of work, the caller, and the TenantContext."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.core import context
from atrium.core.errors import Forbidden, Unauthorized
from atrium.core.tenancy import TenantRef
from atrium.platform.admin import service as admins
from atrium.platform.identity import api_keys, sessions
from atrium.platform.identity import service as identity
from atrium.platform.tenancy.exceptions import TenantGone, TenantInactive, TenantNotFound, TenantProvisioning
from atrium.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def platform_unit_of_work(rt: RuntimeDep) -> AsyncIterator[AsyncSession]:
    """A platform-database session that commits when the route returns without error."""
    async with rt.db.platform_session() as session:
        yield session
        if session.in_transaction():
            await session.commit()


PlatformSession = Annotated[AsyncSession, Depends(platform_unit_of_work, scope="function")]


@dataclass(frozen=True)
class Principal:
    """Who calls. A platform administrator reaches every tenant; anyone else only ``tenant_ids``."""

    id: str
    email: str
    platform_admin: bool = True
    tenant_ids: frozenset[str] = frozenset()
    via: str = "token"

    def may_enter(self, tenant_id: str) -> bool:
        return self.platform_admin or tenant_id in self.tenant_ids


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _csrf_header_ok(request: Request) -> bool:
    sent = request.headers.get("x-csrf-token", "").encode()
    expected = str(request.session.get("csrf", "")).encode()
    return bool(sent and expected) and secrets.compare_digest(sent, expected)


_TOKEN_CACHE: dict[str, tuple[float, Principal]] = {}
_TOKEN_TTL = 30.0


async def _user_principal(rt: Runtime, cookie: str) -> Principal:
    user, _ = await sessions.authenticate(rt, cookie)
    async with rt.db.platform_session() as session:
        tenant_ids = frozenset(m.tenant_id for m in await identity.memberships(session, user.id))
    return Principal(user.id, user.email, platform_admin=user.is_platform_admin, tenant_ids=tenant_ids, via="session")


async def _api_key_principal(rt: Runtime, key: str) -> Principal | None:
    found = await api_keys.authenticate(rt, key)
    if found is None:
        return None
    user, record = found
    return Principal(user.id, user.email, platform_admin=False, tenant_ids=frozenset({record.tenant_id}), via="api_key")


async def current_principal(request: Request, rt: RuntimeDep) -> Principal:
    """Who calls: a bearer token (platform administrator token, or an ``atk_`` API key), a user's
    session cookie, or the console's administrator session."""
    principal: Principal | None = None
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer ") and header[7:].strip().startswith(api_keys.KEY_PREFIX):
        principal = await _api_key_principal(rt, header[7:].strip())
    elif header.lower().startswith("bearer "):
        token = header[7:].strip()
        hit = _TOKEN_CACHE.get(token)
        if hit is not None and hit[0] > time.monotonic():
            principal = hit[1]
        else:
            async with rt.db.platform_session() as session:
                admin = await admins.by_token(session, token)
            if admin is not None:
                principal = Principal(admin.id, admin.email)
                _TOKEN_CACHE[token] = (time.monotonic() + _TOKEN_TTL, principal)
    elif request.cookies.get(sessions.COOKIE):
        principal = await _user_principal(rt, request.cookies[sessions.COOKIE])
    elif "session" in request.scope and request.session.get("admin_id"):
        if request.method not in SAFE_METHODS and not _csrf_header_ok(request):
            raise Forbidden("a console session may change things only with its X-CSRF-Token header")
        principal = Principal(request.session["admin_id"], request.session.get("admin_email", ""))
    if principal is None:
        raise Unauthorized("sign in to the console or send 'Authorization: Bearer <api token>'")
    context.actor.set(principal.email)
    context.user_id.set(principal.id)
    return principal


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
    rt: RuntimeDep,
    principal: CurrentPrincipal,
    tenant: Annotated[str, Path(description="Tenant id or slug.")],
) -> AsyncIterator[TenantContext]:
    """Resolved once per request; yields the tenant's session and commits on success."""
    ref = await resolve_tenant(rt, tenant, principal)
    async with rt.db.tenant_unit_of_work(ref) as (session, platform):
        yield TenantContext(ref, session, platform)
        if session.in_transaction():
            await session.commit()
        if platform is not session and platform.in_transaction():
            await platform.commit()


Tenant = Annotated[TenantContext, Depends(tenant_context, scope="function")]


async def tenant_admin(ctx: Tenant, principal: CurrentPrincipal, rt: RuntimeDep) -> TenantContext:
    """The tenant, for a caller who administers it: a platform administrator or a member holding
    the Tenant Admin role. A member without it is refused (403); a stranger never got this far (404)."""
    if principal.platform_admin:
        return ctx
    async with rt.db.platform_session() as session:
        role = await identity.membership_role(session, principal.id, ctx.tenant.id)
    if role != identity.TENANT_ADMIN:
        raise Forbidden("only the tenant's administrators may do this")
    return ctx


TenantAdmin = Annotated[TenantContext, Depends(tenant_admin, scope="function")]
