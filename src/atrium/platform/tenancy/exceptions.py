"""Tenancy errors, each a problem document."""

from __future__ import annotations

from atrium.core.errors import AtriumError, Conflict, Forbidden, NotFound, ValidationFailed


class TenantNotFound(NotFound):
    code = "tenant-not-found"
    title = "Tenant not found"

    def __init__(self, key: str) -> None:
        super().__init__(f"no tenant {key!r}", tenant=key)


class TenantGone(AtriumError):
    status_code = 410
    code = "tenant-deleted"
    title = "Tenant deleted"

    def __init__(self, key: str) -> None:
        super().__init__(f"tenant {key!r} was deleted; only its audit trail remains", tenant=key)


class TenantInactive(Forbidden):
    code = "tenant-inactive"
    title = "Tenant not active"

    def __init__(self, slug: str, status: str) -> None:
        super().__init__(
            f"tenant {slug!r} is {status}; its data cannot be used until it is active",
            tenant=slug,
            tenant_status=status,
        )


class TenantProvisioning(Conflict):
    code = "tenant-provisioning"
    title = "Tenant still provisioning"

    def __init__(self, slug: str) -> None:
        super().__init__(f"tenant {slug!r} is still provisioning", tenant=slug)


class SlugTaken(Conflict):
    code = "tenant-slug-taken"
    title = "Slug already taken"

    def __init__(self, slug: str) -> None:
        super().__init__(f"a tenant with slug {slug!r} already exists", field="slug", slug=slug)


class RegionNotAvailable(ValidationFailed):
    code = "region-not-available"
    title = "Region not available"


class IllegalTransition(Conflict):
    code = "tenant-illegal-transition"
    title = "Lifecycle change not allowed"

    def __init__(self, slug: str, status: str, action: str) -> None:
        super().__init__(f"cannot {action} tenant {slug!r} while it is {status}", tenant=slug, tenant_status=status)
