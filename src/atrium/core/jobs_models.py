"""Periodic job schedule: the row is the lease, so two workers never run one slot twice."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from atrium.core.db import ControlBase, UTCDateTime


class JobSchedule(ControlBase):
    __tablename__ = "job_schedule"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    next_run_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    holder: Mapped[str | None] = mapped_column(String(100), default=None)
    runs: Mapped[int] = mapped_column(Integer, default=0)
    last_started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_error: Mapped[str | None] = mapped_column(String(2000), default=None)
