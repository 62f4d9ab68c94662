"""Period close on the worked example of the report tests: the checklist (drafts, earlier years,
revaluation, bank lines, checks other modules add), the year-end closing entry, retained earnings,
next year's opening balances, the lock, the ``closing.events`` event and the audit trail; a second
close and postings into a closed year are refused; who may close; other tenants get 404."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from atrium.apps.finance import closing
from atrium.apps.finance.charts import AccountKind as K
from atrium.apps.finance.jobs import acting
from atrium.apps.finance.models import Entry
from atrium.core.audit.models import AuditEvent
from atrium.core.events.models import OutboxEvent
from atrium.platform.access import catalog
from tests.apps.finance.test_reports import D, F, Ledger, amounts, by_code, code, figures, hand_ledger, line
from tests.platform.access.conftest import World, problem

RESULT_TYPES = ("income", "expense")


async def _close(ledger: Ledger, year: int, lock: bool = True) -> Any:
    return await ledger.client.post(
        f"{F}/periods/close-year", json={"company_id": ledger.company_id, "fiscal_year": year, "lock": lock}
    )


async def _periods(ledger: Ledger, year: int) -> dict[str, Any]:
    found = await ledger.client.get(f"{F}/periods", params={"company_id": ledger.company_id, "fiscal_year": year})
    assert found.status_code == 200, found.text
    body: dict[str, Any] = found.json()
    return body


def _items(checklist: dict[str, Any]) -> dict[str, str]:
    return {i["key"]: i["status"] for i in checklist["items"]}


async def _closing_events(world: World) -> list[dict[str, Any]]:
    async with world.rt.db.platform_session() as session:
        rows = await session.scalars(
            select(OutboxEvent).where(OutboxEvent.topic == "closing.events").order_by(OutboxEvent.created_at)
        )
        return [e.envelope for e in rows]


async def test_closing_a_year_moves_its_result_to_retained_earnings_and_locks_it(world: World) -> None:
    ledger = await hand_ledger(world)
    before = await _periods(ledger, 2026)
    assert (before["closed"], before["date_from"], before["date_to"]) == (False, "2026-01-01", "2026-12-31")
    assert [p["period"] for p in before["periods"]] == [f"2026-{m:02d}" for m in range(1, 13)]
    assert {p["lock"] for p in before["periods"]} == {"open"}
    assert _items(before["checklist"]) == {
        "drafts": "ok",
        "chain": "ok",
        "trial_balance": "ok",
        "earlier_years": "blocking",  # 2025's 400 of revenue is not closed yet
        "revaluation": "ok",
        "bank_lines": "warning",  # the bank lines were never matched to a statement
        "statement_lines": "ok",  # the bank module's check: no statement imported
    }

    # 2026 cannot be closed while 2025's result is still open: nothing is posted
    blocked = problem(await _close(ledger, 2026), 409, "close-blocked")
    assert blocked["field"] == "fiscal_year" and [i["key"] for i in blocked["items"]] == ["earlier_years"]
    async with acting(world.rt, "acme") as access:
        assert await access.session.scalar(select(Entry).where(Entry.source == "closing")) is None

    closed_2025 = await _close(ledger, 2025)
    assert closed_2025.status_code == 201, closed_2025.text
    body = closed_2025.json()
    assert (body["number"], body["net_result"], body["accounts_closed"]) == ("CLS/2025/00001", "400.00", 1)
    assert (body["locked"], body["hard_lock_date"]) == (True, "2025-12-31")
    q1 = by_code(await ledger.get("trial-balance", date_from="2026-01-01", date_to="2026-03-31"))
    assert "Undistributed result of prior years" not in q1
    assert figures(q1[code(K.retained_earnings)]) == (D(-400), D(0), D(0), D(-400))

    # a draft in the year blocks its close until it is posted or deleted
    draft = await ledger.client.post(
        f"{F}/journal-entries",
        json={
            "company_id": ledger.company_id,
            "date": "2026-11-30",
            "lines": [line(K.expense, "10.00"), line(K.bank, credit="10.00")],
            "post": False,
        },
    )
    assert draft.status_code == 201, draft.text
    assert [i["key"] for i in problem(await _close(ledger, 2026), 409, "close-blocked")["items"]] == ["drafts"]
    assert (await ledger.client.delete(f"{F}/journal-entries/{draft.json()['id']}")).status_code == 204

    made = await _close(ledger, 2026)
    assert made.status_code == 201, made.text
    closed = made.json()
    # revenue 1,500; cost of sales 500; expenses 350 - 50 reversed = 300
    assert (closed["number"], closed["net_result"], closed["accounts_closed"]) == ("CLS/2026/00001", "700.00", 3)
    assert closed["checklist"]["blocking"] is False
    entry = (await ledger.client.get(f"{F}/journal-entries/{closed['entry_id']}")).json()
    assert (entry["date"], entry["source"], entry["source_id"]) == ("2026-12-31", "closing", "2026")
    assert [(x["account_id"], x["debit"], x["credit"]) for x in entry["lines"]] == [
        (ledger.id(K.income), "1500.00", "0.00"),
        (ledger.id(K.cost_of_sales), "0.00", "500.00"),
        (ledger.id(K.expense), "0.00", "300.00"),
        (ledger.id(K.retained_earnings), "0.00", "700.00"),
    ]

    # after the close: the income and expense accounts stand at zero, retained earnings carries both years
    year = await ledger.get("trial-balance", date_from="2026-01-01", date_to="2026-12-31")
    for row in year["rows"]:
        if row["type"] in RESULT_TYPES:
            assert D(row["closing"]) == 0, row
    assert D(by_code(year)[code(K.retained_earnings)]["closing"]) == D(-1100) and year["balanced"]
    # the profit and loss leaves the closing entry out: a closed year still shows its result
    assert D((await ledger.get("profit-and-loss", date_from="2026-01-01", date_to="2026-12-31"))["net_result"]) == 700
    sheet = await ledger.get("balance-sheet", as_of="2026-12-31")
    assert amounts(sheet)[code(K.retained_earnings)] == D(1100) and amounts(sheet)["Current year result"] == 0
    assert sheet["balanced"] and "Result of prior years not yet closed" not in amounts(sheet)

    # next year opens with this year's closing balances; income and expenses open at zero
    january = await ledger.get("trial-balance", date_from="2027-01-01", date_to="2027-01-31")
    opening = {r["account_id"]: D(r["opening"]) for r in january["rows"]}
    assert all(r["account_id"] for r in january["rows"]) and january["balanced"]
    for row in year["rows"]:
        if row["type"] in RESULT_TYPES:
            assert opening.get(row["account_id"], D(0)) == 0, row
        else:
            assert opening.get(row["account_id"], D(0)) == D(row["closing"]), row

    events = [e for e in await _closing_events(world) if e["type"] == "closing.year_closed"]
    assert [(e["data"]["fiscal_year"], e["data"]["net_result"], e["subject"]) for e in events] == [
        (2025, "400.00", ledger.company_id),
        (2026, "700.00", ledger.company_id),
    ]
    assert events[1]["tenantid"] == ledger.tenant_id and events[1]["data"]["number"] == "CLS/2026/00001"
    async with world.rt.db.platform_session() as session:
        audited = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action == "finance.year.closed").order_by(AuditEvent.id)
            )
        ).all()
    assert [a.data["fiscal_year"] for a in audited] == [2025, 2026]

    # closed means closed: a second close and any posting into the year are refused
    again = problem(await _close(ledger, 2026), 409)
    assert again["field"] == "fiscal_year" and "already closed" in again["detail"]
    late = await ledger.client.post(
        f"{F}/journal-entries",
        json={
            "company_id": ledger.company_id,
            "date": "2026-12-31",
            "lines": [line(K.expense, "10.00"), line(K.bank, credit="10.00")],
        },
    )
    problem(late, 409, "period-locked")
    after = await _periods(ledger, 2026)
    assert (after["closed"], after["closing_number"], after["hard_lock_date"]) == (True, "CLS/2026/00001", "2026-12-31")
    assert {p["lock"] for p in after["periods"]} == {"hard"}
    assert len(await _closing_events(world)) == 2


async def test_a_close_without_lock_is_undone_by_reversing_its_entry(world: World) -> None:
    ledger = await hand_ledger(world)
    made = await _close(ledger, 2025, lock=False)
    assert made.status_code == 201, made.text
    assert (made.json()["locked"], made.json()["hard_lock_date"]) == (False, None)
    problem(await _close(ledger, 2025, lock=False), 409)
    assert (await _periods(ledger, 2025))["closed"] is True
    undone = await ledger.client.post(
        f"{F}/journal-entries/{made.json()['entry_id']}/reverse", json={"reason": "closed too early"}
    )
    assert undone.status_code == 201, undone.text
    assert (await _periods(ledger, 2025))["closed"] is False
    # the reversal is left out of the profit and loss like the entry it reverses
    assert D((await ledger.get("profit-and-loss", date_from="2025-01-01", date_to="2025-12-31"))["net_result"]) == 400
    tb = by_code(await ledger.get("trial-balance", date_from="2026-01-01", date_to="2026-01-31"))
    assert D(tb["Undistributed result of prior years"]["opening"]) == D(-400)

    await ledger.post("2025-12-30", line(K.expense, "150.00"), line(K.bank, credit="150.00"))
    again = await _close(ledger, 2025)
    assert again.status_code == 201, again.text
    assert (again.json()["number"], again.json()["net_result"]) == ("CLS/2025/00003", "250.00")


async def test_a_fiscal_year_that_does_not_start_in_january(world: World) -> None:
    ledger = await hand_ledger(world)
    made = await ledger.client.post(
        f"{F}/companies",
        json={"name": "Acme April", "base_currency": "EUR", "chart_template": "ifrs", "fiscal_year_start_month": 4},
    )
    assert made.status_code == 201, made.text
    accounts = (await ledger.client.get(f"{F}/accounts", params={"company_id": made.json()["id"]})).json()
    april = Ledger(ledger.client, made.json(), ledger.tenant_id, {a["code"]: a["id"] for a in accounts})
    await april.post("2026-03-31", line(K.bank, "100.00"), line(K.income, credit="100.00"))  # fiscal 2025
    await april.post("2026-04-01", line(K.bank, "30.00"), line(K.income, credit="30.00"))  # fiscal 2026
    closed = await _close(april, 2025)
    assert closed.status_code == 201, closed.text
    assert (closed.json()["date_to"], closed.json()["net_result"]) == ("2026-03-31", "100.00")
    tb = by_code(await april.get("trial-balance", date_from="2026-04-01", date_to="2026-04-30"))
    assert figures(tb[code(K.income)]) == (D(0), D(0), D(30), D(-30))
    assert figures(tb[code(K.retained_earnings)])[0] == D(-100)
    periods = await _periods(april, 2026)
    assert (periods["periods"][0]["period"], periods["periods"][-1]["period"]) == ("2026-04", "2027-03")
    assert (periods["periods"][0]["lock"], (await _periods(april, 2025))["periods"][-1]["lock"]) == ("open", "hard")


async def test_the_checklist_warns_about_revaluation_and_takes_checks_from_other_modules(world: World) -> None:
    ledger = await hand_ledger(world)
    saved = await ledger.client.post(
        f"{F}/exchange-rates",
        params={"company_id": ledger.company_id},
        json=[{"currency": "USD", "date": "2026-06-10", "rate": "0.9"}],
    )
    assert saved.status_code == 201, saved.text
    customer = await ledger.client.post(
        f"{F}/parties", json={"company_id": ledger.company_id, "name": "Customer One", "is_customer": True}
    )
    assert customer.status_code == 201, customer.text
    await ledger.post(
        "2026-06-10",
        line(K.receivable, "100.00", currency="USD", party_id=customer.json()["id"]),
        line(K.income, credit="100.00", currency="USD"),
        journal="SAL",
    )
    params = {"company_id": ledger.company_id, "period_end": "2026-06-30"}
    june = (await ledger.client.get(f"{F}/periods/checklist", params=params)).json()
    assert (june["date_from"], june["date_to"], _items(june)["revaluation"]) == ("2026-01-01", "2026-06-30", "warning")
    assert "1 open items in a foreign currency" in next(i for i in june["items"] if i["key"] == "revaluation")["detail"]
    await ledger.post("2026-06-30", line(K.receivable, "2.00"), line(K.fx_gain_loss, credit="2.00"), journal="FX")
    june = (await ledger.client.get(f"{F}/periods/checklist", params=params)).json()
    assert _items(june)["revaluation"] == "ok"

    async def statements_reconciled(access: Any, scope: closing.CloseScope) -> closing.CheckItem:
        return closing.CheckItem(
            key="statements", label="Bank statements reconciled", status="blocking", detail=f"{scope.end} is open"
        )

    async with acting(world.rt, "acme") as access:
        await closing.close_year(access, ledger.company_id, 2025)
    closing.register_check(statements_reconciled)
    closing.register_check(statements_reconciled)  # once only
    try:
        year = (await ledger.client.get(f"{F}/periods/checklist", params={**params, "period_end": "2026-12-31"})).json()
        assert [i["key"] for i in year["items"]].count("statements") == 1 and year["blocking"] is True
        refused = problem(await _close(ledger, 2026), 409, "close-blocked")
        assert [i["key"] for i in refused["items"]] == ["statements"]
    finally:
        closing.CHECKS.remove(statements_reconciled)


async def test_bad_input_and_who_may_close(world: World) -> None:
    ledger = await hand_ledger(world)
    bad = [
        ({"company_id": ledger.company_id, "fiscal_year": 99999}, 422, "fiscal_year"),
        ({"company_id": "nope", "fiscal_year": 2026}, 404, "company_id"),
        ({"company_id": ledger.company_id, "fiscal_year": 2026, "extra": 1}, 422, "extra"),
        ({"company_id": ledger.company_id}, 422, "fiscal_year"),
    ]
    for body, status, field in bad:
        refused = problem(await ledger.client.post(f"{F}/periods/close-year", json=body), status)
        named = refused.get("field") or ",".join(e["field"] for e in refused.get("errors", []))
        assert field in named, (body, refused)
    both = {"company_id": ledger.company_id, "fiscal_year": 2026, "period_end": "2026-06-30"}
    assert problem(await ledger.client.get(f"{F}/periods/checklist", params=both), 422)["field"] == "fiscal_year"

    await world.person("auditor@acme.example", ledger.tenant_id, catalog.AUDITOR)
    await world.person("member@acme.example", ledger.tenant_id)
    auditor = await world.login("auditor@acme.example")
    member = await world.login("member@acme.example")
    close = {"company_id": ledger.company_id, "fiscal_year": 2025}
    assert (await auditor.get(f"{F}/periods", params={"company_id": ledger.company_id})).status_code == 200
    problem(await auditor.post(f"{F}/periods/close-year", json=close), 403)
    problem(await member.post(f"{F}/periods/close-year", json=close), 403)
    problem(await member.get(f"{F}/periods", params={"company_id": ledger.company_id}), 403)
    assert await _closing_events(world) == []
    async with acting(world.rt, "acme") as access:
        assert await access.session.scalar(select(Entry).where(Entry.source == "closing")) is None

    other_id = await world.tenant("other")
    await world.person("cfo@other.example", other_id, "Finance Admin")
    other = await world.login("cfo@other.example")
    o = "/api/v1/tenants/other/finance"
    assert (await other.post(f"{o}/periods/close-year", json=close)).status_code == 404
    assert (await other.get(f"{o}/periods", params={"company_id": ledger.company_id})).status_code == 404
    assert (await other.post(f"{F}/periods/close-year", json=close)).status_code == 404
