"""Every entitlement there is, in code: its key, its kind and the default plan's value.

A key that is not here cannot be stored or checked, so a typo fails at import time (a route's
dependency) or answers 422 (an override), never silently allows or denies. The defaults are the
"default plan" every tenant has until billing brings real plans: every module and the everyday
features on, the enterprise features (SSO, SCIM, audit export) on too so the demo shows them,
the AI copilot off (it costs money per call), and no limit on seats or quotas.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from atrium.core.errors import ValidationFailed

# An entitlement's value: a switch (bool) or a limit (int; None = unlimited).
Value = bool | int | None

MAX_LIMIT = 2**53 - 1  # the largest integer every JSON reader (JavaScript too) keeps exactly


class Kind(enum.StrEnum):
    switch = "bool"  # on or off: modules and features
    limit = "int"  # a whole number ≥ 0, or None for unlimited: seats and quotas


@dataclass(frozen=True)
class Definition:
    key: str
    kind: Kind
    default: Value
    title: str
    description: str

    @property
    def group(self) -> str:
        """``module``, ``feature``, ``seats`` or ``quota``: the part before the dot."""
        return self.key.partition(".")[0]


def _module(name: str, title: str) -> Definition:
    return Definition(f"module.{name}", Kind.switch, True, title, f"The {title} module's API and pages.")


DEFINITIONS: tuple[Definition, ...] = (
    _module("notes", "Notes"),
    _module("finance", "Finance"),
    _module("crm", "CRM"),
    _module("hr", "HR"),
    _module("projects", "Projects"),
    _module("support", "Support"),
    _module("analytics", "Analytics"),
    _module("documents", "Documents"),
    Definition("feature.ai_copilot", Kind.switch, False, "AI copilot", "Assistant answers drafted by a model."),
    Definition("feature.sso", Kind.switch, True, "Single sign-on", "OIDC and SAML sign-in through the tenant's IdP."),
    Definition("feature.scim", Kind.switch, True, "SCIM provisioning", "Users and groups pushed by the IdP."),
    Definition("feature.api_access", Kind.switch, True, "API access", "API keys and OAuth clients."),
    Definition("feature.audit_export", Kind.switch, True, "Audit export", "Download of the audit trail."),
    Definition("seats", Kind.limit, None, "Seats", "Active members the tenant may have (empty: unlimited)."),
    Definition("quota.storage_mb", Kind.limit, None, "Storage (MB)", "File storage in megabytes."),
    Definition("quota.ai_credits_monthly", Kind.limit, None, "AI credits per month", "Model calls per month."),
    Definition("quota.api_calls_daily", Kind.limit, None, "API calls per day", "Requests to the API per day."),
)

CATALOGUE: dict[str, Definition] = {d.key: d for d in DEFINITIONS}
DEFAULTS: dict[str, Value] = {d.key: d.default for d in DEFINITIONS}
SEATS = "seats"


def definition(key: str) -> Definition:
    """The entitlement named ``key``; an unknown key is refused naming the field ``key``."""
    found = CATALOGUE.get(key)
    if found is None:
        raise ValidationFailed(f"unknown entitlement {key!r}; known: {', '.join(CATALOGUE)}", field="key", key=key)
    return found


def validate(key: str, value: object) -> Value:
    """The value an override of ``key`` may hold, or 422 naming the field ``value``: a switch takes
    true or false, a limit a whole number from 0 (or null for unlimited). Booleans are not numbers
    here, nor numbers booleans, so ``1`` never turns a module on by accident."""
    found = definition(key)
    if found.kind is Kind.switch:
        if not isinstance(value, bool):
            raise ValidationFailed(f"{key} takes true or false", field="value", entitlement=key)
        return value
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(f"{key} takes a whole number, or null for unlimited", field="value", entitlement=key)
    if value < 0:
        raise ValidationFailed(f"{key} must not be negative", field="value", entitlement=key)
    if value > MAX_LIMIT:
        raise ValidationFailed(f"{key} may be at most {MAX_LIMIT}", field="value", entitlement=key)
    return value
