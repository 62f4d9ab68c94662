"""Stand-in platform administrators (until identity lands): a console password and an API token."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.core.audit import service as audit
from atrium.core.errors import Conflict
from atrium.platform.admin.models import ConsoleAdmin

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def verify_password(password: str, stored: str) -> bool:
    try:
        _, salt_b64, digest_b64 = stored.split("$")
    except ValueError:
        return False
    digest = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt_b64), dklen=32, **_SCRYPT)
    return hmac.compare_digest(digest, base64.b64decode(digest_b64))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_admin(session: AsyncSession, email: str, password: str | None = None) -> tuple[ConsoleAdmin, str, str]:
    """Returns the admin, its password and its API token; both are shown once and stored hashed."""
    email = email.strip().lower()
    if (await session.execute(select(ConsoleAdmin).where(ConsoleAdmin.email == email))).first():
        raise Conflict(f"administrator {email} already exists", field="email")
    password = password or secrets.token_urlsafe(12)
    token = "atr_" + secrets.token_urlsafe(32)
    admin = ConsoleAdmin(email=email, password_hash=hash_password(password), api_token_hash=token_hash(token))
    session.add(admin)
    await session.flush()
    await audit.record(
        session,
        action="platform.admin.created",
        object_type="admin",
        object_id=admin.id,
        data={"email": email},
        actor="cli",
    )
    return admin, password, token


async def authenticate(session: AsyncSession, email: str, password: str) -> ConsoleAdmin | None:
    admin = (
        await session.execute(select(ConsoleAdmin).where(ConsoleAdmin.email == email.strip().lower()))
    ).scalar_one_or_none()
    if admin is None:
        hash_password(password)  # same work whether or not the account exists
        return None
    return admin if verify_password(password, admin.password_hash) else None


async def by_token(session: AsyncSession, token: str) -> ConsoleAdmin | None:
    stmt = select(ConsoleAdmin).where(ConsoleAdmin.api_token_hash == token_hash(token))
    return (await session.execute(stmt)).scalar_one_or_none()


async def count(session: AsyncSession) -> int:
    return (await session.execute(select(func.count()).select_from(ConsoleAdmin))).scalar_one()
