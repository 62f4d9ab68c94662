"""The audit trail: append-only rows, one hash chain per tenant and one for the platform."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from atrium.core.db import ControlBase, UTCDateTime, utcnow

PLATFORM_CHAIN = "platform"


class AuditEvent(ControlBase):
    __tablename__ = "audit_events"
    __table_args__ = (
        UniqueConstraint("chain", "seq"),
        Index("ix_audit_events_tenant_time", "tenant_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    chain: Mapped[str] = mapped_column(String(36))
    seq: Mapped[int] = mapped_column(BigInteger)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    tenant_id: Mapped[str | None] = mapped_column(String(36), default=None)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100), index=True)
    object_type: Mapped[str | None] = mapped_column(String(60), default=None)
    object_id: Mapped[str | None] = mapped_column(String(200), default=None)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    request_id: Mapped[str | None] = mapped_column(String(64), default=None)
    correlation_id: Mapped[str | None] = mapped_column(String(64), default=None)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(ControlBase):
    """The last link of each chain; locked while appending so links never fork."""

    __tablename__ = "audit_chain_heads"

    chain: Mapped[str] = mapped_column(String(36), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(ControlBase):
    """A signed statement "chain C had hash H at seq N", so a rewritten chain is caught."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chain: Mapped[str] = mapped_column(String(36), index=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(Text)
