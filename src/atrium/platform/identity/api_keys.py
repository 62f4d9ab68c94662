"""API keys: created by a member for one tenant, shown once, stored hashed, expiring, revocable.

Scopes are recorded now (``module.resource.action`` or ``*``) and enforced once access control
lands; until then a key can do in its tenant what its owner's membership allows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.core.db import utcnow
from atrium.core.errors import Forbidden, NotFound
from atrium.platform.identity import events
from atrium.platform.identity.models import ApiKey, Membership, User

if TYPE_CHECKING:
    from atrium.runtime import Runtime

KEY_PREFIX = "atk_"


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def create(
    session: AsyncSession,
    user: User,
    tenant_id: str | None,
    *,
    name: str,
    scopes: list[str],
    expires_in_days: int | None,
) -> tuple[ApiKey, str]:
    """Returns the record and the key itself, which is never shown again. Without a tenant the
    key is a platform key, which only a platform administrator may hold."""
    if tenant_id is None:
        if not user.is_platform_admin:
            raise Forbidden("only platform administrators may hold platform keys", field="tenant")
    elif await session.get(Membership, (user.id, tenant_id)) is None:
        raise NotFound("no such tenant among yours", field="tenant")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    record = ApiKey(
        user_id=user.id,
        tenant_id=tenant_id,
        name=name,
        prefix=key[:12],
        key_hash=_hash(key),
        scopes=scopes,
        expires_at=utcnow() + dt.timedelta(days=expires_in_days) if expires_in_days else None,
    )
    session.add(record)
    await session.flush()
    await events.record(
        session,
        "user.api_key.created",
        user_id=user.id,
        object_type="api_key",
        object_id=record.id,
        tenant_id=tenant_id,
        data={"name": name, "prefix": record.prefix, "scopes": scopes},
        actor=user.email,
    )
    return record, key


async def list_own(session: AsyncSession, user: User) -> Sequence[ApiKey]:
    stmt = select(ApiKey).where(ApiKey.user_id == user.id).order_by(ApiKey.created_at.desc())
    return (await session.execute(stmt)).scalars().all()


async def revoke(session: AsyncSession, user: User, key_id: str) -> ApiKey:
    record = await session.get(ApiKey, key_id)
    if record is None or record.user_id != user.id:
        raise NotFound(f"no API key {key_id!r}", field="key_id")
    if record.revoked_at is None:
        record.revoked_at = utcnow()
        _forget(record.id)
        await events.record(
            session,
            "user.api_key.revoked",
            user_id=user.id,
            object_type="api_key",
            object_id=record.id,
            tenant_id=record.tenant_id,
            actor=user.email,
        )
    return record


# key hash → (monotonic deadline, owner and key): a hot key costs no query. Revocation drops the
# entry in this process at once; other processes notice within ``api_key_cache_seconds``.
_verified: dict[str, tuple[float, tuple[User, ApiKey]]] = {}


async def authenticate(rt: Runtime, key: str) -> tuple[User, ApiKey] | None:
    """The owner and key behind a presented key, if it is live and its owner still a member."""
    digest = _hash(key)
    hit = _verified.get(digest)
    now = time.monotonic()
    if hit is not None and hit[0] > now:
        record = hit[1][1]
        if record.expires_at is None or record.expires_at > utcnow():
            return hit[1]
    found = await _lookup(rt, key)
    if found is None:
        _verified.pop(digest, None)
    else:
        if len(_verified) > 10_000:
            _verified.clear()
        _verified[digest] = (now + rt.settings.api_key_cache_seconds, found)
    return found


async def _lookup(rt: Runtime, key: str) -> tuple[User, ApiKey] | None:
    async with rt.db.platform_session() as session:
        record = (await session.execute(select(ApiKey).where(ApiKey.key_hash == _hash(key)))).scalar_one_or_none()
        if record is None or record.revoked_at is not None:
            return None
        if record.expires_at is not None and record.expires_at <= utcnow():
            return None
        user = await session.get(User, record.user_id)
        if user is None:
            return None
        if record.tenant_id is None:  # a platform key
            return (user, record) if user.is_platform_admin else None
        membership = await session.get(Membership, (record.user_id, record.tenant_id))
        if membership is None or not membership.active:
            return None
    return user, record


def _forget(key_id: str) -> None:
    for digest, (_, (_, record)) in list(_verified.items()):
        if record.id == key_id:
            _verified.pop(digest, None)
