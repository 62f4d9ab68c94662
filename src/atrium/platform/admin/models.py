"""The console's stand-in administrator until identity lands."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from atrium.core.db import ControlBase, Timestamped, new_id


class ConsoleAdmin(ControlBase, Timestamped):
    __tablename__ = "console_admins"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    api_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
