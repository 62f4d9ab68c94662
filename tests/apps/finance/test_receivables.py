"""Receivables and payables through the API, by hand-computed examples: tax per rate, installments,
partial, over- and many-invoice payments, a realised exchange gain and loss, credit notes and
cancellation, a vendor bill and its payment, aged balances on fixed dates, status transitions;
bad input refused with nothing written; auditors read, members are refused, other tenants get 404.
A property test runs random streams of invoices and payments against the ledger's invariants."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from atrium.apps.finance import posting
from atrium.apps.finance import service as ledger
from atrium.apps.finance.charts import AccountKind
from atrium.apps.finance.integrity import verify
from atrium.apps.finance.jobs import acting
from atrium.apps.finance.models import Balance, Entry, Line, Match, OpenItem
from atrium.apps.finance.receivables import payments as payments_service
from atrium.apps.finance.receivables import repository as repo
from atrium.apps.finance.receivables import service
from atrium.apps.finance.receivables.models import Allocation, Invoice, InvoiceLine, Party, Payment
from atrium.apps.finance.receivables.schemas import (
    AllocationIn,
    DocumentCreate,
    DocumentLineIn,
    PartyCreate,
    PaymentCreate,
    PaymentUnallocate,
)
from atrium.apps.finance.schemas import CompanyCreate
from atrium.platform.access import catalog
from tests.platform.access.conftest import World, problem

D = Decimal
F = "/api/v1/tenants/acme/finance"
TAX_ACCOUNTS = (
    ("3531", "Output VAT 20 %", "tax_payable", "0.20"),
    ("3532", "Output VAT 7 %", "tax_payable", "0.07"),
    ("1451", "Input VAT 20 %", "tax_receivable", "0.20"),
    ("1452", "Input VAT 7 %", "tax_receivable", "0.07"),
)


@dataclass
class Books:
    cfo: httpx.AsyncClient
    company: dict[str, Any]
    accounts: dict[str, dict[str, Any]]  # by code
    tenant_id: str

    @property
    def company_id(self) -> str:
        return str(self.company["id"])

    def account_id(self, code: str) -> str:
        return str(self.accounts[code]["id"])

    async def party(self, name: str, **extra: Any) -> dict[str, Any]:
        made = await self.cfo.post(f"{F}/parties", json={"company_id": self.company_id, "name": name, **extra})
        assert made.status_code == 201, made.text
        return dict(made.json())

    async def document(
        self,
        party: dict[str, Any],
        day: str,
        *lines: tuple[str, str, str, str | None],
        path: str = "/invoices",
        **extra: Any,
    ) -> dict[str, Any]:
        body = {
            "company_id": self.company_id,
            "party_id": party["id"],
            "date": day,
            "post": True,
            "lines": [
                {"description": d, "quantity": q, "unit_price": p, **({"tax_rate": t} if t else {})}
                for d, q, p, t in lines
            ],
            **extra,
        }
        made = await self.cfo.post(f"{F}{path}", json=body)
        assert made.status_code == 201, made.text
        return dict(made.json())

    async def pay(self, party: dict[str, Any], day: str, amount: str, **extra: Any) -> dict[str, Any]:
        body = {
            "company_id": self.company_id,
            "party_id": party["id"],
            "direction": "received",
            "date": day,
            "amount": amount,
            **extra,
        }
        made = await self.cfo.post(f"{F}/payments", json=body)
        assert made.status_code == 201, made.text
        return dict(made.json())

    async def get(self, path: str, **params: Any) -> Any:
        got = await self.cfo.get(f"{F}{path}", params=params)
        assert got.status_code == 200, got.text
        return got.json()

    async def entry_lines(self, entry_id: str) -> list[dict[str, Any]]:
        return list((await self.get(f"/journal-entries/{entry_id}"))["lines"])


async def _books(world: World) -> Books:
    tenant_id = await world.tenant("acme")
    await world.person("cfo@acme.example", tenant_id, "Finance Admin")
    cfo = await world.login("cfo@acme.example")
    made = await cfo.post(f"{F}/companies", json={"name": "Acme Ltd", "base_currency": "EUR", "chart_template": "ifrs"})
    assert made.status_code == 201, made.text
    company = made.json()
    for code, name, kind, rate in TAX_ACCOUNTS:
        parent = "3500" if kind == "tax_payable" else "1400"
        body = {"code": code, "name": name, "kind": kind, "parent_code": parent, "tax_rate": rate}
        added = await cfo.post(f"{F}/companies/{company['id']}/accounts", json=body)
        assert added.status_code == 201, added.text
    accounts = (await cfo.get(f"{F}/accounts", params={"company_id": company["id"]})).json()
    return Books(cfo, company, {a["code"]: a for a in accounts}, tenant_id)


async def _rates(b: Books, *rates: tuple[str, str]) -> None:
    body = [{"currency": "USD", "date": day, "rate": rate} for day, rate in rates]
    saved = await b.cfo.post(f"{F}/exchange-rates", params={"company_id": b.company_id}, json=body)
    assert saved.status_code == 201, saved.text


def _amounts(lines: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(account id, debit, credit) of entry lines."""
    return [(x["account_id"], x["debit"], x["credit"]) for x in lines]


async def _counts(world: World, *models: Any) -> list[int]:
    async with acting(world.rt, "acme") as access:
        return [int(await access.session.scalar(select(func.count()).select_from(m)) or 0) for m in models]


# -- invoices ---------------------------------------------------------------------------------


async def test_an_invoice_is_taxed_per_rate_and_posted_with_the_entry_number(world: World) -> None:
    b = await _books(world)
    globex = await b.party("Globex", payment_terms="net30", email="ap@globex.example", tax_id="DE123456789")
    draft = await b.document(
        globex,
        "2026-03-10",
        ("Consulting", "1", "10.03", "0.20"),
        ("Support", "2", "5.015", "0.20"),  # 10.03
        ("Books", "3", "12.50", "0.07"),  # 37.50
        post=False,
    )
    assert (draft["status"], draft["state"], draft["number"], draft["entry_id"]) == ("draft", "draft", None, None)
    # tax per rate on the rate's total: 20 % of 20.06 = 4.012 → 4.01 (line by line it would be 2.01 + 2.01);
    # 7 % of 37.50 = 2.625 → 2.63
    assert [(t["rate"], t["base"], t["tax"]) for t in draft["taxes"]] == [
        ("0.2", "20.06", "4.01"),
        ("0.07", "37.50", "2.63"),
    ]
    assert (draft["untaxed"], draft["tax"], draft["total"]) == ("57.56", "6.64", "64.20")
    assert draft["installments"] == [{"due_date": "2026-04-09", "amount": "64.20", "residual": "64.20"}]
    assert (draft["paid"], draft["residual"], draft["due_date"]) == ("0.00", "0.00", "2026-04-09")

    posted = (await b.cfo.post(f"{F}/invoices/{draft['id']}/post")).json()
    assert (posted["state"], posted["status"], posted["number"]) == ("posted", "open", "SAL/2026/00001")
    assert (posted["paid"], posted["residual"], posted["residual_company"]) == ("0.00", "64.20", "64.20")
    entry = await b.get(f"/journal-entries/{posted['entry_id']}")
    assert (entry["number"], entry["source"], entry["source_id"]) == ("SAL/2026/00001", "invoice", draft["id"])
    receivable, income = b.account_id("1420"), b.account_id("4100")
    assert _amounts(entry["lines"]) == [
        (receivable, "64.20", "0.00"),
        (income, "0.00", "10.03"),
        (income, "0.00", "10.03"),
        (income, "0.00", "37.50"),
        (b.account_id("3531"), "0.00", "4.01"),
        (b.account_id("3532"), "0.00", "2.63"),
    ]
    first = entry["lines"][0]
    assert (first["party_id"], first["due_date"]) == (globex["id"], "2026-04-09")
    assert [(x["tax_rate"], x["tax_base"]) for x in entry["lines"][4:]] == [("0.2000", "20.06"), ("0.0700", "37.50")]
    assert {x["tax_rate"] for x in entry["lines"][:4]} == {None}

    problem(await b.cfo.post(f"{F}/invoices/{draft['id']}/post"), 409)
    second = await b.document(globex, "2026-03-11", ("Books", "1", "10", None))
    assert second["number"] == "SAL/2026/00002" and second["payment_terms"] == "net30"
    balance = await b.get(f"/parties/{globex['id']}/balance")
    assert (balance["receivable"], balance["payable"], balance["open_items"]) == ("74.20", "0.00", 2)


async def test_installment_terms_post_one_receivable_line_per_installment(world: World) -> None:
    b = await _books(world)
    globex = await b.party("Globex")
    invoice = await b.document(globex, "2026-01-31", ("Project", "1", "1000.05", "0.07"), payment_terms="30-70")
    # 1000.05 + 7 % (70.0035 → 70.00) = 1070.05; 30 % = 321.015 → 321.02 now, 749.03 in 30 days
    assert invoice["total"] == "1070.05" and invoice["due_date"] == "2026-03-02"
    assert invoice["installments"] == [
        {"due_date": "2026-01-31", "amount": "321.02", "residual": "321.02"},
        {"due_date": "2026-03-02", "amount": "749.03", "residual": "749.03"},
    ]
    lines = await b.entry_lines(invoice["entry_id"])
    assert [(x["debit"], x["due_date"], x["label"]) for x in lines[:2]] == [
        ("321.02", "2026-01-31", "Globex (1/2)"),
        ("749.03", "2026-03-02", "Globex (2/2)"),
    ]
    # a part payment settles the earlier installment first
    await b.pay(globex, "2026-02-05", "400.00")
    paid = await b.get(f"/invoices/{invoice['id']}")
    assert [i["residual"] for i in paid["installments"]] == ["0.00", "670.05"]
    assert (paid["status"], paid["paid"], paid["residual"]) == ("partially_paid", "400.00", "670.05")

    made = await b.cfo.post(
        f"{F}/payment-terms",
        json={
            "company_id": b.company_id,
            "code": "2-10-net30",
            "name": "2 % in 10 days, net 30",
            "installments": [{"percent": "100", "days": 30}],
            "discount_percent": "2",
            "discount_days": 10,
        },
    )
    assert made.status_code == 201, made.text
    codes = [t["code"] for t in await b.get("/payment-terms", company_id=b.company_id)]
    assert codes == ["immediate", "net14", "net30", "net60", "30-70", "2-10-net30"]
    discounted = await b.document(globex, "2026-02-01", ("Audit", "1", "500", None), payment_terms="2-10-net30")
    assert (discounted["discount_amount"], discounted["discount_until"], discounted["due_date"]) == (
        "10.00",
        "2026-02-11",
        "2026-03-03",
    )
    bad = await b.cfo.post(
        f"{F}/payment-terms",
        json={"company_id": b.company_id, "code": "odd", "name": "Odd", "installments": [{"percent": "50", "days": 0}]},
    )
    assert problem(bad, 422)["field"] == "installments"
    again = {
        "company_id": b.company_id,
        "code": "net30",
        "name": "Mine",
        "installments": [{"percent": "100", "days": 30}],
    }
    assert problem(await b.cfo.post(f"{F}/payment-terms", json=again), 409)["field"] == "code"


# -- payments ---------------------------------------------------------------------------------


async def test_partial_over_and_many_invoice_payments(world: World) -> None:
    b = await _books(world)
    globex = await b.party("Globex")
    i1 = await b.document(globex, "2026-04-01", ("A", "1", "100", None))
    i2 = await b.document(globex, "2026-04-02", ("B", "1", "200", None))
    i3 = await b.document(globex, "2026-04-03", ("C", "2", "25", None))

    partial = await b.pay(globex, "2026-04-10", "60.00", allocations=[{"invoice_id": i1["id"], "amount": "60.00"}])
    assert (partial["number"], partial["allocated"], partial["unallocated"]) == ("BNK/2026/00001", "60.00", "0.00")
    one = await b.get(f"/invoices/{i1['id']}")
    assert (one["status"], one["paid"], one["residual"]) == ("partially_paid", "60.00", "40.00")
    assert [(a["payment_id"], a["amount"]) for a in one["allocations"]] == [(partial["id"], "60.00")]

    # one payment for three invoices
    many = await b.pay(
        globex,
        "2026-04-20",
        "290.00",
        allocations=[
            {"invoice_id": i1["id"], "amount": "40.00"},
            {"invoice_id": i2["id"], "amount": "200.00"},
            {"invoice_id": i3["id"], "amount": "50.00"},
        ],
    )
    assert [(a["invoice_id"], a["amount"]) for a in many["allocations"]] == [
        (i1["id"], "40.00"),
        (i2["id"], "200.00"),
        (i3["id"], "50.00"),
    ]
    assert (many["allocated"], many["unallocated"]) == ("290.00", "0.00")
    for invoice in (i1, i2, i3):
        assert (await b.get(f"/invoices/{invoice['id']}"))["status"] == "paid"
    lines = await b.entry_lines(many["entry_id"])
    bank, receivable = b.account_id("1510"), b.account_id("1420")
    assert _amounts(lines) == [
        (bank, "290.00", "0.00"),
        (receivable, "0.00", "40.00"),
        (receivable, "0.00", "200.00"),
        (receivable, "0.00", "50.00"),
    ]

    # over-payment: the invoice is paid and the rest stays open as the customer's credit
    i4 = await b.document(globex, "2026-05-01", ("D", "1", "100", None))
    over = await b.pay(globex, "2026-05-05", "130.00")
    assert [(a["invoice_id"], a["amount"]) for a in over["allocations"]] == [(i4["id"], "100.00")]
    assert (over["allocated"], over["unallocated"]) == ("100.00", "30.00")
    balance = await b.get(f"/parties/{globex['id']}/balance")
    assert (balance["receivable"], balance["balance"]) == ("-30.00", "-30.00")
    # the credit is applied to the next invoice when asked to
    i5 = await b.document(globex, "2026-05-10", ("E", "1", "50", None))
    applied = (await b.cfo.post(f"{F}/payments/{over['id']}/allocate", json={"invoice_ids": [i5["id"]]})).json()
    assert (applied["allocated"], applied["unallocated"]) == ("130.00", "0.00")
    five = await b.get(f"/invoices/{i5['id']}")
    assert (five["status"], five["residual"]) == ("partially_paid", "20.00")
    problem(await b.cfo.post(f"{F}/payments/{over['id']}/allocate", json={}), 409)
    listed = await b.get("/payments", company_id=b.company_id, party_id=globex["id"])
    assert [p["number"] for p in listed] == ["BNK/2026/00003", "BNK/2026/00002", "BNK/2026/00001"]


async def test_without_allocations_the_oldest_due_invoices_are_paid_first(world: World) -> None:
    b = await _books(world)
    globex = await b.party("Globex")
    late = await b.document(globex, "2026-03-01", ("due 30 April", "1", "120", None), payment_terms="net60")
    early = await b.document(globex, "2026-03-10", ("due 10 March", "1", "100", None))
    middle = await b.document(globex, "2026-03-05", ("due 19 March", "1", "80", None), payment_terms="net14")
    other = await b.document(globex, "2026-03-01", ("in dollars", "1", "10", None), currency="USD", rate="1.1")
    payment = await b.pay(globex, "2026-03-20", "150.00")
    assert [(a["invoice_id"], a["amount"]) for a in payment["allocations"]] == [
        (early["id"], "100.00"),
        (middle["id"], "50.00"),
    ]
    statuses = [(await b.get(f"/invoices/{x['id']}"))["status"] for x in (early, middle, late, other)]
    assert statuses == ["paid", "partially_paid", "open", "open"]
    paid = await b.get("/invoices", company_id=b.company_id, status="paid")
    part = await b.get("/invoices", company_id=b.company_id, status="partially_paid")
    still = await b.get("/invoices", company_id=b.company_id, status="open")
    assert [x["id"] for x in paid] == [early["id"]] and [x["id"] for x in part] == [middle["id"]]
    assert {x["id"] for x in still} == {late["id"], other["id"]}


async def test_a_dollar_invoice_paid_at_another_rate_realises_the_difference(world: World) -> None:
    b = await _books(world)
    await _rates(b, ("2026-06-01", "1.10"), ("2026-06-20", "1.05"))
    wayne = await b.party("Wayne Corp", currency="USD")
    fx, bank, receivable = b.account_id("7200"), b.account_id("1510"), b.account_id("1420")
    loss_invoice = await b.document(wayne, "2026-06-01", ("Widgets", "1", "100", None))
    assert (loss_invoice["currency"], loss_invoice["rate"]) == ("USD", "1.1")
    assert _amounts(await b.entry_lines(loss_invoice["entry_id"])) == [
        (receivable, "110.00", "0.00"),
        (b.account_id("4100"), "0.00", "110.00"),
    ]
    # 100 USD booked at 1.10 (110.00 EUR) paid at 1.05 (105.00 EUR): a realised loss of 5.00 EUR
    loss = await b.pay(wayne, "2026-06-20", "100", allocations=[{"invoice_id": loss_invoice["id"], "amount": "100"}])
    assert loss["currency"] == "USD" and _amounts(await b.entry_lines(loss["entry_id"]))[0] == (bank, "105.00", "0.00")
    exchange_id = loss["allocations"][0]["exchange_entry_id"]
    exchange = await b.get(f"/journal-entries/{exchange_id}")
    assert (exchange["source"], exchange["date"]) == ("fx_realised", "2026-06-20")
    assert sorted(_amounts(exchange["lines"])) == sorted([(receivable, "0.00", "5.00"), (fx, "5.00", "0.00")])
    settled = await b.get(f"/invoices/{loss_invoice['id']}")
    assert (settled["status"], settled["residual"], settled["residual_company"]) == ("paid", "0.00", "0.00")

    # 200 USD booked at 1.10 (220.00 EUR) paid at 1.12 (224.00 EUR): a realised gain of 4.00 EUR
    gain_invoice = await b.document(wayne, "2026-06-01", ("Gadgets", "2", "100", None))
    gain = await b.pay(wayne, "2026-06-20", "200", rate="1.12")
    assert [a["invoice_id"] for a in gain["allocations"]] == [gain_invoice["id"]]
    exchange = await b.get(f"/journal-entries/{gain['allocations'][0]['exchange_entry_id']}")
    assert sorted(_amounts(exchange["lines"])) == sorted([(receivable, "4.00", "0.00"), (fx, "0.00", "4.00")])
    balance = await b.get(f"/parties/{wayne['id']}/balance")
    assert (balance["receivable"], balance["by_currency"]) == ("0.00", [])

    async def fx_net() -> Decimal:
        async with acting(world.rt, "acme") as access:
            rows = (await access.session.scalars(select(Balance).where(Balance.account_id == fx))).all()
            return sum((r.debit - r.credit for r in rows), D(0))

    assert await fx_net() == D("1.00")
    # unallocating reopens the invoice at its booked value and reverses the gain
    undone = await b.cfo.post(f"{F}/payments/{gain['id']}/unallocate", json={})
    assert undone.status_code == 200, undone.text
    assert (undone.json()["allocated"], undone.json()["unallocated"]) == ("0.00", "200.00")
    assert undone.json()["allocations"][0]["undone_at"] is not None
    reopened = await b.get(f"/invoices/{gain_invoice['id']}")
    assert (reopened["status"], reopened["residual"], reopened["residual_company"]) == ("open", "200.00", "220.00")
    assert await fx_net() == D("5.00")
    balance = await b.get(f"/parties/{wayne['id']}/balance")
    assert balance["receivable"] == "-4.00"  # 220.00 open against 224.00 received, both 200 USD
    assert balance["by_currency"] == [{"currency": "USD", "receivable": "0.00", "payable": "0.00"}]
    # reversing the payment takes the money back out of the bank
    reversed_ = await b.cfo.post(f"{F}/payments/{gain['id']}/reverse", json={"reason": "bounced"})
    assert reversed_.status_code == 200, reversed_.text
    assert (reversed_.json()["state"], reversed_.json()["unallocated"]) == ("reversed", "0.00")
    assert (await b.get(f"/parties/{wayne['id']}/balance"))["receivable"] == "220.00"
    problem(await b.cfo.post(f"{F}/payments/{gain['id']}/reverse", json={"reason": "again"}), 409)
    async with acting(world.rt, "acme") as access:
        assert (await verify(access.session, b.company_id)).intact


# -- credit notes and cancelling ---------------------------------------------------------------


async def test_a_credit_note_settles_its_invoice_and_cancelling_credits_the_rest(world: World) -> None:
    b = await _books(world)
    globex = await b.party("Globex")
    invoice = await b.document(globex, "2026-03-01", ("Chairs", "2", "50", "0.20"))
    assert invoice["total"] == "120.00"
    credit = await b.document(
        globex,
        "2026-03-05",
        ("One chair returned", "1", "50", "0.20"),
        kind="credit_note",
        original_id=invoice["id"],
    )
    assert (credit["kind"], credit["number"], credit["total"], credit["status"]) == (
        "credit_note",
        "SAL/2026/00002",
        "60.00",
        "paid",
    )
    assert [(a["invoice_id"], a["credit_note_id"], a["amount"]) for a in credit["allocations"]] == [
        (invoice["id"], credit["id"], "60.00")
    ]
    lines = await b.entry_lines(credit["entry_id"])
    assert _amounts(lines) == [
        (b.account_id("1420"), "0.00", "60.00"),
        (b.account_id("4100"), "50.00", "0.00"),
        (b.account_id("3531"), "10.00", "0.00"),
    ]
    assert lines[2]["tax_base"] == "-50.00"
    credited = await b.get(f"/invoices/{invoice['id']}")
    assert (credited["status"], credited["paid"], credited["residual"]) == ("partially_paid", "60.00", "60.00")
    too_much = await b.cfo.post(
        f"{F}/invoices",
        json={
            "company_id": b.company_id,
            "party_id": globex["id"],
            "kind": "credit_note",
            "original_id": invoice["id"],
            "date": "2026-03-06",
            "lines": [{"description": "More", "unit_price": "60", "tax_rate": "0.20"}],
            "post": True,
        },
    )
    assert "60.00 EUR left to credit" in problem(too_much, 422)["detail"]
    problem(await b.cfo.post(f"{F}/invoices/{invoice['id']}/cancel", json={"reason": "x"}), 409)

    # cancelling a part-paid invoice: a credit note for all of it; what was paid becomes a credit
    second = await b.document(globex, "2026-03-10", ("Table", "1", "80", "0.07"))
    assert second["total"] == "85.60"
    await b.pay(globex, "2026-03-12", "30.00", allocations=[{"invoice_id": second["id"], "amount": "30.00"}])
    cancelled = await b.cfo.post(
        f"{F}/invoices/{second['id']}/cancel", json={"date": "2026-03-15", "reason": "wrong customer"}
    )
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    # the refused credit note above took no number: numbering stays gap-free
    assert (body["state"], body["status"], body["residual"], body["number"]) == (
        "cancelled",
        "cancelled",
        "0.00",
        "SAL/2026/00003",
    )
    note_ = await b.get(f"/invoices/{body['cancelled_by_id']}")
    assert (note_["number"], note_["total"], note_["status"], note_["residual"], note_["original_id"]) == (
        "SAL/2026/00004",
        "85.60",
        "partially_paid",
        "30.00",
        second["id"],
    )
    assert (note_["date"], note_["memo"], note_["reference"]) == (
        "2026-03-15",
        "wrong customer",
        "Cancels SAL/2026/00003",
    )
    balance = await b.get(f"/parties/{globex['id']}/balance")
    assert balance["receivable"] == "30.00"  # 60.00 open on the first invoice, 30.00 credit from the second
    cancelled_list = await b.get("/invoices", company_id=b.company_id, status="cancelled")
    assert [x["id"] for x in cancelled_list] == [second["id"]]
    problem(await b.cfo.post(f"{F}/invoices/{second['id']}/cancel", json={"reason": "again"}), 409)
    problem(
        await b.cfo.post(
            f"{F}/payments",
            json={
                "company_id": b.company_id,
                "party_id": globex["id"],
                "direction": "received",
                "date": "2026-03-20",
                "amount": "10",
                "allocations": [{"invoice_id": second["id"], "amount": "10"}],
            },
        ),
        422,
    )


# -- bills ------------------------------------------------------------------------------------


async def test_a_vendor_bill_is_posted_and_paid(world: World) -> None:
    b = await _books(world)
    initech = await b.party("Initech", is_customer=False, is_vendor=True, payment_terms="net30")
    bill = await b.document(
        initech,
        "2026-05-10",
        (
            "Laptops",
            "2",
            "100.00",
            "0.20",
        ),
        ("Cables", "5", "10.00", "0.20"),
        path="/bills",
        reference="INI-778",
    )
    assert (bill["kind"], bill["number"], bill["due_date"], bill["reference"]) == (
        "bill",
        "PUR/2026/00001",
        "2026-06-09",
        "INI-778",
    )
    assert (bill["untaxed"], bill["tax"], bill["total"], bill["status"]) == ("250.00", "50.00", "300.00", "open")
    entry = await b.get(f"/journal-entries/{bill['entry_id']}")
    payable, expense, input_vat = b.account_id("3510"), b.account_id("6100"), b.account_id("1451")
    assert (entry["source"], entry["reference"]) == ("bill", "INI-778")
    assert _amounts(entry["lines"]) == [
        (payable, "0.00", "300.00"),
        (expense, "200.00", "0.00"),
        (expense, "50.00", "0.00"),
        (input_vat, "50.00", "0.00"),
    ]
    assert entry["lines"][3]["tax_base"] == "250.00"
    aged = await b.get("/reports/aged-payables", company_id=b.company_id, as_of="2026-05-31")
    assert [(r["party_name"], r["current"], r["total"]) for r in aged["rows"]] == [("Initech", "300.00", "300.00")]
    # bills are not invoices: each route knows only its own documents
    assert (await b.cfo.get(f"{F}/invoices/{bill['id']}")).status_code == 404
    assert await b.get("/invoices", company_id=b.company_id) == []

    payment = await b.pay(initech, "2026-06-01", "300.00", direction="sent")
    assert [(a["invoice_id"], a["amount"]) for a in payment["allocations"]] == [(bill["id"], "300.00")]
    assert _amounts(await b.entry_lines(payment["entry_id"])) == [
        (b.account_id("1510"), "0.00", "300.00"),
        (payable, "300.00", "0.00"),
    ]
    assert (await b.get(f"/bills/{bill['id']}"))["status"] == "paid"
    assert (await b.get(f"/parties/{initech['id']}/balance"))["payable"] == "0.00"
    later = await b.get("/reports/aged-payables", company_id=b.company_id, as_of="2026-06-30")
    assert later["rows"] == [] and later["totals"]["total"] == "0.00"
    # a customer payment cannot go to a vendor, nor an invoice to someone who is only a vendor
    refused = await b.cfo.post(
        f"{F}/invoices",
        json={"company_id": b.company_id, "party_id": initech["id"], "date": "2026-06-01", "lines": []},
    )
    problem(refused, 422)
    refused = await b.cfo.post(
        f"{F}/invoices",
        json={
            "company_id": b.company_id,
            "party_id": initech["id"],
            "date": "2026-06-01",
            "lines": [{"description": "x", "unit_price": "1"}],
        },
    )
    assert problem(refused, 422)["field"] == "party_id"


# -- ageing -----------------------------------------------------------------------------------


async def test_aged_receivables_bucket_by_days_past_due_on_a_fixed_date(world: World) -> None:
    b = await _books(world)
    globex, initrode = await b.party("Globex"), await b.party("Initrode")
    await b.document(globex, "2026-06-20", ("due 07-20", "1", "100", None), payment_terms="net30")
    await b.document(globex, "2026-05-31", ("due 06-30", "1", "50", None), payment_terms="net30")
    await b.document(globex, "2026-06-15", ("due 06-15", "1", "30", None))
    await b.document(initrode, "2026-04-20", ("due 05-20", "1", "200", None), payment_terms="net30")
    b2 = await b.document(initrode, "2026-04-15", ("due 04-15", "1", "70", None))
    await b.document(initrode, "2026-01-01", ("due 03-02", "1", "40", None), payment_terms="net60")
    await b.pay(globex, "2026-06-25", "25.00", allocations=[])  # an unallocated credit dated 06-25
    await b.pay(initrode, "2026-07-05", "70.00", allocations=[{"invoice_id": b2["id"], "amount": "70.00"}])

    def table(report: dict[str, Any]) -> list[tuple[str, ...]]:
        keys = ("current", "days_1_30", "days_31_60", "days_61_90", "over_90", "total")
        rows = [(r["party_name"], *(r[k] for k in keys)) for r in report["rows"]]
        return [*rows, ("Total", *(report["totals"][k] for k in keys))]

    june = await b.get("/reports/aged-receivables", company_id=b.company_id, as_of="2026-06-30")
    assert (june["kind"], june["currency"]) == ("receivables", "EUR")
    # Initrode's July payment had not happened on 30 June: the 70.00 is still 76 days late
    assert table(june) == [
        ("Globex", "150.00", "5.00", "0.00", "0.00", "0.00", "155.00"),
        ("Initrode", "0.00", "0.00", "200.00", "70.00", "40.00", "310.00"),
        ("Total", "150.00", "5.00", "200.00", "70.00", "40.00", "465.00"),
    ]
    july = await b.get("/reports/aged-receivables", company_id=b.company_id, as_of="2026-07-10")
    assert table(july) == [
        ("Globex", "100.00", "55.00", "0.00", "0.00", "0.00", "155.00"),
        ("Initrode", "0.00", "0.00", "200.00", "0.00", "40.00", "240.00"),
        ("Total", "100.00", "55.00", "200.00", "0.00", "40.00", "395.00"),
    ]
    early = await b.get("/reports/aged-receivables", company_id=b.company_id, as_of="2026-06-10")
    assert table(early) == [
        ("Globex", "50.00", "0.00", "0.00", "0.00", "0.00", "50.00"),
        ("Initrode", "0.00", "200.00", "70.00", "0.00", "40.00", "310.00"),
        ("Total", "50.00", "200.00", "70.00", "0.00", "40.00", "360.00"),
    ]
    csv = await b.cfo.get(
        f"{F}/reports/aged-receivables", params={"company_id": b.company_id, "as_of": "2026-06-30", "format": "csv"}
    )
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert 'filename="aged-receivables.csv"' in csv.headers["content-disposition"]
    text = csv.content.decode("utf-8-sig").splitlines()
    assert text[0] == "Party,Current,1–30 days,31–60 days,61–90 days,Over 90 days,Total"
    assert text[1:] == [
        "Globex,150.00,5.00,0.00,0.00,0.00,155.00",
        "Initrode,0.00,0.00,200.00,70.00,40.00,310.00",
        "Total,150.00,5.00,200.00,70.00,40.00,465.00",
    ]
    for fmt, media in (("xlsx", "spreadsheetml"), ("pdf", "application/pdf")):
        got = await b.cfo.get(
            f"{F}/reports/aged-receivables", params={"company_id": b.company_id, "as_of": "2026-06-30", "format": fmt}
        )
        assert got.status_code == 200 and media in got.headers["content-type"] and len(got.content) > 500
    problem(await b.cfo.get(f"{F}/reports/aged-receivables", params={"company_id": b.company_id, "format": "doc"}), 422)


# -- lifecycle --------------------------------------------------------------------------------


async def test_status_moves_from_draft_to_paid_and_back(world: World) -> None:
    b = await _books(world)
    globex = await b.party("Globex", payment_terms="net14")
    draft = await b.document(globex, "2026-02-01", ("Draft", "1", "10", None), post=False)
    assert draft["payment_terms"] == "net14" and draft["status"] == "draft"
    replaced = await b.cfo.put(
        f"{F}/invoices/{draft['id']}",
        json={
            "party_id": globex["id"],
            "date": "2026-02-02",
            "payment_terms": "immediate",
            "lines": [{"description": "Lamp", "quantity": "4", "unit_price": "25"}],
        },
    )
    assert replaced.status_code == 200, replaced.text
    assert (replaced.json()["total"], replaced.json()["due_date"]) == ("100.00", "2026-02-02")
    assert [line["description"] for line in replaced.json()["lines"]] == ["Lamp"]
    assert (await b.cfo.post(f"{F}/invoices/{draft['id']}/post")).json()["status"] == "open"
    same = {"party_id": globex["id"], "date": "2026-02-02", "lines": [{"description": "Lamp", "unit_price": "1"}]}
    problem(await b.cfo.put(f"{F}/invoices/{draft['id']}", json=same), 409)
    problem(await b.cfo.delete(f"{F}/invoices/{draft['id']}"), 409)

    first = await b.pay(globex, "2026-02-03", "40")
    assert (await b.get(f"/invoices/{draft['id']}"))["status"] == "partially_paid"
    await b.pay(globex, "2026-02-04", "60")
    assert (await b.get(f"/invoices/{draft['id']}"))["status"] == "paid"
    undone = await b.cfo.post(f"{F}/payments/{first['id']}/unallocate", json={"invoice_id": draft["id"]})
    assert undone.status_code == 200, undone.text
    assert (await b.get(f"/invoices/{draft['id']}"))["residual"] == "40.00"
    problem(await b.cfo.post(f"{F}/payments/{first['id']}/unallocate", json={}), 422)

    throwaway = await b.document(globex, "2026-02-05", ("Oops", "1", "1", None), post=False)
    assert (await b.cfo.delete(f"{F}/invoices/{throwaway['id']}")).status_code == 204
    assert (await b.cfo.get(f"{F}/invoices/{throwaway['id']}")).status_code == 404
    dropped = await b.document(globex, "2026-02-05", ("Maybe", "1", "1", None), post=False)
    cancelled = (await b.cfo.post(f"{F}/invoices/{dropped['id']}/cancel", json={"reason": "not needed"})).json()
    assert (cancelled["status"], cancelled["number"]) == ("cancelled", None)
    problem(await b.cfo.post(f"{F}/invoices/{dropped['id']}/post"), 409)
    drafts = await b.get("/invoices", company_id=b.company_id, status="draft")
    assert drafts == []
    listed = await b.get("/invoices", company_id=b.company_id)
    assert [(x["number"], x["status"]) for x in listed] == [(None, "cancelled"), ("SAL/2026/00001", "partially_paid")]


# -- bad input --------------------------------------------------------------------------------


async def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(world: World) -> None:
    b = await _books(world)
    globex = await b.party("Globex")
    initech = await b.party("Initech", is_customer=False, is_vendor=True)
    open_invoice = await b.document(globex, "2026-03-01", ("Open", "1", "100", None))
    draft = await b.document(globex, "2026-03-01", ("Draft", "1", "100", None), post=False)
    models = (Party, Invoice, InvoiceLine, Payment, Allocation, Entry, Line, OpenItem, Match)
    before = await _counts(world, *models)

    def invoice(*lines: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {
            "company_id": b.company_id,
            "party_id": globex["id"],
            "date": "2026-03-02",
            "post": True,
            "lines": list(lines) or [{"description": "x", "unit_price": "10"}],
            **extra,
        }

    def payment(**extra: Any) -> dict[str, Any]:
        return {
            "company_id": b.company_id,
            "party_id": globex["id"],
            "direction": "received",
            "date": "2026-03-05",
            "amount": "50",
            **extra,
        }

    ok = {"description": "fine", "unit_price": "10"}
    cases: list[tuple[str, dict[str, Any], int, str]] = [
        ("/invoices", invoice(party_id=str(uuid.uuid4())), 422, "party_id"),
        ("/invoices", invoice(party_id=initech["id"]), 422, "party_id"),
        ("/invoices", invoice(ok, {"description": "y", "unit_price": "1", "account": "9999"}), 422, "lines[2].account"),
        ("/invoices", invoice({"description": "y", "unit_price": "1", "account": "1510"}), 422, "lines[1].account"),
        ("/invoices", invoice({"description": "y", "unit_price": "1", "tax_rate": "0.19"}), 422, "lines[1].tax_rate"),
        ("/invoices", invoice({"description": "y", "quantity": "0", "unit_price": "1"}), 422, "lines[1].quantity"),
        ("/invoices", invoice(ok, {"description": "y", "quantity": "-2", "unit_price": "1"}), 422, "lines[2].quantity"),
        ("/invoices", invoice({"description": "y", "unit_price": "-1"}), 422, "lines[1].unit_price"),
        ("/invoices", invoice({"description": "y", "unit_price": "0"}), 422, "lines"),
        ("/invoices", invoice(payment_terms="net45"), 422, "payment_terms"),
        ("/invoices", invoice(currency="USD"), 422, "rate"),
        ("/invoices", invoice(kind="bill"), 422, "kind"),
        ("/invoices", invoice(original_id=open_invoice["id"]), 422, "original_id"),
        (
            "/bills",
            invoice(party_id=initech["id"], currency="EUR", lines=[ok | {"account": "4100"}]),
            422,
            "lines[1].account",
        ),
        ("/payments", payment(party_id=str(uuid.uuid4())), 422, "party_id"),
        (
            "/payments",
            payment(allocations=[{"invoice_id": open_invoice["id"], "amount": "100.01"}], amount="200"),
            422,
            "allocations[1].amount",
        ),
        ("/payments", payment(allocations=[{"invoice_id": open_invoice["id"], "amount": "60"}]), 422, "allocations"),
        (
            "/payments",
            payment(allocations=[{"invoice_id": draft["id"], "amount": "10"}]),
            422,
            "allocations[1].invoice_id",
        ),
        (
            "/payments",
            payment(allocations=[{"invoice_id": str(uuid.uuid4()), "amount": "10"}]),
            422,
            "allocations[1].invoice_id",
        ),
        ("/payments", payment(direction="sent"), 422, "party_id"),
        ("/payments", payment(account="4100"), 422, "account"),
        ("/payments", payment(journal="SAL"), 422, "journal"),
        ("/payments", payment(amount="10.001"), 422, "amount"),
        ("/parties", {"company_id": b.company_id, "name": "Bad IBAN", "ibans": ["DE00 1234"]}, 422, "ibans[1]"),
        ("/parties", {"company_id": b.company_id, "name": "Neither", "is_customer": False}, 422, "is_customer"),
        ("/parties", {"company_id": b.company_id, "name": "Terms", "payment_terms": "net45"}, 422, "payment_terms"),
        ("/parties", {"company_id": b.company_id, "name": "globex"}, 409, "name"),
    ]
    for path, body, status, field in cases:
        refused = problem(await b.cfo.post(f"{F}{path}", json=body), status)
        assert refused.get("field") == field, (path, body, refused)
        if field.startswith(("lines[", "allocations[")):
            assert (
                ("line" in refused["detail"]) or ("allocation" in refused["detail"]) or "draft" in refused["detail"]
            ), refused
    assert (
        "more than the 100.00 EUR open on SAL/2026/00001"
        in problem(
            await b.cfo.post(
                f"{F}/payments",
                json=payment(allocations=[{"invoice_id": open_invoice["id"], "amount": "100.01"}], amount="200"),
            ),
            422,
        )["detail"]
    )
    assert (
        "is a draft; post it before paying it"
        in problem(
            await b.cfo.post(f"{F}/payments", json=payment(allocations=[{"invoice_id": draft["id"], "amount": "10"}])),
            422,
        )["detail"]
    )

    # a locked period: posting.check_lock refuses, and the draft stays a draft
    locked = await b.cfo.put(f"{F}/companies/{b.company_id}/lock-dates", json={"hard_lock_date": "2026-03-31"})
    assert locked.status_code == 200, locked.text
    problem(await b.cfo.post(f"{F}/invoices/{draft['id']}/post"), 409, "period-locked")
    problem(await b.cfo.post(f"{F}/payments", json=payment()), 409, "period-locked")
    assert (await b.get(f"/invoices/{draft['id']}"))["state"] == "draft"
    assert await _counts(world, *models) == before


# -- who may do what --------------------------------------------------------------------------


async def test_auditors_read_members_are_refused_and_other_tenants_get_404(world: World) -> None:
    b = await _books(world)
    globex = await b.party("Globex")
    initech = await b.party("Initech", is_customer=False, is_vendor=True)
    invoice = await b.document(globex, "2026-03-01", ("A", "1", "100", None))
    bill = await b.document(initech, "2026-03-01", ("B", "1", "100", None), path="/bills")
    payment = await b.pay(globex, "2026-03-02", "100")
    draft = await b.document(globex, "2026-03-03", ("C", "1", "5", None), post=False)

    await world.person("auditor@acme.example", b.tenant_id, catalog.AUDITOR)
    await world.person("member@acme.example", b.tenant_id)
    auditor = await world.login("auditor@acme.example")
    reads = (
        f"{F}/invoices/{invoice['id']}",
        f"{F}/bills/{bill['id']}",
        f"{F}/payments/{payment['id']}",
        f"{F}/parties/{globex['id']}",
        f"{F}/parties/{globex['id']}/balance",
        f"{F}/invoices?company_id={b.company_id}",
        f"{F}/bills?company_id={b.company_id}",
        f"{F}/payments?company_id={b.company_id}",
        f"{F}/parties?company_id={b.company_id}",
        f"{F}/payment-terms?company_id={b.company_id}",
        f"{F}/reports/aged-receivables?company_id={b.company_id}&as_of=2026-03-31",
        f"{F}/reports/aged-payables?company_id={b.company_id}&as_of=2026-03-31",
    )
    for path in reads:
        assert (await auditor.get(path)).status_code == 200, path
    problem(await auditor.post(f"{F}/invoices/{draft['id']}/post"), 403)
    problem(await auditor.post(f"{F}/payments/{payment['id']}/reverse", json={"reason": "x"}), 403)
    problem(await auditor.post(f"{F}/parties", json={"company_id": b.company_id, "name": "X"}), 403)
    member = await world.login("member@acme.example")
    problem(await member.get(f"{F}/invoices?company_id={b.company_id}"), 403)
    problem(await member.get(f"{F}/parties/{globex['id']}"), 403)
    problem(await member.post(f"{F}/payments", json={}), 403)

    other_id = await world.tenant("other")
    await world.person("cfo@other.example", other_id, "Finance Admin")
    other = await world.login("cfo@other.example")
    for path in reads:
        foreign = path.replace("/tenants/acme/", "/tenants/other/")
        assert (await other.get(foreign)).status_code == 404, foreign
    o = "/api/v1/tenants/other/finance"
    writes: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", f"{o}/invoices/{draft['id']}/post", {}),
        ("POST", f"{o}/invoices/{invoice['id']}/cancel", {"reason": "x"}),
        (
            "PUT",
            f"{o}/invoices/{draft['id']}",
            {"party_id": globex["id"], "date": "2026-03-03", "lines": [{"description": "x", "unit_price": "1"}]},
        ),
        ("DELETE", f"{o}/invoices/{draft['id']}", {}),
        ("POST", f"{o}/bills/{bill['id']}/cancel", {"reason": "x"}),
        ("PATCH", f"{o}/parties/{globex['id']}", {"name": "Mine"}),
        ("POST", f"{o}/payments/{payment['id']}/reverse", {"reason": "x"}),
        ("POST", f"{o}/payments/{payment['id']}/unallocate", {}),
        ("POST", f"{o}/payments/{payment['id']}/allocate", {}),
        ("POST", f"{o}/parties", {"company_id": b.company_id, "name": "Spy"}),
        (
            "POST",
            f"{o}/invoices",
            {
                "company_id": b.company_id,
                "party_id": globex["id"],
                "date": "2026-03-03",
                "lines": [{"description": "x", "unit_price": "1"}],
            },
        ),
        (
            "POST",
            f"{o}/payments",
            {
                "company_id": b.company_id,
                "party_id": globex["id"],
                "direction": "received",
                "date": "2026-03-03",
                "amount": "1",
            },
        ),
    ]
    for method, path, body in writes:
        answer = await other.request(method, path, json=None if method == "DELETE" else body)
        assert answer.status_code == 404, (method, path, answer.text)
    assert (await b.get(f"/invoices/{draft['id']}"))["state"] == "draft"
    assert (await b.get(f"/parties/{globex['id']}"))["name"] == "Globex"


# -- invariants under random streams ------------------------------------------------------------

DAYS = [dt.date(2026, 6, d) for d in (1, 3, 5, 15, 18, 21)]


@pytest.fixture
async def streams(world: World) -> World:
    """One tenant for every example; each example books into a company of its own."""
    await world.tenant("acme")
    return world


operation = st.one_of(
    st.tuples(
        st.just("invoice"),
        st.integers(0, 1),  # party
        st.integers(1, 50_000),  # cents
        st.sampled_from(["EUR", "USD"]),
        st.sampled_from(["immediate", "30-70", "net30"]),
        st.sampled_from(DAYS),
    ),
    st.tuples(
        st.just("pay"),
        st.integers(0, 1),
        st.sampled_from(["oldest", "half", "full", "over"]),
        st.sampled_from([D("0.3"), D("0.5"), D(1), D("1.5")]),  # of what is open, when paying oldest first
        st.integers(0, 5000),  # cents over, when over-paying
        st.sampled_from(DAYS),
    ),
    st.tuples(st.just("unallocate"), st.integers(0, 10)),
)


async def _pay(access: Any, company: str, parties: list[str], op: tuple[Any, ...]) -> str | None:
    """A payment from the first party (the chosen one, else the other) with open invoices, in the
    currency of one of them: oldest first for a share of what is open, or allocated by hand (half
    or all of each open invoice, or all and more)."""
    _, who, mode, share, extra, day = op
    documents: list[Invoice] = []
    party = parties[who]
    for party in (parties[who], *parties):
        for currency in ("EUR", "USD"):
            documents = list(await repo.open_documents(access.session, company, party, "invoice", currency))
            if documents:
                break
        if documents:
            break
    currency = documents[0].currency if documents else "EUR"
    found = await service.figures(access, documents)
    open_amounts = {d.id: found[d.id].residual for d in documents}
    allocations = None
    if mode == "oldest":
        amount = max(D("0.01"), (sum(open_amounts.values(), D(0)) * share).quantize(D("0.01")))
    else:
        allocations = [
            AllocationIn(invoice_id=i, amount=max(D("0.01"), (a / 2).quantize(D("0.01"))) if mode == "half" else a)
            for i, a in open_amounts.items()
        ]
        amount = sum((a.amount for a in allocations), D(0)) + (D(extra).scaleb(-2) if mode == "over" else 0)
        if amount == 0:
            return None
    payment = PaymentCreate(
        company_id=company,
        party_id=party,
        direction="received",
        date=day,
        amount=amount,
        currency=currency,
        allocations=allocations,
    )
    return (await payments_service.create_payment(access, payment)).id


async def _run_stream(access: Any, company: str, parties: list[str], ops: list[tuple[Any, ...]]) -> None:
    payments: list[str] = []
    for op in ops:
        if op[0] == "invoice":
            _, who, cents, currency, terms, day = op
            await service.create_document(
                access,
                service.SALES,
                DocumentCreate(
                    company_id=company,
                    party_id=parties[who],
                    date=day,
                    currency=currency,
                    payment_terms=terms,
                    lines=[DocumentLineIn(description="goods", unit_price=D(cents).scaleb(-2))],
                    post=True,
                ),
            )
        elif op[0] == "pay":
            made = await _pay(access, company, parties, op)
            if made is not None:
                payments.append(made)
        elif payments:
            payment_id = payments[op[1] % len(payments)]
            if await repo.allocations_of(access.session, payment_id=payment_id, active=True):
                await payments_service.unallocate(access, payment_id, PaymentUnallocate())


@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(operation, min_size=6, max_size=20))
async def test_random_invoices_and_payments_keep_the_ledger_and_the_open_items_in_step(
    streams: World, ops: list[tuple[Any, ...]]
) -> None:
    world = streams
    note(f"operations: {ops}")
    async with acting(world.rt, "acme") as access:
        company = (
            await ledger.create_company(
                access, CompanyCreate(name=f"Stream {uuid.uuid4().hex[:8]}", base_currency="EUR", chart_template="ifrs")
            )
        ).id
        await ledger.add_rates(
            access,
            company,
            [("USD", dt.date(2026, 6, 1), D("1.10")), ("USD", dt.date(2026, 6, 15), D("1.0537"))],
            "manual",
        )
        parties = [
            (await service.create_party(access, PartyCreate(company_id=company, name=f"Customer {n}"))).id
            for n in range(2)
        ]
        await _run_stream(access, company, parties, ops)

        book = await posting.books(access.session, company)
        receivable = book.account_of_kind(AccountKind.receivable).id
        for party in parties:
            items = (
                await access.session.scalars(
                    select(OpenItem).where(OpenItem.party_id == party, OpenItem.account_id == receivable)
                )
            ).all()
            lines = (
                await access.session.scalars(select(Line).where(Line.account_id == receivable, Line.party_id == party))
            ).all()
            ledger_balance = sum((x.debit - x.credit for x in lines), D(0))
            assert sum((i.residual for i in items), D(0)) == ledger_balance, party
            balance = await service.party_balance(access, party)
            assert balance.receivable == ledger_balance
        all_lines = (await access.session.scalars(select(Line).where(Line.company_id == company))).all()
        assert sum((x.debit for x in all_lines), D(0)) == sum((x.credit for x in all_lines), D(0))
        balances = (await access.session.scalars(select(Balance).where(Balance.company_id == company))).all()
        assert sum((x.debit - x.credit for x in balances), D(0)) == 0
        invoices = (await access.session.scalars(select(Invoice).where(Invoice.company_id == company))).all()
        found = await service.figures(access, invoices)
        for invoice in invoices:
            # an invoice's own lines never go below zero: over-payments stay on the payment's lines
            assert all(x.residual_currency >= 0 and x.residual >= 0 for x in found[invoice.id].lines)
            assert 0 <= found[invoice.id].residual <= invoice.total
            paid_off = found[invoice.id].residual == 0
            assert paid_off == (found[invoice.id].residual_company == 0)
        payments = (await access.session.scalars(select(Payment).where(Payment.company_id == company))).all()
        paid = await service.figures(access, payments)
        for payment in payments:
            assert all(x.residual_currency <= 0 and x.residual <= 0 for x in paid[payment.id].lines)
        assert (await verify(access.session, company)).intact
