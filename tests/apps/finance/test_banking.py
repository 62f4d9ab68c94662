"""Bank statements end to end: real CAMT.053, MT940, OFX and CSV files imported through the API,
duplicates skipped on re-import, suggestions ranked with their reasons, a line reconciled with an
invoice (and undone), split across accounts, malformed files refused with nothing imported, and
another tenant answered 404."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from atrium.apps.finance.banking.models import Statement, StatementLine
from atrium.apps.finance.jobs import acting
from atrium.apps.finance.models import OpenItem
from tests.apps.finance.conftest import csrf
from tests.platform.access.conftest import World, problem

F = "/api/v1/tenants/acme/finance"
FILES = Path(__file__).parent / "files"
IBAN = "DE44500105175407324931"


async def _setup(world: World) -> tuple[httpx.AsyncClient, dict[str, Any], dict[str, str], dict[str, Any]]:
    tenant_id = await world.tenant("acme")
    await world.person("cfo@acme.example", tenant_id, "Finance Admin")
    cfo = await world.login("cfo@acme.example")
    company = (
        await cfo.post(
            f"{F}/companies", json={"name": "Acme GmbH", "base_currency": "EUR", "chart_template": "de_skr03"}
        )
    ).json()
    k: dict[str, str] = {}
    for account in (await cfo.get(f"{F}/accounts", params={"company_id": company["id"]})).json():
        k.setdefault(account["kind"], account["code"])
    bank = await cfo.post(f"{F}/bank-accounts", json={"company_id": company["id"], "name": "Sparkasse", "iban": IBAN})
    assert bank.status_code == 201, bank.text
    return cfo, company, k, bank.json()


async def _invoice(cfo: httpx.AsyncClient, company: dict[str, Any], k: dict[str, str], number: str, amount: str) -> str:
    made = await cfo.post(
        f"{F}/journal-entries",
        json={
            "company_id": company["id"],
            "journal": "SAL",
            "date": "2026-01-02",
            "reference": number,
            "lines": [
                {"account": k["receivable"], "debit": amount, "due_date": "2026-01-16"},
                {"account": k["income"], "credit": amount},
            ],
        },
    )
    assert made.status_code == 201, made.text
    return str(made.json()["lines"][0]["id"])


async def _import(cfo: httpx.AsyncClient, company: dict[str, Any], name: str, **form: str) -> httpx.Response:
    return await cfo.post(
        f"{F}/bank-statements",
        data={"company_id": company["id"], **form},
        files={"file": (name, (FILES / name).read_bytes())},
        headers=await csrf(cfo),
    )


async def _count(world: World, model: Any) -> int:
    async with acting(world.rt, "acme") as access:
        return int(await access.session.scalar(select(func.count()).select_from(model)) or 0)


async def test_camt_import_suggests_the_invoice_and_reconciles_it(world: World) -> None:
    cfo, company, k, bank = await _setup(world)
    invoice_line = await _invoice(cfo, company, k, "INV-2026-0001", "1500.00")
    await _invoice(cfo, company, k, "INV-2026-0003", "1500.00")  # same amount, no reference in the text

    imported = await _import(cfo, company, "statement.camt053.xml")
    assert imported.status_code == 201, imported.text
    statement = imported.json()
    assert statement["format"] == "camt053" and statement["bank_account_id"] == bank["id"]
    assert statement["lines_imported"] == len(statement["lines"]) > 3 and statement["duplicates"] == 0
    line = next(x for x in statement["lines"] if x["amount"] == "1500.00")
    best = line["suggestions"][0]
    assert best["line_ids"] == [invoice_line], line["suggestions"]
    assert {r["name"] for r in best["reasons"]} >= {"amount", "reference"}
    assert best["score"] > line["suggestions"][1]["score"]
    assert abs(sum(r["points"] for r in best["reasons"]) - best["score"]) < 0.01

    again = await _import(cfo, company, "statement.camt053.xml")
    assert again.status_code == 201 and again.json()["lines_imported"] == 0
    assert again.json()["duplicates"] == statement["lines_imported"]

    tb_before = await _bank_balance(world, company["id"])
    done = await cfo.post(
        f"{F}/reconciliations", json={"bank_line_id": line["id"], "counterparts": [{"line_id": invoice_line}]}
    )
    assert done.status_code == 201, done.text
    assert done.json()["entry_id"] is not None
    assert await _open(world, invoice_line) is None
    assert await _bank_balance(world, company["id"]) == tb_before + Decimal("1500")
    reread = (await cfo.get(f"{F}/bank-statements/{statement['id']}")).json()
    assert next(x for x in reread["lines"] if x["id"] == line["id"])["state"] == "reconciled"
    problem(
        await cfo.post(
            f"{F}/reconciliations", json={"bank_line_id": line["id"], "counterparts": [{"line_id": invoice_line}]}
        ),
        409,
    )

    assert (await cfo.delete(f"{F}/reconciliations/{done.json()['id']}")).status_code == 204
    assert await _open(world, invoice_line) == Decimal("1500")
    assert await _bank_balance(world, company["id"]) == tb_before
    reopened = (await cfo.get(f"{F}/bank-statements/{statement['id']}")).json()
    assert next(x for x in reopened["lines"] if x["id"] == line["id"])["state"] == "open"

    # a fee goes to an expense account; a line split between two accounts must add up
    fee = next(x for x in statement["lines"] if x["amount"] == "-12.50")
    booked = await cfo.post(
        f"{F}/reconciliations",
        json={"bank_line_id": fee["id"], "counterparts": [{"account": k["expense"], "label": "Bank fees"}]},
    )
    assert booked.status_code == 201, booked.text
    other = next(x for x in statement["lines"] if x["amount"] == "-238.80")
    refused = problem(
        await cfo.post(
            f"{F}/reconciliations",
            json={"bank_line_id": other["id"], "counterparts": [{"account": k["expense"], "amount": "-200.00"}]},
        ),
        422,
    )
    assert "38.80" in refused["detail"]
    split = await cfo.post(
        f"{F}/reconciliations",
        json={
            "bank_line_id": other["id"],
            "counterparts": [
                {"account": k["expense"], "amount": "-200.00"},
                {"account": k["tax_receivable"], "amount": "-38.80"},
            ],
        },
    )
    assert split.status_code == 201, split.text


async def _open(world: World, line_id: str) -> Decimal | None:
    async with acting(world.rt, "acme") as access:
        item = await access.session.get(OpenItem, line_id)
        return None if item is None else item.residual


async def _bank_balance(world: World, company_id: str) -> Decimal:
    from atrium.apps.finance.models import Account, Balance

    async with acting(world.rt, "acme") as access:
        total = await access.session.scalar(
            select(func.sum(Balance.debit - Balance.credit))
            .join(Account, Account.id == Balance.account_id)
            .where(Account.company_id == company_id, Account.kind == "bank")
        )
        return Decimal(total or 0).quantize(Decimal("0.01"))


async def test_every_format_imports_and_bad_files_import_nothing(world: World) -> None:
    cfo, company, _k, bank = await _setup(world)
    mt940 = await _import(cfo, company, "statement.mt940.sta", bank_account_id=bank["id"])
    assert mt940.status_code == 201, mt940.text
    assert mt940.json()["format"] == "mt940" and mt940.json()["lines_imported"] == 6

    usd = await cfo.post(
        f"{F}/bank-accounts", json={"company_id": company["id"], "name": "Harbor Trust", "currency": "USD"}
    )
    assert usd.status_code == 201 and usd.json()["journal_id"] != bank["journal_id"]
    ofx = await _import(cfo, company, "statement.ofx", bank_account_id=usd.json()["id"])
    assert ofx.status_code == 201, ofx.text
    assert ofx.json()["format"] == "ofx" and ofx.json()["currency"] == "USD"

    csv_bank = await cfo.post(f"{F}/bank-accounts", json={"company_id": company["id"], "name": "Stadtsparkasse"})
    csv_id = csv_bank.json()["id"]
    refused = problem(await _import(cfo, company, "statement.csv", bank_account_id=csv_id), 422)
    assert refused["field"] == "bank_account_id" and "mapping" in refused["detail"]
    mapping = {
        "date_column": "Buchungstag",
        "date_format": "%d.%m.%Y",
        "debit_column": "Soll",
        "credit_column": "Haben",
        "text_columns": ["Verwendungszweck"],
        "counterparty_column": "Auftraggeber/Empfänger",
        "iban_column": "IBAN",
        "reference_column": "Kundenreferenz",
        "currency_column": "Währung",
        "delimiter": ";",
        "decimal_separator": ",",
        "thousands_separator": ".",
        "skip_rows": 4,
    }
    saved = await cfo.put(f"{F}/bank-accounts/{csv_id}/csv-mapping", json=mapping)
    assert saved.status_code == 200, saved.text
    csv = await _import(cfo, company, "statement.csv", bank_account_id=csv_id)
    assert csv.status_code == 201, csv.text
    amounts = [x["amount"] for x in csv.json()["lines"]]
    assert amounts[:4] == ["4760.00", "-1190.00", "250.00", "-1234.56"] and len(amounts) == 6
    problem(await cfo.put(f"{F}/bank-accounts/{csv_id}/csv-mapping", json={"amount_column": "x"}), 422)

    statements, lines = await _count(world, Statement), await _count(world, StatementLine)
    for name, expected in (
        ("statement.truncated.camt053.xml", None),
        ("statement.baddate.camt053.xml", "date"),
        ("statement.badtag.mt940.sta", None),
        ("statement.missing25.mt940.sta", ":25:"),
    ):
        bad = problem(await _import(cfo, company, name, bank_account_id=bank["id"]), 422)
        assert "line" in bad["detail"] or bad.get("line") is not None, bad
        if expected:
            assert expected in bad["detail"], bad
    bad_csv = problem(await _import(cfo, company, "statement.baddate.csv", bank_account_id=csv_id), 422)
    assert bad_csv["detail"]
    assert (await _count(world, Statement), await _count(world, StatementLine)) == (statements, lines)


async def test_another_tenant_gets_404_for_statements_and_reconciliations(world: World) -> None:
    cfo, company, _k, bank = await _setup(world)
    statement = (await _import(cfo, company, "statement.camt053.xml")).json()
    line_id = statement["lines"][0]["id"]
    other_id = await world.tenant("other")
    await world.person("cfo@other.example", other_id, "Finance Admin")
    other = await world.login("cfo@other.example")
    o = "/api/v1/tenants/other/finance"
    assert (await other.get(f"{o}/bank-statements/{statement['id']}")).status_code == 404
    assert (await other.get(f"{o}/bank-statements", params={"company_id": company["id"]})).status_code == 404
    assert (await other.get(f"{o}/bank-accounts", params={"company_id": company["id"]})).status_code == 404
    foreign = {"bank_line_id": line_id, "counterparts": [{"account": "1"}]}
    assert (await other.post(f"{o}/reconciliations", json=foreign)).status_code == 404
    assert (
        await other.put(f"{o}/bank-accounts/{bank['id']}/csv-mapping", json={"date_column": "x"})
    ).status_code == 404
    upload = await other.post(
        f"{o}/bank-statements",
        data={"company_id": company["id"], "bank_account_id": bank["id"]},
        files={"file": ("s.xml", (FILES / "statement.camt053.xml").read_bytes())},
        headers=await csrf(other),
    )
    assert upload.status_code == 404, upload.text
