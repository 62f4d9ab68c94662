"""A tenant's people as its administrators see them: members with their roles and factors, their
live sessions (which an administrator may end), and leaving or removing a member."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import exists, select

from atrium.core.db import utcnow
from atrium.core.errors import Conflict, NotFound
from atrium.platform.access import repository as access_repo
from atrium.platform.identity import events
from atrium.platform.identity.models import Membership, TotpFactor, User, UserSession, WebAuthnCredential
from atrium.platform.identity.schemas import MemberRead, SessionRead, TenantSessionRead
from atrium.platform.identity.service import TENANT_ADMIN
from atrium.platform.identity.sessions import revoke

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from atrium.core.settings import Settings


async def list_members(session: AsyncSession, tenant_id: str) -> list[MemberRead]:
    """Members with whether they hold a second factor (a confirmed TOTP or a WebAuthn credential,
    as ``mfa.has_second_factor`` counts them)."""
    totp = exists().where(TotpFactor.user_id == User.id, TotpFactor.confirmed_at.is_not(None))
    webauthn = exists().where(WebAuthnCredential.user_id == User.id)
    rows = await session.execute(
        select(User.id, User.email, Membership.role, Membership.created_at, totp | webauthn)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.tenant_id == tenant_id)
        .order_by(User.email)
    )
    return [MemberRead(user_id=i, email=e, role=r, mfa_enrolled=bool(f), joined_at=j) for i, e, r, j, f in rows]


async def remove_member(session: AsyncSession, tenant_id: str, user_id: str, *, actor: str) -> None:
    """Take a person out of the tenant; the last active Tenant Admin cannot be removed."""
    membership = await session.get(Membership, (user_id, tenant_id))
    if membership is None:
        raise NotFound(f"no member {user_id!r}", field="user_id")
    admins = await access_repo.holder_ids(session, tenant_id, TENANT_ADMIN)
    if admins and admins <= {user_id}:  # a suspended admin administers nothing, so is not counted
        raise Conflict("the tenant's last administrator cannot be removed", field="user_id")
    await session.delete(membership)
    await events.record(
        session, "tenant.membership.revoked", user_id=user_id, tenant_id=tenant_id, data={}, actor=actor
    )


async def list_sessions(session: AsyncSession, settings: Settings, tenant_id: str) -> list[TenantSessionRead]:
    """Live browser sessions of the tenant's members."""
    now = utcnow()
    rows = await session.execute(
        select(UserSession, User.email)
        .join(User, User.id == UserSession.user_id)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.tenant_id == tenant_id, UserSession.revoked_at.is_(None), UserSession.expires_at > now)
        .order_by(UserSession.created_at.desc())
    )
    out = []
    for record, email in rows:
        idle = dt.timedelta(minutes=record.idle_minutes or settings.session_idle_minutes)
        if record.last_seen_at + idle > now:
            base = SessionRead.model_validate(record).model_dump()
            out.append(TenantSessionRead(**base, user_id=record.user_id, email=email))
    return out


async def end_session(session: AsyncSession, tenant_id: str, session_id: str, *, actor: str) -> None:
    """End a member's session; a session of someone outside the tenant is not found."""
    record = await session.get(UserSession, session_id)
    member = record is not None and await session.get(Membership, (record.user_id, tenant_id)) is not None
    if record is None or not member:
        raise NotFound(f"no session {session_id!r}", field="session_id")
    await revoke(session, session_id=session_id)
    await events.record(
        session,
        "user.session_revoked",
        user_id=record.user_id,
        tenant_id=tenant_id,
        object_type="session",
        object_id=session_id,
        data={"by_admin": True},
        actor=actor,
    )
