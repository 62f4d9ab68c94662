"""The finance console's bank and invoice pages over HTTP, forms posted as a browser posts them
(the page first, its CSRF token, then the form): a bank account added, the sample CAMT.053
statement uploaded, its lines shown with ranked suggestions (score and reasons), one accepted and
undone (plainly and through HTMX), a fee posted to an account, a split that does not add up
refused; a malformed file refused naming its line with nothing imported; a CSV mapping saved and
used. Invoices drafted, refused naming the line, posted and paid through the forms; parties with
IBANs; the aged receivables and their download. Another tenant finds none of it, a member without
finance permissions neither, and an auditor reads without being offered a button."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from atrium.apps.finance.banking.models import Statement, StatementLine
from atrium.apps.finance.jobs import acting
from atrium.apps.finance.models import Account, Balance, Entry
from atrium.apps.finance.receivables.models import Invoice, Payment
from tests.platform.access.conftest import World, world
from tests.web.test_console_finance import _company, _flashes, _follow, _page, _post, _text

__all__ = ["world"]

CFO, AUDITOR, MEMBER, OTHER = "cfo@acme.example", "auditor@acme.example", "member@acme.example", "cfo@other.example"
F = "/t/acme/finance"
FILES = Path(__file__).resolve().parents[1] / "apps" / "finance" / "files"
IBAN = "DE44500105175407324931"
CUSTOMER, CUSTOMER_IBAN = "Müller Maschinenbau GmbH", "DE89 3704 0044 0532 0130 00"


async def _acme(world: World) -> tuple[str, httpx.AsyncClient]:
    tenant_id = await world.tenant("acme")
    await world.person(CFO, tenant_id, "Finance Admin")
    return tenant_id, await world.login(CFO)


async def _count(world: World, model: Any) -> int:
    async with acting(world.rt, "acme") as access:
        return int(await access.session.scalar(select(func.count()).select_from(model)) or 0)


async def _balance(world: World, company_id: str, code: str) -> Decimal:
    """An account's balance (debit minus credit) from the ledger's balances."""
    async with acting(world.rt, "acme") as access:
        total = await access.session.scalar(
            select(func.sum(Balance.debit - Balance.credit))
            .join(Account, Account.id == Balance.account_id)
            .where(Account.company_id == company_id, Account.code == code)
        )
    return Decimal(total or 0).quantize(Decimal("0.01"))


async def _party(cfo: httpx.AsyncClient, company_url: str, name: str, ibans: str = "", **role: str) -> str:
    """A customer (or, with ``is_vendor``, a vendor) added through the parties form; its id."""
    _, csrf = await _page(cfo, f"{company_url}/parties")
    roles = role or {"is_customer": "on"}
    added = await _post(cfo, f"{company_url}/parties", csrf, name=name, ibans=ibans, **roles)
    page, _ = await _follow(cfo, added)
    assert _flashes(page) == [f"{name} is added."]
    form, _ = await _page(cfo, f"{company_url}/invoices/new" if "is_customer" in roles else f"{company_url}/bills/new")
    found = re.search(rf'<option value="([^"]+)"\s*>{re.escape(name)}</option>', form)
    assert found, form[:2000]
    return found.group(1)


def _document_lines(*lines: tuple[str, str, str, str, str]) -> list[tuple[str, str]]:
    """The new-document form's line fields: description, quantity, unit price, account, tax rate."""
    pairs: list[tuple[str, str]] = []
    for description, quantity, price, account, rate in lines:
        pairs += [
            ("description", description),
            ("quantity", quantity),
            ("unit_price", price),
            ("account", account),
            ("tax_rate", rate),
        ]
    return pairs


async def _invoice(
    cfo: httpx.AsyncClient, company_url: str, party_id: str, reference: str, amount: str, *, day: str = "2026-01-02"
) -> str:
    """A posted invoice of one untaxed line, through the form; its page's URL."""
    _, csrf = await _page(cfo, f"{company_url}/invoices/new")
    posted = await _post(
        cfo,
        f"{company_url}/invoices",
        csrf,
        _document_lines(("Machine parts", "1", amount, "", "")),
        party_id=party_id,
        date=day,
        reference=reference,
        action="post",
    )
    assert posted.status_code == 303, _flashes(posted.text)
    return str(posted.headers["location"])


async def _bank_account(cfo: httpx.AsyncClient, company_url: str, name: str, iban: str = "") -> str:
    page, csrf = await _page(cfo, f"{company_url}/bank")
    added = await _post(cfo, f"{company_url}/bank/accounts", csrf, name=name, iban=iban, currency="", account="")
    page, _ = await _follow(cfo, added)
    assert _flashes(page)[0].startswith(f"{name} is added; its lines post through the BNK")
    found = re.search(rf'<details class="add mapping" id="mapping-([^"]+)"\s*>\s*<summary>{re.escape(name)}<', page)
    assert found, page[:3000]
    return found.group(1)


def _line(page: str, amount: str) -> str:
    """The part of the statement page (or the HTMX fragment) that shows the line of ``amount``."""
    parts = re.split(r'(?=<tbody class="bank-line")', page.split('<table class="table bank-lines">')[-1])
    found = [p for p in parts if p.startswith('<tbody class="bank-line"') and f'data-amount="{amount}"' in p[:300]]
    assert len(found) == 1, f"no line of {amount}"
    return found[0]


def _suggestions(line: str) -> list[str]:
    return re.findall(r'<li class="suggestion".*?</li>\s*(?=<li class="suggestion"|</ol>)', line, re.S)


async def test_a_statement_is_uploaded_matched_accepted_and_undone(world: World) -> None:
    _, cfo = await _acme(world)
    company_id, k = await _company(cfo, "Acme GmbH", "de_skr03")
    company_url = f"{F}/{company_id}"
    customer = await _party(cfo, company_url, CUSTOMER, CUSTOMER_IBAN)
    invoice_url = await _invoice(cfo, company_url, customer, "INV-2026-0001", "1500.00")
    await _invoice(cfo, company_url, customer, "INV-2026-0003", "1500.00")  # same amount, named nowhere
    invoice, _ = await _page(cfo, invoice_url)
    number = re.search(r'id="document-number">([^<]+)<', invoice)
    assert number is not None and 'id="document-status">open<' in invoice
    number_text = number.group(1)

    # the bank page: no account yet, one added, the statement uploaded through the form
    page, csrf = await _page(cfo, f"{company_url}/bank")
    assert "No bank account yet" in page and 'id="statement-form"' not in page
    assert f'href="{company_url}/bank" aria-current="page"' in page
    await _bank_account(cfo, company_url, "Sparkasse", "DE44 5001 0517 5407 3249 31")
    page, csrf = await _page(cfo, f"{company_url}/bank")
    assert f'<td class="mono">{IBAN}</td>' in page and 'id="statement-form"' in page
    sample = (FILES / "statement.camt053.xml").read_bytes()
    uploaded = await _post(
        cfo, f"{company_url}/bank/statements", csrf, file=("statement.camt053.xml", sample, "text/xml")
    )
    page, csrf = await _follow(cfo, uploaded)
    statement_url = uploaded.headers["location"]
    assert _flashes(page) == ["statement.camt053.xml: 7 lines imported."]
    assert len(re.findall(r'<tbody class="bank-line"', page)) == 7
    assert 'id="open-count">7<' in page

    # the 1,500.00 line: the invoice named in its text on top, with its score and reasons
    line = _line(page, "1500.00")
    assert CUSTOMER in line and "Rechnung INV-2026-0001" in line and '<td class="num amount">1,500.00</td>' in line
    suggestions = _suggestions(line)
    assert len(suggestions) >= 2
    best = suggestions[0]
    assert f"{number_text} · INV-2026-0001" in _text(best) and CUSTOMER in best and "1,500.00 EUR" in best
    scores = [float(s) for s in re.findall(r'<li class="suggestion" data-score="([\d.]+)"', line)]
    assert scores == sorted(scores, reverse=True) and scores[0] > scores[1]
    assert re.search(r'<span class="score" title="Score out of 100">\d+(\.\d)?</span>', best)
    assert 'role="meter"' in best
    reasons = dict(re.findall(r'<li class="reason" data-name="(\w+)">.*?<span class="points">\+([\d.]+)</span>', best))
    assert {"amount", "reference"} <= set(reasons)
    assert abs(sum(float(p) for p in reasons.values()) - scores[0]) < 0.2
    assert "INV-2026-0001" in _text(re.search(r'data-name="reference">.*?</li>', best, re.S).group(0))  # type: ignore[union-attr]
    line_id = re.search(r'id="line-([^"]+)"', line).group(1)  # type: ignore[union-attr]
    item_ids = re.findall(r'name="item_id" value="([^"]+)"', best)

    # accepted (a plain form): reconciled, booked in the bank journal, the invoice paid
    bank_code = k["bank"]
    before = await _balance(world, company_id, bank_code)
    accepted = await _post(cfo, f"{company_url}/bank/lines/{line_id}/accept", csrf, [("item_id", i) for i in item_ids])
    assert accepted.status_code == 303 and accepted.headers["location"] == f"{statement_url}#line-{line_id}"
    page, csrf = await _follow(cfo, accepted)
    assert _flashes(page) == ["Line 1 (1,500.00 EUR) is reconciled."]
    line = _line(page, "1500.00")
    assert 'data-state="reconciled"' in line and "<ol" not in line and "Undo" in line
    booked = re.search(r'class="line-entry">(BNK/2026/\d+)<', line)
    assert booked is not None
    assert await _balance(world, company_id, bank_code) == before + Decimal("1500.00")
    assert await _balance(world, company_id, k["receivable"]) == Decimal("1500.00")  # the other invoice
    invoice, _ = await _page(cfo, invoice_url)
    assert 'id="document-status">paid<' in invoice and 'id="residual">0.00<' in invoice
    assert 'id="paid">1,500.00<' in invoice and 'id="settled-elsewhere"' in invoice
    assert 'id="payment-form"' not in invoice
    twice = await _post(cfo, f"{company_url}/bank/lines/{line_id}/accept", csrf, [("item_id", i) for i in item_ids])
    page, csrf = await _follow(cfo, twice)
    assert _flashes(page) == ["this statement line is already reconciled; undo that first"]

    # undone through HTMX: the line comes back open, in place, with its suggestions
    undone = await cfo.post(
        f"{company_url}/bank/lines/{line_id}/undo",
        data={"csrf_token": csrf},
        headers={"accept": "text/html", "hx-request": "true"},
    )
    assert undone.status_code == 200 and "<html" not in undone.text
    assert undone.text.strip().startswith(f'<tbody class="bank-line" id="line-{line_id}"')
    assert 'data-state="open"' in undone.text and "Line 1 is open again; its entry is reversed." in undone.text
    assert _suggestions(undone.text)[0].count(number_text) == 1
    assert await _balance(world, company_id, bank_code) == before
    invoice, _ = await _page(cfo, invoice_url)
    assert 'id="document-status">open<' in invoice and 'id="residual">1,500.00<' in invoice

    # accepted again through HTMX: the fragment shows it reconciled
    again = await cfo.post(
        f"{company_url}/bank/lines/{line_id}/accept",
        data={"csrf_token": csrf, "item_id": item_ids},
        headers={"accept": "text/html", "hx-request": "true"},
    )
    assert again.status_code == 200 and 'data-state="reconciled"' in again.text
    assert "Line 1 (1,500.00 EUR) is reconciled." in again.text
    refused = await cfo.post(
        f"{company_url}/bank/lines/{line_id}/accept",
        data={"csrf_token": csrf, "item_id": item_ids},
        headers={"accept": "text/html", "hx-request": "true"},
    )
    assert 'class="flash flash-error line-notice"' in refused.text and "already reconciled" in refused.text

    # the bank fee goes to an expense account; a split that does not add up is refused
    page, csrf = await _page(cfo, statement_url)
    fee_id = re.search(r'id="line-([^"]+)"', _line(page, "-12.50")).group(1)  # type: ignore[union-attr]
    short = await _post(
        cfo,
        f"{company_url}/bank/lines/{fee_id}/split",
        csrf,
        [
            ("account", k["expense"]),
            ("amount", "-10.00"),
            ("label", "Fees"),
            ("account", ""),
            ("amount", ""),
            ("label", ""),
        ],
    )
    page, csrf = await _follow(cfo, short)
    assert re.fullmatch(
        r"the counterparts add up to -10\.0+, the line is -12\.50*: .* add an account for the rest", _flashes(page)[0]
    )
    wrong_sign = await _post(
        cfo, f"{company_url}/bank/lines/{fee_id}/split", csrf, account=k["expense"], amount="12.50"
    )
    page, csrf = await _follow(cfo, wrong_sign)
    assert "opposite sign" in _flashes(page)[0]
    expense_before = await _balance(world, company_id, k["expense"])
    split = await _post(
        cfo,
        f"{company_url}/bank/lines/{fee_id}/split",
        csrf,
        [
            ("account", k["expense"]),
            ("amount", "-10.00"),
            ("label", "Fees"),
            ("account", k["expense"]),
            ("amount", ""),
            ("label", ""),
        ],
    )
    page, _ = await _follow(cfo, split)
    assert re.fullmatch(r"Line 5 \(-12\.50 EUR\) is posted by BNK/2026/\d+\.", _flashes(page)[0])
    assert await _balance(world, company_id, k["expense"]) == expense_before + Decimal("12.50")
    assert 'id="open-count">5<' in page

    # the statement list counts lines and open ones; the same file again imports nothing
    listed, csrf = await _page(cfo, f"{company_url}/bank")
    row = re.search(r'<tr class="statement" data-file="statement.camt053.xml">(.*?)</tr>', listed, re.S)
    assert row is not None
    assert re.findall(r'class="num (?:lines-imported|duplicates|open-lines)">(\d+)<', row.group(1)) == ["7", "0", "5"]
    again_file = await _post(
        cfo, f"{company_url}/bank/statements", csrf, file=("statement.camt053.xml", sample, "text/xml")
    )
    page, _ = await _follow(cfo, again_file)
    assert _flashes(page) == ["statement.camt053.xml: 0 lines imported; 7 already imported before were skipped."]
    assert await _count(world, StatementLine) == 7


async def test_a_malformed_statement_names_its_line_and_imports_nothing(world: World) -> None:
    _, cfo = await _acme(world)
    company_id, _ = await _company(cfo, "Acme GmbH", "de_skr03")
    company_url = f"{F}/{company_id}"
    await _bank_account(cfo, company_url, "Sparkasse", IBAN)
    _, csrf = await _page(cfo, f"{company_url}/bank")
    bad = (FILES / "statement.baddate.camt053.xml").read_bytes()
    refused = await _post(cfo, f"{company_url}/bank/statements", csrf, file=("statement.camt053.xml", bad, "text/xml"))
    assert refused.status_code == 422
    assert _flashes(refused.text) == ["line 126: bad date '2026-13-01' in BookgDt"]
    problem = re.search(
        r'<div class="statement-problem" id="statement-problem" role="alert" data-line="(\d+)">(.*?)</div>',
        refused.text,
        re.S,
    )
    assert problem is not None and problem.group(1) == "126"
    assert "The file was refused and nothing was imported." in _text(problem.group(2))
    assert "booked_on" in problem.group(2) and "2026-13-01" in _text(problem.group(2))
    truncated = (FILES / "statement.truncated.camt053.xml").read_bytes()
    refused = await _post(cfo, f"{company_url}/bank/statements", csrf, file=("cut.xml", truncated, "text/xml"))
    assert refused.status_code == 422 and 'data-line="151"' in refused.text
    assert (
        await _count(world, Statement) == 0
        and await _count(world, StatementLine) == 0
        and await _count(world, Entry) == 0
    )

    # a CSV export needs its bank account's column mapping: refused without one, read with one
    csv_bank = await _bank_account(cfo, company_url, "Stadtsparkasse")
    csv_file = (FILES / "statement.csv").read_bytes()
    refused = await _post(
        cfo, f"{company_url}/bank/statements", csrf, file=("konto.csv", csv_file, "text/csv"), bank_account_id=csv_bank
    )
    assert refused.status_code == 422 and _flashes(refused.text) == [
        "save a CSV column mapping for Stadtsparkasse first"
    ]
    mapping = {
        "date_column": "Buchungstag",
        "date_format": "%d.%m.%Y",
        "debit_column": "Soll",
        "credit_column": "Haben",
        "text_columns": "Verwendungszweck",
        "counterparty_column": "Auftraggeber/Empfänger",
        "iban_column": "IBAN",
        "reference_column": "Kundenreferenz",
        "currency_column": "Währung",
        "delimiter": ";",
        "decimal_separator": ",",
        "thousands_separator": ".",
        "skip_rows": "4",
    }
    wrong = await _post(
        cfo, f"{company_url}/bank/accounts/{csv_bank}/mapping", csrf, **{**mapping, "amount_column": "Betrag"}
    )
    assert wrong.status_code == 422
    assert _flashes(wrong.text) == ["use either an amount column or debit and credit columns, not both"]
    assert 'id="mapping-problem"' in wrong.text and 'value="Betrag"' in wrong.text  # what was typed stays
    saved = await _post(cfo, f"{company_url}/bank/accounts/{csv_bank}/mapping", csrf, **mapping)
    page, csrf = await _follow(cfo, saved)
    assert _flashes(page) == ["The CSV column mapping of Stadtsparkasse is saved."]
    assert 'value="Auftraggeber/Empfänger"' in page and '<option value=";" selected>' in page
    imported = await _post(
        cfo, f"{company_url}/bank/statements", csrf, file=("konto.csv", csv_file, "text/csv"), bank_account_id=csv_bank
    )
    page, _ = await _follow(cfo, imported)
    assert _flashes(page) == ["konto.csv: 6 lines imported."]
    amounts = re.findall(r'<tbody class="bank-line"[^>]*data-amount="([^"]+)"', page)
    assert amounts[:4] == ["4760.00", "-1190.00", "250.00", "-1234.56"]
    assert "No open invoice, bill or payment looks like this line." in page


async def test_invoices_are_drafted_refused_posted_and_paid_through_the_forms(world: World) -> None:
    _, cfo = await _acme(world)
    company_id, k = await _company(cfo, "Acme GmbH", "de_skr03")
    company_url = f"{F}/{company_id}"
    # a party with a bad IBAN is refused naming it, what was typed stays; then added with two
    _, csrf = await _page(cfo, f"{company_url}/parties")
    bad = await _post(
        cfo, f"{company_url}/parties", csrf, name=CUSTOMER, is_customer="on", ibans=f"{CUSTOMER_IBAN}\nDE00 1234"
    )
    assert bad.status_code == 422 and _flashes(bad.text) == ["IBAN 2 ('DE00 1234') is not a valid IBAN"]
    assert f'value="{CUSTOMER}"' in bad.text
    customer = await _party(cfo, company_url, CUSTOMER, f"{CUSTOMER_IBAN}\nAT61 1904 3002 3457 3201")
    parties, _ = await _page(cfo, f"{company_url}/parties")
    assert "DE89370400440532013000" in parties and "AT611904300234573201" in parties

    form, csrf = await _page(cfo, f"{company_url}/invoices/new")
    assert form.count('<tr class="line">') == 2 and re.search(r'<option value="0.19"\s*>19%</option>', form)
    assert f'hx-get="{company_url}/invoices/line"' in form
    more = await cfo.get(f"{company_url}/invoices/line", headers={"accept": "text/html", "hx-request": "true"})
    assert more.text.strip().startswith('<tr class="line">') and 'name="unit_price"' in more.text

    # refused: line 2 has no price, line 3 an account income lines cannot use; every line kept
    lines = _document_lines(
        ("Consulting", "10", "120.00", "", "0.19"),
        ("Travel", "1", "", "", ""),
        ("Licence", "2", "50", k["bank"], "0.07"),
    )
    refused = await _post(
        cfo, f"{company_url}/invoices", csrf, lines, party_id=customer, date="2026-02-01", action="post"
    )
    assert refused.status_code == 422
    assert _flashes(refused.text) == ["line 2: give the unit price"]
    rows = re.findall(r'<tr class="(line[^"]*)">(.*?)</tr>', refused.text, re.S)
    assert [cls for cls, _ in rows] == ["line", "line line-error", "line"]
    assert 'value="Consulting"' in refused.text and 'value="Licence"' in refused.text
    lines[7] = ("unit_price", "80.00")
    refused = await _post(
        cfo, f"{company_url}/invoices", csrf, lines, party_id=customer, date="2026-02-01", action="post"
    )
    assert refused.status_code == 422 and "line 3: account" in _flashes(refused.text)[0]
    assert [cls for cls, _ in re.findall(r'<tr class="(line[^"]*)">(.*?)</tr>', refused.text, re.S)] == [
        "line",
        "line",
        "line line-error",
    ]
    assert await _count(world, Invoice) == 0

    # saved as a draft, then posted: 10 × 120 + 80 at 19 % and 2 × 50 at 7 %
    lines[13] = ("account", "")
    draft = await _post(
        cfo, f"{company_url}/invoices", csrf, lines, party_id=customer, date="2026-02-01", action="draft"
    )
    page, csrf = await _follow(cfo, draft)
    invoice_url = draft.headers["location"]
    assert _flashes(page) == ["The draft invoice is saved."] and 'id="document-status">draft<' in page
    assert 'id="untaxed">1,380.00<' in page and 'id="total">1,615.00<' in page  # + 19 % of 1,200 + 7 % of 100
    posted = await _post(cfo, f"{invoice_url}/post", csrf)
    page, csrf = await _follow(cfo, posted)
    assert re.fullmatch(r"Invoice SAL/2026/\d+ is posted\.", _flashes(page)[0])
    assert 'id="document-status">open<' in page and 'id="residual">1,615.00<' in page
    assert re.search(
        r'<form method="post" action="[^"]+/payments"[^>]*id="payment-form">.*?name="amount" value="1615.00"',
        page,
        re.S,
    )
    assert "Tax 19% on 1,200.00 228.00" in _text(page) and "Tax 7% on 100.00 7.00" in _text(page)

    # paid in two parts through the register-payment form
    paid = await _post(cfo, f"{invoice_url}/payments", csrf, amount="615.00", date="2026-02-10", bank_account_id="")
    page, csrf = await _follow(cfo, paid)
    assert re.fullmatch(
        r"Payment BNK/2026/\d+ of 615\.00 EUR is registered and applied to SAL/2026/\d+\.", _flashes(page)[0]
    )
    assert 'id="document-status">partially paid<' in page and 'id="residual">1,000.00<' in page
    assert len(re.findall(r'<tr class="settlement">', page)) == 1
    over = await _post(cfo, f"{invoice_url}/payments", csrf, amount="1,200.00", date="2026-02-20", bank_account_id="")
    page, csrf = await _follow(cfo, over)
    assert "200.00 EUR stays open as credit" in _flashes(page)[0]
    assert 'id="document-status">paid<' in page and 'id="residual">0.00<' in page and 'id="payment-form"' not in page
    assert await _count(world, Payment) == 2
    nothing = await _post(cfo, f"{invoice_url}/payments", csrf, amount="1", date="2026-02-21", bank_account_id="")
    page, _ = await _follow(cfo, nothing)
    assert "is paid; nothing is open on it" in _flashes(page)[0] and await _count(world, Payment) == 2

    # the list, filtered by status
    listed, _ = await _page(cfo, f"{company_url}/invoices?status=paid")
    assert re.findall(r'<tr class="document" data-number="([^"]+)" data-status="(\w+)">', listed) == [
        (re.search(r"SAL/2026/\d+", page).group(0), "paid")  # type: ignore[union-attr]
    ]
    none, _ = await _page(cfo, f"{company_url}/invoices?status=open")
    assert "No invoices match the filters." in none

    # a vendor bill, posted at once
    vendor = await _party(cfo, company_url, "Schmidt Bürobedarf KG", is_vendor="on")
    _, csrf = await _page(cfo, f"{company_url}/bills/new")
    bill = await _post(
        cfo,
        f"{company_url}/bills",
        csrf,
        _document_lines(("Paper", "4", "50.00", "", "0.19")),
        party_id=vendor,
        date="2026-01-10",
        reference="SB-88231",
        action="post",
    )
    page, _ = await _follow(cfo, bill)
    assert re.fullmatch(r"Bill PUR/2026/\d+ is posted\.", _flashes(page)[0]) and 'id="total">238.00<' in page
    bills, _ = await _page(cfo, f"{company_url}/bills")
    assert re.findall(r'<tr class="document" data-number="(PUR/2026/\d+)" data-status="open">', bills)
    assert "Schmidt Bürobedarf KG" in bills and f'href="{company_url}/bills/new"' in bills

    # aged receivables: the customer's credit; payables: the bill; and the CSV download
    aged, _ = await _page(cfo, f"{company_url}/aged/receivables?as_of=2026-03-31")
    row = re.search(rf'<tr class="aged-row" data-party="{CUSTOMER}">(.*?)</tr>', aged, re.S)
    assert row is not None and _text(row.group(1)).endswith("-200.00")
    payables, _ = await _page(cfo, f"{company_url}/aged/payables?as_of=2026-03-31")
    total = re.search(r'<tr class="total" id="aged-total">(.*?)</tr>', payables, re.S)
    assert total is not None and _text(total.group(1)).endswith("238.00")
    link = re.search(r'<a href="([^"]+)" class="export-csv" download>', payables)
    assert link is not None
    download = await cfo.get(link.group(1).replace("&amp;", "&"))
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert rows[0][0] == "Party" and any(r and r[0] == "Schmidt Bürobedarf KG" for r in rows)
    await _page(cfo, f"{company_url}/aged/sideways", 404)


async def test_other_tenants_members_and_auditors(world: World) -> None:
    tenant_id, cfo = await _acme(world)
    company_id, _ = await _company(cfo, "Acme GmbH", "de_skr03")
    company_url = f"{F}/{company_id}"
    customer = await _party(cfo, company_url, CUSTOMER, CUSTOMER_IBAN)
    invoice_url = await _invoice(cfo, company_url, customer, "INV-2026-0001", "1500.00")
    await _bank_account(cfo, company_url, "Sparkasse", IBAN)
    _, csrf = await _page(cfo, f"{company_url}/bank")
    sample = (FILES / "statement.camt053.xml").read_bytes()
    uploaded = await _post(cfo, f"{company_url}/bank/statements", csrf, file=("s.xml", sample, "text/xml"))
    statement_url = uploaded.headers["location"]
    page, _ = await _page(cfo, statement_url)
    line_id = re.search(r'id="line-([^"]+)"', _line(page, "1500.00")).group(1)  # type: ignore[union-attr]

    pages = [
        f"{company_url}/bank",
        statement_url,
        f"{company_url}/invoices",
        f"{company_url}/invoices/new",
        invoice_url,
    ]
    pages += [f"{company_url}/bills", f"{company_url}/parties", f"{company_url}/aged/receivables"]
    forms = [
        f"{company_url}/bank/accounts",
        f"{company_url}/bank/statements",
        f"{company_url}/bank/lines/{line_id}/accept",
    ]
    forms += [f"{company_url}/bank/lines/{line_id}/undo", f"{company_url}/invoices", f"{invoice_url}/payments"]
    forms += [f"{invoice_url}/post", f"{company_url}/parties"]

    other_id = await world.tenant("other")
    await world.person(OTHER, other_id, "Finance Admin")
    stranger = await world.login(OTHER)
    _, other_csrf = await _page(stranger, "/t/other/finance")
    for path in pages:
        await _page(stranger, path, 404)
    for path in forms:
        assert (await _post(stranger, path, other_csrf, name="x")).status_code == 404, path
    # under their own tenant, acme's company, statement and invoice are not found either
    for path in pages:
        await _page(stranger, path.replace("/t/acme/", "/t/other/"), 404)
    accept = f"/t/other/finance/{company_id}/bank/lines/{line_id}/accept"
    assert (await _post(stranger, accept, other_csrf, item_id="x")).status_code == 404

    await world.person(MEMBER, tenant_id)
    member = await world.login(MEMBER)
    _, member_csrf = await _page(member, "/t/acme")
    for path in pages:
        await _page(member, path, 404)
    for path in forms:
        assert (await _post(member, path, member_csrf, name="x")).status_code == 404, path

    # an auditor reads the statement and its suggestions but is offered no button, and may press none
    await world.person(AUDITOR, tenant_id, "Auditor")
    auditor = await world.login(AUDITOR)
    page, auditor_csrf = await _page(auditor, statement_url)
    assert '<li class="suggestion"' in page and "Accept</button>" not in page and "split-form" not in page
    bank, _ = await _page(auditor, f"{company_url}/bank")
    assert 'id="statement-form"' not in bank and 'id="bank-account-form"' not in bank
    invoice, _ = await _page(auditor, invoice_url)
    assert 'id="payment-form"' not in invoice and 'id="document-actions"' not in invoice
    await _page(auditor, f"{company_url}/invoices/new", 404)
    refused = await _post(auditor, f"{company_url}/bank/lines/{line_id}/accept", auditor_csrf, item_id="x")
    assert refused.status_code == 404
    async with acting(world.rt, "acme") as access:
        assert (await access.session.scalar(select(StatementLine.state).where(StatementLine.id == line_id))) == "open"
