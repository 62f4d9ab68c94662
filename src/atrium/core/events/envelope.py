"""CloudEvents 1.0 envelope with Atrium's extension attributes (tenantid, userid, correlationid)."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from atrium.core import context
from atrium.core.db import utcnow

TOPICS = (
    "user.events",
    "billing.events",
    "ai.inference",
    "integrations.events",
    "workflow.events",
    "closing.events",
    "tenant.events",
    "finance.events",
)


class CloudEvent(BaseModel):
    """Structured-mode CloudEvent; ``type`` is `<topic-stem>.<what happened>` (e.g. tenant.created)."""

    model_config = ConfigDict(extra="allow")

    specversion: str = "1.0"
    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    source: str = "/atrium"
    type: str
    subject: str | None = None
    time: str = Field(default_factory=lambda: utcnow().isoformat())
    datacontenttype: str = "application/json"
    data: dict[str, Any] = Field(default_factory=dict)
    topic: str | None = None
    tenantid: str | None = None
    userid: str | None = None
    correlationid: str | None = None


def make_event(
    topic: str,
    type_: str,
    data: dict[str, Any],
    *,
    tenant_id: str | None = None,
    subject: str | None = None,
    source: str = "/atrium",
) -> CloudEvent:
    return CloudEvent(
        topic=topic,
        type=type_,
        data=data,
        subject=subject,
        source=source,
        tenantid=tenant_id,
        userid=context.user_id.get() or context.actor.get(),
        correlationid=context.correlation_id.get() or context.request_id.get(),
    )
