"""/api/v1/auth/sso/saml/{connection_id}: the SP side of a tenant's SAML connection (public routes)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Query, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse

from atrium.api.deps import RuntimeDep
from atrium.api.routing import APIRouter
from atrium.platform.identity.router import _set_session_cookie
from atrium.platform.identity.sso import saml
from atrium.platform.identity.sso.router import browser_cookie, browser_of, keep_browser

router = APIRouter(prefix=saml.PREFIX, tags=["sso"])


@router.get("/{connection_id}/metadata", response_class=Response)
async def metadata(connection_id: str, rt: RuntimeDep) -> Response:
    """The SP metadata to register at the IdP: entity id, ACS URL (HTTP-POST), NameID format."""
    connection = await saml.saml_connection(rt, connection_id)
    xml = await saml.sp_metadata(rt, connection)
    return Response(xml, media_type="application/samlmetadata+xml")


@router.get("/{connection_id}/login", status_code=status.HTTP_303_SEE_OTHER, response_class=RedirectResponse)
async def login(
    connection_id: str,
    request: Request,
    rt: RuntimeDep,
    return_to: Annotated[str | None, Query(max_length=500, description="A path on this site.")] = None,
) -> Response:
    """Start a sign-in: 303 to the IdP with a new AuthnRequest, bound to this browser by a cookie."""
    connection = await saml.saml_connection(rt, connection_id)
    browser = browser_of(request, rt)
    url = await saml.login_redirect(rt, connection, return_to, browser=browser)
    return keep_browser(RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER), rt, browser)


@router.get("/{connection_id}/authn-request/{request_id}", response_class=HTMLResponse)
async def authn_request(connection_id: str, request_id: str, rt: RuntimeDep) -> HTMLResponse:
    """For an IdP that takes HTTP-POST only: a page that posts the pending AuthnRequest to it."""
    connection = await saml.saml_connection(rt, connection_id)
    page = await saml.authn_request_page(rt, connection, request_id)
    return HTMLResponse(page, headers={"cache-control": "no-store"})


@router.post("/{connection_id}/acs", status_code=status.HTTP_303_SEE_OTHER, response_class=RedirectResponse)
async def acs(
    connection_id: str,
    rt: RuntimeDep,
    saml_response: Annotated[str | None, Form(alias="SAMLResponse")] = None,
) -> RedirectResponse:
    """The IdP posts its response here. It is checked, then 303 to ``finish``, where the browser
    that started the sign-in completes it. ``RelayState`` is ignored: where to land is kept
    server-side with the request's id."""
    finish_at = await saml.consume_response(rt, connection_id, saml_response)
    return RedirectResponse(finish_at, status_code=status.HTTP_303_SEE_OTHER)


@router.get("/{connection_id}/finish", status_code=status.HTTP_303_SEE_OTHER, response_class=RedirectResponse)
async def finish(
    connection_id: str,
    request: Request,
    rt: RuntimeDep,
    request_id: Annotated[str, Query(alias="request", max_length=64)],
) -> RedirectResponse:
    """Sign in, in the browser that started the sign-in only: a session cookie and 303 to where
    sign-in began."""
    signed_in, return_to = await saml.finish(
        rt,
        connection_id,
        request_id,
        browser=browser_cookie(request, rt),
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )
    response = RedirectResponse(return_to, status_code=status.HTTP_303_SEE_OTHER)
    _set_session_cookie(response, rt, signed_in)
    return response
