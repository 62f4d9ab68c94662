"""The tenant's SCIM bearer token: created (or rotated) by a Tenant Admin, shown once, stored as
SHA-256, revocable. The token alone names the tenant, so every IdP uses the same base URL.

These functions take a platform session and never commit: an API route or a console view owns
the transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.core.db import utcnow
from atrium.platform.identity import events
from atrium.platform.identity.scim.models import ScimToken
from atrium.platform.tenancy.models import Tenant

if TYPE_CHECKING:
    from atrium.runtime import Runtime

TOKEN_PREFIX = "scim_"
_TOUCH_EVERY = dt.timedelta(seconds=60)


class TokenStatus(BaseModel):
    """Whether the tenant has a live SCIM token, and when it was made and last used (never the token)."""

    exists: bool = Field(description="Whether a live token exists.")
    prefix: str | None = Field(None, description="The first characters of the token, to recognise it.")
    created_at: dt.datetime | None = Field(None, description="When the live token was created.")
    created_by: str | None = Field(None, description="Who created it.")
    last_used_at: dt.datetime | None = Field(None, description="When an IdP last used it (minute precision).")


class TokenCreated(TokenStatus):
    token: str = Field(description="The bearer token for the IdP. Shown this once; store it in the IdP now.")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def _live(session: AsyncSession, tenant_id: str) -> ScimToken | None:
    stmt = (
        select(ScimToken)
        .where(ScimToken.tenant_id == tenant_id, ScimToken.revoked_at.is_(None))
        .order_by(ScimToken.created_at.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def _revoke_all(session: AsyncSession, tenant_id: str) -> int:
    result = await session.execute(
        update(ScimToken)
        .where(ScimToken.tenant_id == tenant_id, ScimToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def create_token(session: AsyncSession, tenant_id: str, actor: str) -> str:
    """A new token for the tenant's IdP; any previous one stops working at once (rotation)."""
    rotated = await _revoke_all(session, tenant_id)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = ScimToken(tenant_id=tenant_id, prefix=token[:13], token_hash=_hash(token), created_by=actor)
    session.add(record)
    await session.flush()
    await events.record(
        session,
        "scim.token.created",
        user_id=None,
        object_type="scim_token",
        object_id=record.id,
        tenant_id=tenant_id,
        data={"prefix": record.prefix, "rotated": rotated > 0},
        actor=actor,
    )
    return token


async def token_status(session: AsyncSession, tenant_id: str) -> TokenStatus:
    record = await _live(session, tenant_id)
    if record is None:
        return TokenStatus(exists=False)
    return TokenStatus(
        exists=True,
        prefix=record.prefix,
        created_at=record.created_at,
        created_by=record.created_by,
        last_used_at=record.last_used_at,
    )


async def revoke_token(session: AsyncSession, tenant_id: str, actor: str) -> bool:
    """Revoke the tenant's token; False when there was none."""
    record = await _live(session, tenant_id)
    if record is None:
        return False
    await _revoke_all(session, tenant_id)
    await events.record(
        session,
        "scim.token.revoked",
        user_id=None,
        object_type="scim_token",
        object_id=record.id,
        tenant_id=tenant_id,
        data={"prefix": record.prefix},
        actor=actor,
    )
    return True


async def authenticate(rt: Runtime, token: str) -> tuple[str, str] | None:
    """The tenant id and token prefix behind a presented token, when it is live and its tenant active.
    Records the use at most once a minute, so a busy IdP does not write on every request."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    async with rt.db.platform_session() as session, session.begin():
        row = (
            await session.execute(
                select(ScimToken, Tenant.status)
                .join(Tenant, Tenant.id == ScimToken.tenant_id)
                .where(ScimToken.token_hash == _hash(token), ScimToken.revoked_at.is_(None))
            )
        ).one_or_none()
        if row is None:
            return None
        record, status = row
        if status != "active":
            return None
        now = utcnow()
        if record.last_used_at is None or now - record.last_used_at > _TOUCH_EVERY:
            record.last_used_at = now
        return record.tenant_id, record.prefix
