"""Finance's audit events: every posting, reversal, reconciliation and lock change is one, written
in the same unit of work as the change and attributed to the person (or job) acting."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from atrium.core.audit import service as audit
from atrium.platform.access.auth import Access


async def record(access: Access, action: str, object_type: str, object_id: str, data: dict[str, Any]) -> None:
    await audit.record(
        access.platform,
        action=action,
        tenant_id=access.tenant.id,
        actor=access.principal.id,
        object_type=object_type,
        object_id=object_id,
        data=data,
    )


async def record_many(access: Access, events: Sequence[tuple[str, str, str, dict[str, Any]]]) -> None:
    """``(action, object_type, object_id, data)`` each, written together (a batch of postings)."""
    await audit.record_many(access.platform, events, tenant_id=access.tenant.id, actor=access.principal.id)
