"""Outbox, processed-event ledger and dead letters."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from atrium.core.db import ControlBase, UTCDateTime, utcnow


class OutboxEvent(ControlBase):
    __tablename__ = "outbox"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    topic: Mapped[str] = mapped_column(String(60))
    envelope: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)


class ProcessedEvent(ControlBase):
    """One row per (consumer, event): a redelivered event is recognised and skipped."""

    __tablename__ = "processed_events"

    consumer: Mapped[str] = mapped_column(String(100), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    processed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DeadLetter(ControlBase):
    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    consumer: Mapped[str] = mapped_column(String(100), index=True)
    event_id: Mapped[str] = mapped_column(String(36))
    topic: Mapped[str] = mapped_column(String(60))
    envelope: Mapped[dict[str, Any]] = mapped_column(JSON)
    error: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    failed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    replayed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
