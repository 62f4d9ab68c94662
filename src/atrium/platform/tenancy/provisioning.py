"""The provisioning pipeline: ordered, idempotent, resumable steps, each logged and audited.

Each step runs in its own unit of work and records status, timings and error. A failed step leaves
the tenant in ``provisioning`` with the error shown; running the pipeline again (``atrium tenant
resume-provisioning``) starts at the first step that has not succeeded.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.apps.notes.models import Note
from atrium.core.audit import service as audit
from atrium.core.db import utcnow
from atrium.core.events.outbox import publish
from atrium.core.tenancy import TenantRef
from atrium.platform.access.catalog import TENANT_ROLES
from atrium.platform.tenancy import repository, storage
from atrium.platform.tenancy.models import ProvisioningStep, StepStatus, Tenant, TenantStatus
from atrium.platform.tenancy.registry import to_ref
from atrium.platform.tenancy.tenant_models import TenantSetting

if TYPE_CHECKING:
    from atrium.runtime import Runtime

StepFunction = Callable[["Runtime", TenantRef, Tenant], Awaitable[str | None]]

DEFAULT_SETTINGS: dict[str, Any] = {
    "locale": "en",
    "timezone": "UTC",
    "currency": "EUR",
    "fiscal_year_start": "01-01",
    "date_format": "YYYY-MM-DD",
}


async def _record(rt: Runtime, ref: TenantRef, tenant: Tenant) -> str:
    return f"{tenant.isolation} tenant {tenant.slug} in region {tenant.region}"


async def _storage(rt: Runtime, ref: TenantRef, tenant: Tenant) -> str:
    return await storage.create_storage(rt.db, ref)


async def _migrations(rt: Runtime, ref: TenantRef, tenant: Tenant) -> str:
    revision = await storage.migrate_storage(rt.db, ref)
    tenant.schema_revision = revision
    return f"tenant tree at {revision}"


async def _insert_missing_settings(rt: Runtime, ref: TenantRef, values: dict[str, Any]) -> int:
    async with rt.db.tenant_session(ref) as session:
        present = set((await session.execute(select(TenantSetting.key))).scalars())
        missing = {k: v for k, v in values.items() if k not in present}
        session.add_all(TenantSetting(key=k, value=v) for k, v in missing.items())
        await session.commit()
    return len(missing)


async def _default_settings(rt: Runtime, ref: TenantRef, tenant: Tenant) -> str:
    added = await _insert_missing_settings(rt, ref, DEFAULT_SETTINGS)
    return f"{added} settings added"


async def _default_roles(rt: Runtime, ref: TenantRef, tenant: Tenant) -> str:
    """The system roles live in the access catalogue, so every tenant has them from the start;
    the step stays so that provisioning logs written before keep resuming."""
    return f"{len(TENANT_ROLES)} system roles available"


def object_prefix(rt: Runtime, ref: TenantRef) -> str:
    return f"{ref.region}/{ref.id}/"


async def _object_storage(rt: Runtime, ref: TenantRef, tenant: Tenant) -> str:
    prefix = object_prefix(rt, ref)
    (rt.settings.data_dir / "objects" / prefix).mkdir(parents=True, exist_ok=True)
    await _insert_missing_settings(rt, ref, {"storage.prefix": prefix})
    return f"prefix {prefix}"


async def _telemetry(rt: Runtime, ref: TenantRef, tenant: Tenant) -> str:
    tags = {
        "tenant.id": ref.id,
        "tenant.slug": ref.slug,
        "tenant.region": ref.region,
        "tenant.isolation": ref.isolation,
    }
    await _insert_missing_settings(rt, ref, {"telemetry.tags": tags})
    return "tags " + ", ".join(f"{k}={v}" for k, v in tags.items())


SAMPLE_NOTES = (
    ("Welcome to Atrium", "This tenant was created with sample data."),
    ("Quarterly planning", "Agenda: budget review, hiring plan, product roadmap."),
    ("Supplier contacts", "Keep vendor contacts here until the CRM module is enabled."),
)


async def _sample_data(rt: Runtime, ref: TenantRef, tenant: Tenant) -> str | None:
    if not tenant.with_sample_data:
        return None
    async with rt.db.tenant_session(ref) as session:
        present = set((await session.execute(select(Note.title))).scalars())
        session.add_all(Note(title=t, body=b, author="atrium") for t, b in SAMPLE_NOTES if t not in present)
        await session.commit()
    return f"{len(SAMPLE_NOTES)} sample notes"


@dataclass(frozen=True)
class Step:
    name: str
    run: StepFunction


STEPS: list[Step] = [
    Step("record", _record),
    Step("storage", _storage),
    Step("migrations", _migrations),
    Step("default_settings", _default_settings),
    Step("default_roles", _default_roles),
    Step("object_storage", _object_storage),
    Step("telemetry", _telemetry),
    Step("sample_data", _sample_data),
]


def plan(tenant: Tenant) -> list[ProvisioningStep]:
    """The log rows of a new tenant, all pending, in order."""
    return [
        ProvisioningStep(tenant_id=tenant.id, position=i, step=s.name, status=StepStatus.pending.value, attempts=0)
        for i, s in enumerate(STEPS, 1)
    ]


async def run(rt: Runtime, tenant_id: str) -> Tenant:
    """Run every step that has not succeeded yet; activate the tenant when all have.

    Recording a step's outcome and marking the next one running share one transaction (and the
    last step's outcome shares one with the activation): fewer commits, the same log.
    """
    steps = {s.name: s for s in STEPS}
    async with rt.db.platform_session() as session:
        tenant = await repository.get(session, tenant_id)
        assert tenant is not None
        log = [(entry.step, entry.status) for entry in await repository.steps(session, tenant_id)]
    ref = to_ref(tenant)
    pending = [steps[name] for name, status in log if status not in (StepStatus.succeeded, StepStatus.skipped)]
    async with rt.db.platform_session() as session, session.begin():
        if pending:
            await _mark_running(session, tenant_id, pending[0].name)
        else:  # every step done but the activation (a crash right before it)
            await _activate(session, tenant_id)
    for position, step in enumerate(pending):
        following = pending[position + 1] if position + 1 < len(pending) else None
        if not await _run_step(rt, tenant, ref, step, following):
            break
    async with rt.db.platform_session() as session:
        tenant = await repository.get(session, tenant_id)
        assert tenant is not None
    await rt.tenants.invalidate(tenant)
    return tenant


async def _mark_running(session: AsyncSession, tenant_id: str, name: str) -> None:
    await session.execute(
        update(ProvisioningStep)
        .where(ProvisioningStep.tenant_id == tenant_id, ProvisioningStep.step == name)
        .values(
            status=StepStatus.running.value, started_at=utcnow(), error=None, attempts=ProvisioningStep.attempts + 1
        )
    )


async def _run_step(rt: Runtime, tenant: Tenant, ref: TenantRef, step: Step, following: Step | None) -> bool:
    """Run one (already marked running) step, then in one unit of work record its outcome, audit
    it, and either mark the following step running or activate the tenant."""
    started = time.perf_counter()
    outcome: str | None = None
    error: str | None = None
    try:
        outcome = await step.run(rt, ref, tenant)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    duration_ms = round((time.perf_counter() - started) * 1000, 3)
    if error is not None:
        status = StepStatus.failed.value
    else:
        status = StepStatus.succeeded.value if outcome is not None else StepStatus.skipped.value
    async with rt.db.platform_session() as session, session.begin():
        await session.execute(
            update(ProvisioningStep)
            .where(ProvisioningStep.tenant_id == tenant.id, ProvisioningStep.step == step.name)
            .values(status=status, finished_at=utcnow(), duration_ms=duration_ms, error=error)
        )
        still_provisioning = await session.execute(
            update(Tenant)
            .where(Tenant.id == tenant.id, Tenant.status == TenantStatus.provisioning.value)
            .values(
                provisioning_error=None if error is None else f"step {step.name} failed: {error}",
                schema_revision=tenant.schema_revision,
            )
        )
        # Deleted meanwhile: record this step's outcome, but start no other.
        abandoned = not still_provisioning.rowcount  # type: ignore[attr-defined]
        await audit.record(
            session,
            action=f"tenant.provisioning.step_{status}",
            tenant_id=tenant.id,
            object_type="tenant",
            object_id=tenant.id,
            data={"step": step.name, "outcome": outcome, "error": error, "duration_ms": duration_ms},
        )
        if error is None and not abandoned and following is not None:
            await _mark_running(session, tenant.id, following.name)
        elif error is None and not abandoned:
            await _activate(session, tenant.id)
    return error is None and not abandoned


async def _activate(session: AsyncSession, tenant_id: str) -> None:
    tenant = await repository.get_by_key(session, tenant_id, for_update=True)
    assert tenant is not None
    if tenant.status != TenantStatus.provisioning.value:
        return
    tenant.status, tenant.status_changed_at = TenantStatus.active.value, utcnow()
    await audit.record(
        session, action="tenant.activated", tenant_id=tenant_id, object_type="tenant", object_id=tenant_id
    )
    await publish(
        session,
        "tenant.events",
        "tenant.activated",
        {"tenant_id": tenant_id, "slug": tenant.slug, "isolation": tenant.isolation, "region": tenant.region},
        tenant_id=tenant_id,
        subject=tenant_id,
    )


def remove_objects(rt: Runtime, ref: TenantRef) -> None:
    shutil.rmtree(rt.settings.data_dir / "objects" / object_prefix(rt, ref), ignore_errors=True)
