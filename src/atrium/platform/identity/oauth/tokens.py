"""Access tokens for OAuth clients: JWTs in the RFC 9068 profile, signed with Ed25519.

The signing key is derived from the platform secret, so every api replica signs and verifies alike
and nothing has to be distributed; only its public half is published (``jwks()``). Verification
accepts exactly one algorithm (EdDSA): whatever a token's header claims, ``none`` or an HMAC keyed
with the public key never gets near a signature check.

Revocation: a verified token is accepted only while its client is live. Each process remembers a
client's state for ``CLIENT_CHECK_SECONDS``; revoking a client forgets it in that process at once,
other processes notice within those seconds, and every token dies at its expiry anyway
(``ATRIUM_OAUTH_TOKEN_MINUTES``).
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jwt
from joserfc.errors import ExpiredTokenError, JoseError, UnsupportedAlgorithmError
from joserfc.jwa import JWSAlgModel
from joserfc.jwk import OKPKey
from joserfc.jws import JWSRegistry
from sqlalchemy import select

from atrium.core.errors import Unauthorized
from atrium.core.settings import Settings
from atrium.platform.identity.oauth.models import OAuthClient
from atrium.platform.tenancy.models import Tenant

if TYPE_CHECKING:
    from atrium.runtime import Runtime

ALGORITHM = "EdDSA"
TOKEN_TYPE = "at+jwt"
LEEWAY_SECONDS = 30
CLIENT_CHECK_SECONDS = 5.0
_MAX_CACHED = 10_000
_JWT_SHAPE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")


class InvalidAccessToken(Unauthorized):
    code = "invalid-token"
    title = "Invalid access token"


class _EdDSAOnly(JWSRegistry):
    """The algorithm allowlist. joserfc also warns on every EdDSA use (RFC 9864 prefers the newer
    name ``Ed25519``); EdDSA is the name clients understand today, so the warning is not raised
    once per request."""

    def get_alg(self, name: str) -> JWSAlgModel:
        if name != ALGORITHM:
            raise UnsupportedAlgorithmError(f"algorithm {name!r} is not accepted")
        return self.algorithms[name]


_REGISTRY = _EdDSAOnly(algorithms=[ALGORITHM])


@dataclass(frozen=True)
class AccessClaims:
    """What a valid token says: which client, for which tenant, with which scopes."""

    client_id: str
    tenant_id: str
    scopes: frozenset[str]
    expires_at: int
    jti: str


@dataclass(frozen=True)
class LiveClient:
    name: str
    tenant_id: str


@dataclass
class _Keys:
    """Key material and expectations for one (secret, public URL); verified tokens are cached
    here, with the key that verified them."""

    key: OKPKey
    kid: str
    public_jwk: dict[str, Any]
    issuer: str
    audience: str
    claims: jwt.JWTClaimsRegistry
    verified: dict[str, AccessClaims] = field(default_factory=dict)


@functools.lru_cache(maxsize=8)
def _derive(secret: str, public_url: str) -> _Keys:
    seed = hashlib.sha256(b"atrium-oauth-signing|" + secret.encode()).digest()
    key = OKPKey.import_key(Ed25519PrivateKey.from_private_bytes(seed))
    kid = key.thumbprint()
    public_jwk = {**key.as_dict(private=False), "kid": kid, "use": "sig", "alg": ALGORITHM}
    issuer = public_url.rstrip("/")
    audience = issuer + "/api"
    essential: jwt.ClaimsOption = {"essential": True}
    claims = jwt.JWTClaimsRegistry(
        leeway=LEEWAY_SECONDS,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": audience},
        sub=essential,
        client_id=essential,
        tenant_id=essential,
        scope=essential,
        exp=essential,
        nbf=essential,
        iat=essential,
        jti=essential,
    )
    return _Keys(key, kid, public_jwk, issuer, audience, claims)


def _keys(settings: Settings) -> _Keys:
    return _derive(settings.secret_key.get_secret_value(), settings.public_url)


def issuer(settings: Settings) -> str:
    return _keys(settings).issuer


def jwks(settings: Settings) -> dict[str, Any]:
    """The public key set verifiers fetch (RFC 7517)."""
    return {"keys": [_keys(settings).public_jwk]}


def looks_like_jwt(value: str) -> bool:
    """Three dot-separated base64url parts (the last may be empty, as in an unsigned token)."""
    return bool(_JWT_SHAPE.match(value))


def sign(settings: Settings, claims: dict[str, Any]) -> str:
    """Sign any claims with the platform's key; ``issue`` is the one caller outside tests."""
    keys = _keys(settings)
    header = {"alg": ALGORITHM, "typ": TOKEN_TYPE, "kid": keys.kid}
    return jwt.encode(header, claims, keys.key, algorithms=[ALGORITHM], registry=_REGISTRY)


def issue(
    settings: Settings, *, client_id: str, tenant_id: str, scopes: Iterable[str], now: int | None = None
) -> tuple[str, int]:
    """A new access token and its lifetime in seconds."""
    keys = _keys(settings)
    issued = int(time.time()) if now is None else now
    lifetime = settings.oauth_token_minutes * 60
    claims = {
        "iss": keys.issuer,
        "aud": keys.audience,
        "sub": client_id,
        "client_id": client_id,
        "tenant_id": tenant_id,
        "scope": " ".join(scopes),
        "iat": issued,
        "nbf": issued,
        "exp": issued + lifetime,
        "jti": secrets.token_urlsafe(16),
    }
    return sign(settings, claims), lifetime


def decode(settings: Settings, token: str) -> AccessClaims:
    """Check signature, algorithm, type, key id and claims (iss, aud, exp, nbf with leeway)."""
    keys = _keys(settings)
    hit = keys.verified.get(token)
    if hit is not None:
        if hit.expires_at > time.time() - LEEWAY_SECONDS:
            return hit
        keys.verified.pop(token, None)
        raise InvalidAccessToken("the access token has expired")
    try:
        parsed = jwt.decode(token, keys.key, algorithms=[ALGORITHM], registry=_REGISTRY)
        if parsed.header.get("typ") != TOKEN_TYPE or parsed.header.get("kid") != keys.kid:
            raise InvalidAccessToken("the access token is not valid")
        keys.claims.validate(parsed.claims)
    except ExpiredTokenError as error:
        raise InvalidAccessToken("the access token has expired") from error
    except (JoseError, ValueError) as error:
        raise InvalidAccessToken("the access token is not valid") from error
    claims = parsed.claims
    scope, tenant_id = claims["scope"], claims["tenant_id"]
    if not isinstance(scope, str) or not isinstance(tenant_id, str) or claims["sub"] != claims["client_id"]:
        raise InvalidAccessToken("the access token is not valid")
    result = AccessClaims(claims["sub"], tenant_id, frozenset(scope.split()), int(claims["exp"]), claims["jti"])
    if len(keys.verified) >= _MAX_CACHED:
        keys.verified.clear()
    keys.verified[token] = result
    return result


# client id → (monotonic deadline, the live client or None when it may not be used)
_clients: dict[str, tuple[float, LiveClient | None]] = {}


async def _live_client(rt: Runtime, client_id: str) -> LiveClient | None:
    hit = _clients.get(client_id)
    now = time.monotonic()
    if hit is not None and hit[0] > now:
        return hit[1]
    stmt = (
        select(OAuthClient.name, OAuthClient.tenant_id, OAuthClient.revoked_at, Tenant.status)
        .join(Tenant, Tenant.id == OAuthClient.tenant_id)
        .where(OAuthClient.client_id == client_id)
    )
    async with rt.db.platform_session() as session:
        row = (await session.execute(stmt)).one_or_none()
    live = None
    if row is not None and row.revoked_at is None and row.status != "deleted":
        live = LiveClient(row.name, row.tenant_id)
    if len(_clients) >= _MAX_CACHED:
        _clients.clear()
    _clients[client_id] = (now + CLIENT_CHECK_SECONDS, live)
    return live


def forget(client_id: str) -> None:
    """Drop what this process remembers of a client (called when it is revoked)."""
    _clients.pop(client_id, None)


async def verify(rt: Runtime, token: str) -> tuple[AccessClaims, LiveClient]:
    """A bearer token presented to the API: valid, and its client still live in its tenant."""
    claims = decode(rt.settings, token)
    client = await _live_client(rt, claims.client_id)
    if client is None or client.tenant_id != claims.tenant_id:
        raise InvalidAccessToken("the access token's client has been revoked")
    return claims, client
