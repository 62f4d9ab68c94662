"""The ledger in a real browser: a Finance Admin creates a company from the IFRS chart in the console,
reads an empty trial balance, writes an entry in the new-entry form (the running difference follows
the typing and the "Add line" button adds a line, both through HTMX), posts it, and finds the trial
balance changed by exactly that entry.

The Finance Admin joins the demo tenant the way an operator would set them up: the platform
administrator invites them through the API and they accept with a password (the code comes from
the SMTP sink)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from atrium.apps.finance import charts
from tests.browser.support import Server, sign_in

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

PASSWORD = "ledger lanterns glow at noon"
CFO = "books@demo.example"
COMPANY = "Browser Books Ltd"
YEAR = ("2026-01-01", "2026-12-31")


def _invite_and_join(server: Server, email: str, role: str) -> None:
    """The platform administrator invites ``email`` to the demo tenant; the invitee accepts."""
    with httpx.Client(base_url=server.url, timeout=30) as api:
        signed_in = api.post("/api/v1/auth/login", json={"email": server.email, "password": server.password})
        assert signed_in.status_code == 200, signed_in.text
        invited = api.post("/api/v1/tenants/demo/invitations", json={"email": email, "role": role})
        assert invited.status_code == 201, invited.text
    code = re.search(r"Invitation code: (\S+)", server.mail.take(email, "invited").body)
    assert code
    with httpx.Client(base_url=server.url, timeout=30) as api:
        joined = api.post(
            "/api/v1/auth/invitations/accept",
            json={"token": code.group(1), "password": PASSWORD, "accept_terms": True},
        )
        assert joined.status_code == 200, joined.text


def _first_of(kind: charts.AccountKind) -> str:
    template = charts.TEMPLATES["ifrs"]
    return next(a.code for a in template.by_kind(kind))


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


def test_a_finance_admin_posts_an_entry_and_the_trial_balance_moves(page: Page, server: Server, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    bank, equity = _first_of(charts.AccountKind.bank), _first_of(charts.AccountKind.equity)
    _invite_and_join(server, CFO, "Finance Admin")
    sign_in(page, CFO, PASSWORD, "/t/demo")
    expect(page).to_have_url(re.compile(r"/t/demo$"))

    # the company, from the IFRS template
    page.get_by_role("navigation", name="Tenant").get_by_role("link", name="Finance").click()
    expect(page).to_have_url(re.compile(r"/t/demo/finance$"))
    form = page.locator("#company-form")
    form.get_by_label("Company name").fill(COMPANY)
    form.get_by_label("Currency").fill("EUR")
    form.get_by_label("Fiscal year starts in").select_option(label="January")
    form.get_by_label("Chart of accounts").select_option("ifrs")
    form.get_by_role("button", name="Create company").click()
    template = charts.TEMPLATES["ifrs"]
    expect(page.locator(".flash-success")).to_have_text(f"{COMPANY} is created with the {template.name} chart.")
    expect(page.locator("#chart tr.account")).to_have_count(len(template.accounts))

    # before: nothing posted
    _trial_balance(page)
    expect(page.locator("#trial-balance tr.tb-row")).to_have_count(0)
    expect(page.locator("#tb-total td.debit")).to_have_text("0.00")

    # the entry: the difference follows the typing, a third line comes from "Add line"
    page.get_by_role("navigation", name="Finance").get_by_role("link", name="Journal entries").click()
    page.get_by_role("link", name="New entry").click()
    entry = page.locator("#entry-form")
    entry.get_by_label("Date", exact=True).fill("2026-03-01")
    entry.get_by_label("Memo").fill("Capital paid in")
    lines = entry.locator("#entry-lines tr.line")
    expect(lines).to_have_count(2)
    lines.nth(0).get_by_label("Account").select_option(bank)
    lines.nth(0).get_by_label("Debit").fill("1234.56")
    difference = page.locator("#entry-difference .difference-amount")
    expect(difference).to_have_text("1,234.56")
    entry.get_by_role("button", name="Add line").click()
    expect(lines).to_have_count(3)
    lines.nth(1).get_by_label("Account").select_option(equity)
    lines.nth(1).get_by_label("Credit").fill("1000")
    expect(difference).to_have_text("234.56")
    lines.nth(2).get_by_label("Account").select_option(equity)
    lines.nth(2).get_by_label("Credit").fill("234.56")
    lines.nth(2).get_by_label("Label").fill("Share premium")
    expect(difference).to_have_text("0.00")
    expect(page.locator("#entry-difference")).to_contain_text("balanced")
    page.screenshot(path=str(tmp_path / "new-entry.png"), full_page=True)
    entry.get_by_role("button", name="Post entry").click()
    expect(page.locator(".flash-success")).to_have_text("GEN/2026/00001 is posted.")
    expect(page.locator("#entry-state")).to_have_text("posted")
    expect(page.locator("#lines tr.entry-line")).to_have_count(3)

    # after: the trial balance carries the entry, and still balances
    _trial_balance(page)
    expect(page.locator(f'#trial-balance tr.tb-row[data-code="{bank}"] td.debit')).to_have_text("1,234.56")
    expect(page.locator(f'#trial-balance tr.tb-row[data-code="{equity}"] td.credit')).to_have_text("1,234.56")
    expect(page.locator("#tb-total td.debit")).to_have_text("1,234.56")
    expect(page.locator("#tb-total td.credit")).to_have_text("1,234.56")
    expect(page.locator("#tb-balanced")).to_have_text("balanced")
    page.screenshot(path=str(tmp_path / "trial-balance.png"), full_page=True)

    # a figure leads to its ledger, and the ledger line to the entry
    page.locator(f'#trial-balance tr.tb-row[data-code="{bank}"] td.debit a').click()
    expect(page.locator("#ledger-closing")).to_have_text("1,234.56")
    page.locator("#general-ledger tr.ledger-line").get_by_role("link", name="GEN/2026/00001").click()
    expect(page.locator("#entry-number")).to_have_text("GEN/2026/00001")
