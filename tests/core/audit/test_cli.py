"""`atrium audit verify` and `atrium audit checkpoint` on a real trail."""

from __future__ import annotations

from sqlalchemy import text

from atrium.platform.tenancy import service as tenants
from atrium.platform.tenancy.schemas import TenantCreate
from atrium.runtime import Runtime
from tests.core.audit.helpers import alter, append, chain_rows, disable_append_only
from tests.core.conftest import InvokeCli, flat


async def test_audit_verify_cli(runtime: Runtime, cli: InvokeCli) -> None:
    acme = await tenants.create(runtime, TenantCreate(slug="acme"))
    globex = await tenants.create(runtime, TenantCreate(slug="globex"))
    await append(runtime, 2)
    acme_rows = await chain_rows(runtime, acme.id)
    assert len(acme_rows) >= 3  # created, provisioning steps, activated

    result = await cli("audit", "verify")
    out = flat(result.output)
    assert result.exit_code == 0, out
    assert f"intact chain {acme.id}: {len(acme_rows)} events, 0 signed checkpoints" in out
    assert f"intact chain {globex.id}:" in out
    assert "intact chain platform: 2 events" in out
    assert "BROKEN" not in out

    result = await cli("audit", "checkpoint")
    assert result.exit_code == 0, result.output
    assert "3 checkpoints signed" in flat(result.output)
    result = await cli("audit", "verify", "--tenant", "acme")
    assert result.exit_code == 0, result.output
    assert f"intact chain {acme.id}: {len(acme_rows)} events, 1 signed checkpoints" in flat(result.output)

    await disable_append_only(runtime)
    await alter(runtime, acme.id, 2, actor="mallory")

    result = await cli("audit", "verify")
    out = flat(result.output)
    assert result.exit_code == 1, out
    assert f"BROKEN chain {acme.id}: first broken event seq 2 (id {acme_rows[1].id})" in out
    assert "altered" in out
    assert f"intact chain {globex.id}:" in out
    assert "intact chain platform:" in out

    # --tenant limits the walk to one chain
    result = await cli("audit", "verify", "--tenant", "globex")
    out = flat(result.output)
    assert result.exit_code == 0, out
    assert f"intact chain {globex.id}:" in out
    assert acme.id not in out and "platform" not in out

    result = await cli("audit", "verify", "--tenant", acme.id)
    out = flat(result.output)
    assert result.exit_code == 1, out
    assert f"BROKEN chain {acme.id}: first broken event seq 2" in out
    assert globex.id not in out and "platform" not in out

    result = await cli("audit", "verify", "--tenant", "platform")
    out = flat(result.output)
    assert result.exit_code == 0, out
    assert "intact chain platform: 2 events" in out
    assert acme.id not in out


async def test_audit_verify_cli_unknown_tenant(runtime: Runtime, cli: InvokeCli) -> None:
    result = await cli("audit", "verify", "--tenant", "no-such-tenant")
    assert result.exit_code == 1
    assert "error" in flat(result.output)
    assert "no-such-tenant" in flat(result.output)


async def test_audit_verify_cli_removed_event(runtime: Runtime, cli: InvokeCli) -> None:
    await append(runtime, 4)
    await disable_append_only(runtime)
    rows = await chain_rows(runtime, "platform")
    async with runtime.db.engine.begin() as conn:
        await conn.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": rows[1].id})
    result = await cli("audit", "verify")
    out = flat(result.output)
    assert result.exit_code == 1, out
    assert "BROKEN chain platform: first broken event seq 2" in out
    assert "removed" in out
