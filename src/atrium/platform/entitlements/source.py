"""Where entitlements come from, and the snapshot a request checks.

``EntitlementSource`` is the seam for billing: today's ``TableSource`` lays a tenant's rows of
``tenant_entitlements`` over the catalogue's defaults; a plan-based source will lay the plan
first (and overrides on top), answering the same snapshot. Sources read through the caller's
platform session, so a check inside a transaction (seats) sees that transaction's state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from atrium.core.errors import ValidationFailed
from atrium.platform.entitlements import repository
from atrium.platform.entitlements.catalogue import DEFAULTS, Value, validate

DEFAULT = "default"
OVERRIDE = "override"


@dataclass(frozen=True, slots=True)
class Entitlements:
    """What one tenant may use, as of one read: every catalogue key has a value and a source
    (``default`` or ``override``; later also ``plan``). Immutable, so the cache can share it."""

    tenant_id: str
    values: Mapping[str, Value]
    sources: Mapping[str, str]

    def enabled(self, key: str) -> bool:
        """Whether a switch is on (an unknown key is off)."""
        return self.values.get(key) is True

    def limit(self, key: str) -> int | None:
        """A limit's number; None is unlimited."""
        value = self.values[key]
        if isinstance(value, bool):
            raise TypeError(f"{key} is a switch, not a limit")
        return value

    def module_enabled(self, name: str) -> bool:
        return self.enabled(f"module.{name}")


def merge(tenant_id: str, overrides: Mapping[str, object]) -> Entitlements:
    """The defaults with ``overrides`` laid over them. A stored key the catalogue no longer knows,
    or a stored value of the wrong kind, is ignored (the default stands) rather than trusted."""
    values: dict[str, Value] = dict(DEFAULTS)
    sources = dict.fromkeys(DEFAULTS, DEFAULT)
    for key, value in overrides.items():
        try:
            values[key] = validate(key, value)
        except ValidationFailed:
            continue
        sources[key] = OVERRIDE
    return Entitlements(tenant_id, MappingProxyType(values), MappingProxyType(sources))


class EntitlementSource(Protocol):
    """Answers a tenant's entitlements; billing will provide a plan-based one."""

    async def snapshot(self, session: AsyncSession, tenant_id: str) -> Entitlements: ...


class TableSource:
    """Today's source: the catalogue's defaults, overridden per tenant by a Platform Admin."""

    async def snapshot(self, session: AsyncSession, tenant_id: str) -> Entitlements:
        rows = await repository.overrides(session, tenant_id)
        return merge(tenant_id, {row.key: row.value for row in rows})
