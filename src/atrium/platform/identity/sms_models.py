"""Control-plane table of the SMS second factor; its one-time codes live in ``email_tokens``."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from atrium.core.db import ControlBase, UTCDateTime, utcnow


class SmsFactor(ControlBase):
    """A phone that receives sign-in codes. Unconfirmed until a code sent to it comes back, and
    usable only while an SMS provider is configured."""

    __tablename__ = "sms_factors"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    phone_e164: Mapped[str] = mapped_column(String(16))
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
