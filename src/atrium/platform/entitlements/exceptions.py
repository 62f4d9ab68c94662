"""Entitlement refusals, each a problem document naming the entitlement."""

from __future__ import annotations

from atrium.core.errors import Conflict, Forbidden
from atrium.platform.entitlements.catalogue import SEATS, definition


class EntitlementMissing(Forbidden):
    """The tenant's plan does not include what the request needs (403)."""

    code = "entitlement-missing"
    title = "Entitlement missing"

    def __init__(self, key: str, tenant: str) -> None:
        title = definition(key).title
        super().__init__(
            f"tenant {tenant!r} does not have the entitlement {key!r} ({title}); a Platform Admin can enable it",
            entitlement=key,
            tenant=tenant,
        )


class SeatLimitReached(Conflict):
    """Adding one more member would pass the tenant's ``seats`` (409)."""

    code = "seat-limit-reached"
    title = "No seat left"

    def __init__(self, limit: int, used: int) -> None:
        super().__init__(
            f"the tenant's {limit} seat(s) are all taken ({used} active members); "
            "free a seat or ask a Platform Admin for more",
            entitlement=SEATS,
            field=SEATS,
            seats=limit,
            seats_used=used,
        )
