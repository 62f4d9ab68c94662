"""The catalogue, value validation, and how a snapshot is made of defaults and overrides."""

from __future__ import annotations

import pytest

from atrium.core.errors import ValidationFailed
from atrium.platform.entitlements.catalogue import CATALOGUE, DEFAULTS, MAX_LIMIT, Kind, validate
from atrium.platform.entitlements.deps import require_entitlement, require_module
from atrium.platform.entitlements.source import DEFAULT, OVERRIDE, merge

MODULES = ("notes", "finance", "crm", "hr", "projects", "support", "analytics", "documents")
FEATURES = ("ai_copilot", "sso", "scim", "api_access", "audit_export")
QUOTAS = ("storage_mb", "ai_credits_monthly", "api_calls_daily")


def test_the_catalogue_lists_every_key_with_its_kind() -> None:
    expected = (
        [f"module.{m}" for m in MODULES]
        + [f"feature.{f}" for f in FEATURES]
        + ["seats"]
        + [f"quota.{q}" for q in QUOTAS]
    )
    assert list(CATALOGUE) == expected
    for key, found in CATALOGUE.items():
        assert found.kind is (Kind.limit if key == "seats" or key.startswith("quota.") else Kind.switch), key
        assert found.title and found.description


def test_the_default_plan_enables_every_module_and_limits_nothing() -> None:
    assert all(DEFAULTS[f"module.{m}"] is True for m in MODULES)
    assert DEFAULTS["feature.ai_copilot"] is False
    assert DEFAULTS["seats"] is None and all(DEFAULTS[f"quota.{q}"] is None for q in QUOTAS)


@pytest.mark.parametrize(
    ("key", "value"),
    [("module.notes", True), ("module.crm", False), ("seats", 0), ("seats", None), ("quota.storage_mb", MAX_LIMIT)],
)
def test_valid_values_pass_unchanged(key: str, value: object) -> None:
    assert validate(key, value) is value or validate(key, value) == value


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("module.notes", 1),
        ("module.notes", None),
        ("module.notes", "true"),
        ("seats", True),
        ("seats", -1),
        ("seats", 1.5),
        ("seats", "5"),
        ("quota.api_calls_daily", MAX_LIMIT + 1),
    ],
)
def test_wrong_values_are_refused_naming_the_value(key: str, value: object) -> None:
    with pytest.raises(ValidationFailed) as refused:
        validate(key, value)
    assert refused.value.status_code == 422
    assert refused.value.extra["field"] == "value" and refused.value.extra["entitlement"] == key
    assert key in refused.value.detail


def test_an_unknown_key_is_refused_naming_the_key() -> None:
    with pytest.raises(ValidationFailed) as refused:
        validate("module.teleport", True)
    assert refused.value.extra["field"] == "key" and "module.teleport" in refused.value.detail


def test_a_snapshot_lays_overrides_over_the_defaults_and_ignores_what_it_cannot_trust() -> None:
    found = merge(
        "t1", {"module.finance": False, "seats": 3, "module.gone": True, "quota.storage_mb": "lots", "feature.sso": 1}
    )
    assert found.enabled("module.notes") and not found.enabled("module.finance") and not found.module_enabled("finance")
    assert found.limit("seats") == 3 and found.limit("quota.storage_mb") is None
    assert found.sources["module.finance"] == found.sources["seats"] == OVERRIDE
    assert found.sources["quota.storage_mb"] == found.sources["feature.sso"] == DEFAULT  # wrong kind: default stands
    assert found.enabled("feature.sso") and "module.gone" not in found.values
    with pytest.raises(TypeError):
        found.limit("module.notes")
    with pytest.raises(TypeError):
        found.values["seats"] = 4  # type: ignore[index]  # snapshots are shared by the cache: read-only


def test_a_dependency_on_an_unknown_key_or_a_limit_fails_at_import_time() -> None:
    with pytest.raises(ValidationFailed):
        require_module("teleport")
    with pytest.raises(ValueError, match="limit"):
        require_entitlement("seats")
    assert require_module("notes").dependency.key == "module.notes"
