"""`atrium migrate` stops at a failing tenant and, run again, resumes there without redoing the others."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, text, update

from atrium.cli.migrate import migrate_all
from atrium.core.migrate import head_revision
from atrium.core.tenancy import TenantRef
from atrium.platform.tenancy import service, storage
from atrium.platform.tenancy.models import Tenant
from atrium.platform.tenancy.schemas import TenantCreate
from atrium.runtime import Runtime

SLUGS = ["mig-a", "mig-b", "mig-c"]


async def _tenants_behind_head(runtime: Runtime) -> None:
    """Three schema tenants and a pooled one; the schema tenants as if a new revision had arrived."""
    for slug in SLUGS:
        await service.create(runtime, TenantCreate(slug=slug, isolation="schema"))
    await service.create(runtime, TenantCreate(slug="mig-pooled"))
    async with runtime.db.platform_session() as session, session.begin():
        await session.execute(update(Tenant).where(Tenant.slug.in_(SLUGS)).values(schema_revision=None))


async def _revisions(runtime: Runtime) -> dict[str, str | None]:
    async with runtime.db.platform_session() as session:
        rows = await session.execute(select(Tenant.slug, Tenant.schema_revision))
        return {slug: revision for slug, revision in rows}


def _record_calls(monkeypatch: pytest.MonkeyPatch, failing: set[str]) -> list[str]:
    calls: list[str] = []
    real = storage.migrate_storage

    async def migrate_storage(db: Any, tenant: TenantRef) -> str | None:
        calls.append(tenant.slug)
        if tenant.slug in failing:
            raise RuntimeError(f"migration of {tenant.slug} broke")
        return await real(db, tenant)

    monkeypatch.setattr(storage, "migrate_storage", migrate_storage)
    return calls


async def test_migrate_stops_at_a_failure_and_resumes(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    await _tenants_behind_head(runtime)
    head = head_revision("tenant")
    failing = {"mig-b"}
    calls = _record_calls(monkeypatch, failing)

    report = await migrate_all(runtime, stop_on_error=True, show_progress=False)
    assert report.failed == [("mig-b", "RuntimeError: migration of mig-b broke")]
    assert report.migrated == 1
    assert calls == ["", "mig-a", "mig-b"]  # the pooled tables first; mig-c never started
    revisions = await _revisions(runtime)
    assert (revisions["mig-a"], revisions["mig-b"], revisions["mig-c"]) == (head, None, None)

    failing.clear()
    calls.clear()
    report = await migrate_all(runtime, stop_on_error=True, show_progress=False)
    assert report.failed == []
    assert report.migrated == 2
    assert report.up_to_date == 2  # mig-a, done in the first run, and the pooled tenant
    assert calls == ["", "mig-b", "mig-c"]
    assert set((await _revisions(runtime)).values()) == {head}

    calls.clear()
    report = await migrate_all(runtime, stop_on_error=True, show_progress=False)
    assert (report.migrated, report.up_to_date, report.failed) == (0, 4, [])
    assert calls == [""]


async def test_migrate_can_continue_past_a_failure(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    await _tenants_behind_head(runtime)
    calls = _record_calls(monkeypatch, {"mig-a"})
    report = await migrate_all(runtime, stop_on_error=False, show_progress=False)
    assert [slug for slug, _ in report.failed] == ["mig-a"]
    assert report.migrated == 2
    assert calls == ["", "mig-a", "mig-b", "mig-c"]
    revisions = await _revisions(runtime)
    assert revisions["mig-a"] is None and revisions["mig-c"] == head_revision("tenant")


@pytest.mark.parametrize("backend", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
async def test_migrate_resumes_after_a_real_failure(runtime: Runtime) -> None:
    """No patching: a tenant whose schema is missing fails for real, and migrates once it is back."""
    await _tenants_behind_head(runtime)
    async with runtime.db.platform_session() as session:
        broken = (await session.execute(select(Tenant).where(Tenant.slug == "mig-b"))).scalar_one()
    async with runtime.db.engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA "{broken.storage_name}" CASCADE'))

    report = await migrate_all(runtime, stop_on_error=True, show_progress=False)
    assert [slug for slug, _ in report.failed] == ["mig-b"]
    assert broken.storage_name in report.failed[0][1]
    assert report.migrated == 1

    async with runtime.db.engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{broken.storage_name}"'))
    report = await migrate_all(runtime, stop_on_error=True, show_progress=False)
    assert (report.migrated, report.up_to_date, report.failed) == (2, 2, [])
    assert set((await _revisions(runtime)).values()) == {head_revision("tenant")}
    ref = await runtime.tenants.resolve("mig-b")
    assert ref is not None
    async with runtime.db.tenant_session(ref) as session:
        await session.execute(text("SELECT count(*) FROM notes"))  # the tables exist again
