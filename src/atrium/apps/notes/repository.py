"""Queries on notes; the tenant session adds the tenant filter and the access service the row
conditions, so neither appears here."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.apps.notes.models import Note


async def get(session: AsyncSession, note_id: str) -> Note | None:
    return (await session.execute(select(Note).where(Note.id == note_id))).scalar_one_or_none()


def newest_first() -> Select[Note]:
    return select(Note).order_by(Note.created_at.desc(), Note.id)


async def list_notes(session: AsyncSession, query: Select[Note], limit: int, offset: int) -> Sequence[Note]:
    return (await session.execute(query.limit(limit).offset(offset))).scalars().all()
