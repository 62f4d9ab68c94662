"""Console pages for people who are not signed in yet: sign-in (with the second factor), signup,
email verification, and the forgotten-password round trip."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from atrium.api.deps import RuntimeDep
from atrium.api.routing import APIRouter
from atrium.core.errors import AtriumError, Unauthorized
from atrium.platform.identity import mfa, recovery, service, sessions, trusted
from atrium.platform.identity.router import _set_session_cookie, remember_device
from atrium.platform.identity.schemas import SignupRequest
from atrium.platform.identity.sessions import TooManyAttempts
from atrium.platform.identity.sso.service import local_path
from atrium.web.console import Csrf, CurrentViewer, flash, problem_text, redirect, render

router = APIRouter(include_in_schema=False)


def safe_next(target: str | None) -> str:
    """Only a path on this site: an absolute or scheme-relative URL would be an open redirect."""
    return target if target and local_path(target) else "/"


def _client(request: Request) -> tuple[str | None, str | None]:
    return (request.client.host if request.client else None), request.headers.get("user-agent")


def signed_in(request: Request, rt: RuntimeDep, result: sessions.SignedIn, target: str | None) -> Response:
    """Finish a sign-in: a fresh console cookie (new CSRF token) and the new session cookie."""
    request.session.clear()
    response = redirect(safe_next(target))
    _set_session_cookie(response, rt, result)
    return response


@router.get("/login")
async def login_page(request: Request, rt: RuntimeDep) -> HTMLResponse:
    from atrium.web.sso_pages import login_extras  # social buttons; imported here: sso_pages imports this module

    target = safe_next(request.query_params.get("next"))
    return await render(request, "console/login.html", next=target, **await login_extras(request, rt, target))


@router.post("/login", dependencies=[Csrf])
async def login(
    request: Request,
    rt: RuntimeDep,
    email: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    ip, agent = _client(request)
    try:
        result = await mfa.sign_in(
            rt, email, password, ip=ip, user_agent=agent, trusted_device=request.cookies.get(trusted.COOKIE)
        )
    except TooManyAttempts as exc:
        flash(request, exc.detail, "error")
        return await render(request, "console/login.html", status_code=429, email=email, next=safe_next(next))
    except Unauthorized:
        flash(request, "Wrong email or password.", "error")
        return await render(request, "console/login.html", status_code=401, email=email, next=safe_next(next))
    if isinstance(result, str):
        request.session["mfa_challenge"] = result
        request.session["next"] = safe_next(next)
        return redirect("/login/mfa")
    return signed_in(request, rt, result, next)


@router.get("/login/mfa")
async def mfa_page(request: Request) -> Response:
    if not request.session.get("mfa_challenge"):
        return redirect("/login")
    return await render(request, "console/mfa.html", challenge=request.session["mfa_challenge"])


@router.post("/login/mfa", dependencies=[Csrf])
async def answer_mfa(
    request: Request, rt: RuntimeDep, code: Annotated[str, Form()], remember: Annotated[str, Form()] = ""
) -> Response:
    challenge = request.session.get("mfa_challenge")
    if not challenge:
        flash(request, "The sign-in expired; enter your password again.", "error")
        return redirect("/login")
    ip, agent = _client(request)
    try:
        result = await mfa.answer(rt, challenge, code, ip=ip, user_agent=agent)
    except AtriumError as exc:
        if exc.code == "invalid-token":
            request.session.pop("mfa_challenge", None)
            flash(request, "The sign-in expired; enter your password again.", "error")
            return redirect("/login")
        flash(request, "That code is not valid." if isinstance(exc, Unauthorized) else exc.detail, "error")
        return await render(request, "console/mfa.html", status_code=exc.status_code, challenge=challenge)
    response = signed_in(request, rt, result, request.session.get("next"))
    if remember == "on" and not await remember_device(response, rt, result.user, agent):
        flash(request, "Your organization's policy does not allow trusting this browser.")
    return response


@router.post("/logout", dependencies=[Csrf])
async def logout(request: Request, rt: RuntimeDep, viewer: CurrentViewer) -> Response:
    await sessions.sign_out(rt, viewer.user, viewer.session.id)
    request.session.clear()
    response = redirect("/login")
    response.delete_cookie(sessions.COOKIE, path="/")
    return response


@router.get("/signup")
async def signup_page(request: Request, rt: RuntimeDep) -> HTMLResponse:
    return await render(request, "console/signup.html", regions=rt.settings.known_regions, form={})


@router.post("/signup", dependencies=[Csrf])
async def signup(request: Request, rt: RuntimeDep) -> Response:
    form = await request.form()
    values = {k: str(v) for k, v in form.items() if k != "csrf_token"}
    try:
        data = SignupRequest(
            email=values.get("email", "").strip(),
            password=values.get("password", ""),
            tenant_kind="personal" if values.get("tenant_kind") == "personal" else "organization",
            organization_name=values.get("organization_name", "").strip() or None,
            region=values.get("region") or None,
            accept_terms=values.get("accept_terms") == "on",
            marketing_opt_in=values.get("marketing_opt_in") == "on",
        )
        await service.signup(rt, data)
    except (ValidationError, AtriumError) as exc:
        flash(request, problem_text(exc), "error")
        values.pop("password", None)
        return await render(
            request, "console/signup.html", status_code=400, regions=rt.settings.known_regions, form=values
        )
    return await render(request, "console/signup_sent.html", email=data.email)


@router.get("/verify-email")
async def verify_page(request: Request) -> HTMLResponse:
    """The mailed link lands here; verification itself is a POST, so mail scanners that follow
    links cannot use the token up."""
    return await render(request, "console/verify.html", token=request.query_params.get("token", ""))


@router.post("/verify-email", dependencies=[Csrf])
async def verify(request: Request, rt: RuntimeDep, token: Annotated[str, Form()]) -> Response:
    try:
        done = await service.verify_email(rt, token.strip())
    except AtriumError as exc:
        flash(request, exc.detail, "error")
        return await render(request, "console/verify.html", status_code=exc.status_code, token=token)
    flash(request, f"Your address is verified and {done.tenant_slug} is ready. Sign in to continue.", "success")
    return redirect(f"/login?next=/t/{done.tenant_slug}")


@router.get("/forgot-password")
async def forgot_page(request: Request) -> HTMLResponse:
    return await render(request, "console/forgot.html")


@router.post("/forgot-password", dependencies=[Csrf])
async def forgot(request: Request, rt: RuntimeDep, email: Annotated[str, Form()]) -> Response:
    await recovery.request_reset(rt, email)
    flash(request, "If the address has an account, a reset link is on its way. It works once, for 15 minutes.")
    return redirect("/login")


@router.get("/reset-password")
async def reset_page(request: Request) -> HTMLResponse:
    return await render(request, "console/reset.html", token=request.query_params.get("token", ""))


@router.post("/reset-password", dependencies=[Csrf])
async def reset(
    request: Request, rt: RuntimeDep, token: Annotated[str, Form()], password: Annotated[str, Form()]
) -> Response:
    try:
        await recovery.reset_password(rt, token.strip(), password)
    except AtriumError as exc:
        flash(request, exc.detail, "error")
        return await render(request, "console/reset.html", status_code=exc.status_code, token=token)
    flash(request, "Your password is changed and every session signed out. Sign in with the new one.", "success")
    return redirect("/login")


@router.post("/login/sso", dependencies=[Csrf])
async def sso_login(
    request: Request, rt: RuntimeDep, email: Annotated[str, Form()], next: Annotated[str, Form()] = "/"
) -> Response:
    """Route a work email to its company's IdP; the IdP's answer comes back to the SSO callback."""
    from urllib.parse import quote

    from atrium.platform.identity.sso.service import connection_for_email

    async with rt.db.platform_session() as session:
        connection = await connection_for_email(session, email)
    if connection is None:
        flash(request, "No single sign-on is set up for that email domain. Sign in with your password.", "error")
        return redirect(f"/login?next={quote(safe_next(next))}")
    return redirect(f"/api/v1/auth/sso/{connection.id}/login?return_to={quote(safe_next(next))}")
