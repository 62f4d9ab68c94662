"""Self-serve signup and email verification.

Signup never reveals whether an address is known: it always answers the same, and mails either a
verification link or (for a verified account) a note that the account exists. The tenant is
created only when the address is verified, so unverified signups cost no storage.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import uuid
from typing import TYPE_CHECKING

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.core.db import utcnow
from atrium.core.errors import BadRequest, Conflict
from atrium.core.mail import compose, make_mailer
from atrium.platform.identity import events, policies
from atrium.platform.identity.exceptions import InvalidToken, SignupClosed
from atrium.platform.identity.models import EmailToken, Membership, User
from atrium.platform.identity.passwords import hash_password
from atrium.platform.identity.schemas import MembershipRead, SignupRequest, VerifiedSignup
from atrium.platform.tenancy import repository as tenant_repo
from atrium.platform.tenancy import service as tenancy
from atrium.platform.tenancy.models import Isolation, Tenant
from atrium.platform.tenancy.schemas import TenantCreate

if TYPE_CHECKING:
    from atrium.runtime import Runtime

VERIFY_EMAIL = "verify_email"
TENANT_ADMIN = "Tenant Admin"
MEMBER = "Member"


def isolation_for(region: str | None) -> Isolation:
    """Self-serve tenants are pooled; outside the default region they need a database of their own."""
    return Isolation.pooled if region in (None, "default") else Isolation.database


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_token(
    session: AsyncSession, user: User, purpose: str, ttl_minutes: int, payload: dict[str, str | None] | None = None
) -> str:
    """A fresh single-use token for ``purpose``; only its hash is stored."""
    token = secrets.token_urlsafe(32)
    session.add(
        EmailToken(
            user_id=user.id,
            purpose=purpose,
            token_hash=_token_hash(token),
            payload=payload or {},
            expires_at=utcnow() + dt.timedelta(minutes=ttl_minutes),
        )
    )
    await session.flush()
    return token


def usable_token(token: str, purpose: str) -> Select[EmailToken]:
    """The query for a token that exists for ``purpose``, is unused and has not expired."""
    return (
        select(EmailToken)
        .where(EmailToken.token_hash == _token_hash(token), EmailToken.purpose == purpose)
        .where(EmailToken.used_at.is_(None), EmailToken.expires_at > utcnow())
    )


async def signup(rt: Runtime, data: SignupRequest) -> None:
    """Register (or re-invite) the address and mail it; the same outcome whether it was known or not."""
    if rt.settings.signup_mode == "invite_only":
        raise SignupClosed("self-serve signup is closed on this platform; ask an administrator for an invitation")
    problem = policies.password_problem(
        data.password, min_length=policies.PLATFORM_MIN_LENGTH, block_common=True, email=str(data.email)
    )
    if problem:
        raise BadRequest(problem, field="password")
    region = tenancy.check_region(rt, data.region, isolation_for(data.region))
    email = data.email.lower()
    payload: dict[str, str | None] = {
        "kind": data.tenant_kind,
        "name": data.organization_name or email.split("@")[0],
        "region": region,
    }
    async with rt.db.platform_session() as session, session.begin():
        user = (await session.execute(select(User).where(User.email == email))).scalar_one_or_none()
        if user is not None and user.email_verified_at is not None:
            await events.record(session, "user.signup_existing", user_id=user.id)
            message = compose(
                rt.settings,
                to=email,
                subject="You already have an Atrium account",
                body=f"Someone tried to sign up with this address. Sign in at {rt.settings.public_url}/login "
                "or reset your password there. If it was not you, ignore this mail.",
            )
        else:
            if user is None:
                user = User(
                    email=email,
                    password_hash=await hash_password(data.password),
                    terms_version=rt.settings.terms_version,
                    marketing_opt_in=data.marketing_opt_in,
                )
                session.add(user)
                await session.flush()
                await events.record(
                    session,
                    "user.signed_up",
                    user_id=user.id,
                    data={"terms_version": rt.settings.terms_version, "marketing_opt_in": data.marketing_opt_in},
                )
            token = await issue_token(session, user, VERIFY_EMAIL, rt.settings.email_token_ttl_minutes, payload)
            message = compose(
                rt.settings,
                to=email,
                subject="Confirm your email address for Atrium",
                body="Confirm your address to finish signing up:\n\n"
                f"{rt.settings.public_url}/verify-email?token={token}\n\n"
                f"Verification code: {token}\n\nThe link works once and expires in "
                f"{rt.settings.email_token_ttl_minutes} minutes.",
            )
    await make_mailer(rt.settings).send(message)


def _slug_from(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:50].strip("-")
    return slug or "tenant"


async def _free_slug(rt: Runtime, name: str) -> str:
    base = _slug_from(name)
    async with rt.db.platform_session() as session:
        if not await tenant_repo.slug_taken(session, base):
            return base
    return f"{base[:45]}-{uuid.uuid4().hex[:6]}"


async def verify_email(rt: Runtime, token: str) -> VerifiedSignup:
    """Use the token once: verify the address, create the tenant, make the user its Tenant Admin."""
    valid = usable_token(token, VERIFY_EMAIL)
    async with rt.db.platform_session() as session:
        pending = (await session.execute(valid)).scalar_one_or_none()
    if pending is None:
        raise InvalidToken()
    payload = pending.payload
    tenant = await tenancy.create(
        rt,
        TenantCreate(
            slug=await _free_slug(rt, str(payload["name"])),
            name=str(payload["name"]),
            isolation=isolation_for(payload.get("region")),
            region=payload.get("region"),
        ),
    )
    async with rt.db.platform_session() as session, session.begin():
        claimed = (await session.execute(valid.with_for_update())).scalar_one_or_none()
        if claimed is None:  # a concurrent verification used it first
            raise InvalidToken()
        user = await session.get(User, claimed.user_id)
        assert user is not None
        claimed.used_at = utcnow()
        user.email_verified_at = user.email_verified_at or utcnow()
        session.add(Membership(user_id=user.id, tenant_id=tenant.id, role=TENANT_ADMIN))
        await events.record(session, "user.email_verified", user_id=user.id, data={"tenant_id": tenant.id})
        await events.record(
            session,
            "tenant.membership.granted",
            user_id=user.id,
            tenant_id=tenant.id,
            data={"role": TENANT_ADMIN},
            actor=user.email,
        )
    return VerifiedSignup(
        user_id=user.id, email=user.email, tenant_id=tenant.id, tenant_slug=tenant.slug, role=TENANT_ADMIN
    )


async def memberships(session: AsyncSession, user_id: str) -> list[MembershipRead]:
    """The user's tenants (deleted ones left out), by slug."""
    rows = await session.execute(
        select(Membership.role, Tenant.id, Tenant.slug, Tenant.name)
        .join(Tenant, Tenant.id == Membership.tenant_id)
        .where(Membership.user_id == user_id, Membership.active, Tenant.status != "deleted")
        .order_by(Tenant.slug)
    )
    return [MembershipRead(tenant_id=i, tenant_slug=s, tenant_name=n, role=r) for r, i, s, n in rows]


async def membership_role(session: AsyncSession, user_id: str, tenant_id: str) -> str | None:
    """The user's role in the tenant, or None when they are not an (active) member."""
    membership = await session.get(Membership, (user_id, tenant_id))
    return membership.role if membership is not None and membership.active else None


async def create_user(
    session: AsyncSession, email: str, password: str, *, platform_admin: bool, terms_version: str
) -> User:
    """An operator-created, already verified account (``atrium user create``)."""
    email = email.strip().lower()
    if (await session.execute(select(User.id).where(User.email == email))).first() is not None:
        raise Conflict(f"a user {email} already exists", field="email")
    user = User(
        email=email,
        password_hash=await hash_password(password),
        terms_version=terms_version,
        email_verified_at=utcnow(),
        is_platform_admin=platform_admin,
    )
    session.add(user)
    await session.flush()
    data = {"email": email, "platform_admin": platform_admin}
    await events.record(session, "user.created", user_id=user.id, data=data)
    return user


async def bootstrap_platform_admin(
    session: AsyncSession, email: str, *, password: str | None, terms_version: str
) -> tuple[User, str, str]:
    """A platform administrator with a platform API key, for ``atrium demo`` and tests: returns
    the user, the password (generated when None) and the key, both shown once."""
    from atrium.platform.identity import api_keys

    password = password or secrets.token_urlsafe(16)
    user = await create_user(session, email, password, platform_admin=True, terms_version=terms_version)
    _, key = await api_keys.create(session, user, None, name="bootstrap", scopes=[], expires_in_days=None)
    return user, password, key


async def set_marketing_opt_in(session: AsyncSession, user: User, opt_in: bool) -> None:
    if user.marketing_opt_in != opt_in:
        user.marketing_opt_in = opt_in
        await events.record(session, "user.consent_changed", user_id=user.id, data={"marketing_opt_in": opt_in})
