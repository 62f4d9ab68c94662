"""The OpenFeature provider over the runtime's snapshot: a client asks flags the standard way and
gets values, reasons, variants and error codes; evaluation runs no query while the snapshot is
fresh; a change reaches this process at once and other processes within the interval."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason
from openfeature.provider import ProviderStatus
from sqlalchemy import event

from atrium.platform.flags import deps, provider, service, store
from atrium.platform.flags.schemas import FlagUpdate, OverrideWrite
from atrium.runtime import Runtime
from tests.platform.flags.conftest import define, tenant

pytestmark = pytest.mark.usefixtures("openfeature_registry")


async def _catalogue(rt: Runtime) -> str:
    acme = await tenant(rt, "acme")
    await define(
        rt,
        key="billing.invoice-editor",
        value_type="bool",
        default_value=False,
        rules=[
            {
                "name": "staff",
                "conditions": [{"attribute": "email", "operator": "ends_with", "values": ["@atrium.example"]}],
                "value": True,
            }
        ],
    )
    await define(rt, key="ui.theme", value_type="string", default_value="classic")
    await define(rt, key="plan.limits", value_type="object", default_value={"seats": 5, "projects": 3})
    await define(
        rt,
        key="api.rate",
        value_type="number",
        default_value=120,
        rules=[{"conditions": [{"attribute": "plan", "operator": "eq", "values": ["gold"]}], "value": 2.5}],
    )
    await define(rt, key="old.switch", value_type="bool", default_value=True, enabled=False)
    override = OverrideWrite.model_validate({"value": "dark", "targets": [{"users": ["u-vip"], "value": "gold"}]})
    await service.set_override(rt, acme, "ui.theme", override, actor="t")
    return acme


def _ctx(user: str = "u-1", **attributes: Any) -> EvaluationContext:
    return EvaluationContext(targeting_key=user, attributes=attributes)


async def test_a_client_asks_flags_the_standard_way(runtime: Runtime) -> None:
    acme = await _catalogue(runtime)
    await store.refresh(runtime)
    api.set_provider(provider.AtriumFlagProvider(store.store_for(runtime)))
    client = api.get_client()
    for _ in range(200):  # the registry initialises a provider on a thread of its own
        if client.get_provider_status() == ProviderStatus.READY:
            break
        await asyncio.sleep(0.01)
    assert api.get_provider_metadata().name == "atrium"

    assert client.get_boolean_value("billing.invoice-editor", False, _ctx(email="ann@atrium.example")) is True
    staff = client.get_boolean_details("billing.invoice-editor", False, _ctx(email="ann@atrium.example"))
    assert (staff.value, staff.reason, staff.variant, staff.error_code) == (True, Reason.TARGETING_MATCH, "staff", None)
    other = client.get_boolean_details("billing.invoice-editor", True, _ctx(email="bob@example.com"))
    assert (other.value, other.reason, other.variant) == (False, Reason.DEFAULT, "default")

    theme = client.get_string_details("ui.theme", "x", _ctx(tenant_id=acme))
    assert (theme.value, theme.reason, theme.variant) == ("dark", Reason.TARGETING_MATCH, "tenant")
    assert client.get_string_value("ui.theme", "x", _ctx("u-vip", tenant_id=acme)) == "gold"
    plain = client.get_string_details("ui.theme", "x", _ctx())
    assert (plain.value, plain.reason) == ("classic", Reason.STATIC)

    limits = client.get_object_details("plan.limits", {}, _ctx())
    assert (limits.value, limits.reason) == ({"seats": 5, "projects": 3}, Reason.STATIC)
    assert client.get_integer_value("api.rate", 0, _ctx()) == 120
    assert client.get_float_value("api.rate", 0.0, _ctx(plan="gold")) == 2.5
    fractional = client.get_integer_details("api.rate", 7, _ctx(plan="gold"))
    assert (fractional.value, fractional.error_code) == (7, ErrorCode.TYPE_MISMATCH)

    disabled = client.get_boolean_details("old.switch", False, _ctx())
    assert (disabled.value, disabled.reason) == (True, Reason.DISABLED)
    missing = client.get_boolean_details("no.such-flag", True, _ctx())
    assert (missing.value, missing.reason, missing.error_code) == (True, Reason.ERROR, ErrorCode.FLAG_NOT_FOUND)
    mismatch = client.get_string_details("billing.invoice-editor", "fallback", _ctx())
    assert (mismatch.value, mismatch.reason, mismatch.error_code) == ("fallback", Reason.ERROR, ErrorCode.TYPE_MISMATCH)


async def test_evaluation_runs_no_query_while_the_snapshot_is_fresh(runtime: Runtime) -> None:
    await _catalogue(runtime)
    await store.refresh(runtime)
    store.store_for(runtime).interval = 60  # however slow the machine, the snapshot stays fresh
    client = api.get_client()
    provider.install(runtime)
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(runtime.db.engine.sync_engine, "before_cursor_execute", count)
    try:
        for i in range(1000):
            client.get_boolean_value("billing.invoice-editor", False, _ctx(f"u-{i}", email=f"{i}@atrium.example"))
        await asyncio.sleep(0)
    finally:
        event.remove(runtime.db.engine.sync_engine, "before_cursor_execute", count)
    assert statements == []


async def test_a_change_reaches_this_process_at_once_and_others_within_the_interval(runtime: Runtime) -> None:
    await _catalogue(runtime)
    provider.install(runtime)
    client = api.get_client()
    assert await client.get_boolean_value_async("old.switch", False, _ctx()) is True  # async: refreshed first
    elsewhere = store.FlagStore(runtime.db, interval=0.2)  # another process's store
    assert not (await elsewhere.refresh()).flags["old.switch"].enabled

    await service.update_flag(runtime, "old.switch", FlagUpdate(enabled=True, default_value=False), actor="t")
    # sync: answers from the snapshot it holds, and refreshes in the background
    assert client.get_boolean_details("old.switch", True, _ctx()).reason == Reason.DISABLED
    for _ in range(200):
        if client.get_boolean_details("old.switch", True, _ctx()).reason == Reason.STATIC:
            break
        await asyncio.sleep(0.01)
    assert client.get_boolean_details("old.switch", True, _ctx()).value is False

    assert not (await elsewhere.refresh()).flags["old.switch"].enabled  # within its interval: not checked
    await asyncio.sleep(0.25)
    assert (await elsewhere.refresh()).flags["old.switch"].enabled


async def test_start_loads_the_flags_and_installs_the_provider(runtime: Runtime) -> None:
    await _catalogue(runtime)
    task = store.start(runtime)
    try:
        for _ in range(200):
            if store.store_for(runtime).snapshot.loaded:
                break
            await asyncio.sleep(0.01)
        assert api.get_client().get_string_value("ui.theme", "x", _ctx()) == "classic"
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def test_an_unloaded_store_says_the_provider_is_not_ready() -> None:
    empty = provider.AtriumFlagProvider(store.FlagStore(db=None))  # type: ignore[arg-type]
    found = empty.resolve_boolean_details("any", True, _ctx())
    assert (found.value, found.error_code) == (True, ErrorCode.PROVIDER_NOT_READY)


async def test_the_fresh_flags_dependency_gives_a_checked_snapshot(runtime: Runtime) -> None:
    await _catalogue(runtime)
    snapshot = await deps.fresh_flags(runtime)
    assert snapshot.loaded and set(snapshot.flags) >= {"ui.theme", "plan.limits"}
    assert await deps.fresh_flags(runtime) is snapshot  # nothing changed: the same snapshot, no reload
