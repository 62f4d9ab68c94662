"""Identity changes a tenant may put behind a second person's approval (access ``approvals``):
the security policy, and removing a single sign-on connection."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from atrium.platform.access import approvals
from atrium.platform.access.approvals import Actor
from atrium.platform.identity import policies
from atrium.platform.identity.sso import connections

SECURITY_POLICY = "identity.security.policy"
SSO_DELETE = "identity.sso.delete"


async def _security_policy(
    session: AsyncSession, tenant_id: str, payload: dict[str, Any], actor: Actor
) -> dict[str, Any]:
    data = policies.PolicyUpdate.model_validate(payload["changes"])
    await policies.update(session, tenant_id, data, actor=actor.email, caller_ip=payload.get("caller_ip"))
    return {"changed": sorted(payload["changes"])}


async def _sso_delete(session: AsyncSession, tenant_id: str, payload: dict[str, Any], actor: Actor) -> dict[str, Any]:
    await connections.delete_connection(session, tenant_id, payload["connection_id"], actor)
    return {"deleted": payload["connection_id"]}


approvals.register(SECURITY_POLICY, "Change the security policy", "identity.security.manage", _security_policy)
approvals.register(SSO_DELETE, "Remove a single sign-on connection", "identity.security.manage", _sso_delete)
