"""`atrium migrate`: platform database, pooled tables, then every schema and database tenant."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from atrium.core.migrate import head_revision, upgrade_control
from atrium.core.tenancy import TenantRef
from atrium.platform.tenancy import repository, storage
from atrium.platform.tenancy.registry import to_ref
from atrium.runtime import Runtime


@dataclass
class MigrationReport:
    migrated: int = 0
    up_to_date: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)


async def migrate_platform(rt: Runtime) -> None:
    async with rt.db.engine.connect() as conn:
        await upgrade_control(conn, rt.settings.app_role)
        await conn.commit()


async def migrate_all(rt: Runtime, *, stop_on_error: bool = True, show_progress: bool = True) -> MigrationReport:
    """Idempotent: tenants already at head are skipped, so a run after a failure resumes."""
    await migrate_platform(rt)
    head = head_revision("tenant")
    report = MigrationReport()
    async with rt.db.platform_session() as session:
        tenants = [
            t for t in await repository.all_with_storage(session) if t.schema_revision or t.status != "provisioning"
        ]
    pooled_done = False
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=not show_progress,
    ) as progress:
        task = progress.add_task("migrating tenants", total=len(tenants) + 1)
        try:
            await storage.migrate_storage(rt.db, _pooled_ref())
            pooled_done = True
        finally:
            progress.advance(task)
        for tenant in tenants:
            progress.update(task, description=f"migrating {tenant.slug}")
            if tenant.isolation == "pooled" or tenant.schema_revision == head:
                report.up_to_date += 1
                progress.advance(task)
                continue
            try:
                revision = await storage.migrate_storage(rt.db, to_ref(tenant))
            except Exception as exc:
                report.failed.append((tenant.slug, f"{type(exc).__name__}: {exc}"))
                if stop_on_error:
                    break
            else:
                async with rt.db.platform_session() as session, session.begin():
                    fresh = await repository.get(session, tenant.id)
                    assert fresh is not None
                    fresh.schema_revision = revision
                report.migrated += 1
            progress.advance(task)
    if pooled_done:
        async with rt.db.platform_session() as session, session.begin():
            for tenant in tenants:
                if tenant.isolation == "pooled" and tenant.schema_revision != head:
                    fresh = await repository.get(session, tenant.id)
                    assert fresh is not None
                    fresh.schema_revision = head
    return report


def _pooled_ref() -> TenantRef:
    """Stands for "the pooled tables" when migrating them (they belong to no single tenant)."""
    return TenantRef(id="", slug="", name="", isolation="pooled", region="default", status="active", storage_name=None)
