"""Identity changes behind a second person's approval: with the rule on, a security-policy change
or removing an SSO connection is queued (202) and changes nothing until another Tenant Admin
approves it; the requester cannot approve their own."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from atrium.platform.identity import policies
from atrium.platform.identity import service as identity
from atrium.platform.identity.sso.models import SsoConnection
from atrium.platform.tenancy import service as tenancy
from atrium.platform.tenancy.schemas import TenantCreate
from tests.platform.identity.test_members import _as, _login, _person

FIRST, SECOND = "first@acme.example", "second@acme.example"


async def test_a_security_policy_change_waits_for_another_admin(auth: Any) -> None:
    client, _sink, rt = auth
    tenant_id = (await tenancy.create(rt, TenantCreate(slug="acme"))).id
    await _person(rt, FIRST, tenant_id, identity.TENANT_ADMIN)
    await _person(rt, SECOND, tenant_id, identity.TENANT_ADMIN)
    second = await _login(client, SECOND)
    first = await _login(client, FIRST)
    rules = await client.put(
        "/api/v1/tenants/acme/approvals/rules", json={"actions": ["identity.security.policy", "identity.sso.delete"]}
    )
    assert rules.status_code == 200, rules.text
    assert {r["action"] for r in rules.json() if r["required"]} == {"identity.security.policy", "identity.sso.delete"}

    queued = await client.put("/api/v1/tenants/acme/security-policy", json={"password_min_length": 16})
    assert queued.status_code == 202, queued.text
    approval = queued.json()
    assert approval["status"] == "pending" and approval["action"] == "identity.security.policy"
    assert queued.headers["location"].endswith(f"/approvals/{approval['id']}")
    async with rt.db.platform_session() as session:
        assert (await policies.get(session, tenant_id)).password_min_length == 12  # nothing changed yet

    own = await client.post(f"/api/v1/tenants/acme/approvals/{approval['id']}/approve", json={})
    assert own.status_code == 403 and own.json()["field"] == "approval_id"

    decided = await _as(client, second).post(
        f"/api/v1/tenants/acme/approvals/{approval['id']}/approve", json={"note": "agreed"}
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "approved" and decided.json()["decided_by_email"] == SECOND
    async with rt.db.platform_session() as session:
        assert (await policies.get(session, tenant_id)).password_min_length == 16
    again = await client.post(f"/api/v1/tenants/acme/approvals/{approval['id']}/approve", json={})
    assert again.status_code in (403, 409)

    # removing an SSO connection: queued, and a connection of another tenant is simply not found
    _as(client, first)
    assert (await client.delete("/api/v1/tenants/acme/sso/connections/nope")).status_code == 404
    async with rt.db.platform_session() as session:
        count = await session.scalar(select(func.count()).select_from(SsoConnection))
    assert count == 0
