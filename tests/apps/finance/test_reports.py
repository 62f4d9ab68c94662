"""Financial reports on a small hand-computed ledger (capital, sales with 20% output tax, purchases
with input tax, expenses, a reversal, a prior-year sale): exact trial balance, profit and loss,
balance sheet and tax figures; comparison columns; drill-down to the general ledger; exports in
every format; the journal audit and its gap check; bad input; who may read; other tenants get 404.

A property test posts random entries and reversals into a fresh company and checks, over random
date ranges, that the trial balance read from the balances table equals one computed by scanning
the lines, and always sums to zero.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import random
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from openpyxl import load_workbook  # type: ignore[import-untyped]
from sqlalchemy import select, update

from atrium.apps.finance import charts, posting, reports, service
from atrium.apps.finance.charts import AccountKind as K
from atrium.apps.finance.jobs import acting
from atrium.apps.finance.models import Account, Balance, Line, SequenceCounter
from atrium.apps.finance.money import fiscal_year_bounds, fiscal_year_of, period_of
from atrium.apps.finance.schemas import AccountCreate, CompanyCreate
from atrium.platform.access import catalog
from tests.platform.access.conftest import World, problem

F = "/api/v1/tenants/acme/finance"
R = f"{F}/reports"
IFRS = charts.TEMPLATES["ifrs"]


def code(kind: K, index: int = 0) -> str:
    """The code of a postable account of ``kind`` in the IFRS template."""
    return IFRS.by_kind(kind)[index].code


def D(value: str | int) -> Decimal:
    return Decimal(value)


def line(kind: K, debit: str = "0", credit: str = "0", **extra: Any) -> dict[str, Any]:
    return {"account": code(kind), "debit": debit, "credit": credit, **extra}


@dataclass
class Ledger:
    client: httpx.AsyncClient
    company: dict[str, Any]
    tenant_id: str
    ids: dict[str, str]  # account code -> id

    @property
    def company_id(self) -> str:
        return str(self.company["id"])

    def id(self, kind: K) -> str:
        return self.ids[code(kind)]

    async def post(self, day: str, *lines: dict[str, Any], journal: str = "GEN", **extra: Any) -> dict[str, Any]:
        body = {"company_id": self.company_id, "date": day, "journal": journal, "lines": list(lines), **extra}
        made = await self.client.post(f"{F}/journal-entries", json=body)
        assert made.status_code == 201, made.text
        result: dict[str, Any] = made.json()
        return result

    async def get(self, report: str, **params: Any) -> dict[str, Any]:
        found = await self.client.get(f"{R}/{report}", params={"company_id": self.company_id, **params})
        assert found.status_code == 200, found.text
        body: dict[str, Any] = found.json()
        return body


async def books(world: World) -> Ledger:
    """Tenant acme, its Finance Admin, and a company on the IFRS chart with nothing posted."""
    tenant_id = await world.tenant("acme")
    await world.person("cfo@acme.example", tenant_id, "Finance Admin")
    cfo = await world.login("cfo@acme.example")
    made = await cfo.post(f"{F}/companies", json={"name": "Acme Ltd", "base_currency": "EUR", "chart_template": "ifrs"})
    assert made.status_code == 201, made.text
    company = made.json()
    accounts = (await cfo.get(f"{F}/accounts", params={"company_id": company["id"]})).json()
    return Ledger(cfo, company, tenant_id, {a["code"]: a["id"] for a in accounts})


async def hand_ledger(world: World) -> Ledger:
    """The worked example every figure below is computed from (EUR, fiscal year = calendar year).

    2025-12-20  cash sale             bank 400 / revenue 400                      (prior year, not closed)
    2026-01-05  capital               bank 10,000 / share capital 10,000
    2026-02-10  sale                  receivable 1,200 / revenue 1,000 + output tax 200 (20% of 1,000)
    2026-02-20  purchase              cost of sales 500 + input tax 100 (20% of 500) / payable 600
    2026-03-15  rent                  expenses 300 / bank 300
    2026-03-20  customer pays         bank 1,200 / receivable 1,200
    2026-03-25  sale                  receivable 600 / revenue 500 + output tax 100 (20% of 500)
    2026-03-28  expense               expenses 50 / bank 50, reversed on 2026-04-02
    """
    ledger = await books(world)
    tax = {"tax_rate": "0.2"}
    await ledger.post("2025-12-20", line(K.bank, "400.00"), line(K.income, credit="400.00"))
    await ledger.post("2026-01-05", line(K.bank, "10000.00"), line(K.equity, credit="10000.00"), memo="Capital")
    await ledger.post(
        "2026-02-10",
        line(K.receivable, "1200.00"),
        line(K.income, credit="1000.00"),
        line(K.tax_payable, credit="200.00", tax_base="1000.00", **tax),
        journal="SAL",
    )
    await ledger.post(
        "2026-02-20",
        line(K.cost_of_sales, "500.00"),
        line(K.tax_receivable, "100.00", tax_base="500.00", **tax),
        line(K.payable, credit="600.00"),
        journal="PUR",
    )
    await ledger.post("2026-03-15", line(K.expense, "300.00", label="Rent"), line(K.bank, credit="300.00"))
    await ledger.post("2026-03-20", line(K.bank, "1200.00"), line(K.receivable, credit="1200.00"), journal="BNK")
    await ledger.post(
        "2026-03-25",
        line(K.receivable, "600.00"),
        line(K.income, credit="500.00"),
        line(K.tax_payable, credit="100.00", tax_base="500.00", **tax),
        journal="SAL",
    )
    wrong = await ledger.post("2026-03-28", line(K.expense, "50.00"), line(K.bank, credit="50.00"))
    reversed_ = await ledger.client.post(
        f"{F}/journal-entries/{wrong['id']}/reverse", json={"date": "2026-04-02", "reason": "duplicate"}
    )
    assert reversed_.status_code == 201, reversed_.text
    return ledger


def by_code(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["code"] or r["name"]: r for r in report["rows"]}


def figures(row: dict[str, Any]) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    return D(row["opening"]), D(row["debit"]), D(row["credit"]), D(row["closing"])


def amounts(report: dict[str, Any]) -> dict[str, Decimal]:
    """Every row of a sectioned report (P&L, balance sheet) by code, or by name for computed rows."""
    return {r["code"] or r["name"]: D(r["amount"]) for s in report["sections"] for g in s["groups"] for r in g["rows"]}


async def test_trial_balance_of_whole_months_is_exact_and_sums_to_zero(world: World) -> None:
    ledger = await hand_ledger(world)
    tb = await ledger.get("trial-balance", date_from="2026-01-01", date_to="2026-03-31")
    rows = by_code(tb)
    assert {k: figures(v) for k, v in rows.items()} == {
        code(K.bank): (D(400), D(11200), D(350), D(11250)),
        code(K.receivable): (D(0), D(1800), D(1200), D(600)),
        code(K.tax_receivable): (D(0), D(100), D(0), D(100)),
        code(K.payable): (D(0), D(0), D(600), D(-600)),
        code(K.tax_payable): (D(0), D(0), D(300), D(-300)),
        code(K.equity): (D(0), D(0), D(10000), D(-10000)),
        code(K.income): (D(0), D(0), D(1500), D(-1500)),  # last year's 400 does not open this year
        code(K.cost_of_sales): (D(0), D(500), D(0), D(500)),
        code(K.expense): (D(0), D(350), D(0), D(350)),
        "Undistributed result of prior years": (D(-400), D(0), D(0), D(-400)),
    }
    assert rows["Undistributed result of prior years"]["account_id"] is None
    assert figures(tb["totals"]) == (D(0), D(13950), D(13950), D(0)) and tb["balanced"] is True
    assert tb["fiscal_year_start"] == "2026-01-01"
    assert [r["code"] for r in tb["rows"][:-1]] == sorted(r["code"] for r in tb["rows"][:-1])


async def test_partial_month_ranges_read_the_edge_days_from_lines(world: World) -> None:
    ledger = await hand_ledger(world)
    tb = await ledger.get("trial-balance", date_from="2026-02-15", date_to="2026-03-20")
    rows = by_code(tb)
    # before 15 Feb: 2025's sale, the capital and the first sale; revenue opens with this year's part only
    assert figures(rows[code(K.bank)]) == (D(10400), D(1200), D(300), D(11300))
    assert figures(rows[code(K.receivable)]) == (D(1200), D(0), D(1200), D(0))
    assert figures(rows[code(K.income)]) == (D(-1000), D(0), D(0), D(-1000))
    assert figures(rows[code(K.tax_payable)]) == (D(-200), D(0), D(0), D(-200))
    assert figures(rows[code(K.cost_of_sales)]) == (D(0), D(500), D(0), D(500))
    assert figures(rows[code(K.expense)]) == (D(0), D(300), D(0), D(300))
    assert figures(tb["totals"]) == (D(0), D(2100), D(2100), D(0))
    one_day = await ledger.get("trial-balance", date_from="2026-03-28", date_to="2026-03-28")
    assert {k: figures(v)[1:3] for k, v in by_code(one_day).items() if v["account_id"]} == {
        code(K.bank): (D(0), D(50)),
        code(K.expense): (D(50), D(0)),
        **{k: (D(0), D(0)) for k in (code(K.receivable), code(K.tax_receivable), code(K.payable))},
        **{k: (D(0), D(0)) for k in (code(K.tax_payable), code(K.equity), code(K.income), code(K.cost_of_sales))},
    }


async def test_whole_months_come_from_the_balances_table_and_edge_days_from_lines(world: World) -> None:
    """Proof of where figures are read: a change made only to a balance row shows in a whole-month
    range and not in a range that starts mid-month (read from lines)."""
    ledger = await hand_ledger(world)
    bank = ledger.id(K.bank)
    async with acting(world.rt, "acme") as access:
        march = select(Balance.slot).where(Balance.account_id == bank, Balance.period == 202603).limit(1)
        slot = (await access.session.execute(march)).scalar_one()
        await access.session.execute(
            update(Balance)
            .where(Balance.account_id == bank, Balance.period == 202603, Balance.slot == slot)
            .values(debit=Balance.debit + 1000)
        )
    whole = by_code(await ledger.get("trial-balance", date_from="2026-03-01", date_to="2026-03-31"))
    partial = by_code(await ledger.get("trial-balance", date_from="2026-03-02", date_to="2026-03-31"))
    # March's only bank debit is the 1,200 received on the 20th
    assert D(whole[code(K.bank)]["debit"]) == D(2200)
    assert D(partial[code(K.bank)]["debit"]) == D(1200)


async def test_comparison_columns_and_differences(world: World) -> None:
    ledger = await hand_ledger(world)
    tb = await ledger.get(
        "trial-balance",
        date_from="2026-03-01",
        date_to="2026-03-31",
        compare_from="2026-02-01",
        compare_to="2026-02-28",
    )
    bank = by_code(tb)[code(K.bank)]
    assert figures(bank) == (D(10400), D(1200), D(350), D(11250))
    assert (D(bank["compare"]["opening"]), D(bank["compare"]["closing"])) == (D(10400), D(10400))
    assert D(bank["difference"]) == D(850)
    assert tb["compare_totals"]["debit"] == tb["compare_totals"]["credit"] == "1800.00"
    assert tb["balanced"] is True

    pl = await ledger.get(
        "profit-and-loss",
        date_from="2026-03-01",
        date_to="2026-03-31",
        compare_from="2026-02-01",
        compare_to="2026-02-28",
    )
    income = next(r for s in pl["sections"] for g in s["groups"] for r in g["rows"] if r["code"] == code(K.income))
    assert (D(income["amount"]), D(income["compare"]), D(income["difference"])) == (D(500), D(1000), D(-500))
    # March: 500 revenue - 350 expenses; February: 1,000 revenue - 500 cost of sales
    assert (D(pl["net_result"]), D(pl["compare_net_result"]), D(pl["difference"])) == (D(150), D(500), D(-350))

    bs = await ledger.get("balance-sheet", as_of="2026-03-31", compare_as_of="2026-01-31")
    assert bs["balanced"] is True
    assert (D(bs["total_assets"]), D(bs["compare_total_assets"])) == (D(11950), D(10400))


async def test_profit_and_loss_groups_by_kind_with_subtotals(world: World) -> None:
    ledger = await hand_ledger(world)
    pl = await ledger.get("profit-and-loss", date_from="2026-01-01", date_to="2026-03-31")
    income, expenses = pl["sections"]
    assert (income["type"], D(income["total"])) == ("income", D(1500))
    assert [(g["kind"], D(g["total"])) for g in expenses["groups"]] == [
        ("cost_of_sales", D(500)),
        ("expense", D(350)),
    ]
    assert D(expenses["total"]) == D(850) and D(pl["net_result"]) == D(650)
    # the reversal on 2 April takes the 50 back out
    april = await ledger.get("profit-and-loss", date_from="2026-01-01", date_to="2026-04-30")
    assert D(april["net_result"]) == D(700)
    last_year = await ledger.get("profit-and-loss", date_from="2025-01-01", date_to="2025-12-31")
    assert amounts(last_year) == {code(K.income): D(400)} and D(last_year["net_result"]) == D(400)


async def test_balance_sheet_balances_with_the_unclosed_results_in_equity(world: World) -> None:
    ledger = await hand_ledger(world)
    bs = await ledger.get("balance-sheet", as_of="2026-03-31")
    assert amounts(bs) == {
        code(K.receivable): D(600),
        code(K.tax_receivable): D(100),
        code(K.bank): D(11250),
        code(K.payable): D(600),
        code(K.tax_payable): D(300),
        code(K.equity): D(10000),
        "Current year result": D(650),
        "Result of prior years not yet closed": D(400),
    }
    assets, liabilities, equity = bs["sections"]
    assert [D(s["total"]) for s in (assets, liabilities, equity)] == [D(11950), D(900), D(11050)]
    assert D(bs["total_assets"]) == D(bs["total_liabilities_and_equity"]) == D(11950) and bs["balanced"]


async def test_tax_report_per_month_and_rate(world: World) -> None:
    ledger = await hand_ledger(world)
    report = await ledger.get("tax", date_from="2026-01-01", date_to="2026-03-31")
    assert [
        (r["period"], r["direction"], r["code"], r["tax_rate"], D(r["base"]), D(r["tax"])) for r in report["rows"]
    ] == [
        ("2026-02", "output", code(K.tax_payable), "0.2", D(1000), D(200)),
        ("2026-02", "input", code(K.tax_receivable), "0.2", D(500), D(100)),
        ("2026-03", "output", code(K.tax_payable), "0.2", D(500), D(100)),
    ]
    assert [(p["period"], D(p["output_tax"]), D(p["input_tax"]), D(p["net"])) for p in report["periods"]] == [
        ("2026-02", D(200), D(100), D(100)),
        ("2026-03", D(100), D(0), D(100)),
    ]
    assert (D(report["output_tax"]), D(report["input_tax"]), D(report["net"])) == (D(300), D(100), D(200))


async def test_every_figure_drills_down_to_the_lines_behind_it(world: World) -> None:
    ledger = await hand_ledger(world)
    tb = await ledger.get("trial-balance", date_from="2026-02-15", date_to="2026-03-31")
    for row in tb["rows"]:
        if row["account_id"] is None:
            continue
        gl = (await ledger.client.get(row["drill"])).json()
        assert gl["account_id"] == row["account_id"]
        assert (gl["opening"], gl["closing"]) == (row["opening"], row["closing"]), row["code"]
        assert sum(D(x["debit"]) for x in gl["lines"]) == D(row["debit"]), row["code"]
        assert sum(D(x["credit"]) for x in gl["lines"]) == D(row["credit"]), row["code"]
        if gl["lines"]:
            assert gl["lines"][-1]["balance"] == row["closing"]
    pl = await ledger.get("profit-and-loss", date_from="2026-01-01", date_to="2026-03-31")
    for section in pl["sections"]:
        for row in (r for g in section["groups"] for r in g["rows"]):
            lines = (await ledger.client.get(row["drill"])).json()["lines"]
            moved = sum(D(x["credit"]) - D(x["debit"]) for x in lines)
            assert (moved if section["type"] == "income" else -moved) == D(row["amount"]), row["code"]
    bs = await ledger.get("balance-sheet", as_of="2026-03-31")
    for row in (r for s in bs["sections"] for g in s["groups"] for r in g["rows"] if r["account_id"]):
        gl = (await ledger.client.get(row["drill"])).json()
        assert abs(D(gl["closing"])) == D(row["amount"]), row["code"]

    bank = by_code(tb)[code(K.bank)]
    gl = (await ledger.client.get(bank["drill"])).json()
    assert [(x["date"], x["journal"], x["debit"], x["credit"], x["balance"]) for x in gl["lines"]] == [
        ("2026-03-15", "GEN", "0.00", "300.00", "10100.00"),
        ("2026-03-20", "BNK", "1200.00", "0.00", "11300.00"),
        ("2026-03-28", "GEN", "0.00", "50.00", "11250.00"),
    ]
    assert gl["lines"][0]["number"] == "GEN/2026/00002"
    page = (await ledger.client.get(f"{bank['drill']}&limit=1&offset=1")).json()
    assert page["total_lines"] == 3 and [x["balance"] for x in page["lines"]] == ["11300.00"]


async def test_reports_export_as_csv_xlsx_and_pdf(world: World) -> None:
    ledger = await hand_ledger(world)
    params = {"company_id": ledger.company_id, "date_from": "2026-01-01", "date_to": "2026-03-31"}
    tb = await ledger.get("trial-balance", date_from="2026-01-01", date_to="2026-03-31")
    as_csv = await ledger.client.get(f"{R}/trial-balance", params={**params, "format": "csv"})
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.headers["content-disposition"] == 'attachment; filename="trial-balance.csv"'
    table = list(csv.DictReader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert [r["Code"] for r in table[:-1]] == [r["code"] for r in tb["rows"]]
    assert {r["Code"]: D(r["Closing"]) for r in table[:-1] if r["Code"]} == {
        r["code"]: D(r["closing"]) for r in tb["rows"] if r["code"]
    }
    assert (table[-1]["Account"], D(table[-1]["Debit"]), D(table[-1]["Closing"])) == ("Total", D(13950), D(0))

    as_xlsx = await ledger.client.get(f"{R}/profit-and-loss", params={**params, "format": "xlsx"})
    assert as_xlsx.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = load_workbook(io.BytesIO(as_xlsx.content)).active
    values = [[c for c in row] for row in sheet.iter_rows(values_only=True)]
    assert ["", "Net result", 650] in [[r[0] or "", r[1], r[2]] for r in values if len(r) >= 3]

    for report, extra in (
        ("balance-sheet", {"as_of": "2026-03-31"}),
        ("tax", params),
        ("journal-audit", params),
        ("general-ledger", {**params, "account_id": ledger.id(K.bank)}),
    ):
        pdf = await ledger.client.get(
            f"{R}/{report}", params={"company_id": ledger.company_id, **extra, "format": "pdf"}
        )
        assert pdf.status_code == 200, (report, pdf.text[:300])
        assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF"), report
        assert pdf.headers["content-disposition"].startswith("attachment; filename="), report


async def test_journal_audit_lists_entries_in_number_order_and_checks_the_numbering(world: World) -> None:
    ledger = await hand_ledger(world)
    audit = await ledger.get("journal-audit", date_from="2026-01-01", date_to="2026-12-31")
    numbers = [e["number"] for e in audit["entries"]]
    assert numbers == [
        "BNK/2026/00001",
        "GEN/2026/00001",
        "GEN/2026/00002",
        "GEN/2026/00003",
        "GEN/2026/00004",
        "PUR/2026/00001",
        "SAL/2026/00001",
        "SAL/2026/00002",
    ]
    wrong = next(e for e in audit["entries"] if e["number"] == "GEN/2026/00003")
    reversal = next(e for e in audit["entries"] if e["number"] == "GEN/2026/00004")
    assert (wrong["state"], wrong["reversed_by"], reversal["reversal_of"]) == (
        "reversed",
        reversal["number"],
        wrong["number"],
    )
    assert len(wrong["hash"]) == 64 and reversal["previous_hash"] == wrong["hash"]
    assert [(x["code"], x["debit"], x["credit"]) for x in wrong["lines"]] == [
        (code(K.expense), "50.00", "0.00"),
        (code(K.bank), "0.00", "50.00"),
    ]
    assert audit["gap_free"] is True and audit["numbering"] == "no gaps"
    assert {(s["journal"], s["entries"]) for s in audit["sequences"]} == {
        ("BNK", 1),
        ("GEN", 4),
        ("PUR", 1),
        ("SAL", 2),
    }
    journals = {
        j["code"]: j["id"]
        for j in (await ledger.client.get(f"{F}/journals", params={"company_id": ledger.company_id})).json()
    }
    sales = await ledger.get("journal-audit", date_from="2026-01-01", date_to="2026-12-31", journal_id=journals["SAL"])
    assert [e["number"] for e in sales["entries"]] == ["SAL/2026/00001", "SAL/2026/00002"]

    # a number that went missing (here: a journal counter moved past the last entry) is reported
    async with acting(world.rt, "acme") as access:
        await access.session.execute(
            update(SequenceCounter)
            .where(SequenceCounter.journal_id == journals["SAL"], SequenceCounter.fiscal_year == 2026)
            .values(last=4)
        )
    broken = await ledger.get("journal-audit", date_from="2026-01-01", date_to="2026-12-31")
    sal = next(s for s in broken["sequences"] if s["journal"] == "SAL")
    assert (sal["gap_free"], sal["missing"], broken["gap_free"]) == (False, [3, 4], False)
    assert broken["numbering"] == "SAL/2026 misses 2: 3, 4"


async def test_bad_input_is_refused_naming_the_field(world: World) -> None:
    ledger = await hand_ledger(world)
    client, cid = ledger.client, ledger.company_id
    week = {"company_id": cid, "date_from": "2026-03-01", "date_to": "2026-03-07"}
    cases: list[tuple[str, dict[str, Any], int, str]] = [
        ("trial-balance", {**week, "date_from": "2026-04-01"}, 422, "date_from"),
        ("trial-balance", {**week, "compare_from": "2026-02-01"}, 422, "compare_to"),
        ("trial-balance", {**week, "compare_from": "2026-02-10", "compare_to": "2026-02-01"}, 422, "compare_from"),
        ("trial-balance", {**week, "format": "docx"}, 422, "format"),
        ("trial-balance", {**week, "date_to": "not a date"}, 422, "date_to"),
        ("trial-balance", {**week, "company_id": "nope"}, 404, "company_id"),
        ("profit-and-loss", {**week, "date_to": "2026-02-01"}, 422, "date_from"),
        ("general-ledger", {**week, "account_id": "nope"}, 404, "account_id"),
        ("general-ledger", {**week, "account_id": ledger.id(K.bank), "limit": 0}, 422, "limit"),
        ("journal-audit", {**week, "journal_id": "nope"}, 404, "journal_id"),
        ("tax", {**week, "date_from": "2027-01-01"}, 422, "date_from"),
        ("balance-sheet", {"company_id": cid}, 422, "as_of"),
    ]
    for report, params, status, field in cases:
        refused = problem(await client.get(f"{R}/{report}", params=params), status)
        named = refused.get("field") or ",".join(e["field"] for e in refused.get("errors", []))
        assert field in named, (report, params, refused)


async def test_auditors_read_reports_members_are_refused_other_tenants_get_404(world: World) -> None:
    ledger = await hand_ledger(world)
    await world.person("auditor@acme.example", ledger.tenant_id, catalog.AUDITOR)
    await world.person("member@acme.example", ledger.tenant_id)
    auditor = await world.login("auditor@acme.example")
    member = await world.login("member@acme.example")
    other_id = await world.tenant("other")
    await world.person("cfo@other.example", other_id, "Finance Admin")
    other = await world.login("cfo@other.example")
    o = "/api/v1/tenants/other/finance"
    year = {"company_id": ledger.company_id, "date_from": "2026-01-01", "date_to": "2026-12-31"}
    routes = [
        ("reports/trial-balance", year),
        ("reports/general-ledger", {**year, "account_id": ledger.id(K.bank)}),
        ("reports/profit-and-loss", year),
        ("reports/balance-sheet", {"company_id": ledger.company_id, "as_of": "2026-12-31"}),
        ("reports/tax", year),
        ("reports/journal-audit", year),
        ("periods", {"company_id": ledger.company_id, "fiscal_year": 2026}),
        ("periods/checklist", {"company_id": ledger.company_id, "fiscal_year": 2026}),
    ]
    for path, params in routes:
        assert (await auditor.get(f"{F}/{path}", params=params)).status_code == 200, path
        problem(await member.get(f"{F}/{path}", params=params), 403)
        assert (await other.get(f"{o}/{path}", params=params)).status_code == 404, path
        assert (await other.get(f"{F}/{path}", params=params)).status_code == 404, path
    close = {"company_id": ledger.company_id, "fiscal_year": 2026}
    assert (await other.post(f"{o}/periods/close-year", json=close)).status_code == 404


# -- the property: balances and a line scan agree --------------------------------------------


KINDS = (K.bank, K.receivable, K.equity, K.income, K.other_income, K.expense, K.cost_of_sales, K.tax_payable)
FIRST_DAY, LAST_DAY = dt.date(2025, 10, 1), dt.date(2027, 3, 31)
any_day = st.integers(0, (LAST_DAY - FIRST_DAY).days).map(lambda n: FIRST_DAY + dt.timedelta(days=n))
month_firsts = st.integers(0, 17).map(lambda n: dt.date(2025 + (9 + n) // 12, (9 + n) % 12 + 1, 1))
# month edges are where whole months meet partial ones: the first, the last and their neighbours
days = st.one_of(
    any_day,
    st.builds(lambda first, shift: first + dt.timedelta(days=shift), month_firsts, st.sampled_from([-2, -1, 0, 1])),
)
postings = st.lists(
    st.tuples(
        days,
        st.lists(st.tuples(st.integers(0, len(KINDS) - 1), st.integers(1, 500_000)), min_size=1, max_size=3),
        st.integers(0, len(KINDS) - 1),
        st.one_of(st.none(), st.integers(0, 40)),  # reversed that many days later
    ),
    min_size=1,
    max_size=14,
)
ranges = st.lists(st.tuples(days, days).map(sorted), min_size=1, max_size=6)


async def _random_company(access: Any, start_month: int) -> tuple[str, dict[K, str]]:
    """A company with one account of each kind the random entries use."""
    company = await service.create_company(
        access,
        CompanyCreate(name=f"Random {uuid.uuid4().hex[:8]}", base_currency="EUR", fiscal_year_start_month=start_month),
    )
    ids: dict[K, str] = {}
    for number, kind in enumerate(KINDS, start=1):
        account = await service.create_account(
            access, company.id, AccountCreate(code=f"{number}00", name=kind.value, kind=kind.value)
        )
        ids[kind] = account.id
    return company.id, ids


def _line_scan(
    lines: list[Line], types: dict[str, str], start_month: int, date_from: dt.date, date_to: dt.date
) -> tuple[dict[str, tuple[Decimal, Decimal, Decimal]], Decimal]:
    """The trial balance by definition, from every line: (opening, debit, credit) per account, and
    the prior years' result not yet closed."""
    fy_start = fiscal_year_bounds(fiscal_year_of(date_from, start_month), start_month)[0]
    out: dict[str, list[Decimal]] = {}
    undistributed = Decimal(0)
    for x in lines:
        row = out.setdefault(x.account_id, [Decimal(0)] * 3)
        result = types[x.account_id] in ("income", "expense")
        if x.date < date_from:
            if result and x.date < fy_start:
                undistributed += x.debit - x.credit
            else:
                row[0] += x.debit - x.credit
        elif x.date <= date_to:
            row[1] += x.debit
            row[2] += x.credit
    return {k: (v[0], v[1], v[2]) for k, v in out.items() if any(v)}, undistributed


@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(start_month=st.sampled_from([1, 4, 10]), entries=postings, windows=ranges)
async def test_trial_balance_from_balances_equals_a_line_scan(
    world: World,
    start_month: int,
    entries: list[tuple[dt.date, list[tuple[int, int]], int, int | None]],
    windows: list[list[dt.date]],
) -> None:
    if not await _has_tenant(world):
        await world.tenant("acme")
    async with acting(world.rt, "acme") as access:
        company_id, ids = await _random_company(access, start_month)
        posted = []
        for day, debits, against, _ in entries:
            amounts = [(KINDS[k], Decimal(cents).scaleb(-2)) for k, cents in debits]
            lines = [posting.LineIn(account=ids[kind], debit=amount) for kind, amount in amounts]
            total = sum((a for _, a in amounts), Decimal(0))
            lines.append(posting.LineIn(account=ids[KINDS[against]], credit=total))
            posted.append(await posting.post(access, posting.EntryIn(company_id, "GEN", day, lines)))
        for entry, (day, _, _, later) in zip(posted, entries, strict=True):
            if later is not None:
                await posting.reverse(access, entry.id, day=day + dt.timedelta(days=later), reason="test")
    async with acting(world.rt, "acme") as access:
        lines = list((await access.session.scalars(select(Line).where(Line.company_id == company_id))).all())
        types = {a.id: a.type for a in (await access.session.scalars(select(Account))).all()}
        for date_from, date_to in windows:
            tb = await reports.trial_balance(access, company_id, date_from, date_to)
            expected, undistributed = _line_scan(lines, types, start_month, date_from, date_to)
            note(f"{date_from} – {date_to}: {tb.model_dump_json()}")
            got = {r.account_id: (r.opening, r.debit, r.credit) for r in tb.rows if r.account_id}
            assert {k: v for k, v in got.items() if any(v)} == expected
            unclosed = next((r.opening for r in tb.rows if r.account_id is None), Decimal(0))
            assert unclosed == undistributed
            for r in tb.rows:
                assert r.closing == r.opening + r.debit - r.credit
            assert tb.balanced and tb.totals.opening == 0 and tb.totals.closing == 0
            assert tb.totals.debit == tb.totals.credit


async def _has_tenant(world: World) -> bool:
    return await world.rt.tenants.resolve("acme") is not None


def test_a_range_splits_into_edge_days_and_whole_months() -> None:
    """The cut that decides what is read from lines and what from balances."""
    d = dt.date
    assert reports.split_range(d(2026, 1, 1), d(2026, 3, 31)) == ([], (202601, 202603))
    assert reports.split_range(d(2026, 1, 15), d(2026, 3, 31)) == ([(d(2026, 1, 15), d(2026, 1, 31))], (202602, 202603))
    assert reports.split_range(d(2026, 1, 1), d(2026, 3, 10)) == ([(d(2026, 3, 1), d(2026, 3, 10))], (202601, 202602))
    assert reports.split_range(d(2026, 1, 15), d(2026, 2, 10)) == (
        [(d(2026, 1, 15), d(2026, 1, 31)), (d(2026, 2, 1), d(2026, 2, 10))],
        None,
    )
    assert reports.split_range(d(2026, 2, 3), d(2026, 2, 20)) == ([(d(2026, 2, 3), d(2026, 2, 20))], None)
    assert reports.split_range(d(2026, 2, 1), d(2026, 2, 20)) == ([(d(2026, 2, 1), d(2026, 2, 20))], None)
    assert reports.split_range(None, d(2025, 12, 31)) == ([], (None, 202512))
    assert reports.split_range(None, d(2026, 2, 27)) == ([(d(2026, 2, 1), d(2026, 2, 27))], (None, 202601))
    assert reports.split_range(d(2026, 3, 1), d(2026, 2, 28)) == ([], None)
    # every day of a random range is counted exactly once
    rng = random.Random(7)
    for _ in range(300):
        start = d(2024, 1, 1) + dt.timedelta(days=rng.randrange(900))
        end = start + dt.timedelta(days=rng.randrange(400))
        partial, months = reports.split_range(start, end)
        covered = [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]
        counted = list(
            itertools.chain.from_iterable(
                [a + dt.timedelta(days=n) for n in range((b - a).days + 1)] for a, b in partial
            )
        )
        if months is not None:
            counted += [x for x in covered if months[0] is not None and months[0] <= period_of(x) <= months[1]]
        assert sorted(counted) == covered
