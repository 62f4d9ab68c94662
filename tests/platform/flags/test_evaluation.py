"""The evaluation engine on hand-made snapshots: operators, rule order, a tenant's override before
the platform's rules, user targets, disabled flags and OpenFeature's reasons and error codes."""

from __future__ import annotations

from typing import Any

import pytest
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason

from atrium.platform.flags.evaluation import (
    Condition,
    Flag,
    Override,
    Rollout,
    Rule,
    Snapshot,
    UserTarget,
    evaluate,
)

ACME, GLOBEX = "tenant-acme", "tenant-globex"


def _snapshot(*flags: Flag, overrides: tuple[Override, ...] = ()) -> Snapshot:
    return Snapshot(
        version=1, flags={f.key: f for f in flags}, overrides={(o.tenant_id, o.flag_key): o for o in overrides}
    )


def _ctx(user: str | None = "u-1", **attributes: Any) -> EvaluationContext:
    return EvaluationContext(targeting_key=user, attributes=attributes)


def _rule(attribute: str, operator: str, *values: Any, value: Any = True, name: str | None = None) -> Rule:
    return Rule((Condition(attribute, operator, tuple(values)),), value, name)


@pytest.mark.parametrize(
    ("operator", "values", "actual", "expected"),
    [
        ("eq", ("gold",), "gold", True),
        ("eq", ("gold",), "silver", False),
        ("eq", (3,), 3.0, True),
        ("eq", (1,), True, False),  # a boolean is not the number 1
        ("eq", (True,), True, True),
        ("neq", ("gold",), "silver", True),
        ("neq", ("gold",), "gold", False),
        ("in", ("fr", "de"), "de", True),
        ("in", ("fr", "de"), "it", False),
        ("not_in", ("fr", "de"), "it", True),
        ("not_in", ("fr", "de"), "fr", False),
        ("lt", (10,), 9.5, True),
        ("lt", (10,), 10, False),
        ("gt", (10,), 11, True),
        ("gt", (10,), "11", False),  # a string is not compared with a number
        ("gt", ("2026-01-01",), "2026-06-30", True),  # ISO dates compare as strings
        ("contains", ("beta",), "closed-beta-2", True),
        ("contains", ("beta",), ["alpha", "beta"], True),
        ("contains", ("beta",), ["alpha"], False),
        ("contains", ("x", "beta"), "beta", True),
        ("ends_with", ("@acme.example",), "ann@acme.example", True),
        ("ends_with", ("@acme.example",), "ann@globex.example", False),
        ("ends_with", ("@a.example", "@b.example"), "bob@b.example", True),
    ],
)
def test_each_operator(operator: str, values: tuple[Any, ...], actual: Any, expected: bool) -> None:
    flag = Flag("f", "bool", False, rules=(_rule("plan", operator, *values),))
    found = evaluate(_snapshot(flag), "f", _ctx(plan=actual), expected="bool")
    assert found.value is expected
    assert found.reason == (Reason.TARGETING_MATCH if expected else Reason.DEFAULT)


@pytest.mark.parametrize("operator", ["eq", "neq", "in", "not_in", "lt", "gt", "contains", "ends_with"])
def test_a_missing_attribute_matches_no_condition_not_even_a_negated_one(operator: str) -> None:
    flag = Flag("f", "bool", False, rules=(_rule("plan", operator, "gold"),))
    assert evaluate(_snapshot(flag), "f", _ctx()).value is False


def test_targeting_key_is_the_user_id_and_all_conditions_must_hold() -> None:
    both = Rule((Condition("targeting_key", "in", ("u-1", "u-2")), Condition("country", "eq", ("fr",))), "yes")
    flag = Flag("f", "string", "no", rules=(both,))
    snapshot = _snapshot(flag)
    assert evaluate(snapshot, "f", _ctx("u-1", country="fr")).value == "yes"
    assert evaluate(snapshot, "f", _ctx("u-1", country="de")).value == "no"
    assert evaluate(snapshot, "f", _ctx("u-3", country="fr")).value == "no"


def test_rules_apply_in_order_first_match_wins() -> None:
    flag = Flag(
        "theme",
        "string",
        "classic",
        rules=(
            _rule("email", "ends_with", "@acme.example", value="staff", name="staff"),
            _rule("plan", "eq", "gold", value="gold"),
        ),
    )
    snapshot = _snapshot(flag)
    staff_and_gold = evaluate(snapshot, "theme", _ctx(email="a@acme.example", plan="gold"))
    assert (staff_and_gold.value, staff_and_gold.reason, staff_and_gold.variant) == (
        "staff",
        Reason.TARGETING_MATCH,
        "staff",
    )
    gold = evaluate(snapshot, "theme", _ctx(email="a@other.example", plan="gold"))
    assert (gold.value, gold.variant) == ("gold", "rule-2")
    nobody = evaluate(snapshot, "theme", _ctx(email="a@other.example"))
    assert (nobody.value, nobody.reason, nobody.variant) == ("classic", Reason.DEFAULT, "default")


def test_a_flag_without_targeting_is_static() -> None:
    found = evaluate(_snapshot(Flag("f", "number", 3)), "f", _ctx())
    assert (found.value, found.reason, found.error_code) == (3, Reason.STATIC, None)


def test_a_tenant_override_comes_before_the_platform_rules() -> None:
    flag = Flag("f", "string", "platform-default", rules=(_rule("plan", "eq", "gold", value="platform-rule"),))
    override = Override(
        ACME,
        "f",
        rules=(_rule("plan", "eq", "gold", value="tenant-rule", name="gold"),),
        value="tenant-value",
    )
    snapshot = _snapshot(flag, overrides=(override,))
    in_acme = evaluate(snapshot, "f", _ctx(tenant_id=ACME, plan="gold"))
    assert (in_acme.value, in_acme.reason, in_acme.variant) == ("tenant-rule", Reason.TARGETING_MATCH, "tenant-gold")
    rest_of_acme = evaluate(snapshot, "f", _ctx(tenant_id=ACME, plan="free"))
    assert (rest_of_acme.value, rest_of_acme.variant) == ("tenant-value", "tenant")
    elsewhere = evaluate(snapshot, "f", _ctx(tenant_id=GLOBEX, plan="gold"))
    assert (elsewhere.value, elsewhere.variant) == ("platform-rule", "rule-1")


def test_an_override_without_a_value_falls_through_to_the_platform() -> None:
    flag = Flag("f", "bool", False, rules=(_rule("plan", "eq", "gold"),))
    override = Override(ACME, "f", rules=(_rule("plan", "eq", "beta"),))
    snapshot = _snapshot(flag, overrides=(override,))
    assert evaluate(snapshot, "f", _ctx(tenant_id=ACME, plan="gold")).variant == "rule-1"
    assert evaluate(snapshot, "f", _ctx(tenant_id=ACME, plan="beta")).variant == "tenant-rule-1"
    assert evaluate(snapshot, "f", _ctx(tenant_id=ACME)).reason == Reason.DEFAULT


def test_per_user_targets_come_first_in_the_tenant() -> None:
    flag = Flag("f", "bool", False)
    override = Override(
        ACME,
        "f",
        targets=(UserTarget(frozenset({"u-7", "u-8"}), True),),
        rules=(_rule("targeting_key", "eq", "u-7", value=False),),
        value=False,
    )
    snapshot = _snapshot(flag, overrides=(override,))
    chosen = evaluate(snapshot, "f", _ctx("u-7", tenant_id=ACME))
    assert (chosen.value, chosen.reason, chosen.variant) == (True, Reason.TARGETING_MATCH, "tenant-user")
    assert evaluate(snapshot, "f", _ctx("u-9", tenant_id=ACME)).value is False
    assert evaluate(snapshot, "f", _ctx("u-7", tenant_id=GLOBEX)).reason == Reason.STATIC  # targets are per tenant


def test_a_platform_rule_on_user_ids_targets_people_everywhere() -> None:
    flag = Flag("f", "bool", False, rules=(_rule("targeting_key", "in", "u-1", "u-2", name="early-access"),))
    snapshot = _snapshot(flag)
    assert evaluate(snapshot, "f", _ctx("u-2", tenant_id=GLOBEX)).variant == "early-access"
    assert evaluate(snapshot, "f", _ctx("u-3")).value is False


def test_a_disabled_flag_serves_its_default_whatever_targets_it() -> None:
    flag = Flag("f", "string", "off", enabled=False, rules=(_rule("plan", "eq", "gold", value="on"),))
    override = Override(ACME, "f", value="tenant")
    found = evaluate(_snapshot(flag, overrides=(override,)), "f", _ctx(tenant_id=ACME, plan="gold"))
    assert (found.value, found.reason, found.error_code) == ("off", Reason.DISABLED, None)


def test_a_tenant_can_turn_a_flag_off_for_itself() -> None:
    flag = Flag("f", "bool", False, rollout=Rollout(100, True))
    snapshot = _snapshot(flag, overrides=(Override(ACME, "f", enabled=False),))
    off = evaluate(snapshot, "f", _ctx(tenant_id=ACME))
    assert (off.value, off.reason, off.variant) == (False, Reason.DISABLED, "tenant-disabled")
    on = evaluate(snapshot, "f", _ctx(tenant_id=GLOBEX))
    assert (on.value, on.reason, on.variant) == (True, Reason.SPLIT, "rollout")


def test_rules_come_before_the_rollout() -> None:
    flag = Flag("f", "string", "a", rules=(_rule("plan", "eq", "gold", value="ruled"),), rollout=Rollout(100, "rolled"))
    snapshot = _snapshot(flag)
    assert evaluate(snapshot, "f", _ctx(plan="gold")).value == "ruled"
    assert evaluate(snapshot, "f", _ctx(plan="free")).value == "rolled"
    assert evaluate(snapshot, "f", _ctx(None, plan="free")).value == "a"  # no user: nothing to bucket


def test_an_unknown_flag_and_a_type_mismatch_answer_the_callers_default() -> None:
    snapshot = _snapshot(Flag("f", "bool", True))
    missing = evaluate(snapshot, "nope", _ctx(), expected="bool", default=False)
    assert (missing.value, missing.reason, missing.error_code) == (False, Reason.ERROR, ErrorCode.FLAG_NOT_FOUND)
    mismatch = evaluate(snapshot, "f", _ctx(), expected="string", default="x")
    assert (mismatch.value, mismatch.error_code) == ("x", ErrorCode.TYPE_MISMATCH)
    assert mismatch.error_message and "bool" in mismatch.error_message


def test_an_object_answer_is_a_copy() -> None:
    snapshot = _snapshot(Flag("limits", "object", {"seats": 5}))
    first = evaluate(snapshot, "limits", _ctx()).value
    first["seats"] = 500
    assert evaluate(snapshot, "limits", _ctx()).value == {"seats": 5}
