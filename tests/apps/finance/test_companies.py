"""Finance, first part: a Finance Admin sets up companies from chart templates and adds accounts;
members without finance permissions are refused, another tenant gets 404, bad input 4xx."""

from __future__ import annotations

from atrium.apps.finance import charts
from atrium.platform.access import catalog
from tests.platform.access.conftest import World, problem

F = "/api/v1/tenants/acme/finance"


async def test_a_finance_admin_sets_up_a_company_from_a_template(world: World) -> None:
    tenant_id = await world.tenant("acme")
    await world.person("cfo@acme.example", tenant_id, "Finance Admin")
    await world.person("member@acme.example", tenant_id)
    await world.person("auditor@acme.example", tenant_id, catalog.AUDITOR)
    cfo = await world.login("cfo@acme.example")
    templates = {t["key"]: t for t in (await cfo.get(f"{F}/chart-templates")).json()}
    assert set(templates) == set(charts.TEMPLATES)

    made = await cfo.post(
        f"{F}/companies", json={"name": "Acme GmbH", "base_currency": "EUR", "chart_template": "de_skr03"}
    )
    assert made.status_code == 201, made.text
    company = made.json()
    accounts = (await cfo.get(f"{F}/companies/{company['id']}/accounts")).json()
    assert len(accounts) == templates["de_skr03"]["accounts"]
    by_code = {a["code"]: a for a in accounts}
    template = charts.TEMPLATES["de_skr03"]
    for entry in template.accounts:
        row = by_code[entry.code]
        assert (row["kind"], row["type"]) == (str(entry.kind), str(charts.KIND_TYPE[entry.kind]))
        if entry.parent:
            assert row["parent_id"] == by_code[entry.parent]["id"]
    assert {a["kind"] for a in accounts} >= {"receivable", "payable", "bank", "tax_payable", "retained_earnings"}

    added = await cfo.post(
        f"{F}/companies/{company['id']}/accounts", json={"code": "9999", "name": "Suspense", "kind": "current_asset"}
    )
    assert added.status_code == 201 and added.json()["type"] == "asset", added.text

    # bad input: nothing written
    before = len((await cfo.get(f"{F}/companies/{company['id']}/accounts")).json())
    for body, field in (
        ({"code": "9999", "name": "Again", "kind": "expense"}, "code"),
        ({"code": "9998", "name": "X", "kind": "nonsense"}, "kind"),
        ({"code": "9997", "name": "X", "kind": "expense", "parent_code": "0000000"}, "parent_code"),
        ({"code": "9996", "name": "X", "kind": "expense", "tax_rate": "0.19"}, "tax_rate"),
    ):
        refused = await cfo.post(f"{F}/companies/{company['id']}/accounts", json=body)
        assert 400 <= refused.status_code < 500 and refused.json()["field"] == field, refused.text
    assert len((await cfo.get(f"{F}/companies/{company['id']}/accounts")).json()) == before
    problem(await cfo.post(f"{F}/companies", json={"name": "acme gmbh", "base_currency": "EUR"}), 409)
    problem(await cfo.post(f"{F}/companies", json={"name": "B", "base_currency": "EUR", "chart_template": "xx"}), 422)
    assert (await cfo.post(f"{F}/companies", json={"name": "B", "base_currency": "euro"})).status_code == 422

    # roles: a member has no finance permissions; the auditor reads and changes nothing
    member = await world.login("member@acme.example")
    problem(await member.get(f"{F}/companies"), 403, "permission-denied")
    auditor = await world.login("auditor@acme.example")
    assert [c["name"] for c in (await auditor.get(f"{F}/companies")).json()] == ["Acme GmbH"]
    problem(await auditor.post(f"{F}/companies", json={"name": "C", "base_currency": "EUR"}), 403)

    # another tenant's Finance Admin does not find Acme's company
    other_id = await world.tenant("other")
    await world.person("cfo@other.example", other_id, "Finance Admin")
    other = await world.login("cfo@other.example")
    assert (await other.get(f"/api/v1/tenants/other/finance/companies/{company['id']}")).status_code == 404
    assert (await other.get(f"/api/v1/tenants/other/finance/companies/{company['id']}/accounts")).status_code == 404
    assert (await other.get(f"{F}/companies")).status_code == 404
