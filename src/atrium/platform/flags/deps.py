"""The request dependency for a route that evaluates flags: the runtime's snapshot, checked for
changes at most once a second (one small read), so the route then evaluates without queries."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from atrium.api.deps import RuntimeDep
from atrium.platform.flags.evaluation import Snapshot
from atrium.platform.flags.store import refresh


async def fresh_flags(rt: RuntimeDep) -> Snapshot:
    return await refresh(rt)


FreshFlags = Annotated[Snapshot, Depends(fresh_flags)]
