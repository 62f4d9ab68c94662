"""API shapes of entitlements."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainValidator


class EntitlementRead(BaseModel):
    key: str = Field(examples=["module.notes"])
    group: str = Field(description="module, feature, seats or quota.")
    kind: str = Field(description="bool (a switch) or int (a limit; null is unlimited).")
    title: str
    description: str
    value: bool | int | None = Field(description="What the tenant has now.")
    default: bool | int | None = Field(description="The default plan's value.")
    source: str = Field(description="default, or override (set by a Platform Admin).")
    updated_at: dt.datetime | None = None
    updated_by: str | None = None


def _scalar(value: object) -> bool | int | None:
    """One error naming ``value`` (not one per member of a union); the kind is checked by the
    catalogue, which knows the key."""
    if value is None or isinstance(value, bool | int):
        return value
    raise ValueError("must be true, false, a whole number, or null")


Scalar = Annotated[bool | int | None, PlainValidator(_scalar, json_schema_input_type=bool | int | None)]


class EntitlementWrite(BaseModel):
    """An override: true/false for a module or feature, a whole number ≥ 0 or null (unlimited) for
    seats and quotas. Strict: ``1`` is not true and ``"5"`` is not a number."""

    model_config = ConfigDict(extra="forbid")

    value: Scalar = Field(examples=[False, 25, None])
