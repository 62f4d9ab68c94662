"""SSO routes: a tenant's connections (Tenant Admin), the platform's social providers (Platform
Admin), and the public sign-in round trip (discover → login → IdP → callback → session)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Query, Request, Response, status
from fastapi.responses import JSONResponse, RedirectResponse

from atrium.api.deps import CurrentPrincipal, PlatformAdmin, PlatformSession, RuntimeDep
from atrium.api.routing import APIRouter
from atrium.core.errors import BadRequest, NotFound
from atrium.platform.access.auth import CanManageSecurity
from atrium.platform.access.router import QUEUED, perform
from atrium.platform.entitlements.deps import require_entitlement
from atrium.platform.identity import actions
from atrium.platform.identity.router import _set_session_cookie
from atrium.platform.identity.schemas import VerifiedSignup
from atrium.platform.identity.sso import connections, oidc, social
from atrium.platform.identity.sso import service as sso
from atrium.platform.identity.sso.models import SsoConnection
from atrium.platform.identity.sso.schemas import (
    SocialConnectionCreate,
    SocialConnectionRead,
    SocialConnectionUpdate,
    SocialProvider,
    SocialSignupComplete,
    SsoConnectionCreate,
    SsoConnectionRead,
    SsoConnectionUpdate,
    SsoDiscovered,
    SsoDiscoverRequest,
    SsoLinkConfirm,
    SsoLinked,
)

SSO_ENTITLED = require_entitlement("feature.sso")
router = APIRouter(tags=["sso"])

TENANT_CONNECTIONS = "/api/v1/tenants/{tenant}/sso/connections"
SOCIAL_ADMIN = "/api/v1/platform/sso/social"
# Console pages the callback hands over to when no session can start yet.
SOCIAL_SIGNUP_PAGE = "/signup/sso"
LINK_SENT_PAGE = "/login?sso=link-sent"

ReturnTo = Annotated[str | None, Query(max_length=500, description="A path on this site to land on afterwards.")]


# -- a tenant's connections -------------------------------------------------------------------------


@router.get(TENANT_CONNECTIONS, response_model=list[SsoConnectionRead], dependencies=[SSO_ENTITLED])
async def list_connections(ctx: CanManageSecurity, rt: RuntimeDep, session: PlatformSession) -> list[SsoConnectionRead]:
    return await connections.list_connections(rt, session, ctx.tenant.id)


@router.post(
    TENANT_CONNECTIONS,
    status_code=status.HTTP_201_CREATED,
    response_model=SsoConnectionRead,
    dependencies=[SSO_ENTITLED],
)
async def create_connection(
    data: SsoConnectionCreate,
    ctx: CanManageSecurity,
    principal: CurrentPrincipal,
    rt: RuntimeDep,
    session: PlatformSession,
) -> SsoConnectionRead:
    """Add the tenant's IdP; an OIDC discovery document is fetched and checked first."""
    return await connections.create_connection(rt, session, ctx.tenant.id, data, principal)


@router.get(TENANT_CONNECTIONS + "/{connection_id}", response_model=SsoConnectionRead, dependencies=[SSO_ENTITLED])
async def get_connection(
    connection_id: str, ctx: CanManageSecurity, rt: RuntimeDep, session: PlatformSession
) -> SsoConnectionRead:
    return await connections.get(rt, session, ctx.tenant.id, connection_id)


@router.patch(TENANT_CONNECTIONS + "/{connection_id}", response_model=SsoConnectionRead, dependencies=[SSO_ENTITLED])
async def update_connection(
    connection_id: str,
    data: SsoConnectionUpdate,
    ctx: CanManageSecurity,
    principal: CurrentPrincipal,
    rt: RuntimeDep,
    session: PlatformSession,
) -> SsoConnectionRead:
    return await connections.update_connection(rt, session, ctx.tenant.id, connection_id, data, principal)


@router.delete(
    TENANT_CONNECTIONS + "/{connection_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=QUEUED,
    dependencies=[SSO_ENTITLED],
)
async def delete_connection(
    connection_id: str, ctx: CanManageSecurity, rt: RuntimeDep, session: PlatformSession
) -> Response:
    await connections.get(rt, session, ctx.tenant.id, connection_id)  # 404 before anything is queued
    payload = {"connection_id": connection_id}
    done = await perform(ctx, session, actions.SSO_DELETE, payload, f"Remove SSO connection {connection_id}")
    return done if isinstance(done, JSONResponse) else Response(status_code=status.HTTP_204_NO_CONTENT)


# -- the platform's social providers ----------------------------------------------------------------


@router.get(SOCIAL_ADMIN, response_model=list[SocialConnectionRead])
async def list_social(_: PlatformAdmin, rt: RuntimeDep, session: PlatformSession) -> list[SocialConnectionRead]:
    return await social.list_social(rt, session)


@router.post(SOCIAL_ADMIN, status_code=status.HTTP_201_CREATED, response_model=SocialConnectionRead)
async def create_social(
    data: SocialConnectionCreate, principal: PlatformAdmin, rt: RuntimeDep, session: PlatformSession
) -> SocialConnectionRead:
    """Offer sign-in through a provider (Google and Microsoft are found by their known discovery URLs)."""
    return await social.create_social(rt, session, data, principal)


@router.get(SOCIAL_ADMIN + "/{connection_id}", response_model=SocialConnectionRead)
async def get_social(
    connection_id: str, _: PlatformAdmin, rt: RuntimeDep, session: PlatformSession
) -> SocialConnectionRead:
    return social.to_read(rt, await social.get_social(session, connection_id))


@router.patch(SOCIAL_ADMIN + "/{connection_id}", response_model=SocialConnectionRead)
async def update_social(
    connection_id: str, data: SocialConnectionUpdate, principal: PlatformAdmin, rt: RuntimeDep, session: PlatformSession
) -> SocialConnectionRead:
    return await social.update_social(rt, session, connection_id, data, principal)


@router.delete(SOCIAL_ADMIN + "/{connection_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_social(connection_id: str, principal: PlatformAdmin, session: PlatformSession) -> Response:
    await social.delete_social(session, connection_id, principal)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- signing in (public) ----------------------------------------------------------------------------


@router.get("/api/v1/auth/sso/social", response_model=list[SocialProvider])
async def social_providers(session: PlatformSession) -> list[SocialProvider]:
    """The providers the sign-in page offers (none unless a Platform Admin enabled some)."""
    return await social.enabled_providers(session)


@router.post("/api/v1/auth/sso/discover", response_model=SsoDiscovered)
async def discover(data: SsoDiscoverRequest, session: PlatformSession) -> SsoDiscovered:
    """Whether the address's domain signs in through a company IdP, and where to start. Only the
    domain is looked at, never the account: this reveals which domains a tenant routes (public
    knowledge anyway), not who has an account."""
    return_to = sso.safe_return_to(data.return_to)
    connection = await sso.connection_for_email(session, str(data.email))
    if connection is None:
        raise NotFound("no single sign-on for this address's domain; sign in with a password", field="email")
    login_url = connections.login_path(connection.id) + (f"?return_to={quote(return_to)}" if return_to else "")
    return SsoDiscovered(
        connection_id=connection.id, protocol=connection.protocol, name=connection.name, login_url=login_url
    )


async def _enabled(rt: RuntimeDep, connection_id: str, protocol: str | None = None) -> SsoConnection:
    """An enabled connection (a disabled or unknown one is not found); read in a short session of its
    own, so no transaction stays open while the IdP is called."""
    async with rt.db.platform_session() as session:
        connection = await session.get(SsoConnection, connection_id)
    if connection is None or not connection.enabled or (protocol and connection.protocol != protocol):
        raise NotFound(f"no SSO connection {connection_id!r}", field="connection_id")
    return connection


def browser_cookie(request: Request, rt: RuntimeDep) -> str | None:
    """The binding cookie the browser sent (see ``sso.check_browser``)."""
    return request.cookies.get(sso.browser_cookie(rt.settings.env == "production"))


def browser_of(request: Request, rt: RuntimeDep) -> str:
    """The binding token of the browser starting a sign-in: the one it holds, or a new one."""
    return sso.browser_token(browser_cookie(request, rt))


def keep_browser(response: Response, rt: RuntimeDep, token: str) -> Response:
    production = rt.settings.env == "production"
    response.set_cookie(
        sso.browser_cookie(production),
        token,
        max_age=sso.BROWSER_COOKIE_MINUTES * 60,
        httponly=True,
        secure=production,
        samesite="lax",
        path="/",
    )
    return response


@router.get("/api/v1/auth/sso/{connection_id}/login", status_code=status.HTTP_302_FOUND, response_class=Response)
async def login(connection_id: str, request: Request, rt: RuntimeDep, return_to: ReturnTo = None) -> Response:
    """Send the browser to the connection's IdP (OIDC with PKCE, or a SAML AuthnRequest); the
    round trip is bound to this browser by a cookie."""
    target = sso.safe_return_to(return_to)
    connection = await _enabled(rt, connection_id)
    browser = browser_of(request, rt)
    if connection.protocol == "saml":
        from atrium.platform.identity.sso import saml  # built alongside; imported when first needed

        url = await saml.login_redirect(rt, connection, target, browser=browser)
    else:
        url = await oidc.login_redirect(rt, connection, target, browser=browser)
    return keep_browser(RedirectResponse(url, status_code=status.HTTP_302_FOUND), rt, browser)


@router.get(
    "/api/v1/auth/sso/oidc/{connection_id}/callback", status_code=status.HTTP_302_FOUND, response_class=Response
)
async def oidc_callback(
    connection_id: str,
    request: Request,
    rt: RuntimeDep,
    code: Annotated[str | None, Query(max_length=2000)] = None,
    state: Annotated[str | None, Query(max_length=200)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
    error_description: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """Where the IdP sends the browser back: on success a new session and a redirect to return_to."""
    connection = await _enabled(rt, connection_id, protocol="oidc")
    who, return_to = await oidc.finish(
        rt,
        connection,
        state_id=state,
        code=code,
        error=error,
        error_description=error_description,
        browser=browser_cookie(request, rt),
    )
    ip, user_agent = request.client.host if request.client else None, request.headers.get("user-agent")
    if connection.tenant_id is None:
        outcome = await social.sign_in(rt, connection, who, ip=ip, user_agent=user_agent)
    else:
        outcome = await sso.complete_login(
            rt,
            connection,
            subject=who.subject,
            email=who.email,
            email_verified=who.email_verified,
            ip=ip,
            user_agent=user_agent,
        )
    if isinstance(outcome, social.PendingSignup):
        return RedirectResponse(f"{SOCIAL_SIGNUP_PAGE}?token={quote(outcome.token)}", status_code=status.HTTP_302_FOUND)
    if isinstance(outcome, social.LinkMailed):
        return RedirectResponse(LINK_SENT_PAGE, status_code=status.HTTP_302_FOUND)
    try:
        target = sso.safe_return_to(return_to) or "/"
    except BadRequest:  # stored before this rule tightened: land on the home page
        target = "/"
    response = RedirectResponse(target, status_code=status.HTTP_302_FOUND)
    _set_session_cookie(response, rt, outcome)
    return response


@router.post("/api/v1/auth/sso/social/complete", status_code=status.HTTP_201_CREATED, response_model=VerifiedSignup)
async def complete_social_signup(
    data: SocialSignupComplete, request: Request, response: Response, rt: RuntimeDep
) -> VerifiedSignup:
    """Finish a signup through a social provider: accept the terms, get an account, a tenant and a session."""
    ip = request.client.host if request.client else None
    verified, signed_in = await social.complete_signup(rt, data, ip=ip, user_agent=request.headers.get("user-agent"))
    _set_session_cookie(response, rt, signed_in)
    return verified


@router.post("/api/v1/auth/sso/link/confirm", response_model=SsoLinked)
async def confirm_link(data: SsoLinkConfirm, rt: RuntimeDep) -> SsoLinked:
    """Link a social identity to the existing account whose mailbox received the token."""
    return await social.confirm_link(rt, data.token)
