"""Social login: platform connections (no tenant) to Google, Microsoft, GitHub or any OIDC provider.

There are none until a Platform Admin adds one. A social identity signs in only as the account it
was linked to. An unknown identity never takes over an account by itself:

- no account has the address → a signup: the person accepts the terms first
  (``complete_signup``), which creates the account and their tenant, as email verification does;
- an account has the address → a confirmation link is mailed to that account; the identity is
  linked only when the link is followed (``confirm_link``).

Both need the provider to vouch for the address (``email_verified``). A pending signup is not
stored: it travels in a sealed (encrypted and authenticated), 30-minute token, and completing it
twice fails because the identity and the address are unique.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography.fernet import InvalidToken as BadSeal
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from atrium.core.crypto import fernet
from atrium.core.db import utcnow
from atrium.core.errors import BadRequest, Forbidden, NotFound
from atrium.core.mail import compose, make_mailer
from atrium.platform.identity import events
from atrium.platform.identity import service as identity_service
from atrium.platform.identity.exceptions import InvalidToken, SignupClosed
from atrium.platform.identity.models import Membership, User
from atrium.platform.identity.passwords import hash_password
from atrium.platform.identity.schemas import VerifiedSignup
from atrium.platform.identity.sessions import SignedIn, start_session
from atrium.platform.identity.sso import oidc
from atrium.platform.identity.sso import service as sso
from atrium.platform.identity.sso.connections import Actor, login_path
from atrium.platform.identity.sso.models import SsoConnection, SsoIdentity
from atrium.platform.identity.sso.schemas import (
    DEFAULT_SCOPES,
    SocialConnectionCreate,
    SocialConnectionRead,
    SocialConnectionUpdate,
    SocialProvider,
    SocialSignupComplete,
    SsoLinked,
)
from atrium.platform.tenancy import service as tenancy
from atrium.platform.tenancy.schemas import TenantCreate

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from atrium.runtime import Runtime

SSO_LINK = "sso_link"
LINK_TTL_MINUTES = 60
SIGNUP_TTL_SECONDS = 30 * 60

DISCOVERY = {
    "google": "https://accounts.google.com/.well-known/openid-configuration",
    # Multi-tenant endpoint; its issuer is a template the token's `tid` fills (see oidc._expected_issuer).
    "microsoft": "https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration",
}
GITHUB_ENDPOINTS = {
    "authorization_endpoint": "https://github.com/login/oauth/authorize",
    "token_endpoint": "https://github.com/login/oauth/access_token",
    "api_url": "https://api.github.com",
}
GITHUB_SCOPES = "read:user user:email"
PROVIDER_NAMES = {"google": "Google", "microsoft": "Microsoft", "github": "GitHub", "generic": "OpenID Connect"}


@dataclass(frozen=True)
class PendingSignup:
    """No account yet: the person must accept the terms (``token`` goes to ``complete_signup``)."""

    token: str


@dataclass(frozen=True)
class LinkMailed:
    """An account has the address: a confirmation link went to it."""

    email: str


SocialOutcome = SignedIn | PendingSignup | LinkMailed


# -- administration (Platform Admin) ---------------------------------------------------------------


async def _config(
    rt: Runtime, provider: str, client_id: str, scopes: str | None, discovery_url: str | None, current: dict[str, Any]
) -> dict[str, Any]:
    """The stored settings of a provider: GitHub's fixed endpoints, or an OIDC discovery fetched now."""
    if provider == oidc.GITHUB:
        return {"provider": provider, **GITHUB_ENDPOINTS, "client_id": client_id, "scopes": scopes or GITHUB_SCOPES}
    url = discovery_url or DISCOVERY.get(provider) or current.get("discovery_url")
    if not url:
        raise BadRequest("a discovery URL is required for a generic provider", field="discovery_url")
    scopes = " ".join((scopes or DEFAULT_SCOPES).split())
    if "openid" not in scopes.split():
        raise BadRequest("the scopes must include 'openid'", field="scopes")
    metadata = await oidc.fetch_metadata(rt.settings, url, field="discovery_url")
    return {"provider": provider, **metadata, "discovery_url": url, "client_id": client_id, "scopes": scopes}


def to_read(rt: Runtime, connection: SsoConnection) -> SocialConnectionRead:
    config = connection.config
    return SocialConnectionRead(
        id=connection.id,
        provider=config.get("provider", "generic"),
        name=connection.name,
        enabled=connection.enabled,
        allow_signup=connection.jit_enabled,
        client_id=config.get("client_id", ""),
        scopes=config.get("scopes", ""),
        discovery_url=config.get("discovery_url"),
        client_secret_set=connection.secret_encrypted is not None,
        login_url=login_path(connection.id),
        redirect_uri=oidc.callback_url(rt, connection.id),
    )


async def get_social(session: AsyncSession, connection_id: str) -> SsoConnection:
    """A social connection by id (a tenant's connection is not found here)."""
    connection = await session.get(SsoConnection, connection_id)
    if connection is None or connection.tenant_id is not None:
        raise NotFound(f"no social connection {connection_id!r}", field="connection_id")
    return connection


async def list_social(rt: Runtime, session: AsyncSession) -> list[SocialConnectionRead]:
    rows = await session.execute(
        select(SsoConnection).where(SsoConnection.tenant_id.is_(None)).order_by(SsoConnection.name)
    )
    return [to_read(rt, c) for c in rows.scalars()]


async def enabled_providers(session: AsyncSession) -> list[SocialProvider]:
    """The buttons of the sign-in page (public)."""
    rows = await session.execute(
        select(SsoConnection)
        .where(SsoConnection.tenant_id.is_(None), SsoConnection.enabled.is_(True))
        .order_by(SsoConnection.name)
    )
    return [
        SocialProvider(id=c.id, provider=c.config.get("provider", "generic"), name=c.name, login_url=login_path(c.id))
        for c in rows.scalars()
    ]


async def _record(session: AsyncSession, action: str, connection: SsoConnection, actor: Actor, **extra: Any) -> None:
    data = {"name": connection.name, "provider": connection.config.get("provider"), "enabled": connection.enabled}
    await events.record(
        session,
        action,
        user_id=actor.id,
        object_type="sso_connection",
        object_id=connection.id,
        data={**data, "allow_signup": connection.jit_enabled, **extra},
        actor=actor.email,
    )


async def create_social(
    rt: Runtime, session: AsyncSession, data: SocialConnectionCreate, actor: Actor
) -> SocialConnectionRead:
    config = await _config(rt, data.provider, data.client_id, data.scopes, data.discovery_url, {})
    connection = SsoConnection(
        tenant_id=None,
        protocol="oidc",
        name=data.name or PROVIDER_NAMES[data.provider],
        enabled=data.enabled,
        jit_enabled=data.allow_signup,
        config=config,
        secret_encrypted=sso.encrypt_secret(rt, data.client_secret),
    )
    session.add(connection)
    await session.flush()
    await _record(session, "sso.connection.created", connection, actor)
    return to_read(rt, connection)


async def update_social(
    rt: Runtime, session: AsyncSession, connection_id: str, data: SocialConnectionUpdate, actor: Actor
) -> SocialConnectionRead:
    connection = await get_social(session, connection_id)
    given = data.model_dump(exclude_unset=True)
    for name in ("name", "enabled", "allow_signup", "client_id"):
        if name in given and given[name] is None:
            raise BadRequest(f"{name} cannot be null", field=name)
    provider = str(connection.config.get("provider", "generic"))
    if data.discovery_url is not None and provider != "generic":
        raise BadRequest("only a generic provider takes a discovery URL", field="discovery_url")
    if {"client_id", "scopes", "discovery_url"} & given.keys():
        current = dict(connection.config)
        connection.config = await _config(
            rt,
            provider,
            data.client_id or current["client_id"],
            data.scopes or current.get("scopes"),
            data.discovery_url,
            current,
        )
    if data.client_secret:
        connection.secret_encrypted = sso.encrypt_secret(rt, data.client_secret)
    if data.name is not None:
        connection.name = data.name
    if data.enabled is not None:
        connection.enabled = data.enabled
    if data.allow_signup is not None:
        connection.jit_enabled = data.allow_signup
    await session.flush()
    await _record(session, "sso.connection.updated", connection, actor, changed=sorted(given))
    return to_read(rt, connection)


async def delete_social(session: AsyncSession, connection_id: str, actor: Actor) -> None:
    """Remove the provider and its linked identities (the accounts stay, with their passwords)."""
    connection = await get_social(session, connection_id)
    await _record(session, "sso.connection.deleted", connection, actor)
    await session.delete(connection)
    await session.flush()


# -- signing in ------------------------------------------------------------------------------------


def _seal(rt: Runtime, payload: dict[str, str]) -> str:
    return fernet(rt.settings.secret_key, "sso-signup").encrypt(json.dumps(payload).encode()).decode()


def _unseal(rt: Runtime, token: str) -> dict[str, str]:
    try:
        raw = fernet(rt.settings.secret_key, "sso-signup").decrypt(token.encode(), ttl=SIGNUP_TTL_SECONDS)
    except (BadSeal, ValueError):
        raise InvalidToken() from None
    payload: dict[str, str] = json.loads(raw)
    return payload


async def _identity_exists(session: AsyncSession, connection_id: str, subject: str) -> bool:
    found = await session.execute(
        select(SsoIdentity.id).where(SsoIdentity.connection_id == connection_id, SsoIdentity.subject == subject)
    )
    return found.first() is not None


async def _user_by_email(session: AsyncSession, email: str) -> User | None:
    found = await session.execute(select(User).where(func.lower(User.email) == email))
    return found.scalar_one_or_none()


async def sign_in(
    rt: Runtime, connection: SsoConnection, who: oidc.IdpIdentity, *, ip: str | None, user_agent: str | None
) -> SocialOutcome:
    """What a verified provider identity leads to: a session, a signup to finish, or a link to confirm."""
    async with rt.db.platform_session() as session:
        known = await _identity_exists(session, connection.id, who.subject)
    if known:
        return await sso.complete_login(
            rt,
            connection,
            subject=who.subject,
            email=who.email,
            email_verified=who.email_verified,
            ip=ip,
            user_agent=user_agent,
        )
    email = who.email.strip().lower()
    if not email or "@" not in email:
        raise sso.SsoFailed("the provider sent no email address", field="email")
    if not who.email_verified:
        raise Forbidden("the provider does not confirm that this email address is yours", field="email_verified")
    async with rt.db.platform_session() as session, session.begin():
        user = await _user_by_email(session, email)
        if user is None:
            if rt.settings.signup_mode == "invite_only" or not connection.jit_enabled:
                raise SignupClosed("no account has this address, and signup through this provider is closed")
            return PendingSignup(_seal(rt, {"connection_id": connection.id, "subject": who.subject, "email": email}))
        if user.is_platform_admin:
            raise Forbidden("platform administrators sign in with their password", field="email")
        payload: dict[str, str | None] = {"connection_id": connection.id, "subject": who.subject, "email": email}
        token = await identity_service.issue_token(session, user, SSO_LINK, LINK_TTL_MINUTES, payload)
        await events.record(
            session,
            "user.sso.link_requested",
            user_id=user.id,
            object_type="sso_connection",
            object_id=connection.id,
            data={"subject": who.subject},
        )
    message = compose(
        rt.settings,
        to=user.email,
        subject=f"Link your {connection.name} sign-in to Atrium",
        body=f"Someone signed in to Atrium with {connection.name} as {email}. An Atrium account already has "
        "this address; to let that sign-in use it, confirm here:\n\n"
        f"{rt.settings.public_url}/sso/link?token={token}\n\nVerification code: {token}\n\n"
        f"The link works once and expires in {LINK_TTL_MINUTES} minutes. If it was not you, ignore this "
        "mail: nothing is linked without it.",
    )
    await make_mailer(rt.settings).send(message)
    return LinkMailed(user.email)


async def complete_signup(
    rt: Runtime, data: SocialSignupComplete, *, ip: str | None, user_agent: str | None
) -> tuple[VerifiedSignup, SignedIn]:
    """Finish a signup through a provider once the terms are accepted: the account (its address
    verified by the provider), their tenant with them as its Tenant Admin, the linked identity and
    a session."""
    if rt.settings.signup_mode == "invite_only":
        raise SignupClosed("self-serve signup is closed on this platform; ask an administrator for an invitation")
    pending = _unseal(rt, data.token)
    connection_id, subject, email = pending["connection_id"], pending["subject"], pending["email"]
    async with rt.db.platform_session() as session:
        connection = await session.get(SsoConnection, connection_id)
        usable = connection is not None and connection.tenant_id is None and connection.enabled
        if (
            not usable
            or await _identity_exists(session, connection_id, subject)
            or await _user_by_email(session, email)
        ):
            raise InvalidToken()
    assert connection is not None
    name = data.organization_name or email.split("@")[0]
    tenant = await tenancy.create(
        rt,
        TenantCreate(
            slug=await identity_service._free_slug(rt, name),
            name=name,
            isolation=identity_service.isolation_for(None),
        ),
    )
    try:
        async with rt.db.platform_session() as session, session.begin():
            user = User(
                email=email,
                password_hash=await hash_password(secrets.token_urlsafe(32)),  # none usable: the provider, or a reset
                terms_version=rt.settings.terms_version,
                marketing_opt_in=data.marketing_opt_in,
                email_verified_at=utcnow(),
            )
            session.add(user)
            await session.flush()
            session.add(Membership(user_id=user.id, tenant_id=tenant.id, role=identity_service.TENANT_ADMIN))
            session.add(SsoIdentity(connection_id=connection_id, subject=subject, user_id=user.id, email=email))
            await session.flush()
            signup_data = {
                "terms_version": rt.settings.terms_version,
                "marketing_opt_in": data.marketing_opt_in,
                "via": "social",
                "connection_id": connection_id,
            }
            await events.record(session, "user.signed_up", user_id=user.id, data=signup_data)
            await events.record(session, "user.email_verified", user_id=user.id, data={"tenant_id": tenant.id})
            await events.record(
                session,
                "tenant.membership.granted",
                user_id=user.id,
                tenant_id=tenant.id,
                data={"role": identity_service.TENANT_ADMIN},
                actor=email,
            )
            await events.record(
                session,
                "user.sso.linked",
                user_id=user.id,
                object_type="sso_connection",
                object_id=connection_id,
                data={"protocol": "oidc", "subject": subject},
                actor=email,
            )
    except IntegrityError:  # a concurrent completion of the same signup won
        raise InvalidToken() from None
    signed_in = await start_session(rt, user, ip=ip, user_agent=user_agent, mfa=False)
    verified = VerifiedSignup(
        user_id=user.id,
        email=email,
        tenant_id=tenant.id,
        tenant_slug=tenant.slug,
        role=identity_service.TENANT_ADMIN,
    )
    return verified, signed_in


async def confirm_link(rt: Runtime, token: str) -> SsoLinked:
    """Follow the mailed link: the provider identity now signs in as this account."""
    async with rt.db.platform_session() as session, session.begin():
        claimed = (
            await session.execute(identity_service.usable_token(token, SSO_LINK).with_for_update())
        ).scalar_one_or_none()
        if claimed is None:
            raise InvalidToken()
        claimed.used_at = utcnow()
        payload = claimed.payload
        user = await session.get(User, claimed.user_id)
        connection = await session.get(SsoConnection, str(payload.get("connection_id")))
        subject = str(payload.get("subject") or "")
        stale = user is None or user.email.lower() != payload.get("email") or user.is_platform_admin
        if stale or connection is None or not connection.enabled or not subject:
            raise InvalidToken()
        assert user is not None
        if await _identity_exists(session, connection.id, subject):
            raise InvalidToken()
        session.add(SsoIdentity(connection_id=connection.id, subject=subject, user_id=user.id, email=user.email))
        user.email_verified_at = user.email_verified_at or utcnow()  # following the mail proves the address
        await events.record(
            session,
            "user.sso.linked",
            user_id=user.id,
            object_type="sso_connection",
            object_id=connection.id,
            data={"protocol": connection.protocol, "subject": subject, "confirmed_by": "email"},
        )
    return SsoLinked(email=user.email, connection_id=connection.id, provider=connection.name)
