from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field


class NoteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200, description="Short title.")
    body: str = Field("", max_length=100_000, description="Free text.")
    department_id: str | None = Field(None, max_length=36, description="Default: the writer's department.")


class NoteUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(None, min_length=1, max_length=200)
    body: str | None = Field(None, max_length=100_000)
    department_id: str | None = Field(None, max_length=36)


class NoteRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    title: str
    body: str
    author: str | None
    owner_id: str | None
    department_id: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
