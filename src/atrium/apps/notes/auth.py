"""The permissions of notes, the attributes their row conditions may name, and the dependency
aliases routes declare (OpenAPI shows each operation's permission as its security scope)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Security

from atrium.apps.notes.models import Note
from atrium.platform.access.auth import Access, authorize, permission
from atrium.platform.access.catalog import Permission, declare
from atrium.platform.access.predicates import Resource, register

READ, CREATE, UPDATE, DELETE = "notes.note.read", "notes.note.create", "notes.note.update", "notes.note.delete"

declare(
    Permission(READ, "Read notes"),
    Permission(CREATE, "Write notes"),
    Permission(UPDATE, "Change notes"),
    Permission(DELETE, "Delete notes"),
)

NOTE = register(
    Resource(
        "notes.note",
        {
            "owner": (Note.owner_id, "user"),
            "department": (Note.department_id, "department"),
            "title": (Note.title, "string"),
        },
    )
)

CanRead = Annotated[Access, Security(authorize, scopes=permission(READ))]
CanCreate = Annotated[Access, Security(authorize, scopes=permission(CREATE))]
CanUpdate = Annotated[Access, Security(authorize, scopes=permission(UPDATE))]
CanDelete = Annotated[Access, Security(authorize, scopes=permission(DELETE))]
