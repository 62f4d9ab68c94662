"""Provisioning stops at a failed step, says which and why, and resumes from that step."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from atrium.platform.tenancy import provisioning
from atrium.platform.tenancy.provisioning import STEPS, Step
from atrium.runtime import Runtime
from tests.platform.tenancy.helpers import ISOLATIONS, assert_problem, storage_exists, tenant_row

TENANTS = "/api/v1/platform/tenants"
STEP_NAMES = [s.name for s in STEPS]
FAILING = "default_roles"


def _break_step(monkeypatch: pytest.MonkeyPatch, name: str, message: str) -> None:
    """Replace one step of the pipeline by one that raises (``_restore_steps`` undoes it)."""
    assert name in STEP_NAMES

    async def boom(rt: Any, ref: Any, tenant: Any) -> str:
        raise RuntimeError(message)

    monkeypatch.setattr(provisioning, "STEPS", [Step(name, boom) if s.name == name else s for s in STEPS])


def _restore_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(provisioning, "STEPS", STEPS)


@pytest.mark.parametrize("isolation", ISOLATIONS)
async def test_failed_step_then_resume(
    runtime: Runtime, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, isolation: str
) -> None:
    _break_step(monkeypatch, FAILING, "role service unreachable")
    slug = f"prov-{isolation}"
    created = await client.post(TENANTS, json={"slug": slug, "isolation": isolation})
    assert created.status_code == 201, created.text
    tenant = created.json()
    assert tenant["status"] == "provisioning"
    assert tenant["provisioning_error"] == f"step {FAILING} failed: RuntimeError: role service unreachable"

    log = (await client.get(f"{TENANTS}/{slug}/provisioning")).json()
    assert [s["step"] for s in log] == STEP_NAMES
    failed_at = STEP_NAMES.index(FAILING)
    for entry in log[:failed_at]:
        assert (entry["status"], entry["attempts"], entry["error"]) == ("succeeded", 1, None), entry
        assert entry["finished_at"] is not None and entry["duration_ms"] is not None
    assert log[failed_at]["status"] == "failed"
    assert log[failed_at]["attempts"] == 1
    assert log[failed_at]["error"] == "RuntimeError: role service unreachable"
    for entry in log[failed_at + 1 :]:
        assert (entry["status"], entry["attempts"], entry["started_at"]) == ("pending", 0, None), entry

    # its data cannot be used yet
    for response in (
        await client.get(f"/api/v1/tenants/{slug}/notes"),
        await client.post(f"/api/v1/tenants/{tenant['id']}/notes", json={"title": "too early"}),
    ):
        body = assert_problem(response, 409, "tenant-provisioning")
        assert body["tenant"] == slug
    # lifecycle actions do not apply to it
    assert_problem(await client.post(f"{TENANTS}/{slug}/suspend"), 409, "tenant-illegal-transition")

    # a second failure counts a second attempt and changes nothing else
    again = await client.post(f"{TENANTS}/{slug}/resume-provisioning")
    assert again.status_code == 200
    assert again.json()["status"] == "provisioning"
    assert [s["attempts"] for s in again.json()["provisioning"]][: failed_at + 1] == [1] * failed_at + [2]

    _restore_steps(monkeypatch)
    resumed = await client.post(f"{TENANTS}/{slug}/resume-provisioning")
    assert resumed.status_code == 200, resumed.text
    body = resumed.json()
    assert body["status"] == "active"
    assert body["provisioning_error"] is None
    assert body["schema_revision"] is not None
    steps = {s["step"]: s for s in body["provisioning"]}
    assert (steps[FAILING]["status"], steps[FAILING]["attempts"], steps[FAILING]["error"]) == ("succeeded", 3, None)
    for name in STEP_NAMES[:failed_at]:
        assert (steps[name]["status"], steps[name]["attempts"]) == ("succeeded", 1)
    for name in STEP_NAMES[failed_at + 1 :]:
        assert steps[name]["attempts"] == 1
        assert steps[name]["status"] == ("skipped" if name == "sample_data" else "succeeded")

    assert (await client.post(f"/api/v1/tenants/{slug}/notes", json={"title": "now"})).status_code == 201
    assert_problem(await client.post(f"{TENANTS}/{slug}/resume-provisioning"), 409, "tenant-illegal-transition")

    # every step attempt wrote an audit event, in order
    events = await client.get(
        "/api/v1/platform/audit-events", params={"tenant": tenant["id"], "action": "tenant.provisioning.", "limit": 100}
    )
    trail = [(e["action"].rsplit("_", 1)[1], e["data"]["step"]) for e in reversed(events.json()["items"])]
    assert trail == [
        *[("succeeded", name) for name in STEP_NAMES[:failed_at]],
        ("failed", FAILING),
        ("failed", FAILING),
        ("succeeded", FAILING),
        *[("skipped" if n == "sample_data" else "succeeded", n) for n in STEP_NAMES[failed_at + 1 :]],
    ]
    failures = [e for e in events.json()["items"] if e["action"] == "tenant.provisioning.step_failed"]
    assert {e["data"]["error"] for e in failures} == {"RuntimeError: role service unreachable"}


async def test_resume_is_idempotent_after_a_storage_failure(
    runtime: Runtime, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure right after the storage exists: resuming re-runs the migrations onto it."""
    _break_step(monkeypatch, "migrations", "disk full")
    created = (await client.post(TENANTS, json={"slug": "half-made", "isolation": "schema"})).json()
    assert created["provisioning_error"] == "step migrations failed: RuntimeError: disk full"
    if not runtime.db.is_sqlite:  # a SQLite file appears with its first attach
        assert await storage_exists(runtime, await tenant_row(runtime, "half-made"))
    _restore_steps(monkeypatch)
    resumed = (await client.post(f"{TENANTS}/half-made/resume-provisioning")).json()
    assert resumed["status"] == "active", resumed
    assert [s["attempts"] for s in resumed["provisioning"]] == [1, 1, 2, 1, 1, 1, 1, 1]
    assert await storage_exists(runtime, await tenant_row(runtime, "half-made"))
    assert (await client.post("/api/v1/tenants/half-made/notes", json={"title": "works"})).status_code == 201


async def test_a_tenant_stuck_in_provisioning_can_be_deleted(
    runtime: Runtime, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _break_step(monkeypatch, "telemetry", "collector down")
    created = (await client.post(TENANTS, json={"slug": "abandoned", "isolation": "schema"})).json()
    assert created["status"] == "provisioning"
    row = await tenant_row(runtime, "abandoned")
    assert await storage_exists(runtime, row)
    ref = await runtime.tenants.resolve("abandoned")
    assert ref is not None
    objects = runtime.settings.data_dir / "objects" / provisioning.object_prefix(runtime, ref)
    assert objects.is_dir()
    deleted = await client.delete(f"{TENANTS}/abandoned")
    assert deleted.json()["status"] == "deleted"
    assert not await storage_exists(runtime, row)
    assert not objects.exists()
    assert_problem(await client.get("/api/v1/tenants/abandoned/notes"), 410, "tenant-deleted")
