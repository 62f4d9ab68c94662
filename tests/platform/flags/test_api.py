"""The flag API: platform administrators define flags (CRUD, evaluate); a tenant's members read
their values, its administrators set overrides. Bad input is a 422 naming the field with nothing
written; every change is audited and sent to the outbox; another tenant is not found."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select

from atrium.core.audit.models import AuditEvent
from atrium.core.events.models import OutboxEvent
from atrium.platform.flags.models import FeatureFlag, FeatureFlagVersion, TenantFlagOverride
from atrium.runtime import Runtime
from tests.platform.flags.conftest import acme, login

FLAGS = "/api/v1/platform/flags"
STAFF_RULE = {
    "name": "staff",
    "conditions": [{"attribute": "email", "operator": "ends_with", "values": ["@acme.example"]}],
    "value": True,
}
EDITOR = {
    "key": "billing.invoice-editor",
    "description": "The new invoice editor",
    "value_type": "bool",
    "default_value": False,
    "rules": [STAFF_RULE],
    "rollout": {"percent": 25, "value": True},
}


async def _state(rt: Runtime) -> tuple[int, int, int, int, int]:
    """Flags, overrides, flag audit events, flag outbox events, version: what a refusal must not change."""
    async with rt.db.platform_session() as session:

        async def count(stmt: Any) -> int:
            return int((await session.execute(stmt)).scalar_one())

        outbox = [
            e for e in (await session.execute(select(OutboxEvent))).scalars() if e.envelope["type"] == "flag.changed"
        ]
        version = (await session.execute(select(FeatureFlagVersion.version))).scalar_one_or_none() or 0
        return (
            await count(select(func.count()).select_from(FeatureFlag)),
            await count(select(func.count()).select_from(TenantFlagOverride)),
            await count(select(func.count()).select_from(AuditEvent).where(AuditEvent.object_type == "feature_flag")),
            len(outbox),
            version,
        )


async def _audit(rt: Runtime) -> list[AuditEvent]:
    async with rt.db.platform_session() as session:
        stmt = select(AuditEvent).where(AuditEvent.object_type == "feature_flag").order_by(AuditEvent.id)
        return list((await session.execute(stmt)).scalars())


async def test_platform_admins_define_change_and_delete_flags(client: httpx.AsyncClient, runtime: Runtime) -> None:
    created = await client.post(FLAGS, json=EDITOR)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["key"] == EDITOR["key"] and body["rules"] == [STAFF_RULE] and body["enabled"] is True
    assert body["rollout"] == {"percent": 25.0, "value": True, "bucket_by": "targeting_key"}
    assert [f["key"] for f in (await client.get(FLAGS)).json()] == [EDITOR["key"]]
    assert (await client.get(f"{FLAGS}/{EDITOR['key']}")).json()["description"] == "The new invoice editor"

    changed = await client.patch(f"{FLAGS}/{EDITOR['key']}", json={"enabled": False, "rollout": None})
    assert changed.status_code == 200, changed.text
    assert changed.json()["enabled"] is False and changed.json()["rollout"] is None
    assert changed.json()["rules"] == [STAFF_RULE]  # not sent: kept
    unchanged = await client.patch(f"{FLAGS}/{EDITOR['key']}", json={"enabled": False})
    assert unchanged.status_code == 200

    assert (await client.delete(f"{FLAGS}/{EDITOR['key']}")).status_code == 204
    gone = await client.get(f"{FLAGS}/{EDITOR['key']}")
    assert gone.status_code == 404 and gone.json()["code"] == "flag-not-found"
    assert (await client.patch(f"{FLAGS}/nope", json={"enabled": True})).status_code == 404
    assert (await client.delete(f"{FLAGS}/nope")).status_code == 404

    events = await _audit(runtime)
    assert [e.action for e in events] == ["flag.created", "flag.updated", "flag.deleted"]  # no event for no change
    assert all(e.tenant_id is None and e.object_id == EDITOR["key"] and e.actor.startswith("admin-") for e in events)
    assert events[1].data == {"changed": {"enabled": False, "rollout": None}}
    async with runtime.db.platform_session() as session:
        outbox = [e.envelope for e in (await session.scalars(select(OutboxEvent).order_by(OutboxEvent.created_at)))]
    flag_events = [e for e in outbox if e["type"] == "flag.changed"]
    assert [e["data"]["change"] for e in flag_events] == ["flag.created", "flag.updated", "flag.deleted"]
    assert {e["topic"] for e in flag_events} == {"user.events"} and flag_events[0]["subject"] == EDITOR["key"]
    assert (await _state(runtime))[4] == 3  # one version bump per change


async def test_bad_definitions_are_422_naming_the_field_and_write_nothing(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    assert (await client.post(FLAGS, json={**EDITOR, "key": "taken"})).status_code == 201
    before = await _state(runtime)
    condition = {"attribute": "plan", "operator": "eq", "values": ["gold"]}
    cases: list[tuple[dict[str, Any], str]] = [
        ({**EDITOR, "key": "taken"}, "key"),
        ({**EDITOR, "key": "Bad Key"}, "key"),
        ({**EDITOR, "key": "-leading.dash"}, "key"),
        ({**EDITOR, "value_type": "date"}, "value_type"),
        ({**EDITOR, "default_value": "no"}, "default_value"),
        ({**EDITOR, "default_value": None}, "default_value"),
        ({**EDITOR, "rules": [{**STAFF_RULE, "value": "yes"}]}, "rules.0.value"),
        (
            {**EDITOR, "rules": [{"conditions": [{**condition, "operator": "like"}], "value": True}]},
            "rules.0.conditions.0.operator",
        ),
        (
            {**EDITOR, "rules": [{"conditions": [{**condition, "values": ["a", "b"]}], "value": True}]},
            "rules.0.conditions.0.values",
        ),
        ({**EDITOR, "rules": [{"conditions": [], "value": True}]}, "rules.0.conditions"),
        ({**EDITOR, "rollout": {"percent": 100.5, "value": True}}, "rollout.percent"),
        ({**EDITOR, "rollout": {"percent": -1, "value": True}}, "rollout.percent"),
        ({**EDITOR, "rollout": {"percent": 10, "value": 1}}, "rollout.value"),
        (
            {
                **EDITOR,
                "value_type": "number",
                "default_value": 1,
                "rules": [],
                "rollout": None,
                "key": "n",
                "extra": 1,
            },
            "extra",
        ),
    ]
    for body, field in cases:
        response = await client.post(FLAGS, json=body)
        assert response.status_code == 422, (field, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert field in [e["field"] for e in problem["errors"]], (field, problem)
        assert field in problem["detail"]
    refused_patch = await client.patch(f"{FLAGS}/taken", json={"rules": [{**STAFF_RULE, "value": 3}], "enabled": False})
    assert refused_patch.status_code == 422 and refused_patch.json()["field"] == "rules.0.value"
    type_change = await client.patch(f"{FLAGS}/taken", json={"value_type": "string"})
    assert type_change.status_code == 422 and type_change.json()["errors"][0]["field"] == "value_type"
    assert await _state(runtime) == before
    assert (await client.get(f"{FLAGS}/taken")).json()["enabled"] is True


async def test_the_evaluate_endpoint_answers_like_the_provider(client: httpx.AsyncClient) -> None:
    assert (await client.post(FLAGS, json=EDITOR)).status_code == 201
    url = f"{FLAGS}/{EDITOR['key']}/evaluate"
    staff = (await client.post(url, json={"targeting_key": "u-1", "attributes": {"email": "a@acme.example"}})).json()
    assert staff == {
        "key": EDITOR["key"],
        "value": True,
        "reason": "TARGETING_MATCH",
        "variant": "staff",
        "error_code": None,
        "error_message": None,
    }
    answers = [(await client.post(url, json={"targeting_key": f"u-{i}"})).json() for i in range(40)]
    assert {a["reason"] for a in answers} == {"SPLIT", "DEFAULT"}
    assert all(a["value"] is (a["reason"] == "SPLIT") for a in answers)
    await client.patch(f"{FLAGS}/{EDITOR['key']}", json={"enabled": False})
    disabled = (await client.post(url, json={"targeting_key": "u-1", "attributes": {"email": "a@acme.example"}})).json()
    assert (disabled["value"], disabled["reason"]) == (False, "DISABLED")
    assert (await client.post(f"{FLAGS}/nope/evaluate", json={})).status_code == 404


async def test_tenant_flags_overrides_and_access(
    client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
) -> None:
    ids = await acme(runtime)
    assert (await client.post(FLAGS, json={**EDITOR, "rules": [], "rollout": None})).status_code == 201
    theme = {"key": "ui.theme", "value_type": "string", "default_value": "classic"}
    assert (await client.post(FLAGS, json=theme)).status_code == 201
    tenant_flags = "/api/v1/tenants/acme/flags"

    # the platform administrator sets acme's override: the member is targeted by id
    override = {"targets": [{"users": [ids["member"]], "value": True}], "value": False}
    saved = await client.put(f"{tenant_flags}/{EDITOR['key']}", json=override)
    assert saved.status_code == 200, saved.text
    assert saved.json()["targets"] == [{"users": [ids["member"]], "value": True}]

    await login(browser, "member@acme.example")
    listed = await browser.get(tenant_flags)
    assert listed.status_code == 200, listed.text
    mine = {f["key"]: f for f in listed.json()}
    assert (mine[EDITOR["key"]]["value"], mine[EDITOR["key"]]["reason"]) == (True, "TARGETING_MATCH")
    assert mine[EDITOR["key"]]["variant"] == "tenant-user" and mine[EDITOR["key"]]["override"]["value"] is False
    assert (mine["ui.theme"]["value"], mine["ui.theme"]["reason"], mine["ui.theme"]["override"]) == (
        "classic",
        "STATIC",
        None,
    )

    # a member may not write overrides; another tenant is not found
    before = await _state(runtime)
    forbidden = await browser.put(f"{tenant_flags}/ui.theme", json={"value": "dark"})
    assert forbidden.status_code == 403, forbidden.text
    assert (await browser.delete(f"{tenant_flags}/{EDITOR['key']}")).status_code == 403
    for method in ("GET", "PUT", "DELETE"):
        path = "/api/v1/tenants/globex/flags" + ("" if method == "GET" else "/ui.theme")
        foreign = await browser.request(method, path, json={"value": "dark"} if method == "PUT" else None)
        assert foreign.status_code == 404 and foreign.json()["code"] == "tenant-not-found", (method, foreign.text)
    assert await _state(runtime) == before

    # acme's administrator sets and removes an override; bad ones are refused with nothing written
    await login(browser, "admin@acme.example")
    for body, field in (
        ({"value": 3}, "value"),
        ({"targets": [{"users": ["u"], "value": None}]}, "targets.0.value"),
        (
            {"rules": [{"conditions": [{"attribute": "x", "operator": "gte", "values": [1]}], "value": "x"}]},
            "rules.0.conditions.0.operator",
        ),
        ({"rollout": {"percent": 200, "value": "x"}}, "rollout.percent"),
    ):
        refused = await browser.put(f"{tenant_flags}/ui.theme", json=body)
        assert refused.status_code == 422 and field in [e["field"] for e in refused.json()["errors"]], refused.text
    assert await _state(runtime) == before
    assert (await browser.put(f"{tenant_flags}/no.such-flag", json={})).status_code == 404
    dark = await browser.put(f"{tenant_flags}/ui.theme", json={"value": "dark"})
    assert dark.status_code == 200, dark.text
    seen = {f["key"]: f for f in (await browser.get(tenant_flags)).json()}
    assert (seen["ui.theme"]["value"], seen["ui.theme"]["variant"]) == ("dark", "tenant")
    assert (await browser.delete(f"{tenant_flags}/ui.theme")).status_code == 204
    again = await browser.delete(f"{tenant_flags}/ui.theme")
    assert again.status_code == 404 and again.json()["code"] == "flag-override-not-found"

    events = [e for e in await _audit(runtime) if e.action.startswith("flag.override")]
    assert [(e.action, e.tenant_id, e.actor) for e in events] == [
        ("flag.override.set", ids["acme"], events[0].actor),
        ("flag.override.set", ids["acme"], "admin@acme.example"),
        ("flag.override.deleted", ids["acme"], "admin@acme.example"),
    ]
    assert events[1].data["created"] is True and events[1].data["value"] == "dark"

    # deleting the flag takes the tenants' overrides with it
    assert (await client.delete(f"{FLAGS}/{EDITOR['key']}")).status_code == 204
    assert (await _state(runtime))[1] == 0


async def test_only_platform_admins_reach_the_platform_flags(browser: httpx.AsyncClient, runtime: Runtime) -> None:
    await acme(runtime)
    await login(browser, "admin@acme.example")  # a tenant's administrator is no platform administrator
    assert (await browser.get(FLAGS)).status_code == 403
    assert (await browser.post(FLAGS, json=EDITOR)).status_code == 403
    assert (await browser.post(f"{FLAGS}/x/evaluate", json={})).status_code == 403
    browser.cookies.clear()
    assert (await browser.get(FLAGS)).status_code == 401
    assert (await _state(runtime))[0] == 0
