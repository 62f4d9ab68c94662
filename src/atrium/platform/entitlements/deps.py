"""The request-path check, as a router guard or as a dependency.

    router = APIRouter(prefix="/api/v1/tenants/{tenant}/notes", guards=[module_guard("notes")])

A guard runs before any of the router's routes resolves a dependency (``atrium.api.routing``);
``require_entitlement`` gives the same check as a dependency, for a single route. Either resolves
``{tenant}`` the way ``TenantContext`` does (the registry cache, the caller's right to enter, the
tenant's status) and looks the entitlement up in the per-process snapshot cache: no query when
both caches are warm. The caller is authenticated once per request (``principal_of``), so the
route's own dependencies reuse it. A tenant without the entitlement answers 403
``entitlement-missing`` naming it; the tenant's IP allowlist and MFA rule are still enforced by
the route's ``Tenant`` dependency.
"""

# No ``from __future__ import annotations``: FastAPI reads EntitlementCheck.__call__'s annotations
# as objects (an instance has no module globals to resolve strings against).
from typing import Annotated, Any

from fastapi import Depends, Path, Request

from atrium.api.deps import CurrentPrincipal, RuntimeDep, principal_of, resolve_tenant, runtime_of
from atrium.api.routing import Guard
from atrium.platform.entitlements import service
from atrium.platform.entitlements.catalogue import Kind, definition
from atrium.platform.entitlements.exceptions import EntitlementMissing
from atrium.platform.entitlements.source import Entitlements

TenantKey = Annotated[str, Path(description="Tenant id or slug.")]


class EntitlementCheck:
    """Callable dependency: the tenant's entitlements, once ``key`` is known to be on."""

    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        if definition(key).kind is not Kind.switch:
            raise ValueError(f"{key} is a limit, not a switch: check it where it is used up")
        self.key = key

    async def __call__(self, request: Request, tenant: TenantKey) -> Entitlements:
        rt = runtime_of(request)
        ref = await resolve_tenant(rt, tenant, await principal_of(request))
        found = await service.cache.get(rt.db, ref.id)
        if found.values.get(self.key) is not True:
            raise EntitlementMissing(self.key, ref.slug)
        return found

    def __repr__(self) -> str:
        return f"EntitlementCheck({self.key!r})"


def require_entitlement(key: str) -> Any:
    """``Depends`` on a switch (``module.*`` or ``feature.*``); an unknown key or a limit fails at
    import time, never on a request."""
    return Depends(EntitlementCheck(key))


def require_module(name: str) -> Any:
    """``require_entitlement("module.<name>")``, as a dependency."""
    return require_entitlement(f"module.{name}")


def entitlement_guard(key: str) -> Guard:
    """The same check as a router guard, run before the router's routes resolve any dependency."""
    check = EntitlementCheck(key)

    async def guard(request: Request) -> None:
        await check(request, request.path_params["tenant"])

    return guard


def module_guard(name: str) -> Guard:
    """``entitlement_guard("module.<name>")``: the line a module's router carries,
    ``APIRouter(prefix="/api/v1/tenants/{tenant}/notes", guards=[module_guard("notes")])``."""
    return entitlement_guard(f"module.{name}")


async def tenant_entitlements(rt: RuntimeDep, principal: CurrentPrincipal, tenant: TenantKey) -> Entitlements:
    """The tenant's entitlements without requiring any, for a route that reads a limit."""
    ref = await resolve_tenant(rt, tenant, principal)
    return await service.cache.get(rt.db, ref.id)


TenantEntitlements = Annotated[Entitlements, Depends(tenant_entitlements)]
