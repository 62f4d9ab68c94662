"""Console pages of social sign-in: where the SSO callback sends a browser when no session can start
yet (a signup to finish, terms first; a link mailed to an existing account), the page the mailed
link opens, and what the sign-in page shows of social providers.

The forms call the social-login service directly, as the JSON routes do."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from atrium.api.deps import RuntimeDep
from atrium.api.routing import APIRouter
from atrium.core.errors import AtriumError
from atrium.platform.identity.exceptions import InvalidToken
from atrium.platform.identity.sso import social
from atrium.platform.identity.sso.router import LINK_SENT_PAGE, SOCIAL_SIGNUP_PAGE
from atrium.platform.identity.sso.schemas import SocialSignupComplete
from atrium.runtime import Runtime
from atrium.web.auth_pages import signed_in
from atrium.web.console import Csrf, flash, problem_text, redirect, render

router = APIRouter(include_in_schema=False)

LINK_PAGE = "/sso/link"  # the path of the link social.sign_in mails to an existing account
_LINK_SENT = dict(parse_qsl(urlsplit(LINK_SENT_PAGE).query)).get("sso")
LINK_SENT_NOTICE = (
    "An account already has this email address, so nothing was linked yet. We mailed that address a "
    "link: follow it to connect your sign-in, then sign in again."
)


async def login_extras(request: Request, rt: Runtime, next_path: str) -> dict[str, Any]:
    """The sign-in page's social buttons (each lands on ``next_path`` afterwards) and the notice a
    social sign-in leaves after mailing a link."""
    async with rt.db.platform_session() as session:
        providers = await social.enabled_providers(session)
    back = f"?return_to={quote(next_path)}" if next_path != "/" else ""
    notice = LINK_SENT_NOTICE if request.query_params.get("sso") == _LINK_SENT else None
    return {"social": [{"name": p.name, "login_url": p.login_url + back} for p in providers], "sso_notice": notice}


def _client(request: Request) -> tuple[str | None, str | None]:
    return (request.client.host if request.client else None), request.headers.get("user-agent")


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


async def _signup_page(
    request: Request, rt: Runtime, token: str, form: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """The terms form of a pending social signup, or why it cannot be finished."""
    try:
        email = social._unseal(rt, token)["email"]  # the address the provider vouched for
    except InvalidToken as exc:
        return await render(request, "console/sso_signup.html", status_code=exc.status_code, error=exc.detail)
    return await render(
        request, "console/sso_signup.html", status_code=status_code, token=token, email=email, form=form
    )


@router.get(SOCIAL_SIGNUP_PAGE)
async def social_signup_page(request: Request, rt: RuntimeDep) -> HTMLResponse:
    return await _signup_page(request, rt, request.query_params.get("token", ""), {})


@router.post(SOCIAL_SIGNUP_PAGE, dependencies=[Csrf])
async def complete_social_signup(request: Request, rt: RuntimeDep) -> Response:
    """Accept the terms: the account, its tenant (as its Tenant Admin), the link and a session."""
    form = await request.form()
    token = _text(form, "token")
    values = {
        "organization_name": _text(form, "organization_name"),
        "marketing_opt_in": form.get("marketing_opt_in") == "on",
    }
    ip, agent = _client(request)
    try:
        data = SocialSignupComplete(
            token=token,
            accept_terms=form.get("accept_terms") == "on",
            marketing_opt_in=bool(values["marketing_opt_in"]),
            organization_name=values["organization_name"] or None,
        )
        verified, session = await social.complete_signup(rt, data, ip=ip, user_agent=agent)
    except (ValidationError, AtriumError) as exc:
        flash(request, problem_text(exc), "error")
        status_code = exc.status_code if isinstance(exc, AtriumError) else 400
        return await _signup_page(request, rt, token, values, status_code=status_code)
    response = signed_in(request, rt, session, f"/t/{verified.tenant_slug}")
    flash(request, f"Welcome to Atrium: your workspace {verified.tenant_slug} is ready.", "success")
    return response


@router.get(LINK_PAGE)
async def link_page(request: Request) -> HTMLResponse:
    """The mailed link lands here; linking is a POST, so mail scanners that follow links cannot
    spend the token."""
    return await render(request, "console/sso_link.html", token=request.query_params.get("token", ""))


@router.post(LINK_PAGE, dependencies=[Csrf])
async def confirm_link(request: Request, rt: RuntimeDep) -> Response:
    token = _text(await request.form(), "token")
    try:
        linked = await social.confirm_link(rt, token)
    except AtriumError as exc:
        flash(request, exc.detail, "error")
        return await render(request, "console/sso_link.html", status_code=exc.status_code, token=token)
    flash(
        request,
        f"Your {linked.provider} sign-in is now connected to {linked.email}. Sign in with {linked.provider}.",
        "success",
    )
    return redirect("/login")
