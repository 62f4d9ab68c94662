"""Request and response bodies. The shape is checked here (operators, percent, key format);
whether values fit the flag's type is checked by ``service.check_*``, which knows the type."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from atrium.platform.flags.evaluation import TARGETING_KEY, Operator, ValueType

KEY_PATTERN = r"^[a-z][a-z0-9_]*(?:[.-][a-z0-9_]+)*$"
ATTRIBUTE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.:-]*$"
Scalar = str | int | float | bool


class ConditionIn(BaseModel):
    """``attribute`` of the evaluation context (``targeting_key`` is the user id), compared by
    ``operator`` with ``values``: eq, neq, lt and gt take one value; in, not_in, contains and
    ends_with one or more (any of them)."""

    model_config = ConfigDict(extra="forbid")

    attribute: str = Field(min_length=1, max_length=100, pattern=ATTRIBUTE_PATTERN)
    operator: Operator
    values: list[Scalar] = Field(min_length=1, max_length=1000)


class RuleIn(BaseModel):
    """Serve ``value`` when every condition holds."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=100, description="Shown as the variant when the rule matches.")
    conditions: list[ConditionIn] = Field(min_length=1, max_length=20)
    value: Any = Field(description="The value served; of the flag's type.")


class RolloutIn(BaseModel):
    """Serve ``value`` to ``percent`` % of users (or of the units named by ``bucket_by``)."""

    model_config = ConfigDict(extra="forbid")

    percent: float = Field(ge=0, le=100, description="0–100, two decimals (finer is rounded).")
    value: Any = Field(description="The value served inside the rollout; of the flag's type.")
    bucket_by: str = Field(TARGETING_KEY, min_length=1, max_length=100, pattern=ATTRIBUTE_PATTERN)


class UserTargetIn(BaseModel):
    """Serve ``value`` to these users (targeting keys)."""

    model_config = ConfigDict(extra="forbid")

    users: list[str] = Field(min_length=1, max_length=1000)
    value: Any


class FlagCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=2, max_length=100, pattern=KEY_PATTERN, description="e.g. `billing.new-invoice-editor`")
    description: str = Field("", max_length=500)
    value_type: ValueType
    default_value: Any = Field(description="Served when nothing else applies, and while the flag is disabled.")
    enabled: bool = True
    rules: list[RuleIn] = Field(default_factory=list, max_length=50)
    rollout: RolloutIn | None = None


class FlagUpdate(BaseModel):
    """Change the given fields (``rollout: null`` removes the rollout). The key and the value type
    stay: create another flag to change them."""

    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(None, max_length=500)
    default_value: Any = None
    enabled: bool | None = None
    rules: list[RuleIn] | None = Field(None, max_length=50)
    rollout: RolloutIn | None = None


class OverrideWrite(BaseModel):
    """A tenant's whole override of one flag (PUT replaces it)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="False turns the flag off in the tenant (its default value, DISABLED).")
    value: Any = Field(None, description="Served to the rest of the tenant; null: fall through to the platform.")
    targets: list[UserTargetIn] = Field(default_factory=list, max_length=50)
    rules: list[RuleIn] = Field(default_factory=list, max_length=50)
    rollout: RolloutIn | None = None


class OverrideRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    enabled: bool
    value: Any
    targets: list[dict[str, Any]]
    rules: list[dict[str, Any]]
    rollout: dict[str, Any] | None
    updated_at: dt.datetime
    updated_by: str | None


class FlagRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    key: str
    description: str
    value_type: str
    default_value: Any
    enabled: bool
    rules: list[dict[str, Any]]
    rollout: dict[str, Any] | None
    created_at: dt.datetime
    updated_at: dt.datetime
    updated_by: str | None


class EvaluateRequest(BaseModel):
    """An OpenFeature evaluation context."""

    model_config = ConfigDict(extra="forbid")

    targeting_key: str | None = Field(None, max_length=300, description="Usually the user id.")
    attributes: dict[str, Any] = Field(default_factory=dict, description="e.g. tenant_id, email.")


class EvaluationRead(BaseModel):
    key: str
    value: Any
    reason: str
    variant: str | None
    error_code: str | None = None
    error_message: str | None = None


class TenantFlagRead(BaseModel):
    """A flag as a tenant sees it: its value for the caller, and the tenant's override."""

    key: str
    description: str
    value_type: str
    enabled: bool
    value: Any
    reason: str
    variant: str | None
    override: OverrideRead | None
