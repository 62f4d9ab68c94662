"""The console's flag pages over HTTP, posted the way a browser does (the page, its CSRF token,
then the form): an operator defines and edits flags; a tenant's members see their values and its
administrators set overrides."""

from __future__ import annotations

import json

import httpx
from sqlalchemy import func, select

from atrium.platform.flags.models import FeatureFlag, TenantFlagOverride
from atrium.runtime import Runtime
from tests.platform.flags.conftest import OPERATOR, acme, define, flashes, login, page, person

RULES = json.dumps(
    [
        {
            "name": "staff",
            "conditions": [{"attribute": "email", "operator": "ends_with", "values": ["@acme.example"]}],
            "value": True,
        }
    ]
)


async def _count(rt: Runtime, model: type[FeatureFlag] | type[TenantFlagOverride]) -> int:
    async with rt.db.platform_session() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def test_an_operator_defines_edits_and_deletes_a_flag(browser: httpx.AsyncClient, runtime: Runtime) -> None:
    await person(runtime, OPERATOR, platform_admin=True)
    await login(browser, OPERATOR)
    text, csrf = await page(browser, "/platform/flags")
    assert 'href="/platform/flags" aria-current="page"' in text and "No flags yet." in text

    form = {
        "csrf_token": csrf,
        "key": "billing.invoice-editor",
        "value_type": "bool",
        "default_value": "false",
        "description": "New editor",
        "rules": RULES,
        "rollout_percent": "20",
        "rollout_value": "true",
        "enabled": "on",
    }
    created = await browser.post("/platform/flags", data=form)
    assert created.status_code == 303, created.text
    assert created.headers["location"].startswith("/platform/flags?flag=billing.invoice-editor")
    text, csrf = await page(browser, "/platform/flags")
    assert flashes(text) == ["The flag billing.invoice-editor is created."]
    assert 'id="flag-billing.invoice-editor"' in text and "20 % → <code>true</code>" in text

    # bad input: the page again with the refusal and what was typed, nothing written
    bad_rules = await browser.post("/platform/flags", data={**form, "key": "other", "rules": "[{not json"})
    assert bad_rules.status_code == 422 and flashes(bad_rules.text)[0].startswith("rules: not valid JSON")
    assert 'value="other"' in bad_rules.text
    bad_type = await browser.post("/platform/flags", data={**form, "key": "other", "rollout_value": '"yes"'})
    assert bad_type.status_code == 422 and flashes(bad_type.text) == [
        "rollout.value: must be a boolean (true or false) like the flag, not a string"
    ]
    bad_percent = await browser.post("/platform/flags", data={**form, "key": "other", "rollout_percent": "150"})
    assert bad_percent.status_code == 422 and flashes(bad_percent.text)[0].startswith("rollout.percent:")
    duplicate = await browser.post("/platform/flags", data=form)
    assert duplicate.status_code == 422 and "already exists" in flashes(duplicate.text)[0]
    assert (await browser.post("/platform/flags", data={**form, "csrf_token": "forged", "key": "x"})).status_code == 403
    assert await _count(runtime, FeatureFlag) == 1

    edit = {"csrf_token": csrf, "description": "Edited", "default_value": "true", "rules": "", "rollout_percent": ""}
    saved = await browser.post("/platform/flags/billing.invoice-editor", data=edit)
    assert saved.status_code == 303
    text, csrf = await page(browser, saved.headers["location"])
    assert flashes(text) == ["The flag billing.invoice-editor is saved (disabled)."]
    assert 'id="flag-details-billing.invoice-editor" open' in text
    flag = (await browser.get("/api/v1/platform/flags/billing.invoice-editor")).json()
    assert (flag["description"], flag["default_value"], flag["enabled"], flag["rules"], flag["rollout"]) == (
        "Edited",
        True,
        False,
        [],
        None,
    )
    refused = await browser.post("/platform/flags/billing.invoice-editor", data={**edit, "default_value": "maybe"})
    assert refused.status_code == 422 and flashes(refused.text) == ["default_value: enter true or false"]
    assert (await browser.post("/platform/flags/nope", data=edit)).status_code == 404

    deleted = await browser.post("/platform/flags/billing.invoice-editor/delete", data={"csrf_token": csrf})
    assert deleted.status_code == 303
    assert await _count(runtime, FeatureFlag) == 0


async def test_members_see_values_and_tenant_admins_override(browser: httpx.AsyncClient, runtime: Runtime) -> None:
    ids = await acme(runtime)
    await define(runtime, key="ui.theme", value_type="string", default_value="classic", description="Colours")
    await define(
        runtime,
        key="billing.invoice-editor",
        value_type="bool",
        default_value=False,
        rules=json.loads(RULES),
    )

    await login(browser, "member@acme.example")
    text, csrf = await page(browser, "/t/acme/flags")
    assert 'href="/t/acme/flags"' in text and "Colours" in text
    assert "/platform/flags" not in text  # no platform navigation for members
    assert "override-ui.theme" not in text  # no override forms for members
    assert 'data-flag="billing.invoice-editor"' in text and "TARGETING_MATCH" in text  # member@acme.example is staff
    assert (await browser.get("/platform/flags")).status_code == 403
    refused = await browser.post("/t/acme/flags/ui.theme", data={"csrf_token": csrf, "value": "dark"})
    assert refused.status_code == 404
    assert (await browser.get("/t/globex/flags")).status_code == 404
    assert await _count(runtime, TenantFlagOverride) == 0

    await login(browser, "admin@acme.example")
    text, csrf = await page(browser, "/t/acme/flags")
    assert 'id="override-ui.theme"' in text
    targets = json.dumps([{"users": [ids["admin"]], "value": "gold"}])
    form = {"csrf_token": csrf, "enabled": "on", "value": "dark", "targets": targets}
    saved = await browser.post("/t/acme/flags/ui.theme", data=form)
    assert saved.status_code == 303, saved.text
    text, csrf = await page(browser, "/t/acme/flags")
    assert flashes(text) == ["The tenant's override of ui.theme is saved."]
    assert '<code class="flag-value">gold</code>' in text and "tenant-user" in text and "overridden" in text

    bad = await browser.post("/t/acme/flags/ui.theme", data={**form, "rules": '[{"conditions": [], "value": "x"}]'})
    assert bad.status_code == 422 and flashes(bad.text)[0].startswith("rules.0.conditions")

    await login(browser, "member@acme.example")
    text, _ = await page(browser, "/t/acme/flags")
    assert '<code class="flag-value">dark</code>' in text  # the tenant's value for everyone else

    await login(browser, "admin@acme.example")
    _, csrf = await page(browser, "/t/acme/flags")
    removed = await browser.post("/t/acme/flags/ui.theme/delete", data={"csrf_token": csrf})
    assert removed.status_code == 303
    text, csrf = await page(browser, "/t/acme/flags")
    assert flashes(text) == ["The override of ui.theme is removed: the platform's definition applies."]
    assert '<code class="flag-value">classic</code>' in text
    await browser.post("/t/acme/flags/ui.theme/delete", data={"csrf_token": csrf})
    text, _ = await page(browser, "/t/acme/flags")
    assert flashes(text) == ["the tenant has no override of 'ui.theme'"]
    assert await _count(runtime, TenantFlagOverride) == 0
