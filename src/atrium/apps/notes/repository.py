"""Queries on notes; the tenant session adds the tenant filter, so none appears here."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.apps.notes.models import Note


async def get(session: AsyncSession, note_id: str) -> Note | None:
    return (await session.execute(select(Note).where(Note.id == note_id))).scalar_one_or_none()


async def list_notes(session: AsyncSession, *, limit: int = 100, offset: int = 0) -> Sequence[Note]:
    stmt = select(Note).order_by(Note.created_at.desc(), Note.id).limit(limit).offset(offset)
    return (await session.execute(stmt)).scalars().all()
