"""Rules of notes: every change is audited in the platform session of the same request."""

from __future__ import annotations

from atrium.api.deps import TenantContext
from atrium.apps.notes import repository
from atrium.apps.notes.models import Note
from atrium.apps.notes.schemas import NoteCreate, NoteUpdate
from atrium.core import context
from atrium.core.audit import service as audit
from atrium.core.errors import NotFound


async def get(ctx: TenantContext, note_id: str) -> Note:
    note = await repository.get(ctx.session, note_id)
    if note is None:
        raise NotFound(f"no note {note_id!r}", field="note_id")
    return note


async def create(ctx: TenantContext, data: NoteCreate) -> Note:
    note = Note(title=data.title, body=data.body, author=context.actor.get())
    ctx.session.add(note)
    await ctx.session.flush()
    await audit.record(
        ctx.platform, action="notes.note.created", tenant_id=ctx.tenant.id, object_type="note", object_id=note.id
    )
    return note


async def update(ctx: TenantContext, note_id: str, data: NoteUpdate) -> Note:
    note = await get(ctx, note_id)
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    for field, value in changes.items():
        setattr(note, field, value)
    await ctx.session.flush()
    await audit.record(
        ctx.platform,
        action="notes.note.updated",
        tenant_id=ctx.tenant.id,
        object_type="note",
        object_id=note.id,
        data={"fields": sorted(changes)},
    )
    return note


async def delete(ctx: TenantContext, note_id: str) -> None:
    note = await get(ctx, note_id)
    await ctx.session.delete(note)
    await ctx.session.flush()
    await audit.record(
        ctx.platform, action="notes.note.deleted", tenant_id=ctx.tenant.id, object_type="note", object_id=note_id
    )
