"""OAuth clients of a tenant (create, list, revoke, rotate the secret) and the client-credentials
grant (RFC 6749 §4.4) that trades a client's id and secret for an access token.

Rotation replaces the secret at once (the old one stops working); tokens already issued live on
until they expire, as they do after a revocation in processes that have not heard of it.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.core.db import utcnow
from atrium.core.errors import Conflict, NotFound, ValidationFailed
from atrium.platform.access import catalog
from atrium.platform.access import service as access
from atrium.platform.access.subject import Subject
from atrium.platform.identity import events
from atrium.platform.identity.oauth import tokens
from atrium.platform.identity.oauth.models import OAuthClient
from atrium.platform.tenancy.models import Tenant

if TYPE_CHECKING:
    from atrium.runtime import Runtime

CLIENT_ID_PREFIX = "atc_"
SECRET_PREFIX = "ats_"
_CLIENT_ID_MAX = 40


class OAuthError(Exception):
    """An RFC 6749 §5.2 error, answered as ``{"error", "error_description"}`` (what OAuth clients
    parse) instead of problem+json."""

    def __init__(self, error: str, description: str, *, status: int = 400, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.error, self.description, self.status, self.retry_after = error, description, status, retry_after


@dataclass(frozen=True)
class Actor:
    """Who changes a client, for the audit trail."""

    id: str
    name: str


@dataclass(frozen=True)
class Grant:
    access_token: str
    expires_in: int
    scope: str


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


async def create(
    session: AsyncSession,
    tenant_id: str,
    *,
    name: str,
    scopes: list[str],
    actor: Actor,
    grantor: Subject | None = None,
) -> tuple[OAuthClient, str]:
    """A new client and its secret, which is never shown again. Its scopes are the permissions
    it may use (``notes.note.read``, or a pattern such as ``notes.*``)."""
    unknown = catalog.unknown_patterns(scopes)
    if unknown:
        raise ValidationFailed(f"scopes name no known permission: {', '.join(unknown)}", field="scopes")
    access.ensure_can_grant(grantor, catalog.expand(scopes))  # a client does no more than its maker may
    secret = _new_secret()
    client = OAuthClient(
        client_id=CLIENT_ID_PREFIX + secrets.token_urlsafe(16),
        tenant_id=tenant_id,
        name=name,
        scopes=list(dict.fromkeys(scopes)),
        secret_hash=_hash(secret),
    )
    session.add(client)
    await session.flush()
    await _record(session, "oauth.client.created", client, actor, data={"name": name, "scopes": client.scopes})
    return client, secret


async def list_for_tenant(session: AsyncSession, tenant_id: str) -> Sequence[OAuthClient]:
    stmt = select(OAuthClient).where(OAuthClient.tenant_id == tenant_id).order_by(OAuthClient.created_at.desc())
    return (await session.execute(stmt)).scalars().all()


async def _get(session: AsyncSession, tenant_id: str, client_id: str) -> OAuthClient:
    client = await session.get(OAuthClient, client_id) if len(client_id) <= _CLIENT_ID_MAX else None
    if client is None or client.tenant_id != tenant_id:
        raise NotFound(f"no OAuth client {client_id!r} in this tenant", field="client_id")
    return client


async def revoke(session: AsyncSession, tenant_id: str, client_id: str, *, actor: Actor) -> OAuthClient:
    """The client gets no new tokens; this process refuses its tokens at once, others within
    ``tokens.CLIENT_CHECK_SECONDS``. Revoking twice changes nothing."""
    client = await _get(session, tenant_id, client_id)
    if client.revoked_at is None:
        client.revoked_at = utcnow()
        await session.flush()
        await _record(session, "oauth.client.revoked", client, actor)
    tokens.forget(client.client_id)
    return client


async def rotate_secret(
    session: AsyncSession, tenant_id: str, client_id: str, *, actor: Actor
) -> tuple[OAuthClient, str]:
    """A new secret replaces the old one at once."""
    client = await _get(session, tenant_id, client_id)
    if client.revoked_at is not None:
        raise Conflict("a revoked client gets no new secret; create a new client", field="client_id")
    secret = _new_secret()
    client.secret_hash = _hash(secret)
    client.secret_rotated_at = utcnow()
    await session.flush()
    await _record(session, "oauth.client.secret_rotated", client, actor)
    return client, secret


async def _record(
    session: AsyncSession, action: str, client: OAuthClient, actor: Actor, data: dict[str, object] | None = None
) -> None:
    await events.record(
        session,
        action,
        user_id=actor.id,
        object_type="oauth_client",
        object_id=client.client_id,
        tenant_id=client.tenant_id,
        data=data,
        actor=actor.name,
    )


def _granted_scopes(requested: str | None, allowed: list[str]) -> list[str]:
    """RFC 6749 §3.3: no scope asks for all the client's scopes; otherwise a subset of them."""
    if requested is None or not requested.strip():
        return allowed
    wanted = list(dict.fromkeys(requested.split()))
    unknown = [s for s in wanted if s not in allowed]
    if unknown:
        raise OAuthError("invalid_scope", f"not granted to this client: {' '.join(unknown)}")
    return wanted


async def grant(
    session: AsyncSession, rt: Runtime, *, client_id: str, client_secret: str, scope: str | None, ip: str | None
) -> Grant:
    """Authenticate the client (throttled per client id and per address) and issue a token.
    Refusals are recorded; successes are not (one event per token would drown the trail)."""
    keys = (f"oauth-client:{client_id}", f"oauth-ip:{ip}")
    wait = await rt.login_throttle.retry_after(*keys)
    if wait > 0:
        raise OAuthError(
            "invalid_client",
            f"too many failed attempts; try again in {int(wait) + 1} s",
            status=429,
            retry_after=int(wait) + 1,
        )
    client = await session.get(OAuthClient, client_id) if len(client_id) <= _CLIENT_ID_MAX else None
    secret_ok = client is not None and secrets.compare_digest(client.secret_hash, _hash(client_secret))
    tenant = await session.get(Tenant, client.tenant_id) if client is not None else None
    reason = None
    if client is None or not secret_ok:
        reason = "bad_credentials"
    elif client.revoked_at is not None:
        reason = "revoked"
    elif tenant is None or tenant.status == "deleted":
        reason = "tenant_gone"
    if client is None or reason is not None:
        await rt.login_throttle.failed(*keys)
        await _refused(session, client_id, client, reason or "bad_credentials", ip)
        raise OAuthError("invalid_client", "client authentication failed", status=401)
    await rt.login_throttle.succeeded(keys[0])
    try:
        scopes = _granted_scopes(scope, client.scopes)
    except OAuthError:
        await _refused(session, client_id, client, "invalid_scope", ip, requested=scope)
        raise
    token, lifetime = tokens.issue(rt.settings, client_id=client.client_id, tenant_id=client.tenant_id, scopes=scopes)
    return Grant(access_token=token, expires_in=lifetime, scope=" ".join(scopes))


async def _refused(
    session: AsyncSession,
    client_id: str,
    client: OAuthClient | None,
    reason: str,
    ip: str | None,
    requested: str | None = None,
) -> None:
    data: dict[str, object] = {"client_id": client_id[:_CLIENT_ID_MAX], "reason": reason, "ip": ip}
    if requested is not None:
        data["scope"] = requested[:500]
    await events.record(
        session,
        "oauth.token.refused",
        user_id=None,
        object_type="oauth_client",
        object_id=client.client_id if client is not None else None,
        tenant_id=client.tenant_id if client is not None else None,
        data=data,
        actor=client.name if client is not None else client_id[:_CLIENT_ID_MAX],
    )
