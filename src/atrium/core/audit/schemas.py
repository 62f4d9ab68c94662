from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AuditEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    chain: str
    seq: int
    occurred_at: dt.datetime
    tenant_id: str | None
    actor: str
    action: str
    object_type: str | None
    object_id: str | None
    data: dict[str, Any]
    request_id: str | None
    correlation_id: str | None
    hash: str


class AuditPage(BaseModel):
    items: list[AuditEventRead]
    next_before: int | None = Field(None, description="Pass as `before` to get the next (older) page.")


class ChainReportRead(BaseModel):
    chain: str
    ok: bool
    checked: int
    checkpoints: int
    broken_seq: int | None
    broken_id: int | None
    reason: str | None
