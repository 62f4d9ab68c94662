"""Notes: the smallest business module, and the pattern every module follows."""

from __future__ import annotations

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from atrium.core.db import TenantBase, TenantScoped, Timestamped, new_id


class Note(TenantBase, TenantScoped, Timestamped):
    __tablename__ = "notes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str | None] = mapped_column(String(200), default=None)
    # What row conditions compare: the person who wrote it and the department it belongs to.
    owner_id: Mapped[str | None] = mapped_column(String(36), default=None, index=True)
    department_id: Mapped[str | None] = mapped_column(String(36), default=None, index=True)
