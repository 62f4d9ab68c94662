"""/api/v1/tenants/{tenant}/notes: thin glue over the service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from atrium.api.deps import Tenant
from atrium.apps.notes import repository, service
from atrium.apps.notes.schemas import NoteCreate, NoteRead, NoteUpdate

router = APIRouter(prefix="/api/v1/tenants/{tenant}/notes", tags=["notes"])


@router.get("", response_model=list[NoteRead])
async def list_notes(
    tenant: Tenant, limit: Annotated[int, Query(ge=1, le=500)] = 100, offset: Annotated[int, Query(ge=0)] = 0
) -> list[NoteRead]:
    return [NoteRead.model_validate(n) for n in await repository.list_notes(tenant.session, limit=limit, offset=offset)]


@router.post("", response_model=NoteRead, status_code=status.HTTP_201_CREATED)
async def create_note(tenant: Tenant, data: NoteCreate) -> NoteRead:
    return NoteRead.model_validate(await service.create(tenant, data))


@router.get("/{note_id}", response_model=NoteRead)
async def get_note(tenant: Tenant, note_id: str) -> NoteRead:
    return NoteRead.model_validate(await service.get(tenant, note_id))


@router.patch("/{note_id}", response_model=NoteRead)
async def update_note(tenant: Tenant, note_id: str, data: NoteUpdate) -> NoteRead:
    return NoteRead.model_validate(await service.update(tenant, note_id, data))


@router.delete("/{note_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_note(tenant: Tenant, note_id: str) -> Response:
    await service.delete(tenant, note_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
