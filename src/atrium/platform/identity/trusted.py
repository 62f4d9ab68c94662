"""Trusted devices: a browser that passed the second factor may skip it for N days, where every
tenant of the person allows it (the strictest policy wins; 0 days means never). The cookie holds
``<id>.<secret>``; the table keeps the secret's SHA-256. A password reset forgets every device."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from atrium.core.db import utcnow
from atrium.core.errors import NotFound
from atrium.platform.identity import events, policies
from atrium.platform.identity.security_models import TrustedDevice

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncSession

    from atrium.platform.identity.models import User
    from atrium.runtime import Runtime

COOKIE = "atrium_td"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def remember(rt: Runtime, user: User, *, user_agent: str | None) -> tuple[str, dt.datetime] | None:
    """Trust this browser; returns (cookie value, expiry), or None where a policy forbids it."""
    async with rt.db.platform_session() as session, session.begin():
        rules = await policies.account_rules(session, rt.settings, user.id)
        if rules.trusted_device_days <= 0:
            return None
        secret = secrets.token_urlsafe(32)
        device = TrustedDevice(
            user_id=user.id,
            token_hash=_hash(secret),
            user_agent=(user_agent or "")[:300] or None,
            expires_at=utcnow() + dt.timedelta(days=rules.trusted_device_days),
        )
        session.add(device)
        await session.flush()
        await events.record(
            session,
            "user.trusted_device.added",
            user_id=user.id,
            object_type="trusted_device",
            object_id=device.id,
            data={"days": rules.trusted_device_days},
            actor=user.email,
        )
        return f"{device.id}.{secret}", device.expires_at


async def is_trusted(session: AsyncSession, settings_days: int, user_id: str, cookie: str | None) -> bool:
    """True when the cookie names a live device of this user, still within today's policy (a policy
    shortened since the device was trusted shortens the trust too)."""
    device_id, _, secret = (cookie or "").partition(".")
    if not device_id or not secret:
        return False
    device = await session.get(TrustedDevice, device_id)
    if device is None or device.user_id != user_id or device.revoked_at is not None:
        return False
    if not secrets.compare_digest(device.token_hash, _hash(secret)):
        return False
    now = utcnow()
    return device.expires_at > now and device.created_at + dt.timedelta(days=settings_days) > now


async def list_own(session: AsyncSession, user_id: str) -> Sequence[TrustedDevice]:
    rows = await session.execute(
        select(TrustedDevice)
        .where(
            TrustedDevice.user_id == user_id,
            TrustedDevice.revoked_at.is_(None),
            TrustedDevice.expires_at > utcnow(),
        )
        .order_by(TrustedDevice.created_at.desc())
    )
    return rows.scalars().all()


async def forget(session: AsyncSession, user: User, device_id: str | None = None) -> int:
    """Stop trusting one device of the user, or all of them; returns how many."""
    stmt = (
        update(TrustedDevice)
        .where(TrustedDevice.user_id == user.id, TrustedDevice.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    if device_id is not None:
        stmt = stmt.where(TrustedDevice.id == device_id)
    count = int((await session.execute(stmt)).rowcount)  # type: ignore[attr-defined]
    if device_id is not None and count == 0:
        raise NotFound(f"no trusted device {device_id!r}", field="device_id")
    if count:
        await events.record(
            session, "user.trusted_device.removed", user_id=user.id, data={"count": count}, actor=user.email
        )
    return count
