"""Rules of notes: every change is audited in the platform session of the same request, and the
access service decides, row by row, who may read, change or delete which note."""

from __future__ import annotations

from collections.abc import Sequence

from atrium.apps.notes import repository
from atrium.apps.notes.auth import CREATE, DELETE, READ, UPDATE
from atrium.apps.notes.models import Note
from atrium.apps.notes.schemas import NoteCreate, NoteUpdate
from atrium.core import context
from atrium.core.audit import service as audit
from atrium.core.errors import NotFound
from atrium.platform.access.auth import Access
from atrium.platform.access.exceptions import PermissionDenied


async def list_notes(access: Access, *, limit: int = 100, offset: int = 0) -> Sequence[Note]:
    return await repository.list_notes(access.session, access.filter(READ, repository.newest_first()), limit, offset)


async def get(access: Access, note_id: str) -> Note:
    """A note the caller may not read is not found, exactly as the list leaves it out."""
    note = await repository.get(access.session, note_id)
    if note is None or not access.check(READ, note):
        raise NotFound(f"no note {note_id!r}", field="note_id")
    return note


async def create(access: Access, data: NoteCreate) -> Note:
    department = data.department_id if data.department_id is not None else access.subject.department_id
    note = Note(
        title=data.title,
        body=data.body,
        author=context.actor.get(),
        owner_id=access.principal.id,
        department_id=department,
    )
    if not access.check(CREATE, note):
        raise PermissionDenied(CREATE, "your roles do not let you write a note there")
    access.session.add(note)
    await access.session.flush()
    await audit.record(
        access.platform, action="notes.note.created", tenant_id=access.tenant.id, object_type="note", object_id=note.id
    )
    return note


async def update(access: Access, note_id: str, data: NoteUpdate) -> Note:
    note = await get(access, note_id)
    if not access.check(UPDATE, note):
        raise PermissionDenied(UPDATE, "your roles let you read this note, not change it")
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    if "department_id" in data.model_fields_set:  # null takes the note out of any department
        changes["department_id"] = data.department_id
    for field, value in changes.items():
        setattr(note, field, value)
    if not access.check(UPDATE, note):  # nor move it where the caller could not change it
        raise PermissionDenied(UPDATE, "your roles do not let you move the note there")
    await access.session.flush()
    await audit.record(
        access.platform,
        action="notes.note.updated",
        tenant_id=access.tenant.id,
        object_type="note",
        object_id=note.id,
        data={"fields": sorted(changes)},
    )
    return note


async def delete(access: Access, note_id: str) -> None:
    note = await get(access, note_id)
    if not access.check(DELETE, note):
        raise PermissionDenied(DELETE, "your roles let you read this note, not delete it")
    await access.session.delete(note)
    await access.session.flush()
    await audit.record(
        access.platform, action="notes.note.deleted", tenant_id=access.tenant.id, object_type="note", object_id=note_id
    )
