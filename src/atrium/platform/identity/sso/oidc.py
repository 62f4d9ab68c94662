"""OpenID Connect relying party (Authlib): one OAuth client per connection.

A connection's IdP is described by its discovery document, fetched and checked when the connection
is saved; the endpoints are kept in the connection's config. The signing keys are fetched from the
IdP's JWKS at every callback, so a key rotation at the IdP needs nothing from Atrium.

Sign-in is the authorization-code flow with PKCE (S256): the state, nonce and code verifier of a
round trip live in ``sso_login_states`` and are used once. The ID token's signature, issuer,
audience (the client id), expiry and nonce are checked before anyone is signed in.

GitHub speaks plain OAuth 2.0 (no ID token): its identity comes from its REST API, and only a
primary, verified address counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
from authlib.common.security import generate_token, is_secure_transport  # type: ignore[import-untyped]
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError  # type: ignore[import-untyped]
from authlib.oidc.core import CodeIDToken  # type: ignore[import-untyped]
from joserfc import jwt
from joserfc.errors import ClaimError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from atrium.core.errors import BadRequest
from atrium.core.net import check_outbound
from atrium.core.settings import Settings
from atrium.platform.identity.sso import service as sso
from atrium.platform.identity.sso.models import SsoConnection, SsoLoginState
from atrium.platform.identity.sso.service import SsoFailed

if TYPE_CHECKING:
    from atrium.runtime import Runtime

REQUIRED_METADATA = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
OPTIONAL_METADATA = ("userinfo_endpoint",)
HTTP_TIMEOUT = 10.0
CLOCK_LEEWAY = 120  # seconds of clock difference tolerated on exp/iat
GITHUB = "github"


@dataclass(frozen=True)
class IdpIdentity:
    """Who the IdP says signed in."""

    subject: str
    email: str
    email_verified: bool
    claims: Mapping[str, Any] = field(default_factory=dict)


def callback_url(rt: Runtime, connection_id: str) -> str:
    """The redirect URI to register at the IdP (absolute, on the public URL)."""
    return f"{rt.settings.public_url.rstrip('/')}/api/v1/auth/sso/oidc/{connection_id}/callback"


def _secure(url: str) -> bool:
    """HTTPS, or plain HTTP to a loopback address (a local IdP during development)."""
    return bool(is_secure_transport(url))


async def fetch_metadata(settings: Settings, discovery_url: str, *, field: str = "discovery_url") -> dict[str, Any]:
    """Fetch and check an IdP's discovery document; anything unusable is a 400 naming ``field``.
    The document's endpoints must be public addresses too: they are what the server calls later."""
    if not _secure(discovery_url):
        raise BadRequest("the discovery URL must use https", field=field)
    await check_outbound(settings, discovery_url, field=field)
    try:
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT) as http:
            response = await http.get(discovery_url, headers={"Accept": "application/json"})
    except (httpx.HTTPError, ValueError) as exc:
        raise BadRequest(f"the discovery document could not be fetched: {exc}", field=field) from None
    if response.status_code != 200:
        raise BadRequest(f"the discovery document answered HTTP {response.status_code}", field=field)
    try:
        document = response.json()
    except ValueError:
        raise BadRequest("the discovery document is not JSON", field=field) from None
    if not isinstance(document, dict):
        raise BadRequest("the discovery document is not a JSON object", field=field)
    missing = [key for key in REQUIRED_METADATA if not isinstance(document.get(key), str) or not document[key]]
    if missing:
        raise BadRequest(f"the discovery document lacks {', '.join(missing)}", field=field)
    insecure = [key for key in REQUIRED_METADATA[1:] if not _secure(document[key])]
    if insecure:
        raise BadRequest(f"the discovery document's {', '.join(insecure)} must use https", field=field)
    for key in REQUIRED_METADATA[1:]:
        await check_outbound(settings, document[key], field=field)
    metadata = {key: document[key] for key in REQUIRED_METADATA}
    metadata.update({key: document[key] for key in OPTIONAL_METADATA if isinstance(document.get(key), str)})
    algorithms = document.get("id_token_signing_alg_values_supported")
    if isinstance(algorithms, list) and all(isinstance(a, str) for a in algorithms):
        # Signed by the IdP's published keys only: no `none`, no HMAC keyed with the client secret.
        metadata["id_token_algorithms"] = [a for a in algorithms if a != "none" and not a.startswith("HS")]
    return metadata


def _client(rt: Runtime, connection: SsoConnection) -> AsyncOAuth2Client:
    config = connection.config
    secret = sso.decrypt_secret(rt, connection.secret_encrypted) if connection.secret_encrypted else None
    return AsyncOAuth2Client(
        client_id=config["client_id"],
        client_secret=secret,
        scope=config["scopes"],
        redirect_uri=callback_url(rt, connection.id),
        code_challenge_method="S256",
        timeout=HTTP_TIMEOUT,
    )


def is_oidc(connection: SsoConnection) -> bool:
    """OpenID Connect (an ID token), as opposed to GitHub's plain OAuth 2.0."""
    return connection.config.get("provider") != GITHUB


async def login_redirect(rt: Runtime, connection: SsoConnection, return_to: str | None, *, browser: str) -> str:
    """Remember a new round trip, bound to the browser holding the token ``browser``, and answer
    the IdP's authorization URL for it."""
    nonce = generate_token(32) if is_oidc(connection) else None
    verifier = generate_token(64)
    async with rt.db.platform_session() as session, session.begin():
        state = await sso.new_state(
            session, connection, nonce=nonce, code_verifier=verifier, return_to=return_to, browser=browser
        )
    extra = {"nonce": nonce} if nonce else {}
    async with _client(rt, connection) as client:
        url, _ = client.create_authorization_url(
            connection.config["authorization_endpoint"], state=state.id, code_verifier=verifier, **extra
        )
    return str(url)


async def finish(
    rt: Runtime,
    connection: SsoConnection,
    *,
    state_id: str | None,
    code: str | None,
    error: str | None,
    error_description: str | None,
    browser: str | None,
) -> tuple[IdpIdentity, str | None]:
    """Check the IdP's redirect (in the browser that started the sign-in, whose binding token is
    ``browser``) and exchange its code; answers the identity and the stored return_to."""
    if error:  # an IdP may leave the state out of an error answer; the round trip ends either way
        if state_id:
            with suppress(SsoFailed):
                await _take(rt, connection, state_id)
        detail = f" ({error_description})" if error_description else ""
        raise SsoFailed(f"the identity provider refused the sign-in: {error}{detail}", field="error")
    if not state_id:
        raise SsoFailed("the identity provider's answer carries no state; start the sign-in again", field="state")
    state = await _take(rt, connection, state_id)
    sso.check_browser(state, browser)
    if not code:
        raise SsoFailed("the identity provider sent no authorization code", field="code")
    async with _client(rt, connection) as client:
        try:
            token = await client.fetch_token(
                connection.config["token_endpoint"], code=code, code_verifier=state.code_verifier
            )
        except OAuthError as exc:
            raise SsoFailed(f"the identity provider refused the code: {exc.error}", field="code") from None
        except (httpx.HTTPError, ValueError) as exc:
            raise SsoFailed(f"the identity provider's token endpoint failed: {exc}", field="code") from None
        if is_oidc(connection):
            identity = await _oidc_identity(client, connection, token, state.nonce)
        else:
            identity = await _github_identity(client, connection)
    return identity, state.return_to


async def _take(rt: Runtime, connection: SsoConnection, state_id: str) -> SsoLoginState:
    """Use the round trip's state in a transaction of its own: committed before the code is
    exchanged, so whatever follows, the same answer cannot be replayed."""
    async with rt.db.platform_session() as session, session.begin():
        return await sso.take_state(session, state_id, connection.id)


async def _get_json(client: AsyncOAuth2Client, url: str, *, field: str, token: bool = True) -> Any:
    try:
        response = await client.request("GET", url, withhold_token=not token, headers={"Accept": "application/json"})
        response.raise_for_status()
        return response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise SsoFailed(f"the identity provider's {url} failed: {exc}", field=field) from None


def _expected_issuer(issuer: str, claims: Mapping[str, Any]) -> str:
    """Multi-tenant IdPs (Microsoft's ``common``) publish an issuer template; the token's ``tid`` fills it."""
    return issuer.replace("{tenantid}", str(claims.get("tid", ""))) if "{tenantid}" in issuer else issuer


async def _oidc_identity(
    client: AsyncOAuth2Client, connection: SsoConnection, token: Mapping[str, Any], nonce: str | None
) -> IdpIdentity:
    config = connection.config
    raw = token.get("id_token")
    if not isinstance(raw, str) or not raw:
        raise SsoFailed("the identity provider sent no ID token", field="id_token")
    if not nonce:  # every OIDC round trip stores one; without it the token could be replayed
        raise SsoFailed("the sign-in state has no nonce; start the sign-in again", field="nonce")
    jwks = await _get_json(client, config["jwks_uri"], field="id_token", token=False)
    try:
        # Header parameters an IdP adds beyond the registered ones are tolerated, as Authlib's own client does.
        registry = JWSRegistry(algorithms=config.get("id_token_algorithms") or ["RS256"], strict_check_header=False)
        decoded = jwt.decode(raw, KeySet.import_key_set(jwks), registry=registry)
    except (JoseError, ValueError, TypeError, KeyError):
        raise SsoFailed("the ID token's signature does not verify with the IdP's keys", field="id_token") from None
    options = {
        "iss": {"essential": True, "value": _expected_issuer(config["issuer"], decoded.claims)},
        "aud": {"essential": True, "value": config["client_id"]},
        "sub": {"essential": True},
    }
    params = {"nonce": nonce, "client_id": config["client_id"], "access_token": token.get("access_token")}
    claims = CodeIDToken(decoded.claims, decoded.header, options, params)
    try:
        claims.validate(leeway=CLOCK_LEEWAY)
    except ClaimError as exc:
        raise SsoFailed(f"the ID token is not valid: {exc.description}", field=exc.claim) from None
    except JoseError as exc:
        raise SsoFailed(f"the ID token is not valid: {exc.description}", field="id_token") from None
    values: dict[str, Any] = dict(claims)
    if not values.get("email") and config.get("userinfo_endpoint"):
        userinfo = await _get_json(client, config["userinfo_endpoint"], field="email")
        if isinstance(userinfo, dict) and userinfo.get("sub") == values["sub"]:  # another sub is not this person
            values.update(email=userinfo.get("email"), email_verified=userinfo.get("email_verified"))
    return IdpIdentity(
        subject=str(values["sub"]),
        email=str(values.get("email") or ""),
        email_verified=_verified(values),
        claims=values,
    )


def _verified(claims: Mapping[str, Any]) -> bool:
    """``email_verified`` (some IdPs send it as a string); Microsoft says it with ``xms_edov``."""
    return any(claims.get(name) in (True, "true", "True") for name in ("email_verified", "xms_edov"))


async def _github_identity(client: AsyncOAuth2Client, connection: SsoConnection) -> IdpIdentity:
    api = str(connection.config.get("api_url") or "https://api.github.com").rstrip("/")
    user = await _get_json(client, f"{api}/user", field="sub")
    emails = await _get_json(client, f"{api}/user/emails", field="email")
    if not isinstance(user, dict) or not user.get("id"):
        raise SsoFailed("GitHub sent no user id", field="sub")
    primary = (
        next(
            (e for e in emails if isinstance(e, dict) and e.get("primary") and e.get("verified") is True),
            None,
        )
        if isinstance(emails, list)
        else None
    )
    if primary is None:
        raise SsoFailed("the GitHub account has no verified primary email address", field="email")
    return IdpIdentity(subject=str(user["id"]), email=str(primary["email"]), email_verified=True, claims=user)
