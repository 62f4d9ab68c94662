"""What every SSO protocol shares: routing an email to its tenant's IdP, the single-use login
state of a round trip, the SAML replay cache, and turning a verified IdP identity into a session.

Linking rule (an IdP must never take over an account it does not own): an identity is found by
(connection, subject). An unknown identity is linked to an existing account with the same email
only when that account belongs to the connection's tenant and to no other tenant, and is not a
platform administrator; otherwise the person signs in with their password and links from their
profile. With just-in-time creation on, an unknown email in one of the connection's domains gets
a new account and a membership in the tenant.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from atrium.core.crypto import fernet
from atrium.core.db import utcnow
from atrium.core.errors import AtriumError, BadRequest, Conflict, Forbidden, NotFound
from atrium.platform.entitlements.service import check_seat_available
from atrium.platform.identity import events
from atrium.platform.identity.models import Membership, User
from atrium.platform.identity.passwords import hash_password
from atrium.platform.identity.service import MEMBER
from atrium.platform.identity.sessions import SignedIn, start_session
from atrium.platform.identity.sso.models import SsoConnection, SsoDomain, SsoIdentity, SsoLoginState, SsoSeenAssertion

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from atrium.runtime import Runtime

STATE_MINUTES = 10


class SsoFailed(AtriumError):
    status_code = 400
    code = "sso-failed"
    title = "Single sign-on failed"


class AssertionReplayed(SsoFailed):
    code = "sso-replay"
    title = "Assertion already used"


# -- the browser a sign-in belongs to -----------------------------------------------------------
#
# A round trip to an IdP is bound to the browser that started it: /login sets a random token in an
# HttpOnly cookie (reused by the browser's other sign-ins while it lasts) and the state stores its
# SHA-256. The answer is accepted only from a request carrying that cookie, so an attacker cannot
# complete, in someone else's browser, a sign-in they started with their own account (login CSRF).
# In production the cookie is ``__Host-`` prefixed (Secure, path /, no domain), so a sibling
# subdomain cannot plant one. It is SameSite=Lax: a SAML IdP's cross-site POST to the ACS arrives
# without it, so the ACS checks the response and then sends the browser to a same-browser GET that
# finishes the sign-in.

BROWSER_COOKIE_MINUTES = STATE_MINUTES


def browser_cookie(production: bool) -> str:
    return "__Host-atrium_sso" if production else "atrium_sso_browser"


def browser_token(cookie: str | None) -> str:
    """The token the browser's cookie holds, or a new one when it holds none (or nonsense)."""
    if cookie and 40 <= len(cookie) <= 64 and all(c.isalnum() or c in "-_" for c in cookie):
        return cookie
    return secrets.token_urlsafe(32)


def browser_hash(token: str | None) -> str | None:
    return hashlib.sha256(token.encode()).hexdigest() if token else None


def check_browser(state: SsoLoginState, cookie: str | None) -> None:
    """Refuse an answer reaching a browser other than the one that started the sign-in."""
    given = browser_hash(cookie)
    if state.browser_hash is None or given is None or not hmac.compare_digest(state.browser_hash, given):
        raise SsoFailed(
            "this sign-in was started in another browser (or this browser blocked its cookie); start it again here",
            field="browser",
        )


def local_path(value: str | None) -> bool:
    """Is this a path on this site (no scheme, no host such as ``//evil`` or ``/\\evil``, no control
    characters)? Anything else after a sign-in would be an open redirect."""
    if not value or len(value) > 500 or not value.startswith("/") or value.startswith("//"):
        return False
    return "\\" not in value and not any(ord(c) < 0x21 or ord(c) == 0x7F for c in value)


def safe_return_to(value: str | None) -> str | None:
    """The requested return path, None when absent, or 400 when it is not a path on this site."""
    if value is None or value == "":
        return None
    if not local_path(value):
        raise BadRequest("return_to must be a path on this site, such as /dashboard", field="return_to")
    return value


def encrypt_secret(rt: Runtime, value: str) -> str:
    return fernet(rt.settings.secret_key, "sso").encrypt(value.encode()).decode()


def decrypt_secret(rt: Runtime, value: str) -> str:
    return fernet(rt.settings.secret_key, "sso").decrypt(value.encode()).decode()


def email_domain(email: str) -> str:
    return email.rpartition("@")[2].strip().lower()


async def connection_for_email(session: AsyncSession, email: str) -> SsoConnection | None:
    """The enabled tenant connection the address's domain routes to, if any."""
    row = await session.execute(
        select(SsoConnection)
        .join(SsoDomain, SsoDomain.connection_id == SsoConnection.id)
        .where(SsoDomain.domain == email_domain(email), SsoConnection.enabled.is_(True))
    )
    return row.scalar_one_or_none()


async def get_connection(session: AsyncSession, connection_id: str, *, tenant_id: str | None = None) -> SsoConnection:
    """A connection by id; with ``tenant_id``, only that tenant's (another tenant's is not found)."""
    connection = await session.get(SsoConnection, connection_id)
    if connection is None or (tenant_id is not None and connection.tenant_id != tenant_id):
        raise NotFound(f"no SSO connection {connection_id!r}", field="connection_id")
    return connection


async def set_domains(session: AsyncSession, connection: SsoConnection, domains: list[str]) -> list[str]:
    """Route exactly these domains to the connection; a domain another connection routes is refused."""
    wanted = sorted({d.strip().lower().lstrip("@") for d in domains if d.strip()})
    for domain in wanted:
        if "." not in domain or " " in domain:
            raise BadRequest(f"{domain!r} is not an email domain", field="domains")
    taken = await session.execute(
        select(SsoDomain.domain).where(SsoDomain.domain.in_(wanted), SsoDomain.connection_id != connection.id)
    )
    clash = sorted(taken.scalars())
    if clash:
        raise Conflict(f"already routed to another connection: {', '.join(clash)}", field="domains")
    await session.execute(delete(SsoDomain).where(SsoDomain.connection_id == connection.id))
    session.add_all(SsoDomain(domain=d, connection_id=connection.id) for d in wanted)
    return wanted


async def domains_of(session: AsyncSession, connection_id: str) -> list[str]:
    rows = await session.execute(
        select(SsoDomain.domain).where(SsoDomain.connection_id == connection_id).order_by(SsoDomain.domain)
    )
    return list(rows.scalars())


async def new_state(
    session: AsyncSession,
    connection: SsoConnection,
    *,
    state_id: str | None = None,
    nonce: str | None = None,
    code_verifier: str | None = None,
    return_to: str | None = None,
    browser: str,
) -> SsoLoginState:
    """Remember one round trip to the IdP (``state_id`` defaults to a fresh random value), bound to
    the browser holding the token ``browser``."""
    state = SsoLoginState(
        id=state_id or secrets.token_urlsafe(32),
        connection_id=connection.id,
        nonce=nonce,
        code_verifier=code_verifier,
        return_to=return_to,
        browser_hash=browser_hash(browser),
        expires_at=utcnow() + dt.timedelta(minutes=STATE_MINUTES),
    )
    session.add(state)
    await session.flush()
    return state


async def take_state(session: AsyncSession, state_id: str, connection_id: str) -> SsoLoginState:
    """Consume a round trip's state: unknown, expired, used or another connection's → refused."""
    state = (
        await session.execute(select(SsoLoginState).where(SsoLoginState.id == state_id).with_for_update())
    ).scalar_one_or_none()
    if state is None or state.connection_id != connection_id:
        raise SsoFailed("the sign-in state is unknown; start the sign-in again", field="state")
    if state.used_at is not None:
        raise SsoFailed("this sign-in response was already used", field="state")
    if state.expires_at <= utcnow():
        raise SsoFailed("the sign-in took too long; start again", field="state")
    state.used_at = utcnow()
    return state


async def take_answer(
    session: AsyncSession, state_id: str, connection_id: str, browser: str | None
) -> tuple[dict[str, str], str]:
    """Finish a round trip the IdP has answered (SAML): only in the browser that started it, once.
    Returns what the IdP said and where to land."""
    state = (
        await session.execute(select(SsoLoginState).where(SsoLoginState.id == state_id).with_for_update())
    ).scalar_one_or_none()
    if state is None or state.connection_id != connection_id or state.verified is None:
        raise SsoFailed("no answered sign-in to finish; start the sign-in again", field="request")
    if state.expires_at <= utcnow():
        raise SsoFailed("the sign-in took too long; start again", field="request")
    check_browser(state, browser)
    await session.delete(state)
    return dict(state.verified), state.return_to or "/"


async def remember_assertion(
    session: AsyncSession, connection_id: str, assertion_id: str, expires_at: dt.datetime
) -> None:
    """Accept an assertion id once per connection; a second time is a replay."""
    try:
        async with session.begin_nested():
            session.add(SsoSeenAssertion(connection_id=connection_id, assertion_id=assertion_id, expires_at=expires_at))
    except IntegrityError:
        raise AssertionReplayed("this assertion was already used", field="SAMLResponse") from None


async def purge_expired(session: AsyncSession) -> None:
    """Forget finished round trips and assertions that can no longer be replayed (they expired)."""
    now = utcnow()
    await session.execute(delete(SsoSeenAssertion).where(SsoSeenAssertion.expires_at < now))
    await session.execute(delete(SsoLoginState).where(SsoLoginState.expires_at < now))


async def _linkable(session: AsyncSession, user: User, connection: SsoConnection) -> bool:
    """May this IdP take over sign-in for an existing account? Only a tenant connection, for an
    account that lives in that tenant alone."""
    if connection.tenant_id is None or user.is_platform_admin:
        return False
    tenants = set((await session.execute(select(Membership.tenant_id).where(Membership.user_id == user.id))).scalars())
    return tenants == {connection.tenant_id}


async def resolve_user(
    session: AsyncSession, connection: SsoConnection, *, subject: str, email: str, email_verified: bool
) -> User:
    """The account an IdP identity signs in as, linking or creating it by the rules above."""
    if not subject:
        raise SsoFailed("the IdP sent no subject", field="sub")
    email = email.strip().lower()
    identity = (
        await session.execute(
            select(SsoIdentity).where(SsoIdentity.connection_id == connection.id, SsoIdentity.subject == subject)
        )
    ).scalar_one_or_none()
    if identity is not None:
        user = await session.get(User, identity.user_id)
        assert user is not None
        identity.last_login_at = utcnow()
        return user
    if not email or "@" not in email:
        raise SsoFailed("the IdP sent no email address", field="email")
    own_domain = email_domain(email) in await domains_of(session, connection.id)
    if not (email_verified or own_domain):
        raise SsoFailed("the IdP did not vouch for this email address", field="email")
    user = (await session.execute(select(User).where(func.lower(User.email) == email))).scalar_one_or_none()
    tenant_id = connection.tenant_id
    if user is not None:
        if not await _linkable(session, user, connection):
            raise Forbidden(
                "an account with this email already exists; sign in with its password to link this identity",
                field="email",
            )
        action = "user.sso.linked"
    elif connection.jit_enabled and own_domain and tenant_id is not None:
        await check_seat_available(session, tenant_id)
        user = User(
            email=email,
            password_hash=await hash_password(secrets.token_urlsafe(32)),  # no usable password: SSO or a reset
            terms_version="sso",
            email_verified_at=utcnow(),
        )
        session.add(user)
        await session.flush()
        session.add(Membership(user_id=user.id, tenant_id=tenant_id, role=MEMBER))
        await events.record(
            session, "user.created", user_id=user.id, tenant_id=tenant_id, data={"email": email, "via": "sso_jit"}
        )
        action = "user.sso.linked"
    else:
        raise Forbidden(
            "no account for this email in the tenant; ask its administrator for an invitation", field="email"
        )
    session.add(SsoIdentity(connection_id=connection.id, subject=subject, user_id=user.id, email=email))
    await session.flush()
    await events.record(
        session,
        action,
        user_id=user.id,
        tenant_id=tenant_id,
        object_type="sso_connection",
        object_id=connection.id,
        data={"protocol": connection.protocol, "subject": subject},
    )
    return user


async def complete_login(
    rt: Runtime,
    connection: SsoConnection,
    *,
    subject: str,
    email: str,
    email_verified: bool,
    ip: str | None,
    user_agent: str | None,
) -> SignedIn:
    """Sign in the person an IdP vouched for; a new session, as after a password sign-in."""
    async with rt.db.platform_session() as session, session.begin():
        user = await resolve_user(session, connection, subject=subject, email=email, email_verified=email_verified)
    return await start_session(rt, user, ip=ip, user_agent=user_agent, mfa=False)
