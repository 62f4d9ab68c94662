"""Console pages inside one tenant: its home, and for its administrators the people (members,
invitations, sessions) and security settings (policy, single sign-on, SCIM, OAuth clients).
Accepting an invitation lives here too. A tenant the viewer may not enter is not found."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile

from atrium.api.deps import RuntimeDep
from atrium.api.routing import APIRouter
from atrium.core.errors import AtriumError, BadRequest, NotFound
from atrium.core.tenancy import TenantRef
from atrium.platform.access import catalog
from atrium.platform.access import service as access_service
from atrium.platform.access.service import ensure_can_grant
from atrium.platform.entitlements import service as entitlements
from atrium.platform.identity import actions as identity_actions
from atrium.platform.identity import invitations, members, policies, sessions
from atrium.platform.identity.oauth import service as oauth
from atrium.platform.identity.oauth.router import TOKEN_PATH
from atrium.platform.identity.oauth.schemas import OAuthClientCreate
from atrium.platform.identity.scim import tokens as scim_tokens
from atrium.platform.identity.scim.router import BASE as SCIM_BASE
from atrium.platform.identity.sso import connections as sso_connections
from atrium.platform.identity.sso import oidc, saml
from atrium.platform.identity.sso.schemas import (
    DEFAULT_SCOPES,
    SsoConnectionCreate,
    SsoConnectionRead,
    SsoConnectionUpdate,
)
from atrium.runtime import Runtime
from atrium.web.auth_pages import signed_in
from atrium.web.console import (
    Csrf,
    CurrentViewer,
    Viewer,
    act_in_platform,
    error_status,
    flash,
    form_checked,
    form_text,
    problem_text,
    redirect,
    render,
)
from atrium.web.tenant_access import MemberView, TenantView, perform, requiring

router = APIRouter(include_in_schema=False)


async def _tenant(view: MemberView) -> TenantRef:
    return view.tenant


async def _people_admin(view: Annotated[TenantView, Depends(requiring("identity.member.manage"))]) -> TenantRef:
    return view.tenant


async def _security_admin(view: Annotated[TenantView, Depends(requiring("identity.security.manage"))]) -> TenantRef:
    return view.tenant


def _feature(key: str) -> Any:
    """A form of a feature the tenant's plan may switch off (403 naming it, as in the API)."""

    async def dependency(request: Request, tenant: Annotated[TenantRef, Depends(_tenant)]) -> None:
        await entitlements.ensure(request.app.state.runtime.db, tenant, key)

    return Depends(dependency)


SSO_FEATURE, SCIM_FEATURE, API_FEATURE = (
    _feature("feature.sso"),
    _feature("feature.scim"),
    _feature("feature.api_access"),
)
MemberTenant = Annotated[TenantRef, Depends(_tenant)]
PeopleAdmin = Annotated[TenantRef, Depends(_people_admin)]
SecurityAdmin = Annotated[TenantRef, Depends(_security_admin)]
AdminTenant = SecurityAdmin


def _roles_shown(view: TenantView) -> str:
    """The roles the person holds here; a platform administrator's membership role, if any."""
    if view.principal.platform_admin:
        return view.viewer.role_in(view.tenant.id) or "Platform administrator"
    return ", ".join(view.subject.roles) or "No role"


@router.get("/t/{slug}")
async def tenant_home(request: Request, view: MemberView, viewer: CurrentViewer, rt: RuntimeDep) -> HTMLResponse:
    tenant = view.tenant
    guard = await policies.guard(rt, tenant.id)
    notice = None
    if not viewer.is_platform_admin:
        ip = request.client.host if request.client else None
        if not guard.allows_ip(ip):
            notice = f"This tenant does not allow access from your address ({ip})."
        elif guard.mfa_required and not viewer.session.mfa:
            notice = "This tenant requires a second factor: set one up under Account → Security, then sign in again."
    return await render(
        request,
        "console/tenant_home.html",
        tenant=tenant,
        role=_roles_shown(view),
        is_admin=view.may("identity.member.read") or view.may("identity.security.manage"),
        notice=notice,
    )


@router.get("/t/{slug}/members")
async def members_page(request: Request, tenant: PeopleAdmin, viewer: CurrentViewer, rt: RuntimeDep) -> HTMLResponse:
    async with rt.db.platform_session() as session:
        people = await members.list_members(session, tenant.id)
        pending = await invitations.list_for_tenant(session, tenant.id)
        live = await members.list_sessions(session, rt.settings, tenant.id)
        roles = await access_service.roles_offered(session, tenant.id)
    return await render(
        request,
        "console/tenant_members.html",
        tenant=tenant,
        is_admin=True,
        people=people,
        invitations=pending,
        live_sessions=live,
        roles=roles,
    )


@router.post("/t/{slug}/invitations", dependencies=[Csrf])
async def invite(
    request: Request,
    tenant: PeopleAdmin,
    viewer: CurrentViewer,
    rt: RuntimeDep,
    email: Annotated[str, Form()],
    role: Annotated[str, Form()],
) -> Response:
    try:
        grantor = request.state.tenant_view.subject
        await invitations.invite(rt, tenant.id, email, role, invited_by=viewer.user.email, grantor=grantor)
    except AtriumError as exc:
        flash(request, exc.detail, "error")
    else:
        flash(request, f"Invitation sent to {email.strip().lower()}.", "success")
    return redirect(f"/t/{tenant.slug}/members")


@router.post("/t/{slug}/invitations/{invitation_id}/revoke", dependencies=[Csrf])
async def revoke_invitation(
    request: Request, invitation_id: str, tenant: PeopleAdmin, viewer: CurrentViewer, rt: RuntimeDep
) -> Response:
    return await act_in_platform(
        request,
        lambda session: invitations.revoke(session, tenant.id, invitation_id, actor=viewer.user.email),
        back_to=f"/t/{tenant.slug}/members",
    )


@router.post("/t/{slug}/members/{user_id}/remove", dependencies=[Csrf])
async def remove_member(
    request: Request, user_id: str, tenant: PeopleAdmin, viewer: CurrentViewer, rt: RuntimeDep
) -> Response:
    return await act_in_platform(
        request,
        lambda session: members.remove_member(session, tenant.id, user_id, actor=viewer.user.email),
        back_to=f"/t/{tenant.slug}/members",
        done="The member is removed from the tenant.",
    )


@router.post("/t/{slug}/sessions/{session_id}/end", dependencies=[Csrf])
async def end_session(
    request: Request, session_id: str, tenant: PeopleAdmin, viewer: CurrentViewer, rt: RuntimeDep
) -> Response:
    return await act_in_platform(
        request,
        lambda session: members.end_session(session, tenant.id, session_id, actor=viewer.user.email),
        back_to=f"/t/{tenant.slug}/members",
        done="The session is ended.",
    )


@router.get("/t/{slug}/security")
async def security_page(request: Request, tenant: SecurityAdmin, viewer: CurrentViewer, rt: RuntimeDep) -> HTMLResponse:
    return await _security(request, tenant, rt)


def _optional_int(value: object) -> int | None:
    text = str(value or "").strip()
    return int(text) if text else None


@router.post("/t/{slug}/security/policy", dependencies=[Csrf])
async def save_policy(request: Request, tenant: SecurityAdmin, viewer: CurrentViewer, rt: RuntimeDep) -> Response:
    form = await request.form()
    try:
        data = policies.PolicyUpdate(
            session_idle_minutes=_optional_int(form.get("session_idle_minutes")),
            session_absolute_hours=_optional_int(form.get("session_absolute_hours")),
            password_min_length=_optional_int(form.get("password_min_length")) or policies.PLATFORM_MIN_LENGTH,
            password_block_common=form.get("password_block_common") == "on",
            mfa_required=form.get("mfa_required") == "on",
            ip_allowlist=[c for c in str(form.get("ip_allowlist", "")).replace(",", "\n").split() if c],
            trusted_device_days=_optional_int(form.get("trusted_device_days")) or 0,
        )
        ip = None if viewer.is_platform_admin else (request.client.host if request.client else "")
        payload = {"changes": data.model_dump(mode="json", exclude_unset=True), "caller_ip": ip}
        view: TenantView = request.state.tenant_view
        done = await perform(request, view, identity_actions.SECURITY_POLICY, payload, "Change the security policy")
    except (ValidationError, AtriumError, ValueError) as exc:
        flash(request, problem_text(exc), "error")
        return redirect(f"/t/{tenant.slug}/security")
    if done is not None:
        flash(request, "The security policy is saved.", "success")
    return redirect(f"/t/{tenant.slug}/security")


@router.get("/invitations/accept")
async def invitation_page(request: Request, rt: RuntimeDep) -> HTMLResponse:
    token = request.query_params.get("token", "")
    try:
        view = await invitations.lookup(rt, token)
    except AtriumError as exc:
        return await render(request, "console/invitation.html", status_code=exc.status_code, error=exc.detail)
    user = await sessions.optional_user(rt, request.cookies.get(sessions.COOKIE))
    return await render(request, "console/invitation.html", invitation=view, token=token, signed_in_as=user)


@router.post("/invitations/accept", dependencies=[Csrf])
async def accept_invitation(request: Request, rt: RuntimeDep) -> Response:
    form = await request.form()
    token = str(form.get("token", ""))
    user = await sessions.optional_user(rt, request.cookies.get(sessions.COOKIE))
    password = str(form.get("password") or "") or None
    try:
        joined, view = await invitations.accept(
            rt, token, user=user, password=password, accept_terms=form.get("accept_terms") == "on"
        )
    except AtriumError as exc:
        flash(request, exc.detail, "error")
        return redirect(f"/invitations/accept?token={token}")
    if user is not None:
        flash(request, f"Welcome to {view.tenant_name}.", "success")
        return redirect(f"/t/{view.tenant_slug}")
    assert password is not None
    ip = request.client.host if request.client else None
    from atrium.platform.identity import mfa

    result = await mfa.sign_in(rt, joined.email, password, ip=ip, user_agent=request.headers.get("user-agent"))
    if isinstance(result, str):  # cannot happen for a new account, but never skip a factor
        return redirect("/login")
    response = signed_in(request, rt, result, f"/t/{view.tenant_slug}")  # clears the console cookie first
    flash(request, f"Welcome to {view.tenant_name}.", "success")
    return response


# -- integrations: single sign-on, SCIM and OAuth clients ------------------------------------------
# The forms call the services the JSON API calls. A secret (the SCIM token, an OAuth client secret)
# is rendered in the answer to the POST that made it, never stored in the console cookie, and never
# shown again; an OIDC client secret is write-only.


@dataclass(frozen=True)
class ConnectionView:
    """A connection as the page lists it, with the values the IdP's administrator enters there."""

    connection: SsoConnectionRead
    sp_values: list[tuple[str, str, str]]  # (stable key, label, value)


@dataclass(frozen=True)
class NewClientSecret:
    client_id: str
    name: str
    secret: str
    rotated: bool


def _sp_values(rt: Runtime, connection: SsoConnectionRead) -> list[tuple[str, str, str]]:
    if connection.protocol == "saml":
        entity_id = saml.sp_entity_id(rt, connection.id)
        return [
            ("entity_id", "SP entity ID (audience)", entity_id),
            ("acs_url", "Assertion consumer service URL (HTTP-POST)", saml.acs_url(rt, connection.id)),
            ("metadata_url", "SP metadata URL", f"{entity_id}/metadata"),
        ]
    return [("redirect_uri", "Redirect URI", connection.redirect_uri or oidc.callback_url(rt, connection.id))]


async def _security(
    request: Request, tenant: TenantRef, rt: Runtime, status_code: int = 200, **extra: Any
) -> HTMLResponse:
    """The security page; ``extra`` carries a secret to show this once, or a form to fill in again."""
    async with rt.db.platform_session() as session:
        policy = await policies.get(session, tenant.id)
        connections = await sso_connections.list_connections(rt, session, tenant.id)
        scim = await scim_tokens.token_status(session, tenant.id)
        clients = await oauth.list_for_tenant(session, tenant.id)
    public_url = rt.settings.public_url.rstrip("/")
    response = await render(
        request,
        "console/tenant_security.html",
        status_code=status_code,
        tenant=tenant,
        is_admin=True,
        policy=policy,
        connections=[ConnectionView(c, _sp_values(rt, c)) for c in connections],
        open_connection=request.query_params.get("connection"),
        scim=scim,
        scim_base_url=public_url + SCIM_BASE,
        oauth_clients=clients,
        oauth_token_url=public_url + TOKEN_PATH,
        **extra,
    )
    if "scim_token" in extra or "new_client" in extra:
        response.headers["Cache-Control"] = "no-store"  # a secret: not for the browser's cache
    return response


def _words(text: str) -> list[str]:
    """A list typed into one box: separated by commas, spaces or new lines."""
    return text.replace(",", " ").split()


def _refill(form: FormData, *names: str) -> dict[str, Any]:
    """What the administrator typed, to show again after an error (never a secret field)."""
    return {**{n: form_text(form, n) for n in names}, "jit_enabled": form_checked(form, "jit_enabled")}


def _connection_url(tenant: TenantRef, connection_id: str) -> str:
    return f"/t/{tenant.slug}/security?connection={connection_id}#sso-{connection_id}"


@router.post("/t/{slug}/security/sso/oidc", dependencies=[Csrf, SSO_FEATURE])
async def create_oidc_connection(
    request: Request, tenant: SecurityAdmin, viewer: CurrentViewer, rt: RuntimeDep
) -> Response:
    """Add the tenant's OpenID Connect IdP; its discovery document is fetched and checked first."""
    form = await request.form()
    try:
        data = SsoConnectionCreate.model_validate(
            {
                "name": form_text(form, "name"),
                "protocol": "oidc",
                "jit_enabled": form_checked(form, "jit_enabled"),
                "domains": _words(form_text(form, "domains")),
                "oidc": {
                    "discovery_url": form_text(form, "discovery_url"),
                    "client_id": form_text(form, "client_id"),
                    "client_secret": form_text(form, "client_secret") or None,
                    "scopes": form_text(form, "scopes") or DEFAULT_SCOPES,
                },
            }
        )
        async with rt.db.platform_session() as session, session.begin():
            created = await sso_connections.create_connection(rt, session, tenant.id, data, viewer.user)
    except (ValidationError, AtriumError) as exc:
        flash(request, problem_text(exc), "error")
        oidc_form = _refill(form, "name", "discovery_url", "client_id", "scopes", "domains")
        return await _security(request, tenant, rt, status_code=error_status(exc), oidc_form=oidc_form)
    flash(request, f"{created.name} is added. Register the redirect URI below at the IdP.", "success")
    return redirect(_connection_url(tenant, created.id))


async def _saml_settings(form: FormData) -> dict[str, Any]:
    """The SAML settings of the form: IdP metadata as an uploaded file, pasted XML or a URL."""
    xml = form_text(form, "idp_metadata_xml")
    upload = form.get("idp_metadata_file")
    if isinstance(upload, UploadFile) and upload.filename:
        raw = await upload.read(saml.MAX_METADATA_BYTES + 1)
        if len(raw) > saml.MAX_METADATA_BYTES:
            raise BadRequest("the metadata is larger than 1 MB", field="idp_metadata_file")
        try:
            xml = raw.decode("utf-8-sig").strip()
        except UnicodeDecodeError:
            raise BadRequest("the metadata file is not UTF-8 XML", field="idp_metadata_file") from None
    settings: dict[str, Any] = {"want_assertions_signed": form_checked(form, "want_assertions_signed")}
    if url := form_text(form, "idp_metadata_url"):
        settings["idp_metadata_url"] = url
    if xml:
        settings["idp_metadata_xml"] = xml
    if attribute := form_text(form, "email_attribute"):
        settings["email_attribute"] = attribute
    return settings


@router.post("/t/{slug}/security/sso/saml", dependencies=[Csrf, SSO_FEATURE])
async def create_saml_connection(
    request: Request, tenant: SecurityAdmin, viewer: CurrentViewer, rt: RuntimeDep
) -> Response:
    """Add the tenant's SAML IdP from its metadata; the page then shows what the IdP needs of Atrium."""
    form = await request.form()
    try:
        data = SsoConnectionCreate.model_validate(
            {
                "name": form_text(form, "name"),
                "protocol": "saml",
                "jit_enabled": form_checked(form, "jit_enabled"),
                "domains": _words(form_text(form, "domains")),
                "saml": await _saml_settings(form),
            }
        )
        async with rt.db.platform_session() as session, session.begin():
            created = await sso_connections.create_connection(rt, session, tenant.id, data, viewer.user)
    except (ValidationError, AtriumError) as exc:
        flash(request, problem_text(exc), "error")
        saml_form = _refill(form, "name", "idp_metadata_xml", "idp_metadata_url", "email_attribute", "domains")
        saml_form["want_assertions_signed"] = form_checked(form, "want_assertions_signed")
        return await _security(request, tenant, rt, status_code=error_status(exc), saml_form=saml_form)
    flash(request, f"{created.name} is added. Give the IdP the service-provider values below.", "success")
    return redirect(_connection_url(tenant, created.id))


async def _update_connection(
    request: Request, tenant: TenantRef, viewer: Viewer, rt: Runtime, connection_id: str, given: dict[str, Any]
) -> Response:
    """Apply a change; a connection of another tenant is not found (404), bad input a flash."""
    try:
        data = SsoConnectionUpdate.model_validate(given)
        async with rt.db.platform_session() as session, session.begin():
            saved = await sso_connections.update_connection(rt, session, tenant.id, connection_id, data, viewer.user)
    except NotFound:
        raise
    except (ValidationError, AtriumError) as exc:
        flash(request, problem_text(exc), "error")
        return redirect(_connection_url(tenant, connection_id))
    state = "enabled" if saved.enabled else "disabled"
    flash(request, f"{saved.name} is saved ({state}).", "success")
    return redirect(_connection_url(tenant, saved.id))


@router.post("/t/{slug}/security/sso/connections/{connection_id}", dependencies=[Csrf, SSO_FEATURE])
async def update_sso_connection(
    request: Request, connection_id: str, tenant: SecurityAdmin, viewer: CurrentViewer, rt: RuntimeDep
) -> Response:
    """Rename, route other domains, switch just-in-time accounts, or replace an OIDC client secret."""
    form = await request.form()
    given: dict[str, Any] = {
        "name": form_text(form, "name"),
        "domains": _words(form_text(form, "domains")),
        "jit_enabled": form_checked(form, "jit_enabled"),
    }
    if secret := form_text(form, "client_secret"):
        given["oidc"] = {"client_secret": secret}
    return await _update_connection(request, tenant, viewer, rt, connection_id, given)


@router.post("/t/{slug}/security/sso/connections/{connection_id}/enable", dependencies=[Csrf, SSO_FEATURE])
async def enable_sso_connection(
    request: Request, connection_id: str, tenant: SecurityAdmin, viewer: CurrentViewer, rt: RuntimeDep
) -> Response:
    return await _update_connection(request, tenant, viewer, rt, connection_id, {"enabled": True})


@router.post("/t/{slug}/security/sso/connections/{connection_id}/disable", dependencies=[Csrf, SSO_FEATURE])
async def disable_sso_connection(
    request: Request, connection_id: str, tenant: SecurityAdmin, viewer: CurrentViewer, rt: RuntimeDep
) -> Response:
    """A disabled connection takes no sign-ins; its settings and domains stay."""
    return await _update_connection(request, tenant, viewer, rt, connection_id, {"enabled": False})


@router.post("/t/{slug}/security/sso/connections/{connection_id}/delete", dependencies=[Csrf, SSO_FEATURE])
async def delete_sso_connection(
    request: Request, connection_id: str, tenant: SecurityAdmin, viewer: CurrentViewer, rt: RuntimeDep
) -> Response:
    """Remove the connection, its domains and linked identities (the accounts stay); through the
    tenant's approval rule when it has one."""
    view: TenantView = request.state.tenant_view
    payload = {"connection_id": connection_id}
    async with rt.db.platform_session() as session:
        await sso_connections.get(rt, session, tenant.id, connection_id)  # not found before anything is queued
    try:
        done = await perform(request, view, identity_actions.SSO_DELETE, payload, "Remove an SSO connection")
    except AtriumError as exc:
        flash(request, exc.detail, "error")
        return redirect(f"/t/{tenant.slug}/security#sso")
    if done is not None:
        flash(request, "The connection is deleted; its domains sign in with passwords again.", "success")
    return redirect(f"/t/{tenant.slug}/security#sso")


@router.post("/t/{slug}/security/scim/token", dependencies=[Csrf, SCIM_FEATURE])
async def create_scim_token(
    request: Request, tenant: SecurityAdmin, viewer: CurrentViewer, rt: RuntimeDep
) -> HTMLResponse:
    """Create the SCIM token, or rotate it (the old one stops at once); this answer shows it once."""
    async with rt.db.platform_session() as session, session.begin():
        ensure_can_grant(request.state.tenant_view.subject, frozenset(catalog.PERMISSIONS))
        token = await scim_tokens.create_token(session, tenant.id, viewer.user.email)
    flash(request, "The SCIM token is ready. Copy it into the IdP now: it is shown only once.", "success")
    return await _security(request, tenant, rt, scim_token=token)


@router.post("/t/{slug}/security/scim/token/revoke", dependencies=[Csrf, SCIM_FEATURE])
async def revoke_scim_token(request: Request, tenant: SecurityAdmin, viewer: CurrentViewer, rt: RuntimeDep) -> Response:
    async with rt.db.platform_session() as session, session.begin():
        revoked = await scim_tokens.revoke_token(session, tenant.id, viewer.user.email)
    if revoked:
        flash(request, "The SCIM token is revoked: provisioning stops until a new one is created.", "success")
    else:
        flash(request, "There is no SCIM token to revoke.")
    return redirect(f"/t/{tenant.slug}/security#scim")


def _oauth_actor(viewer: Viewer) -> oauth.Actor:
    return oauth.Actor(viewer.user.id, viewer.user.email)


@router.post("/t/{slug}/security/oauth-clients", dependencies=[Csrf, API_FEATURE])
async def create_oauth_client(
    request: Request, tenant: SecurityAdmin, viewer: CurrentViewer, rt: RuntimeDep
) -> HTMLResponse:
    """A client for machine access to this tenant; this answer is the only time its secret shows."""
    form = await request.form()
    try:
        data = OAuthClientCreate(name=form_text(form, "name"), scopes=_words(form_text(form, "scopes")))
        async with rt.db.platform_session() as session, session.begin():
            client, secret = await oauth.create(
                session,
                tenant.id,
                name=data.name,
                scopes=data.scopes,
                actor=_oauth_actor(viewer),
                grantor=request.state.tenant_view.subject,
            )
    except (ValidationError, AtriumError) as exc:
        flash(request, problem_text(exc), "error")
        oauth_form = {"name": form_text(form, "name"), "scopes": form_text(form, "scopes")}
        return await _security(request, tenant, rt, status_code=error_status(exc), oauth_form=oauth_form)
    new_client = NewClientSecret(client.client_id, client.name, secret, rotated=False)
    return await _security(request, tenant, rt, new_client=new_client)


@router.post("/t/{slug}/security/oauth-clients/{client_id}/secret", dependencies=[Csrf, API_FEATURE])
async def rotate_oauth_client_secret(
    request: Request, client_id: str, tenant: SecurityAdmin, viewer: CurrentViewer, rt: RuntimeDep
) -> Response:
    """A new secret replaces the old one at once; shown in this answer only."""
    try:
        async with rt.db.platform_session() as session, session.begin():
            client, secret = await oauth.rotate_secret(session, tenant.id, client_id, actor=_oauth_actor(viewer))
    except NotFound:
        raise
    except AtriumError as exc:  # a revoked client gets no new secret
        flash(request, exc.detail, "error")
        return redirect(f"/t/{tenant.slug}/security#oauth-clients")
    new_client = NewClientSecret(client.client_id, client.name, secret, rotated=True)
    return await _security(request, tenant, rt, new_client=new_client)


@router.post("/t/{slug}/security/oauth-clients/{client_id}/revoke", dependencies=[Csrf, API_FEATURE])
async def revoke_oauth_client(
    request: Request, client_id: str, tenant: SecurityAdmin, viewer: CurrentViewer, rt: RuntimeDep
) -> Response:
    """The client gets no new tokens; the ones it holds stop working within seconds."""
    async with rt.db.platform_session() as session, session.begin():
        client = await oauth.revoke(session, tenant.id, client_id, actor=_oauth_actor(viewer))
    flash(request, f"{client.name} is revoked.", "success")
    return redirect(f"/t/{tenant.slug}/security#oauth-clients")
