"""Bank reconciliation in a real browser: a Finance Admin whose company has a posted customer invoice
referenced INV-2026-0001 over 1,500.00 adds the bank account, uploads the sample CAMT.053 statement
through the file input, opens it, finds that invoice suggested on top for the 1,500.00 line with its
score and reasons, accepts it (the line is redrawn in place through HTMX), then finds the invoice
paid and the trial balance moved: the bank up by 1,500.00, the receivable down by as much.

The company, its customer and the invoice are made through the API as the Finance Admin (the same
services the console calls); the Finance Admin joins the demo tenant as in the ledger's test."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from atrium.apps.finance import charts
from tests.browser.support import Server, sign_in
from tests.browser.test_finance_ledger import PASSWORD, _invite_and_join

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

CFO = "treasury@demo.example"
COMPANY = "Browser Bank GmbH"
TEMPLATE = "de_skr03"
STATEMENT = Path(__file__).resolve().parents[1] / "apps" / "finance" / "files" / "statement.camt053.xml"
API = "/api/v1/tenants/demo/finance"
YEAR = ("2026-01-01", "2026-12-31")


def _first_of(kind: charts.AccountKind) -> str:
    return next(a.code for a in charts.TEMPLATES[TEMPLATE].by_kind(kind))


def _books_with_an_invoice(server: Server) -> tuple[str, str]:
    """The company, its customer and two posted invoices of 1,500.00 (only the first one's reference
    is in the statement), through the API; the company's id and the first invoice's number."""
    with httpx.Client(base_url=server.url, timeout=30) as api:
        assert api.post("/api/v1/auth/login", json={"email": CFO, "password": PASSWORD}).status_code == 200

        def made(path: str, body: dict[str, Any]) -> dict[str, Any]:
            response = api.post(f"{API}{path}", json=body)
            assert response.status_code == 201, response.text
            return dict(response.json())

        company = made("/companies", {"name": COMPANY, "base_currency": "EUR", "chart_template": TEMPLATE})
        customer = made(
            "/parties",
            {"company_id": company["id"], "name": "Müller Maschinenbau GmbH", "ibans": ["DE89370400440532013000"]},
        )

        def invoice(reference: str, day: str) -> dict[str, Any]:
            return made(
                "/invoices",
                {
                    "company_id": company["id"],
                    "party_id": customer["id"],
                    "date": day,
                    "payment_terms": "net14",
                    "reference": reference,
                    "lines": [{"description": "Spindle overhaul", "quantity": "1", "unit_price": "1500.00"}],
                    "post": True,
                },
            )

        named = invoice("INV-2026-0001", "2026-01-02")
        invoice("INV-2026-0099", "2026-01-03")  # the same customer and amount, named nowhere in the file
        assert named["status"] == "open" and named["total"] == "1500.00"
        return str(company["id"]), str(named["number"])


def _trial_balance(page: Page) -> None:
    """Open the trial balance of the company's 2026 from the finance navigation."""
    from playwright.sync_api import expect

    page.get_by_role("navigation", name="Finance").get_by_role("link", name="Reports").click()
    page.locator("#report-list").get_by_role("link", name="Trial balance").click()
    inputs = page.locator("#report-inputs")
    inputs.get_by_label("From", exact=True).fill(YEAR[0])
    inputs.get_by_label("To", exact=True).fill(YEAR[1])
    inputs.get_by_role("button", name="Show").click()
    expect(page.locator("#report-subtitle")).to_contain_text(f"{YEAR[0]} to {YEAR[1]}")


def test_a_finance_admin_reconciles_a_statement_line_with_its_invoice(
    page: Page, server: Server, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    bank, receivable = _first_of(charts.AccountKind.bank), _first_of(charts.AccountKind.receivable)
    _invite_and_join(server, CFO, "Finance Admin")
    company_id, number = _books_with_an_invoice(server)
    sign_in(page, CFO, PASSWORD, f"/t/demo/finance/{company_id}")
    expect(page).to_have_url(re.compile(rf"/t/demo/finance/{company_id}$"))
    finance = page.get_by_role("navigation", name="Finance")

    # before: both invoices are open on the receivable, nothing is on the bank
    _trial_balance(page)
    expect(page.locator(f'#trial-balance tr.tb-row[data-code="{receivable}"] td.closing')).to_have_text("3,000.00")
    expect(page.locator(f'#trial-balance tr.tb-row[data-code="{bank}"]')).to_have_count(0)

    # the bank account, then the statement through the file input
    finance.get_by_role("link", name="Bank").click()
    expect(page).to_have_url(re.compile(rf"/t/demo/finance/{company_id}/bank$"))
    form = page.locator("#bank-account-form")
    form.get_by_label("Name").fill("Sparkasse")
    form.get_by_label("IBAN").fill("DE44 5001 0517 5407 3249 31")
    form.get_by_role("button", name="Add bank account").click()
    expect(page.locator(".flash-success")).to_contain_text("Sparkasse is added")
    expect(page.locator("#bank-accounts tr.bank-account")).to_have_count(1)
    upload = page.locator("#statement-form")
    upload.locator('input[type="file"]').set_input_files(str(STATEMENT))
    upload.get_by_role("button", name="Import statement").click()
    expect(page.locator(".flash-success")).to_have_text("statement.camt053.xml: 7 lines imported.")
    expect(page).to_have_url(re.compile(r"/bank/statements/[^/]+$"))
    expect(page.locator("tbody.bank-line")).to_have_count(7)

    # the 1,500.00 line: the invoice named in its text comes first, with its score and reasons
    line = page.locator('tbody.bank-line[data-amount="1500.00"]')
    expect(line.locator(".line-text")).to_contain_text("Rechnung INV-2026-0001")
    expect(line.locator(".line-state")).to_have_text("open")
    top = line.locator("li.suggestion").first
    expect(top.locator(".item-reference")).to_have_text(f"{number} · INV-2026-0001")
    expect(top.locator(".item-party")).to_have_text("Müller Maschinenbau GmbH")
    expect(top.locator(".item-open")).to_have_text("1,500.00 EUR")
    expect(top.locator(".score")).to_have_text(re.compile(r"^\d+(\.\d)?$"))
    expect(top.locator('li.reason[data-name="reference"]')).to_contain_text("INV-2026-0001")
    expect(top.locator('li.reason[data-name="amount"]')).to_be_visible()
    scores = [float(s or 0) for s in line.locator("li.suggestion").evaluate_all("els => els.map(e => e.dataset.score)")]
    assert len(scores) >= 2 and scores[0] > scores[1] and scores == sorted(scores, reverse=True)
    assert float(top.locator(".score").inner_text()) == pytest.approx(scores[0], abs=0.05)
    page.screenshot(path=str(tmp_path / "statement.png"), full_page=True)

    # accepted: the line is redrawn in place, reconciled and booked
    top.get_by_role("button", name="Accept").click()
    expect(line).to_have_attribute("data-state", "reconciled")
    expect(line.locator(".line-notice")).to_have_text("Line 1 (1,500.00 EUR) is reconciled.")
    expect(line.locator("li.suggestion")).to_have_count(0)
    expect(line.locator(".line-entry")).to_have_text(re.compile(r"^BNK/2026/\d+$"))
    expect(line.get_by_role("button", name="Undo")).to_be_visible()

    # the invoice is paid
    finance.get_by_role("link", name="Invoices").click()
    row = page.locator(f'#documents tr.document[data-number="{number}"]')
    expect(row.locator(".status")).to_have_text("paid")
    row.get_by_role("link", name=number).click()
    expect(page.locator("#document-status")).to_have_text("paid")
    expect(page.locator("#residual")).to_have_text("0.00")
    expect(page.locator("#paid")).to_have_text("1,500.00")
    expect(page.locator("#payment-form")).to_have_count(0)

    # after: the bank is up by 1,500.00 and the receivable down by as much
    _trial_balance(page)
    bank_row = page.locator(f'#trial-balance tr.tb-row[data-code="{bank}"]')
    expect(bank_row.locator("td.debit")).to_have_text("1,500.00")
    expect(bank_row.locator("td.closing")).to_have_text("1,500.00")
    receivable_row = page.locator(f'#trial-balance tr.tb-row[data-code="{receivable}"]')
    expect(receivable_row.locator("td.credit")).to_have_text("1,500.00")
    expect(receivable_row.locator("td.closing")).to_have_text("1,500.00")
    expect(page.locator("#tb-balanced")).to_have_text("balanced")
    page.screenshot(path=str(tmp_path / "trial-balance.png"), full_page=True)
