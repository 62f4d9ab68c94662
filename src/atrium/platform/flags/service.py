"""The rules of flag definitions and tenants' overrides: what a valid definition is, and every
change written with its audit event, its ``flag.changed`` event and a version bump in one
transaction, then this process's snapshot invalidated."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from openfeature.evaluation_context import EvaluationContext
from sqlalchemy.exc import IntegrityError

from atrium.core.audit import service as audit
from atrium.core.db import canonical_json
from atrium.core.errors import NotFound, ValidationFailed
from atrium.core.events.outbox import publish
from atrium.platform.flags import repository, store
from atrium.platform.flags.evaluation import SINGLE_VALUE_OPERATORS, Evaluation, Snapshot, evaluate, value_fits
from atrium.platform.flags.models import FeatureFlag, TenantFlagOverride
from atrium.platform.flags.schemas import FlagCreate, FlagUpdate, OverrideWrite, RolloutIn, RuleIn, UserTargetIn

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from atrium.core.tenancy import TenantRef
    from atrium.runtime import Runtime

# The topic identity writes administrators' changes to; consumers tell flags by the type.
TOPIC = "user.events"
EVENT_TYPE = "flag.changed"
MAX_VALUE_BYTES = 32_768
TYPE_NAMES = {
    "bool": "a boolean (true or false)",
    "string": "a string",
    "number": "a number",
    "object": "a JSON object or array",
}


class FlagNotFound(NotFound):
    code = "flag-not-found"
    title = "Flag not found"


class OverrideNotFound(NotFound):
    code = "flag-override-not-found"
    title = "Override not found"


# -- validation ----------------------------------------------------------------------------------

Problems = list[tuple[str, str]]  # (field, message)


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an object" if isinstance(value, dict) else "an array"


def _value_problems(value_type: str, value: Any, field: str) -> Problems:
    if not value_fits(value_type, value):
        return [(field, f"must be {TYPE_NAMES[value_type]} like the flag, not {_json_kind(value)}")]
    if len(canonical_json(value)) > MAX_VALUE_BYTES:
        return [(field, f"is larger than {MAX_VALUE_BYTES} bytes of JSON")]
    return []


def _rule_problems(value_type: str, rules: Sequence[RuleIn], field: str) -> Problems:
    found: Problems = []
    for i, rule in enumerate(rules):
        for j, condition in enumerate(rule.conditions):
            where, op = f"{field}.{i}.conditions.{j}.values", condition.operator
            if op in SINGLE_VALUE_OPERATORS and len(condition.values) != 1:
                found.append((where, f"{op} compares with exactly one value, got {len(condition.values)}"))
            if op in ("lt", "gt") and any(isinstance(v, bool) for v in condition.values):
                found.append((where, f"{op} compares numbers or strings, not booleans"))
            if op == "ends_with" and not all(isinstance(v, str) for v in condition.values):
                found.append((where, "ends_with takes strings"))
        found += _value_problems(value_type, rule.value, f"{field}.{i}.value")
    return found


def _rollout_problems(value_type: str, rollout: RolloutIn | None, field: str) -> Problems:
    return [] if rollout is None else _value_problems(value_type, rollout.value, f"{field}.value")


def _target_problems(value_type: str, targets: Sequence[UserTargetIn], field: str) -> Problems:
    found: Problems = []
    for i, target in enumerate(targets):
        if any(not u.strip() for u in target.users):
            found.append((f"{field}.{i}.users", "user ids must not be empty"))
        found += _value_problems(value_type, target.value, f"{field}.{i}.value")
    return found


def _refuse(problems: Problems) -> None:
    """422 naming every field at fault, in the shape of the API's request validation errors."""
    if problems:
        raise ValidationFailed(
            "; ".join(f"{f}: {m}" for f, m in problems),
            field=problems[0][0],
            errors=[{"field": f, "message": m, "type": "value_error"} for f, m in problems],
        )


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{field}: {message}", field=field, errors=[{"field": field, "message": message}])


def _rules_json(rules: Sequence[RuleIn]) -> list[dict[str, Any]]:
    return [r.model_dump(exclude_none=True) for r in rules]


def _rollout_json(rollout: RolloutIn | None) -> dict[str, Any] | None:
    if rollout is None:
        return None
    return {"percent": round(rollout.percent, 2), "value": rollout.value, "bucket_by": rollout.bucket_by}


def _targets_json(targets: Sequence[UserTargetIn]) -> list[dict[str, Any]]:
    return [{"users": sorted({u.strip() for u in t.users}), "value": t.value} for t in targets]


# -- recording -----------------------------------------------------------------------------------


async def _record(
    session: AsyncSession, action: str, key: str, *, actor: str, data: dict[str, Any], tenant_id: str | None = None
) -> None:
    """The audit event and the outbox event of one change, then the version bump."""
    await audit.record(
        session, action=action, tenant_id=tenant_id, object_type="feature_flag", object_id=key, data=data, actor=actor
    )
    payload = {"change": action, "key": key, **({"tenant_id": tenant_id} if tenant_id else {}), **data}
    await publish(session, TOPIC, EVENT_TYPE, payload, tenant_id=tenant_id, subject=key)
    await repository.bump_version(session)


def definition(flag: FeatureFlag) -> dict[str, Any]:
    return {
        "description": flag.description,
        "value_type": flag.value_type,
        "default_value": flag.default_value,
        "enabled": flag.enabled,
        "rules": flag.rules,
        "rollout": flag.rollout,
    }


def _override_dict(row: TenantFlagOverride) -> dict[str, Any]:
    return {
        "enabled": row.enabled,
        "value": row.value,
        "targets": row.targets,
        "rules": row.rules,
        "rollout": row.rollout,
    }


# -- platform-wide flags -------------------------------------------------------------------------


async def list_flags(session: AsyncSession) -> Sequence[FeatureFlag]:
    return await repository.list_flags(session)


async def get_flag(session: AsyncSession, key: str) -> FeatureFlag:
    flag = await repository.get_by_key(session, key)
    if flag is None:
        raise FlagNotFound(f"no flag {key!r}", key=key)
    return flag


async def create_flag(rt: Runtime, data: FlagCreate, *, actor: str) -> FeatureFlag:
    """Define a flag. A key in use is refused (422 on ``key``); nothing is written on a refusal."""
    _refuse(
        _value_problems(data.value_type, data.default_value, "default_value")
        + _rule_problems(data.value_type, data.rules, "rules")
        + _rollout_problems(data.value_type, data.rollout, "rollout")
    )
    duplicate = _invalid("key", f"a flag {data.key!r} already exists")
    async with rt.db.platform_session() as session, session.begin():
        if await repository.get_by_key(session, data.key) is not None:
            raise duplicate
        flag = FeatureFlag(
            key=data.key,
            description=data.description,
            value_type=data.value_type,
            default_value=data.default_value,
            enabled=data.enabled,
            rules=_rules_json(data.rules),
            rollout=_rollout_json(data.rollout),
            updated_by=actor,
        )
        session.add(flag)
        try:
            await session.flush()
        except IntegrityError:  # created meanwhile by another request
            raise duplicate from None
        await _record(session, "flag.created", flag.key, actor=actor, data=definition(flag))
    store.invalidate(rt)
    return flag


async def update_flag(rt: Runtime, key: str, data: FlagUpdate, *, actor: str) -> FeatureFlag:
    """Change the fields sent (``rollout: null`` removes the rollout); omitted ones stay."""
    sent = data.model_fields_set
    async with rt.db.platform_session() as session, session.begin():
        flag = await get_flag(session, key)
        problems: Problems = []
        if "default_value" in sent:
            problems += _value_problems(flag.value_type, data.default_value, "default_value")
        if data.rules is not None:
            problems += _rule_problems(flag.value_type, data.rules, "rules")
        problems += _rollout_problems(flag.value_type, data.rollout, "rollout")
        _refuse(problems)
        before = definition(flag)
        if data.description is not None:
            flag.description = data.description
        if "default_value" in sent:
            flag.default_value = data.default_value
        if data.enabled is not None:
            flag.enabled = data.enabled
        if data.rules is not None:
            flag.rules = _rules_json(data.rules)
        if "rollout" in sent:
            flag.rollout = _rollout_json(data.rollout)
        flag.updated_by = actor
        after = definition(flag)
        changed = {name: after[name] for name in after if after[name] != before[name]}
        if changed:
            await session.flush()
            await _record(session, "flag.updated", key, actor=actor, data={"changed": changed})
    if changed:
        store.invalidate(rt)
    return flag


async def delete_flag(rt: Runtime, key: str, *, actor: str) -> None:
    """Remove the flag and every tenant's override of it; code asking it then gets its own
    default (FLAG_NOT_FOUND)."""
    async with rt.db.platform_session() as session, session.begin():
        flag = await get_flag(session, key)
        removed = {"definition": definition(flag), "overrides": await repository.count_overrides(session, flag.id)}
        await repository.delete_overrides(session, flag.id)
        await session.delete(flag)
        await _record(session, "flag.deleted", key, actor=actor, data=removed)
    store.invalidate(rt)


# -- tenants' overrides --------------------------------------------------------------------------


async def tenant_overrides(session: AsyncSession, tenant_id: str) -> dict[str, TenantFlagOverride]:
    """The tenant's overrides by flag id."""
    return await repository.overrides_of_tenant(session, tenant_id)


async def set_override(rt: Runtime, tenant_id: str, key: str, data: OverrideWrite, *, actor: str) -> TenantFlagOverride:
    """Create or replace the tenant's override of the flag."""
    async with rt.db.platform_session() as session, session.begin():
        flag = await get_flag(session, key)
        problems = _target_problems(flag.value_type, data.targets, "targets")
        problems += _rule_problems(flag.value_type, data.rules, "rules")
        problems += _rollout_problems(flag.value_type, data.rollout, "rollout")
        if data.value is not None:
            problems += _value_problems(flag.value_type, data.value, "value")
        _refuse(problems)
        row = await repository.get_override(session, tenant_id, flag.id)
        created = row is None
        if row is None:
            row = TenantFlagOverride(tenant_id=tenant_id, flag_id=flag.id)
            session.add(row)
        row.enabled = data.enabled
        row.value = data.value
        row.targets = _targets_json(data.targets)
        row.rules = _rules_json(data.rules)
        row.rollout = _rollout_json(data.rollout)
        row.updated_by = actor
        await session.flush()
        record = {"created": created, **_override_dict(row)}
        await _record(session, "flag.override.set", key, actor=actor, data=record, tenant_id=tenant_id)
    store.invalidate(rt)
    return row


async def delete_override(rt: Runtime, tenant_id: str, key: str, *, actor: str) -> None:
    """Drop the tenant's override: the platform's definition applies again."""
    async with rt.db.platform_session() as session, session.begin():
        flag = await get_flag(session, key)
        row = await repository.get_override(session, tenant_id, flag.id)
        if row is None:
            raise OverrideNotFound(f"the tenant has no override of {key!r}", key=key)
        removed = _override_dict(row)
        await session.delete(row)
        await _record(
            session, "flag.override.deleted", key, actor=actor, data={"removed": removed}, tenant_id=tenant_id
        )
    store.invalidate(rt)


# -- reading flags as a tenant sees them -----------------------------------------------------------


def context_for(user_id: str, email: str, tenant: TenantRef) -> EvaluationContext:
    """The evaluation context of a person in a tenant, with the attributes rules usually name."""
    return EvaluationContext(
        targeting_key=user_id,
        attributes={
            "tenant_id": tenant.id,
            "tenant_slug": tenant.slug,
            "tenant_region": tenant.region,
            "email": email,
        },
    )


async def tenant_view(
    session: AsyncSession, tenant_id: str, context: EvaluationContext
) -> list[tuple[FeatureFlag, Evaluation, TenantFlagOverride | None]]:
    """Every flag with its value for ``context`` and the tenant's override. Evaluated from the
    rows just read (not the process snapshot), so a page shows a change the moment it is made."""
    flags = await repository.list_flags(session)
    overrides = await repository.overrides_of_tenant(session, tenant_id)
    snapshot = Snapshot(
        version=0,
        flags={f.key: store.to_flag(f) for f in flags},
        overrides={(tenant_id, f.key): store.to_override(overrides[f.id], f.key) for f in flags if f.id in overrides},
    )
    return [(f, evaluate(snapshot, f.key, context), overrides.get(f.id)) for f in flags]


async def evaluate_now(rt: Runtime, key: str, context: EvaluationContext) -> Evaluation:
    """What code asking the flag in this process gets now (the version checked first): for
    debugging a definition. An unknown key is 404."""
    snapshot = await store.refresh(rt, max_age=0)
    found = evaluate(snapshot, key, context)
    if found.error_code is not None and key not in snapshot.flags:
        raise FlagNotFound(f"no flag {key!r}", key=key)
    return found
