"""Evaluating a flag: pure functions over an immutable snapshot, no I/O, so a hot path pays for
a few dictionary look-ups and, for a rollout, one SHA-256.

Order (first answer wins):

1. unknown key → the caller's default, error ``FLAG_NOT_FOUND``; asked as another type →
   ``TYPE_MISMATCH``;
2. flag disabled → the flag's default value, reason ``DISABLED``;
3. the tenant's override (``tenant_id`` attribute of the context): disabled → ``DISABLED``; then
   its user targets, its rules (``TARGETING_MATCH``), its rollout (``SPLIT``), its value
   (``TARGETING_MATCH``);
4. the platform's rules in order → ``TARGETING_MATCH``;
5. the platform's rollout → ``SPLIT`` for those inside;
6. the flag's default value: ``STATIC`` when the flag has nothing dynamic at all, else ``DEFAULT``.
"""

from __future__ import annotations

import copy
import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason

ValueType = Literal["bool", "string", "number", "object"]
VALUE_TYPES: tuple[ValueType, ...] = ("bool", "string", "number", "object")
Operator = Literal["eq", "neq", "in", "not_in", "lt", "gt", "contains", "ends_with"]
OPERATORS: tuple[Operator, ...] = ("eq", "neq", "in", "not_in", "lt", "gt", "contains", "ends_with")
SINGLE_VALUE_OPERATORS = frozenset({"eq", "neq", "lt", "gt"})
TARGETING_KEY = "targeting_key"  # the attribute name that means the context's targeting key (the user id)
TENANT_ATTRIBUTE = "tenant_id"
BUCKETS = 10_000  # a rollout percent has two decimals: bucket < percent × 100
Scalar = str | int | float | bool


def bucket(flag_key: str, unit: str) -> int:
    """The stable bucket 0‥9999 of one unit (a user) for one flag: the same on every process and
    release, independent between flags, so a user stays inside a rollout while its percent grows."""
    digest = hashlib.sha256(f"{flag_key}\x00{unit}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def value_fits(value_type: str, value: object) -> bool:
    """Whether ``value`` is a value of a flag of ``value_type``."""
    if value_type == "bool":
        return isinstance(value, bool)
    if value_type == "string":
        return isinstance(value, str)
    if value_type == "number":
        return _is_number(value) and math.isfinite(value)  # type: ignore[arg-type]
    if value_type == "object":
        return isinstance(value, dict | list)
    return False


@dataclass(frozen=True)
class Condition:
    attribute: str
    operator: str
    values: tuple[Scalar, ...]

    def matches(self, context: EvaluationContext) -> bool:
        """A missing attribute matches no condition, a negated one included; so does a value of
        another type (a string never equals a number, nor is less than one)."""
        actual = context.targeting_key if self.attribute == TARGETING_KEY else context.attributes.get(self.attribute)
        if actual is None:
            return False
        op, values = self.operator, self.values
        if op == "eq":
            return _equal(actual, values[0])
        if op == "neq":
            return not _equal(actual, values[0])
        if op == "in":
            return any(_equal(actual, v) for v in values)
        if op == "not_in":
            return not any(_equal(actual, v) for v in values)
        if op in ("lt", "gt"):
            order = _compare(actual, values[0])
            return order is not None and (order < 0 if op == "lt" else order > 0)
        if op == "contains":
            if isinstance(actual, str):
                return any(isinstance(v, str) and v in actual for v in values)
            if isinstance(actual, list | tuple):
                return any(_equal(item, v) for item in actual for v in values)
            return False
        if op == "ends_with":
            return isinstance(actual, str) and any(isinstance(v, str) and actual.endswith(v) for v in values)
        return False


def _equal(a: object, b: object) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return a == b
    return type(a) is type(b) and a == b


def _compare(a: object, b: object) -> int | None:
    """-1, 0 or 1 for two numbers or two strings; None for anything else."""
    if _is_number(a) and _is_number(b):
        x, y = float(a), float(b)  # type: ignore[arg-type]
    elif isinstance(a, str) and isinstance(b, str):
        return (a > b) - (a < b)
    else:
        return None
    return (x > y) - (x < y)


@dataclass(frozen=True)
class Rule:
    """Serves ``value`` when every condition holds."""

    conditions: tuple[Condition, ...]
    value: Any
    name: str | None = None

    def matches(self, context: EvaluationContext) -> bool:
        return all(c.matches(context) for c in self.conditions)


@dataclass(frozen=True)
class Rollout:
    """Serves ``value`` to ``percent`` % of the units named by ``bucket_by`` (the targeting key,
    or an attribute such as ``tenant_id`` to roll out tenant by tenant)."""

    percent: float
    value: Any
    bucket_by: str = TARGETING_KEY

    def includes(self, flag_key: str, context: EvaluationContext) -> bool:
        unit = context.targeting_key if self.bucket_by == TARGETING_KEY else context.attributes.get(self.bucket_by)
        if isinstance(unit, bool) or not isinstance(unit, str | int) or unit == "":
            return False  # nothing to bucket by: outside the rollout
        return bucket(flag_key, str(unit)) < round(self.percent * 100)


@dataclass(frozen=True)
class UserTarget:
    """Serves ``value`` to the listed targeting keys (user ids)."""

    users: frozenset[str]
    value: Any


@dataclass(frozen=True)
class Flag:
    key: str
    value_type: str
    default: Any
    enabled: bool = True
    rules: tuple[Rule, ...] = ()
    rollout: Rollout | None = None
    description: str = ""


@dataclass(frozen=True)
class Override:
    """A tenant's override of one flag; ``value`` None means "no tenant-wide value"."""

    tenant_id: str
    flag_key: str
    enabled: bool = True
    value: Any = None
    targets: tuple[UserTarget, ...] = ()
    rules: tuple[Rule, ...] = ()
    rollout: Rollout | None = None


@dataclass(frozen=True)
class Snapshot:
    """Every flag and override at one version: what a process evaluates against."""

    version: int = -1  # -1: never loaded
    flags: Mapping[str, Flag] = field(default_factory=dict)
    overrides: Mapping[tuple[str, str], Override] = field(default_factory=dict)  # (tenant id, flag key)

    @property
    def loaded(self) -> bool:
        return self.version >= 0


@dataclass(frozen=True)
class Evaluation:
    """One answer, in OpenFeature's terms."""

    key: str
    value: Any
    reason: Reason
    variant: str | None = None
    error_code: ErrorCode | None = None
    error_message: str | None = None


def _served(key: str, value: Any, reason: Reason, variant: str) -> Evaluation:
    # an object value is copied: a caller changing its answer must not change the snapshot
    return Evaluation(key, copy.deepcopy(value) if isinstance(value, dict | list) else value, reason, variant)


def _rule_variant(rule: Rule, index: int, prefix: str = "") -> str:
    return prefix + (rule.name or f"rule-{index + 1}")


def evaluate(
    snapshot: Snapshot,
    key: str,
    context: EvaluationContext | None = None,
    *,
    expected: str | None = None,
    default: Any = None,
) -> Evaluation:
    """The flag's value for ``context``. ``expected`` is the value type the caller asks for;
    ``default`` is what it gets back on an error."""
    flag = snapshot.flags.get(key)
    if flag is None:
        return Evaluation(key, default, Reason.ERROR, None, ErrorCode.FLAG_NOT_FOUND, f"no flag {key!r}")
    if expected is not None and flag.value_type != expected:
        message = f"flag {key!r} holds {flag.value_type} values, not {expected}"
        return Evaluation(key, default, Reason.ERROR, None, ErrorCode.TYPE_MISMATCH, message)
    if not flag.enabled:
        return _served(key, flag.default, Reason.DISABLED, "default")
    context = context or EvaluationContext()
    tenant_id = context.attributes.get(TENANT_ATTRIBUTE)
    override = snapshot.overrides.get((tenant_id, key)) if isinstance(tenant_id, str) else None
    if override is not None:
        if not override.enabled:
            return _served(key, flag.default, Reason.DISABLED, "tenant-disabled")
        if context.targeting_key:
            for target in override.targets:
                if context.targeting_key in target.users:
                    return _served(key, target.value, Reason.TARGETING_MATCH, "tenant-user")
        for index, rule in enumerate(override.rules):
            if rule.matches(context):
                return _served(key, rule.value, Reason.TARGETING_MATCH, _rule_variant(rule, index, "tenant-"))
        if override.rollout is not None and override.rollout.includes(key, context):
            return _served(key, override.rollout.value, Reason.SPLIT, "tenant-rollout")
        if override.value is not None:
            return _served(key, override.value, Reason.TARGETING_MATCH, "tenant")
    for index, rule in enumerate(flag.rules):
        if rule.matches(context):
            return _served(key, rule.value, Reason.TARGETING_MATCH, _rule_variant(rule, index))
    if flag.rollout is not None and flag.rollout.includes(key, context):
        return _served(key, flag.rollout.value, Reason.SPLIT, "rollout")
    dynamic = bool(flag.rules or flag.rollout is not None or override is not None)
    return _served(key, flag.default, Reason.DEFAULT if dynamic else Reason.STATIC, "default")


# -- from stored JSON -----------------------------------------------------------------------------


def condition_from(data: Mapping[str, Any]) -> Condition:
    return Condition(str(data["attribute"]), str(data["operator"]), tuple(data["values"]))


def rule_from(data: Mapping[str, Any]) -> Rule:
    return Rule(tuple(condition_from(c) for c in data["conditions"]), data["value"], data.get("name") or None)


def rollout_from(data: Mapping[str, Any] | None) -> Rollout | None:
    if data is None:
        return None
    return Rollout(float(data["percent"]), data["value"], str(data.get("bucket_by") or TARGETING_KEY))


def target_from(data: Mapping[str, Any]) -> UserTarget:
    return UserTarget(frozenset(str(u) for u in data["users"]), data["value"])
