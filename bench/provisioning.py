"""Tenant provisioning latency per isolation mode on PostgreSQL, and `migrate` over many schema tenants.

1. ``tenancy.service.create`` N times per isolation mode (pooled, schema, database): median and
   p95 latency of the whole pipeline (record, storage, migrations, defaults …), plus the median
   of each step from the provisioning log. Baseline: a bare ``INSERT`` of one ``tenants`` row
   through the same engine, N times.
2. ``migrate_all`` over M schema tenants whose ``schema_revision`` was set to NULL, so that it must
   visit (check, and upgrade if needed) every tenant. Baseline: reading each tenant's Alembic
   version table with one plain query. The no-op run (every tenant recorded at head) is shown too.

Counts: N = 50 and M = 500, times ATRIUM_BENCH_SCALE; ATRIUM_BENCH_PROVISION_N and
ATRIUM_BENCH_MIGRATE_TENANTS set them directly.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy import func, select, text, update

from atrium.cli.migrate import migrate_all
from atrium.core.db import utcnow
from atrium.core.migrate import head_revision
from atrium.platform.tenancy import service
from atrium.platform.tenancy.models import Isolation, ProvisioningStep, Tenant
from atrium.platform.tenancy.schemas import TenantCreate
from atrium.runtime import Runtime
from bench.common import (
    Report,
    Stopwatch,
    bench_database,
    fmt_ms,
    make_settings,
    met,
    progress,
    ratio,
    run_benchmark,
    scaled,
    summary_ms,
    temp_dir,
)

NAME = "provisioning"
GOALS_MS = {"pooled": 50.0, "schema": 1000.0, "database": 3000.0}
WARMUP = 2


async def _bare_insert(rt: Runtime, n: int) -> list[float]:
    """The baseline: one tenants row, one transaction, nothing else."""
    stmt = text(
        "INSERT INTO tenants (id, slug, name, isolation, region, status, with_sample_data, "
        "status_changed_at, created_at, updated_at) "
        "VALUES (:id, :slug, :name, 'pooled', 'default', 'active', false, :now, :now, :now)"
    )
    times = []
    for i in range(n + 20):
        tenant_id = str(uuid.uuid4())
        params = {"id": tenant_id, "slug": f"bare-{tenant_id[:8]}", "name": "bare", "now": utcnow()}
        started = time.perf_counter()
        async with rt.db.engine.begin() as conn:
            await conn.execute(stmt, params)
        if i >= 20:
            times.append(time.perf_counter() - started)
    return times


async def _create_many(rt: Runtime, isolation: str, n: int, prefix: str, *, warmup: int = WARMUP) -> list[float]:
    times = []
    for i in range(n + warmup):
        data = TenantCreate(slug=f"{prefix}-{i:04d}", isolation=Isolation(isolation))
        started = time.perf_counter()
        tenant = await service.create(rt, data)
        elapsed = time.perf_counter() - started
        if tenant.status != "active":
            raise RuntimeError(f"{tenant.slug} did not become active: {tenant.provisioning_error}")
        if i >= warmup:
            times.append(elapsed)
        if (i + 1) % 100 == 0:
            progress(f"{i + 1}/{n + warmup} {isolation} tenants")
    return times


async def _step_medians(rt: Runtime, slug_prefix: str) -> dict[str, float]:
    """Median duration of each provisioning step (from the provisioning log)."""
    async with rt.db.platform_session() as session:
        rows = (
            await session.execute(
                select(ProvisioningStep.step, ProvisioningStep.duration_ms)
                .join(Tenant, Tenant.id == ProvisioningStep.tenant_id)
                .where(Tenant.slug.startswith(f"{slug_prefix}-"))
                .order_by(ProvisioningStep.position)
            )
        ).all()
    by_step: dict[str, list[float]] = defaultdict(list)
    for step, duration in rows:
        by_step[step].append(duration or 0.0)
    return {step: round(statistics.median(values), 3) for step, values in by_step.items()}


async def _check_version_tables(rt: Runtime, schemas: list[str]) -> float:
    """Baseline for migrate: one plain query per tenant reading its Alembic version."""
    started = time.perf_counter()
    for schema in schemas:
        async with rt.db.engine.connect() as conn:
            await conn.execute(text(f'SELECT version_num FROM "{schema}".alembic_version'))
    return time.perf_counter() - started


async def _migrate_visiting_all(rt: Runtime, visited: int) -> float:
    """NULL every schema tenant's recorded revision, then time ``migrate_all``, which must now
    check (and if needed upgrade) each of them and record the revision again."""
    async with rt.db.platform_session() as session, session.begin():
        await session.execute(update(Tenant).where(Tenant.isolation == "schema").values(schema_revision=None))
    progress(f"migrate_all over {visited} schema tenants with schema_revision NULL")
    with Stopwatch() as sw:
        report = await migrate_all(rt, show_progress=False)
    if report.failed or report.migrated != visited:
        raise RuntimeError(f"migrate_all: migrated {report.migrated} of {visited}, failed {report.failed}")
    head = head_revision("tenant")
    async with rt.db.platform_session() as session:
        behind = (
            await session.execute(
                select(func.count())
                .select_from(Tenant)
                .where(Tenant.isolation == "schema", Tenant.schema_revision.is_distinct_from(head))
            )
        ).scalar_one()
    if behind:
        raise RuntimeError(f"{behind} schema tenants were not recorded at {head}")
    return sw.seconds


async def bench() -> Report:
    n = scaled(50, env="ATRIUM_BENCH_PROVISION_N", minimum=3)
    m = scaled(500, env="ATRIUM_BENCH_MIGRATE_TENANTS", minimum=5)
    report = Report(NAME, f"Tenant provisioning on PostgreSQL (N={n} per mode, migrate over {m} schema tenants)")
    results: dict[str, Any] = {"parameters": {"n_per_mode": n, "migrate_tenants": m, "warmup": WARMUP}}
    async with bench_database("prov") as url:
        with temp_dir(NAME) as tmp:
            rt = Runtime(make_settings(url, tmp / "var"))
            try:
                await migrate_all(rt, show_progress=False)
                bare_n = max(200, n)
                progress(f"baseline: {bare_n} bare INSERTs of a tenants row")
                base = summary_ms(await _bare_insert(rt, bare_n))
                results["baseline_insert"] = base
                report.row(
                    "bare INSERT tenants row (median / p95)",
                    f"{fmt_ms(base['median_ms'])} / {fmt_ms(base['p95_ms'])}",
                )
                latency: dict[str, Any] = {}
                for isolation in ("pooled", "schema", "database"):
                    progress(f"creating {n} {isolation} tenants (+{WARMUP} warm-up)")
                    with Stopwatch() as sw:
                        times = await _create_many(rt, isolation, n, f"p-{isolation}")
                    stats = summary_ms(times)
                    stats["goal_median_ms"] = GOALS_MS[isolation]
                    stats["goal_met"] = stats["median_ms"] < GOALS_MS[isolation]
                    stats["ratio_to_bare_insert"] = ratio(stats["median_ms"], base["median_ms"])
                    stats["wall_seconds"] = round(sw.seconds, 2)
                    stats["step_median_ms"] = await _step_medians(rt, f"p-{isolation}")
                    latency[isolation] = stats
                    goal = GOALS_MS[isolation]
                    report.row(
                        f"create {isolation} tenant, median",
                        fmt_ms(stats["median_ms"]),
                        fmt_ms(base["median_ms"]),
                        f"{stats['ratio_to_bare_insert']}×",
                        f"< {fmt_ms(goal)}",
                        met(stats["median_ms"], goal),
                    )
                    report.row(f"create {isolation} tenant, p95", fmt_ms(stats["p95_ms"]), fmt_ms(base["p95_ms"]))
                    slowest = sorted(stats["step_median_ms"].items(), key=lambda kv: -kv[1])[:3]
                    report.note(
                        f"{isolation}: slowest steps (median) "
                        + ", ".join(f"{k} {fmt_ms(v)}" for k, v in slowest)
                        + f"; sum of step medians {fmt_ms(sum(stats['step_median_ms'].values()))}"
                    )
                results["create_latency"] = latency

                # -- migrate over many schema tenants ------------------------------------------
                existing = n + WARMUP
                extra = max(0, m - existing)
                progress(f"creating {extra} more schema tenants for migrate (through the service)")
                with Stopwatch() as sw:
                    more = await _create_many(rt, "schema", extra, "m-schema", warmup=0)
                bulk = summary_ms(more) if more else None
                results["bulk_schema_create"] = {"tenants": extra, "seconds": round(sw.seconds, 2), "latency": bulk}
                if bulk:
                    report.row(
                        f"create {extra} schema tenants in a row (median / p95)",
                        f"{fmt_ms(bulk['median_ms'])} / {fmt_ms(bulk['p95_ms'])}",
                    )
                    report.note(f"{extra} schema tenants were created through the service in {sw.seconds:,.1f} s")

                async with rt.db.platform_session() as session:
                    schema_tenants = list(
                        (
                            await session.execute(
                                select(Tenant.id, Tenant.storage_name).where(Tenant.isolation == "schema")
                            )
                        ).all()
                    )
                visited = len(schema_tenants)
                migrate: dict[str, Any] = {"schema_tenants_visited": visited}
                # Right after a wave of creates the catalog statistics are stale (on a server
                # without autovacuum they stay so); Alembic's version-table lookup is planned from
                # them. Measure as found, then once more after ANALYZE of the two catalogs.
                for phase in ("as_created", "catalog_analyzed"):
                    if phase == "catalog_analyzed":
                        async with rt.db.engine.connect() as conn:
                            await conn.exec_driver_sql("ANALYZE pg_catalog.pg_class")
                            await conn.exec_driver_sql("ANALYZE pg_catalog.pg_namespace")
                            await conn.commit()
                    seconds = await _migrate_visiting_all(rt, visited)
                    base_seconds = await _check_version_tables(rt, [s for _, s in schema_tenants])
                    per_tenant, base_per_tenant = seconds / visited * 1000, base_seconds / visited * 1000
                    migrate[phase] = {
                        "total_seconds": round(seconds, 3),
                        "per_tenant_ms": round(per_tenant, 3),
                        "baseline_version_check_seconds": round(base_seconds, 3),
                        "baseline_per_tenant_ms": round(base_per_tenant, 3),
                        "ratio_to_baseline": ratio(per_tenant, base_per_tenant),
                    }
                    label = "catalog stats as left by the creates" if phase == "as_created" else "after ANALYZE"
                    report.row(
                        f"migrate_all, {visited} schema tenants, {label}",
                        f"{seconds:,.2f} s",
                        f"{base_seconds:,.2f} s",
                        f"{ratio(seconds, base_seconds)}×",
                    )
                    report.row(
                        "  per tenant",
                        fmt_ms(per_tenant),
                        fmt_ms(base_per_tenant),
                        f"{ratio(per_tenant, base_per_tenant)}×",
                    )
                progress("migrate_all again, every tenant recorded at head (no-op)")
                with Stopwatch() as noop:
                    again = await migrate_all(rt, show_progress=False)
                migrate["noop_run_seconds"] = round(noop.seconds, 3)
                migrate["noop_run_up_to_date"] = again.up_to_date
                results["migrate"] = migrate
                report.row("migrate_all no-op (all recorded at head)", f"{noop.seconds:,.2f} s")
                report.note(
                    "migrate baseline: one plain SELECT of each tenant's alembic_version table; "
                    "migrate_all also runs Alembic per tenant and records the revision"
                )
            finally:
                await rt.close()
    report.note(f"every mode excludes {WARMUP} warm-up creates, the baseline 20 warm-up INSERTs")
    report.data = results
    return report


def run() -> dict[str, Any]:
    return run_benchmark(bench)


if __name__ == "__main__":
    run()
