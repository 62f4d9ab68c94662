"""Invitations to a tenant by email: a Tenant Admin (or, for sales-provided provisioning, a
Platform Admin) invites an address with a role; whoever holds the mailed token and that address
joins. A new person creates their account on acceptance, so invitations work when self-serve
signup is closed. Tokens are single use, stored as SHA-256, and expire after a week.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from atrium.core.db import utcnow
from atrium.core.errors import BadRequest, Conflict, Forbidden, NotFound
from atrium.core.mail import compose, make_mailer
from atrium.platform.access import service as access
from atrium.platform.access.subject import Subject
from atrium.platform.entitlements.service import check_seat_available
from atrium.platform.identity import events, policies
from atrium.platform.identity.exceptions import InvalidToken
from atrium.platform.identity.models import Membership, User
from atrium.platform.identity.passwords import hash_password
from atrium.platform.identity.security_models import Invitation
from atrium.platform.tenancy.models import Tenant

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncSession

    from atrium.runtime import Runtime

INVITATION_DAYS = 7


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class InvitationView:
    """What the holder of a token may see before accepting."""

    id: str
    tenant_id: str
    tenant_slug: str
    tenant_name: str
    email: str
    role: str
    account_exists: bool


async def invite(
    rt: Runtime, tenant_id: str, email: str, role: str, *, invited_by: str, grantor: Subject | None = None
) -> Invitation:
    """Invite an address (a pending invitation to the same address is replaced) and mail it. The
    inviter must hold what the role grants (``grantor``; none for a platform administrator)."""
    email = email.strip().lower()
    if "@" not in email or len(email) > 254 or " " in email:
        raise BadRequest(f"{email!r} is not an email address", field="email")
    token = secrets.token_urlsafe(32)
    async with rt.db.platform_session() as session, session.begin():
        offered = await access.roles_offered(session, tenant_id)
        if role not in offered:
            raise BadRequest(f"role must be one of: {', '.join(offered)}", field="role")
        access.ensure_can_grant(grantor, await access.role_grants(session, tenant_id, role))
        tenant = await session.get(Tenant, tenant_id)
        if tenant is None or tenant.status == "deleted":
            raise NotFound("no such tenant", field="tenant")
        member = await session.execute(
            select(Membership.user_id)
            .join(User, User.id == Membership.user_id)
            .where(Membership.tenant_id == tenant_id, func.lower(User.email) == email)
        )
        if member.first() is not None:
            raise Conflict(f"{email} is already a member of {tenant.slug}", field="email")
        for old in await _pending(session, tenant_id, email):
            old.revoked_at = utcnow()
        invitation = Invitation(
            tenant_id=tenant_id,
            email=email,
            role=role,
            token_hash=_hash(token),
            invited_by=invited_by,
            expires_at=utcnow() + dt.timedelta(days=INVITATION_DAYS),
        )
        session.add(invitation)
        await session.flush()
        await events.record(
            session,
            "tenant.invitation.created",
            user_id=None,
            tenant_id=tenant_id,
            object_type="invitation",
            object_id=invitation.id,
            data={"email": email, "role": role},
            actor=invited_by,
        )
        tenant_name = tenant.name
    message = compose(
        rt.settings,
        to=email,
        subject=f"You are invited to {tenant_name} on Atrium",
        body=f"{invited_by} invited you to join {tenant_name} as {role}.\n\n"
        f"{rt.settings.public_url}/invitations/accept?token={token}\n\nInvitation code: {token}\n\n"
        f"The link works once and expires in {INVITATION_DAYS} days.",
    )
    await make_mailer(rt.settings).send(message)
    return invitation


async def _pending(session: AsyncSession, tenant_id: str, email: str | None = None) -> Sequence[Invitation]:
    stmt = select(Invitation).where(
        Invitation.tenant_id == tenant_id,
        Invitation.accepted_at.is_(None),
        Invitation.revoked_at.is_(None),
        Invitation.expires_at > utcnow(),
    )
    if email is not None:
        stmt = stmt.where(Invitation.email == email)
    return (await session.execute(stmt.order_by(Invitation.created_at.desc()))).scalars().all()


async def list_for_tenant(session: AsyncSession, tenant_id: str) -> Sequence[Invitation]:
    """The tenant's invitations still waiting for an answer."""
    return await _pending(session, tenant_id)


async def revoke(session: AsyncSession, tenant_id: str, invitation_id: str, *, actor: str) -> Invitation:
    invitation = await session.get(Invitation, invitation_id)
    if invitation is None or invitation.tenant_id != tenant_id:
        raise NotFound(f"no invitation {invitation_id!r}", field="invitation_id")
    if invitation.accepted_at is not None:
        raise Conflict("the invitation was already accepted", field="invitation_id")
    if invitation.revoked_at is None:
        invitation.revoked_at = utcnow()
        await events.record(
            session,
            "tenant.invitation.revoked",
            user_id=None,
            tenant_id=tenant_id,
            object_type="invitation",
            object_id=invitation.id,
            data={"email": invitation.email},
            actor=actor,
        )
    return invitation


async def _usable(session: AsyncSession, token: str, *, lock: bool = False) -> Invitation:
    stmt = select(Invitation).where(
        Invitation.token_hash == _hash(token.strip()),
        Invitation.accepted_at.is_(None),
        Invitation.revoked_at.is_(None),
        Invitation.expires_at > utcnow(),
    )
    invitation = (await session.execute(stmt.with_for_update() if lock else stmt)).scalar_one_or_none()
    if invitation is None:
        raise InvalidToken()
    return invitation


async def lookup(rt: Runtime, token: str) -> InvitationView:
    async with rt.db.platform_session() as session:
        invitation = await _usable(session, token)
        tenant = await session.get(Tenant, invitation.tenant_id)
        assert tenant is not None
        exists = (
            await session.execute(
                select(User.id).where(func.lower(User.email) == invitation.email, User.email_verified_at.is_not(None))
            )
        ).first() is not None
    return InvitationView(invitation.id, tenant.id, tenant.slug, tenant.name, invitation.email, invitation.role, exists)


async def accept(
    rt: Runtime, token: str, *, user: User | None, password: str | None = None, accept_terms: bool = False
) -> tuple[User, InvitationView]:
    """Join the tenant. A signed-in person must be the invited address; someone new creates their
    account here (password and the terms required); someone with an account signs in first."""
    view = await lookup(rt, token)
    async with rt.db.platform_session() as session, session.begin():
        invitation = await _usable(session, token, lock=True)
        existing = (
            await session.execute(select(User).where(func.lower(User.email) == invitation.email))
        ).scalar_one_or_none()
        if user is not None:
            if user.email.lower() != invitation.email:
                raise Forbidden(f"this invitation is for {invitation.email}; sign in as that address", field="token")
            joined = await session.get(User, user.id)
            assert joined is not None
        elif existing is not None and existing.email_verified_at is not None:
            raise Forbidden("an account with this address exists; sign in first, then accept", field="token")
        else:
            # Someone new, or a signup never verified: the mailed token proves the address, so the
            # person sets the password here (a pre-registered stranger's password is replaced).
            if not accept_terms:
                raise BadRequest("the terms and the data-processing agreement must be accepted", field="accept_terms")
            if not password:
                raise BadRequest("choose a password", field="password")
            await policies.check_new_password(
                session, password, tenant_ids=[invitation.tenant_id], email=invitation.email
            )
            if existing is None:
                joined = User(email=invitation.email, password_hash="", terms_version=rt.settings.terms_version)
                session.add(joined)
            else:
                joined = existing
                joined.terms_version, joined.terms_accepted_at = rt.settings.terms_version, utcnow()
            joined.password_hash = await hash_password(password)
            joined.email_verified_at = utcnow()
            await session.flush()
            await events.record(
                session,
                "user.created" if existing is None else "user.email_verified",
                user_id=joined.id,
                data={"email": joined.email, "via": "invitation"},
            )
        if await session.get(Membership, (joined.id, invitation.tenant_id)) is None:
            await check_seat_available(session, invitation.tenant_id)
            session.add(Membership(user_id=joined.id, tenant_id=invitation.tenant_id, role=invitation.role))
        invitation.accepted_at, invitation.accepted_by = utcnow(), joined.id
        await events.record(
            session,
            "tenant.membership.granted",
            user_id=joined.id,
            tenant_id=invitation.tenant_id,
            data={"role": invitation.role, "invitation_id": invitation.id},
            actor=joined.email,
        )
    return joined, view
