"""SAML 2.0 single sign-on, service-provider side (pysaml2, signatures checked by xmlsec1).

Each tenant connection is its own service provider: entity id ``{public_url}/api/v1/auth/sso/saml/{id}``,
one assertion consumer service (``…/acs``, HTTP-POST). Atrium signs nothing and holds no SAML key:
AuthnRequests go out unsigned over HTTP-Redirect, and IdPs must not encrypt assertions. What comes
back is trusted only when the assertion, or the whole response, carries a valid signature by a
certificate from the IdP metadata the Tenant Admin saved; when it answers a request this connection
started (a single-use login state); when its audience is this SP and its time window is open; and
the first time its id is seen (the replay cache). SAML has no "email verified" claim, so an
address links or creates an account only in a domain routed to the connection.

The IdP's answer reaches the ACS as a cross-site POST, which carries none of the browser's
SameSite=Lax cookies. So the ACS only checks it and keeps what it says with the sign-in; it then
sends the browser to ``…/finish``, a plain navigation that does carry them, and that signs the
person in only if this browser started the sign-in (the binding cookie, see
``service.check_browser``). A response an attacker obtained for their own account and made a
victim's browser post is refused there: no login CSRF.

pysaml2 is synchronous and runs xmlsec1 on temporary files (unique names, deleted after use), so
its work runs in a worker thread with a client built per call: nothing is shared between requests
or processes.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import html
import shutil
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import httpx
from cryptography import x509
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, samlp  # type: ignore[import-untyped]
from saml2.client import Saml2Client  # type: ignore[import-untyped]
from saml2.config import SPConfig  # type: ignore[import-untyped]
from saml2.metadata import create_metadata_string  # type: ignore[import-untyped]
from saml2.response import StatusError, UnsolicitedResponse  # type: ignore[import-untyped]
from saml2.s_utils import UnsupportedBinding, sid  # type: ignore[import-untyped]
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS, NAMEID_FORMAT_TRANSIENT  # type: ignore[import-untyped]
from saml2.sigver import SigverError  # type: ignore[import-untyped]
from saml2.validate import ResponseLifetimeExceed, ToEarly  # type: ignore[import-untyped]

from atrium.core.db import utcnow
from atrium.core.errors import AtriumError, BadRequest, NotFound
from atrium.core.net import guarded_client
from atrium.platform.identity import events
from atrium.platform.identity.sessions import SignedIn
from atrium.platform.identity.sso.models import SsoConnection, SsoLoginState
from atrium.platform.identity.sso.service import (
    SsoFailed,
    complete_login,
    get_connection,
    new_state,
    remember_assertion,
    safe_return_to,
    take_answer,
    take_state,
)

if TYPE_CHECKING:
    from atrium.runtime import Runtime

PREFIX = "/api/v1/auth/sso/saml"
CLOCK_SKEW_SECONDS = 60
MAX_METADATA_BYTES = 1_000_000
METADATA_FETCH_SECONDS = 10.0
EMAIL_OID = "urn:oid:0.9.2342.19200300.100.1.3"
EMAIL_ATTRIBUTES = ("email", "mail", EMAIL_OID, "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress")


def sp_entity_id(rt: Runtime, connection_id: str) -> str:
    return f"{rt.settings.public_url.rstrip('/')}{PREFIX}/{connection_id}"


def acs_url(rt: Runtime, connection_id: str) -> str:
    return f"{sp_entity_id(rt, connection_id)}/acs"


def _sp_settings(rt: Runtime, connection_id: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """pysaml2's configuration of one connection's SP; with ``config``, its IdP too."""
    settings: dict[str, Any] = {
        "entityid": sp_entity_id(rt, connection_id),
        "xmlsec_binary": shutil.which("xmlsec1"),
        "accepted_time_diff": CLOCK_SKEW_SECONDS,
        "allow_unknown_attributes": True,
        "only_use_keys_in_metadata": True,  # never trust a certificate the message brings along
        "delete_tmpfiles": True,
        "service": {
            "sp": {
                "endpoints": {"assertion_consumer_service": [(acs_url(rt, connection_id), BINDING_HTTP_POST)]},
                "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
                "allow_unsolicited": False,
                "authn_requests_signed": False,
                "want_response_signed": False,
                "want_assertions_signed": bool(config and config.get("want_assertions_signed")),
                "want_assertions_or_response_signed": True,
            }
        },
    }
    if config is not None:
        settings["metadata"] = {"inline": [config["idp_metadata_xml"]]}
    return settings


def _sp_config(settings: dict[str, Any]) -> Any:
    return SPConfig().load(settings)


# --- saving a connection -------------------------------------------------------------------------


def _idp_entity_id(xml: str, field: str) -> str:
    """The one IdP the metadata describes, checked for what sign-in needs: an SSO endpoint and a
    signing certificate. Runs in a worker thread."""
    try:
        config = _sp_config({"entityid": "urn:atrium:metadata-check", "metadata": {"inline": [xml]}})
    except Exception as exc:
        raise BadRequest(f"not readable SAML metadata: {_first_line(exc)}", field=field) from None
    store = config.metadata
    idps = sorted(store.identity_providers())
    if not idps:
        raise BadRequest("the metadata describes no SAML 2.0 identity provider (or it has expired)", field=field)
    if len(idps) > 1:
        raise BadRequest(f"the metadata describes {len(idps)} identity providers; give the one to use", field=field)
    entity_id = idps[0]
    if not any(_has_sso(store, entity_id, b) for b in (BINDING_HTTP_REDIRECT, BINDING_HTTP_POST)):
        raise BadRequest("the identity provider has no HTTP-Redirect or HTTP-POST sign-on endpoint", field=field)
    certs = [cert for _name, cert in store.certs(entity_id, "idpsso", "signing")]
    if not certs:
        raise BadRequest("the identity provider has no signing certificate", field=field)
    for cert in certs:
        try:
            x509.load_der_x509_certificate(base64.b64decode(cert))
        except ValueError:
            raise BadRequest("the identity provider's signing certificate is not readable", field=field) from None
    return str(entity_id)


def _has_sso(store: Any, entity_id: str, binding: str) -> bool:
    try:
        return bool(store.single_sign_on_service(entity_id, binding))
    except UnsupportedBinding:
        return False


def _first_line(exc: BaseException) -> str:
    cause = exc.__cause__ or exc
    text = str(cause).strip().splitlines()
    return (text[0] if text else type(cause).__name__)[:200]


async def _fetch_metadata(rt: Runtime, url: str) -> str:
    field = "idp_metadata_url"
    scheme = urlsplit(url).scheme
    if scheme not in ("https", "http") or (scheme == "http" and rt.settings.env == "production"):
        raise BadRequest("the metadata URL must be an https:// address", field=field)
    try:
        async with (
            guarded_client(rt.settings, field=field, timeout=METADATA_FETCH_SECONDS, follow_redirects=True) as client,
            client.stream("GET", url, headers={"accept": "application/samlmetadata+xml, application/xml"}) as answer,
        ):
            if answer.status_code != 200:
                raise BadRequest(f"fetching the metadata answered HTTP {answer.status_code}", field=field)
            body = bytearray()
            async for chunk in answer.aiter_bytes():
                body += chunk
                if len(body) > MAX_METADATA_BYTES:
                    raise BadRequest("the metadata is larger than 1 MB", field=field)
    except httpx.HTTPError as exc:  # a refused address raises BadRequest itself, from the request hook
        raise BadRequest(f"the metadata URL is unreachable: {type(exc).__name__}", field=field) from None
    try:
        return body.decode()
    except UnicodeDecodeError:
        raise BadRequest("the metadata is not UTF-8 text", field=field) from None


async def prepare_config(rt: Runtime, config: dict[str, Any]) -> dict[str, Any]:
    """Check and normalise a SAML connection's settings as a Tenant Admin saves them: the IdP
    metadata (uploaded as ``idp_metadata_xml``, or fetched now from ``idp_metadata_url``, which then
    wins), the optional ``email_attribute`` and ``want_assertions_signed``. Stores the XML and the
    IdP's entity id; other keys pass through."""
    url = config.get("idp_metadata_url")
    if url is not None and not isinstance(url, str):
        raise BadRequest("must be a URL", field="idp_metadata_url")
    if url:
        xml, field = await _fetch_metadata(rt, url.strip()), "idp_metadata_url"
    else:
        uploaded, field = config.get("idp_metadata_xml"), "idp_metadata_xml"
        if not isinstance(uploaded, str) or not uploaded.strip():
            raise BadRequest("give the IdP metadata as XML or as a URL", field=field)
        if len(uploaded.encode()) > MAX_METADATA_BYTES:
            raise BadRequest("the metadata is larger than 1 MB", field=field)
        xml = uploaded
    entity_id = await asyncio.to_thread(_idp_entity_id, xml, field)
    email_attribute = config.get("email_attribute")
    if email_attribute is not None and (not isinstance(email_attribute, str) or not email_attribute.strip()):
        raise BadRequest("must be a SAML attribute name", field="email_attribute")
    want_signed = config.get("want_assertions_signed", False)
    if not isinstance(want_signed, bool):
        raise BadRequest("must be true or false", field="want_assertions_signed")
    prepared = {
        **config,
        "idp_metadata_xml": xml,
        "idp_entity_id": entity_id,
        "email_attribute": email_attribute.strip() if email_attribute else None,
        "want_assertions_signed": want_signed,
    }
    if not url:
        prepared.pop("idp_metadata_url", None)
    return prepared


# --- metadata and sign-in ------------------------------------------------------------------------


async def saml_connection(rt: Runtime, connection_id: str) -> SsoConnection:
    """A SAML connection by id (any other is not found)."""
    async with rt.db.platform_session() as session:
        connection = await get_connection(session, connection_id)
    if connection.protocol != "saml":
        raise NotFound(f"no SAML connection {connection_id!r}", field="connection_id")
    return connection


def _metadata_xml(settings: dict[str, Any]) -> str:
    xml = create_metadata_string(None, config=_sp_config(settings), sign=False)
    return xml.decode() if isinstance(xml, bytes) else str(xml)


async def sp_metadata(rt: Runtime, connection: SsoConnection) -> str:
    """The SP metadata to give the IdP: entity id, ACS (HTTP-POST), NameID format emailAddress."""
    return await asyncio.to_thread(_metadata_xml, _sp_settings(rt, connection.id))


def _idp_config(connection: SsoConnection) -> dict[str, Any]:
    config = connection.config or {}
    if not config.get("idp_metadata_xml") or not config.get("idp_entity_id"):
        raise SsoFailed("the connection has no IdP metadata yet", field="idp_metadata_xml")
    return config


def _authn_request(settings: dict[str, Any], idp_entity_id: str, post_url: str) -> tuple[str, str]:
    """A new AuthnRequest: its id and where the browser goes. HTTP-Redirect when the IdP takes it;
    an IdP that takes HTTP-POST only gets the request from Atrium's own form page (``post_url``)."""
    client = Saml2Client(config=_sp_config(settings))
    if not _has_sso(client.metadata, idp_entity_id, BINDING_HTTP_REDIRECT):
        request_id = sid()
        return request_id, f"{post_url}/{request_id}"
    request_id, info = client.prepare_for_authenticate(entityid=idp_entity_id, binding=BINDING_HTTP_REDIRECT)
    location = dict(info["headers"])["Location"]
    return str(request_id), str(location)


async def login_redirect(rt: Runtime, connection: SsoConnection, return_to: str | None, *, browser: str) -> str:
    """Start a sign-in: remember the AuthnRequest's id (InResponseTo), where to land and the
    browser that asked (its binding token ``browser``), and return the URL to send the browser to
    (the IdP's, or Atrium's POST form for POST-only IdPs)."""
    if connection.protocol != "saml" or not connection.enabled:
        raise SsoFailed("this SAML connection is disabled", field="connection_id")
    target = safe_return_to(return_to) or "/"
    config = _idp_config(connection)
    settings = _sp_settings(rt, connection.id, config)
    post_url = f"{sp_entity_id(rt, connection.id)}/authn-request"
    request_id, url = await asyncio.to_thread(_authn_request, settings, config["idp_entity_id"], post_url)
    async with rt.db.platform_session() as session, session.begin():
        await new_state(session, connection, state_id=request_id, return_to=target, browser=browser)
    return url


_POST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Signing in…</title></head>
<body onload="document.forms[0].submit()">
<form method="post" action="{action}"><input type="hidden" name="SAMLRequest" value="{request}">
<noscript><button type="submit">Continue to sign in</button></noscript></form>
</body></html>
"""


def _post_page(settings: dict[str, Any], idp_entity_id: str, request_id: str) -> str:
    client = Saml2Client(config=_sp_config(settings))
    destination = client.sso_location(idp_entity_id, BINDING_HTTP_POST)
    _, request = client.create_authn_request(destination, message_id=request_id, binding=BINDING_HTTP_POST)
    encoded = base64.b64encode(str(request).encode()).decode()
    return _POST_PAGE.format(action=html.escape(str(destination), quote=True), request=encoded)


async def authn_request_page(rt: Runtime, connection: SsoConnection, request_id: str) -> str:
    """For an IdP that takes HTTP-POST only: the page that posts the pending AuthnRequest to it."""
    async with rt.db.platform_session() as session:
        state = await session.get(SsoLoginState, request_id)
    if state is None or state.connection_id != connection.id or state.used_at is not None:
        raise SsoFailed("the sign-in state is unknown; start the sign-in again", field="request_id")
    if state.expires_at <= utcnow():
        raise SsoFailed("the sign-in took too long; start again", field="request_id")
    config = _idp_config(connection)
    settings = _sp_settings(rt, connection.id, config)
    return await asyncio.to_thread(_post_page, settings, config["idp_entity_id"], request_id)


# --- the assertion consumer service --------------------------------------------------------------


@dataclass(frozen=True)
class VerifiedAssertion:
    """What a checked response vouches for."""

    request_id: str
    assertion_id: str
    expires_at: dt.datetime
    subject: str
    email: str


def _decode(saml_response: str | None) -> tuple[str, str | None]:
    """The response's XML and the request id it claims to answer (not yet trusted)."""
    field = "SAMLResponse"
    if not saml_response:
        raise SsoFailed("the form carries no SAMLResponse", field=field)
    try:
        xml = base64.b64decode("".join(saml_response.split()), validate=True).decode()
    except (binascii.Error, ValueError):
        raise SsoFailed("SAMLResponse is not base64-encoded XML", field=field) from None
    try:
        response = samlp.response_from_string(xml)  # defusedxml: no entities, no DTD
    except Exception:
        response = None
    if response is None:
        raise SsoFailed("SAMLResponse is not a SAML 2.0 Response", field=field)
    return xml, response.in_response_to


def _time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise SsoFailed(f"the assertion carries an unreadable time {value[:40]!r}", field="SAMLResponse") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _attributes(authn: Any) -> dict[str, list[str]]:
    """Attribute values by name, by friendly name and by pysaml2's mapped name, lower-cased."""
    found: dict[str, list[str]] = {}
    for statement in authn.assertion.attribute_statement:
        for attribute in statement.attribute:
            values = [str(v.text).strip() for v in attribute.attribute_value if v.text]
            for name in (attribute.name, attribute.friendly_name):
                if name:
                    found.setdefault(name.lower(), values)
    for name, values in (authn.ava or {}).items():
        found.setdefault(str(name).lower(), [str(v) for v in values])
    return found


def _email(authn: Any, name_id: Any, email_attribute: str | None) -> str:
    attributes = _attributes(authn)
    if email_attribute:
        values = attributes.get(email_attribute.lower()) or []
        return values[0] if values else ""
    if name_id.format == NAMEID_FORMAT_EMAILADDRESS and name_id.text:
        return str(name_id.text).strip()
    for name in EMAIL_ATTRIBUTES:
        if attributes.get(name.lower()):
            return attributes[name.lower()][0]
    return ""


def _expiry(assertion: Any) -> dt.datetime:
    """Until when the assertion could be replayed: its latest NotOnOrAfter (it must have one)."""
    times = [_time(assertion.conditions.not_on_or_after)] if assertion.conditions else []
    for confirmation in assertion.subject.subject_confirmation:
        if confirmation.subject_confirmation_data is not None:
            times.append(_time(confirmation.subject_confirmation_data.not_on_or_after))
    known = [t for t in times if t is not None]
    if not known:
        raise SsoFailed("the assertion has no NotOnOrAfter; it would never expire", field="SAMLResponse")
    return max(known) + dt.timedelta(seconds=CLOCK_SKEW_SECONDS)


def _why(exc: Exception) -> str:
    """A clear reason for a refused response, without echoing the document."""
    if isinstance(exc, UnsolicitedResponse):
        return "the response answers no sign-in started here (unsolicited responses are refused)"
    if isinstance(exc, SigverError):
        return "the response's signature is missing or does not verify with the IdP's certificate"
    if isinstance(exc, ResponseLifetimeExceed):
        return "the assertion has expired"
    if isinstance(exc, ToEarly):
        return "the assertion is not valid yet"
    if isinstance(exc, StatusError):
        return "the IdP did not sign the person in"
    if "AudienceRestriction" in str(exc):
        return "the assertion is meant for another service provider (audience)"
    return f"the SAML response is not valid ({type(exc).__name__})"


def _verify(settings: dict[str, Any], config: dict[str, Any], xml: str, request_id: str | None) -> VerifiedAssertion:
    """Every pysaml2 check of one response, in a worker thread: signature (xmlsec1, keys from the
    metadata only), InResponseTo, destination and recipient, audience, time window."""
    client = Saml2Client(config=_sp_config(settings))
    outstanding = {request_id: "/"} if request_id else {}
    try:
        authn = client.parse_authn_request_response(xml, None, outstanding=outstanding)
    except Exception as exc:
        raise SsoFailed(_why(exc), field="SAMLResponse") from None
    if authn is None or authn.assertion is None or len(authn.response.assertion) != 1:
        raise SsoFailed("the response carries no single readable assertion", field="SAMLResponse")
    assertion = authn.assertion
    issuers = {i.text.strip() for i in (assertion.issuer, authn.response.issuer) if i is not None and i.text}
    if issuers != {config["idp_entity_id"]}:
        raise SsoFailed("the response was issued by another IdP", field="SAMLResponse")
    if not (assertion.conditions and assertion.conditions.audience_restriction):
        raise SsoFailed("the assertion names no audience", field="SAMLResponse")
    name_id = authn.name_id
    if name_id is None or not name_id.text or not name_id.text.strip():
        raise SsoFailed("the assertion names no subject (NameID)", field="SAMLResponse")
    if name_id.format == NAMEID_FORMAT_TRANSIENT:
        raise SsoFailed("the IdP sent a transient NameID; configure a persistent or email one", field="NameID")
    subject = name_id.text.strip()
    if len(subject) > 255:
        raise SsoFailed("the NameID is longer than 255 characters", field="NameID")
    return VerifiedAssertion(
        request_id=str(authn.in_response_to),
        assertion_id=str(assertion.id),
        expires_at=_expiry(assertion),
        subject=subject,
        email=_email(authn, name_id, config.get("email_attribute")),
    )


async def _record_failure(rt: Runtime, connection: SsoConnection, exc: AtriumError) -> None:
    async with rt.db.platform_session() as session, session.begin():
        await events.record(
            session,
            "user.sso.failed",
            user_id=None,
            tenant_id=connection.tenant_id,
            object_type="sso_connection",
            object_id=connection.id,
            data={"protocol": "saml", "code": exc.code, "reason": exc.detail},
        )


async def _check(rt: Runtime, connection: SsoConnection, saml_response: str | None) -> str:
    """Verify the IdP's response and keep what it says with the sign-in it answers; spend the
    assertion and the request together. Returns the request's id, which the browser finishes."""
    if not connection.enabled:
        raise SsoFailed("this SAML connection is disabled", field="connection_id")
    config = _idp_config(connection)
    xml, request_id = _decode(saml_response)
    verified = await asyncio.to_thread(_verify, _sp_settings(rt, connection.id, config), config, xml, request_id)
    async with rt.db.platform_session() as session, session.begin():
        await remember_assertion(session, connection.id, verified.assertion_id, verified.expires_at)
        state = await take_state(session, verified.request_id, connection.id)
        state.verified = {"subject": verified.subject, "email": verified.email}
        return state.id


async def consume_response(rt: Runtime, connection_id: str, saml_response: str | None) -> str:
    """The ACS: check the IdP's response; returns the path where the browser finishes the sign-in
    (the IdP's POST carries none of the browser's cookies, so nobody is signed in here). Any
    refusal is recorded as ``user.sso.failed``."""
    connection = await saml_connection(rt, connection_id)
    try:
        request_id = await _check(rt, connection, saml_response)
    except AtriumError as exc:
        await _record_failure(rt, connection, exc)
        raise
    return f"{PREFIX}/{connection.id}/finish?request={quote(request_id)}"


async def finish(
    rt: Runtime,
    connection_id: str,
    request_id: str,
    *,
    browser: str | None,
    ip: str | None,
    user_agent: str | None,
) -> tuple[SignedIn, str]:
    """Sign in the person the IdP vouched for, in the browser that started the sign-in (binding
    token ``browser``); returns the session and where to land. The answer is used once."""
    connection = await saml_connection(rt, connection_id)
    try:
        if not connection.enabled:  # switched off since the ACS checked the answer
            raise SsoFailed("this SAML connection is disabled", field="connection_id")
        async with rt.db.platform_session() as session, session.begin():
            verified, return_to = await take_answer(session, request_id, connection.id, browser)
        signed_in = await complete_login(
            rt,
            connection,
            subject=verified["subject"],
            email=verified["email"],
            email_verified=False,  # SAML cannot say; only the connection's own domains are trusted
            ip=ip,
            user_agent=user_agent,
        )
    except AtriumError as exc:
        await _record_failure(rt, connection, exc)
        raise
    return signed_in, return_to
