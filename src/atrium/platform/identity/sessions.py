"""Sign-in, server-side sessions and sign-out.

The cookie carries a 256-bit random secret; the table keeps only its SHA-256, so a database
leak yields no usable session. A new session (a new id) is made at every sign-in. Sessions end
after the idle or the absolute lifetime, at sign-out, and all at once after a password reset.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.core import context
from atrium.core.db import utcnow
from atrium.core.errors import AtriumError, NotFound, Unauthorized
from atrium.platform.identity import events
from atrium.platform.identity.models import User, UserSession
from atrium.platform.identity.passwords import hash_password_now, verify_password

if TYPE_CHECKING:
    from atrium.runtime import Runtime

COOKIE = "atrium_sid"
_DUMMY_HASH = hash_password_now("not a real password, only equalises timing")
_TOUCH_EVERY = dt.timedelta(seconds=60)


class TooManyAttempts(AtriumError):
    status_code = 429
    code = "too-many-attempts"
    title = "Too many attempts"


@dataclass(frozen=True)
class SignedIn:
    user: User
    session_id: str
    cookie_value: str
    expires_at: dt.datetime


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def check_password(rt: Runtime, email: str, password: str, *, ip: str | None) -> User:
    """The account behind email and password (the same work and answer whether or not it exists),
    throttled per account and per IP."""
    email = email.strip().lower()
    keys = (f"account:{email}", f"ip:{ip}")
    wait = await rt.login_throttle.retry_after(*keys)
    if wait > 0:
        raise TooManyAttempts(f"too many failed sign-ins; try again in {int(wait) + 1} s", retry_after=int(wait) + 1)
    async with rt.db.platform_session() as session, session.begin():
        user = (await session.execute(select(User).where(User.email == email))).scalar_one_or_none()
        valid = await verify_password(password, user.password_hash if user else _DUMMY_HASH)
        if user is not None and valid and user.email_verified_at is not None:
            await rt.login_throttle.succeeded(*keys)
            return user
        await rt.login_throttle.failed(*keys)
        await events.record(
            session,
            "user.login_failed",
            user_id=user.id if user else None,
            data={"email": email, "ip": ip},
            actor=email,
        )
    raise Unauthorized("wrong email or password, or the address is not verified yet")


async def start_session(rt: Runtime, user: User, *, ip: str | None, user_agent: str | None, mfa: bool) -> SignedIn:
    """A new session (a new id) for a user who has passed every factor they must. Its lifetimes
    are the strictest among the user's tenants' policies at this moment."""
    from atrium.platform.identity import policies

    secret = secrets.token_urlsafe(32)
    async with rt.db.platform_session() as session, session.begin():
        rules = await policies.account_rules(session, rt.settings, user.id)
        record = UserSession(
            user_id=user.id,
            token_hash=_hash(secret),
            expires_at=utcnow() + dt.timedelta(hours=rules.absolute_hours),
            idle_minutes=rules.idle_minutes,
            mfa=mfa,
            ip=ip,
            user_agent=(user_agent or "")[:300] or None,
        )
        session.add(record)
        await session.flush()
        await events.record(session, "user.login", user_id=user.id, data={"ip": ip, "mfa": mfa}, actor=user.email)
    return SignedIn(user, record.id, f"{record.id}.{secret}", record.expires_at)


async def sign_in(rt: Runtime, email: str, password: str, *, ip: str | None, user_agent: str | None) -> SignedIn:
    """Password-only sign-in, for accounts without a second factor."""
    user = await check_password(rt, email, password, ip=ip)
    return await start_session(rt, user, ip=ip, user_agent=user_agent, mfa=False)


async def authenticate(rt: Runtime, cookie: str | None) -> tuple[User, UserSession]:
    """The user behind a session cookie, enforcing the idle and absolute lifetimes."""
    session_id, _, secret = (cookie or "").partition(".")
    if not session_id or not secret:
        raise Unauthorized("sign in first")
    now = utcnow()
    async with rt.db.platform_session() as session, session.begin():
        record = await session.get(UserSession, session_id)
        if record is None or not secrets.compare_digest(record.token_hash, _hash(secret)):
            raise Unauthorized("sign in first")
        idle_limit = record.last_seen_at + dt.timedelta(minutes=record.idle_minutes or rt.settings.session_idle_minutes)
        if record.revoked_at is not None or record.expires_at <= now or idle_limit <= now:
            raise Unauthorized("the session has ended; sign in again")
        if now - record.last_seen_at >= _TOUCH_EVERY:
            record.last_seen_at = now
        user = await session.get(User, record.user_id)
        assert user is not None
    context.actor.set(user.email)
    context.user_id.set(user.id)
    return user, record


async def revoke(session: AsyncSession, *, session_id: str | None = None, user_id: str | None = None) -> int:
    """End one session, or every session of a user; returns how many ended."""
    stmt = update(UserSession).where(UserSession.revoked_at.is_(None)).values(revoked_at=utcnow())
    if session_id is not None:
        stmt = stmt.where(UserSession.id == session_id)
    if user_id is not None:
        stmt = stmt.where(UserSession.user_id == user_id)
    result = await session.execute(stmt)
    return int(result.rowcount)  # type: ignore[attr-defined]


async def sign_out(rt: Runtime, user: User, session_id: str) -> None:
    async with rt.db.platform_session() as session, session.begin():
        await revoke(session, session_id=session_id)
        await events.record(session, "user.logout", user_id=user.id, data={"session_id": session_id})


async def list_active(rt: Runtime, user: User) -> list[UserSession]:
    """The user's sessions that have not ended, newest first."""
    now = utcnow()
    async with rt.db.platform_session() as session:
        rows = await session.execute(
            select(UserSession)
            .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None), UserSession.expires_at > now)
            .order_by(UserSession.created_at.desc())
        )
        default_idle = rt.settings.session_idle_minutes
        return [
            s for s in rows.scalars() if s.last_seen_at + dt.timedelta(minutes=s.idle_minutes or default_idle) > now
        ]


async def revoke_own(rt: Runtime, user: User, session_id: str) -> None:
    """End one of the user's own sessions (another user's is simply not found)."""
    async with rt.db.platform_session() as session, session.begin():
        record = await session.get(UserSession, session_id)
        if record is None or record.user_id != user.id:
            raise NotFound(f"no session {session_id!r}", field="session_id")
        await revoke(session, session_id=session_id)
        await events.record(
            session, "user.session_revoked", user_id=user.id, object_type="session", object_id=session_id
        )


async def mark_mfa(rt: Runtime, session_id: str) -> None:
    """The person just proved a second factor in this session (by enrolling one)."""
    async with rt.db.platform_session() as session, session.begin():
        await session.execute(update(UserSession).where(UserSession.id == session_id).values(mfa=True))


async def optional_user(rt: Runtime, cookie: str | None) -> User | None:
    """The signed-in user if the cookie is a live session, else None (for pages open to both)."""
    if not cookie:
        return None
    try:
        return (await authenticate(rt, cookie))[0]
    except Unauthorized:
        return None
