"""/api/v1/tenants/{tenant}/notes: thin glue over the service. Each route declares its permission."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response, status

from atrium.api.routing import APIRouter
from atrium.apps.notes import service
from atrium.apps.notes.auth import CanCreate, CanDelete, CanRead, CanUpdate
from atrium.apps.notes.schemas import NoteCreate, NoteRead, NoteUpdate
from atrium.platform.entitlements.deps import module_guard

router = APIRouter(prefix="/api/v1/tenants/{tenant}/notes", tags=["notes"], guards=[module_guard("notes")])


@router.get("", response_model=list[NoteRead])
async def list_notes(
    access: CanRead,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[NoteRead]:
    """The notes the caller may read: row conditions of their roles apply."""
    return [NoteRead.model_validate(n) for n in await service.list_notes(access, limit=limit, offset=offset)]


@router.post("", response_model=NoteRead, status_code=status.HTTP_201_CREATED)
async def create_note(access: CanCreate, data: NoteCreate) -> NoteRead:
    return NoteRead.model_validate(await service.create(access, data))


@router.get("/{note_id}", response_model=NoteRead)
async def get_note(access: CanRead, note_id: str) -> NoteRead:
    return NoteRead.model_validate(await service.get(access, note_id))


@router.patch("/{note_id}", response_model=NoteRead)
async def update_note(access: CanUpdate, note_id: str, data: NoteUpdate) -> NoteRead:
    return NoteRead.model_validate(await service.update(access, note_id, data))


@router.delete("/{note_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_note(access: CanDelete, note_id: str) -> Response:
    await service.delete(access, note_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
