"""Every identity change is recorded twice, under one name: an audit event (the tamper-evident
trail) and a ``user.events`` event (for consumers). One function, so none is ever missed."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from atrium.core.audit import service as audit
from atrium.core.events.outbox import publish


async def record(
    session: AsyncSession,
    action: str,
    *,
    user_id: str | None,
    object_type: str = "user",
    object_id: str | None = None,
    tenant_id: str | None = None,
    data: dict[str, Any] | None = None,
    actor: str | None = None,
) -> None:
    """Write both in the caller's transaction."""
    await audit.record(
        session,
        action=action,
        tenant_id=tenant_id,
        object_type=object_type,
        object_id=object_id or user_id,
        data=data,
        actor=actor,
    )
    payload = {"user_id": user_id, **({"object_id": object_id} if object_id else {}), **(data or {})}
    await publish(session, "user.events", action, payload, tenant_id=tenant_id, subject=user_id)
