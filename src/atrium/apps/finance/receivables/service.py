"""Rules of receivables and payables: parties, payment terms, sales invoices and vendor bills with
their credit notes, how documents are settled, what stays open, and the aged balances. Payments
themselves are in ``payments``.

Documents are priced here and posted through ``posting.post`` (source ``invoice`` or ``bill``):
one receivable or payable line per installment with its due date, one income or expense line per
document line, one tax line per rate. Tax is rounded once per rate on the document's total at
that rate (not line by line), so the tax shown equals the rate applied to the base shown.

A document is settled (by a payment's line, or by a credit note) through ``reconcile``: its open
installments, oldest due first, against the other side's open lines; realised exchange
differences arise there. What is still open on a document is always read from the ledger's open
items, so a settlement made elsewhere shows too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import delete

from atrium.apps.finance import charts, exports, posting, reconcile, trail
from atrium.apps.finance import service as ledger
from atrium.apps.finance.banking.parsers import is_iban, normalise_iban
from atrium.apps.finance.models import Account, Company, Journal
from atrium.apps.finance.money import ZERO, rounded
from atrium.apps.finance.receivables import repository as repo
from atrium.apps.finance.receivables import terms as payment_terms
from atrium.apps.finance.receivables.models import Allocation, Invoice, InvoiceLine, Party, Payment, PaymentTerm
from atrium.apps.finance.receivables.schemas import (
    AgedReport,
    AgedRow,
    AllocationRead,
    CurrencyBalance,
    DocumentCancel,
    DocumentCreate,
    DocumentDetail,
    DocumentFields,
    DocumentLineIn,
    DocumentLineRead,
    DocumentRead,
    InstallmentDue,
    PartyBalance,
    PartyCreate,
    PartyUpdate,
    TaxRead,
    TermsCreate,
)
from atrium.core.db import new_id, utcnow
from atrium.core.errors import Conflict, NotFound, ValidationFailed
from atrium.platform.access.auth import Access

K = charts.AccountKind


@dataclass(frozen=True)
class Side:
    """Sales or purchases: which documents, accounts, journal and parties belong to it."""

    name: str
    noun: str  # "invoice" or "bill": the route, the entry source and the audit object
    kinds: tuple[str, str]  # the document and its credit note
    journal_code: str
    journal_kind: str
    counterpart: charts.AccountKind
    tax_kind: charts.AccountKind
    role: str  # what the party must be: customer or vendor
    direction: str  # the payment that settles it

    def line_account_allowed(self, account: Account) -> bool:
        """Sales lines go to income accounts; purchases to expenses, or to assets bought."""
        if self.name == "sales":
            return account.type == charts.AccountType.income
        return account.type == charts.AccountType.expense or account.kind in (K.fixed_asset, K.current_asset)


SALES = Side(
    "sales", "invoice", ("invoice", "credit_note"), "SAL", "sale", K.receivable, K.tax_payable, "customer", "received"
)
PURCHASES = Side(
    "purchases", "bill", ("bill", "vendor_credit"), "PUR", "purchase", K.payable, K.tax_receivable, "vendor", "sent"
)


def side_of(kind: str) -> Side:
    return SALES if kind in SALES.kinds else PURCHASES


def money_text(amount: Decimal, currency: str) -> str:
    """An amount as a message shows it: with its currency's decimals and code."""
    return f"{rounded(amount, currency)} {currency}"


def problem(errors: list[dict[str, Any]]) -> ValidationFailed:
    return ValidationFailed("; ".join(e["detail"] for e in errors[:10]), field=errors[0]["field"], errors=errors)


# -- parties ----------------------------------------------------------------------------------


def _ibans(values: Iterable[str]) -> list[str]:
    out: list[str] = []
    errors: list[dict[str, Any]] = []
    for number, raw in enumerate(values, start=1):
        iban = normalise_iban(raw)
        if iban is None or not is_iban(iban):
            errors.append({"field": f"ibans[{number}]", "detail": f"IBAN {number} ({raw!r}) is not a valid IBAN"})
        elif iban not in out:
            out.append(iban)
    if errors:
        raise problem(errors)
    return out


async def create_party(access: Access, data: PartyCreate) -> Party:
    company = await ledger.get_company(access, data.company_id)
    name = data.name.strip()
    if not name:
        raise ValidationFailed("the name is empty", field="name")
    if await repo.party_named(access.session, company.id, name) is not None:
        raise Conflict(f"{company.name} already has a party named {name!r}", field="name")
    if not (data.is_customer or data.is_vendor):
        raise ValidationFailed("a party is a customer, a vendor or both", field="is_customer")
    if data.payment_terms is not None:
        await find_terms(access, company.id, data.payment_terms)
    party = Party(
        company_id=company.id,
        name=name,
        is_customer=data.is_customer,
        is_vendor=data.is_vendor,
        email=data.email,
        tax_id=data.tax_id,
        ibans=_ibans(data.ibans),
        payment_terms=data.payment_terms,
        currency=data.currency,
    )
    access.session.add(party)
    await access.session.flush()
    await trail.record(
        access,
        "finance.party.created",
        "party",
        party.id,
        {"company_id": company.id, "name": party.name, "customer": party.is_customer, "vendor": party.is_vendor},
    )
    return party


async def get_party(access: Access, party_id: str) -> Party:
    party = await repo.party(access.session, party_id)
    if party is None:
        raise NotFound(f"no party {party_id!r}", field="party_id")
    return party


async def update_party(access: Access, party_id: str, data: PartyUpdate) -> Party:
    party = await get_party(access, party_id)
    changes = data.model_dump(exclude_unset=True)
    for required in ("name", "is_customer", "is_vendor", "active"):
        if required in changes and changes[required] is None:
            raise ValidationFailed(f"{required} cannot be empty", field=required)
    if "name" in changes:
        name = changes["name"].strip()
        if not name:
            raise ValidationFailed("the name is empty", field="name")
        other = await repo.party_named(access.session, party.company_id, name)
        if other is not None and other.id != party.id:
            raise Conflict(f"another party is named {name!r}", field="name")
        changes["name"] = name
    if changes.get("payment_terms") is not None:
        await find_terms(access, party.company_id, changes["payment_terms"])
    if "ibans" in changes:
        changes["ibans"] = _ibans(changes["ibans"] or [])
    if not changes.get("is_customer", party.is_customer) and not changes.get("is_vendor", party.is_vendor):
        raise ValidationFailed("a party is a customer, a vendor or both", field="is_customer")
    for key, value in changes.items():
        setattr(party, key, value)
    await access.session.flush()
    await trail.record(access, "finance.party.updated", "party", party.id, {"changed": sorted(changes)})
    return party


async def party_balance(access: Access, party_id: str) -> PartyBalance:
    """What is open with a party on receivable and payable accounts, from the ledger's open items."""
    party = await get_party(access, party_id)
    company = await ledger.get_company(access, party.company_id)
    receivable = payable = ZERO
    by_currency: dict[str, list[Decimal]] = {}
    items = await repo.party_open_items(access.session, party.id)
    for item, kind in items:
        sums = by_currency.setdefault(item.currency, [ZERO, ZERO])
        if kind == K.receivable:
            receivable += item.residual
            sums[0] += item.residual_currency
        else:
            payable -= item.residual
            sums[1] -= item.residual_currency
    return PartyBalance(
        party_id=party.id,
        currency=company.base_currency,
        receivable=receivable,
        payable=payable,
        balance=receivable - payable,
        open_items=len(items),
        by_currency=[
            CurrencyBalance(currency=c, receivable=s[0], payable=s[1]) for c, s in sorted(by_currency.items())
        ],
    )


# -- payment terms ----------------------------------------------------------------------------


def _terms_of_row(row: PaymentTerm) -> payment_terms.Terms:
    return payment_terms.from_row(row.code, row.name, row.installments, row.discount_percent, row.discount_days)


async def all_terms(access: Access, company_id: str) -> list[payment_terms.Terms]:
    company = await ledger.get_company(access, company_id)
    own = [_terms_of_row(row) for row in await repo.company_terms(access.session, company.id)]
    return [*payment_terms.BUILT_IN.values(), *own]


async def find_terms(access: Access, company_id: str, code: str, field: str = "payment_terms") -> payment_terms.Terms:
    found = payment_terms.BUILT_IN.get(code)
    if found is not None:
        return found
    row = await repo.terms_row(access.session, company_id, code)
    if row is None:
        known = ", ".join(payment_terms.BUILT_IN)
        raise ValidationFailed(f"no payment terms {code!r}; use one of {known} or the company's own", field=field)
    return _terms_of_row(row)


async def create_terms(access: Access, data: TermsCreate) -> payment_terms.Terms:
    company = await ledger.get_company(access, data.company_id)
    if data.code in payment_terms.BUILT_IN or await repo.terms_row(access.session, company.id, data.code):
        raise Conflict(f"payment terms {data.code!r} exist", field="code")
    installments = [payment_terms.Installment(i.percent, i.days) for i in data.installments]
    errors = payment_terms.problems(installments, data.discount_percent, data.discount_days)
    if errors:
        raise problem(errors)
    row = PaymentTerm(
        company_id=company.id,
        code=data.code,
        name=data.name,
        installments=payment_terms.to_json(installments),
        discount_percent=data.discount_percent,
        discount_days=data.discount_days,
    )
    access.session.add(row)
    await access.session.flush()
    await trail.record(
        access, "finance.terms.created", "payment_terms", row.id, {"company_id": company.id, "code": row.code}
    )
    return _terms_of_row(row)


# -- pricing a document -----------------------------------------------------------------------


@dataclass(frozen=True)
class TaxTotal:
    rate: Decimal
    base: Decimal
    tax: Decimal
    account_id: str


def tax_totals(lines: Sequence[InvoiceLine], currency: str) -> list[TaxTotal]:
    """Tax per rate, rounded once on the sum of the line amounts at that rate."""
    bases: dict[tuple[Decimal, str], Decimal] = {}
    for line in lines:
        if line.tax_rate and line.tax_account_id:
            key = (Decimal(line.tax_rate), line.tax_account_id)
            bases[key] = bases.get(key, ZERO) + line.amount
    return [
        TaxTotal(rate, base, rounded(base * rate, currency), account_id)
        for (rate, account_id), base in sorted(bases.items(), key=lambda kv: (-kv[0][0], kv[0][1]))
    ]


def _default_account(book: posting.Books, side: Side) -> Account | None:
    """The first postable (no sub-accounts) active income or expense account by code."""
    kind = K.income if side.name == "sales" else K.expense
    parents = {a.parent_id for a in book.accounts.values() if a.parent_id}
    found = sorted(
        (a for a in book.accounts.values() if a.kind == kind and a.active and a.id not in parents), key=lambda a: a.code
    )
    return found[0] if found else None


def _tax_accounts(book: posting.Books, side: Side) -> dict[Decimal, Account]:
    out: dict[Decimal, Account] = {}
    for account in sorted(book.accounts.values(), key=lambda a: a.code):
        if account.kind == side.tax_kind and account.active and account.tax_rate is not None:
            out.setdefault(Decimal(account.tax_rate).normalize(), account)
    return out


def _percent(rate: Decimal) -> str:
    return f"{(rate * 100).normalize():f} %"


def price_lines(
    book: posting.Books, side: Side, currency: str, proposed: Sequence[DocumentLineIn]
) -> list[InvoiceLine]:
    """Check each proposed line and price it; every problem is reported, naming its line."""
    errors: list[dict[str, Any]] = []
    taxes = _tax_accounts(book, side)
    default = _default_account(book, side)
    out: list[InvoiceLine] = []
    for number, line in enumerate(proposed, start=1):
        where, at = f"line {number}", f"lines[{number}]"
        if line.account is None:
            account = default
            if account is None:
                wanted = "income" if side.name == "sales" else "expense"
                errors.append(
                    {"field": f"{at}.account", "detail": f"{where}: {book.company.name} has no {wanted} account"}
                )
                continue
        else:
            account = book.account(line.account)
            if account is None:
                errors.append({"field": f"{at}.account", "detail": f"{where}: no account {line.account!r}"})
                continue
            if not account.active:
                errors.append({"field": f"{at}.account", "detail": f"{where}: account {account.code} is closed"})
                continue
            if not side.line_account_allowed(account):
                wanted = "an income account" if side.name == "sales" else "an expense or asset account"
                errors.append(
                    {
                        "field": f"{at}.account",
                        "detail": f"{where}: account {account.code} is a {account.kind} account; "
                        f"{side.name} lines go to {wanted}",
                    }
                )
                continue
        try:
            quantity, unit_price = Decimal(line.quantity), Decimal(line.unit_price)
        except (InvalidOperation, TypeError):
            errors.append({"field": at, "detail": f"{where}: quantity and unit price must be numbers"})
            continue
        if not quantity.is_finite() or quantity <= 0:
            errors.append({"field": f"{at}.quantity", "detail": f"{where}: the quantity must be above zero"})
            continue
        if not unit_price.is_finite() or unit_price < 0:
            errors.append({"field": f"{at}.unit_price", "detail": f"{where}: the unit price cannot be negative"})
            continue
        tax_account: Account | None = None
        rate = None if line.tax_rate is None or line.tax_rate == 0 else Decimal(line.tax_rate)
        if rate is not None:
            tax_account = taxes.get(rate.normalize())
            if tax_account is None:
                what = "output" if side.name == "sales" else "input"
                errors.append(
                    {
                        "field": f"{at}.tax_rate",
                        "detail": f"{where}: {book.company.name} has no {what} tax account at {_percent(rate)}; "
                        f"add a {side.tax_kind.value} account with that rate",
                    }
                )
                continue
        out.append(
            InvoiceLine(
                id=new_id(),
                line_no=number,
                description=line.description.strip() or "-",
                quantity=quantity,
                unit_price=unit_price,
                amount=rounded(quantity * unit_price, currency),
                account_id=account.id,
                tax_rate=rate,
                tax_account_id=tax_account.id if tax_account else None,
            )
        )
    if errors:
        raise problem(errors)
    return out


def _line_in(line: InvoiceLine) -> DocumentLineIn:
    return DocumentLineIn(
        description=line.description,
        quantity=line.quantity,
        unit_price=line.unit_price,
        account=line.account_id,
        tax_rate=line.tax_rate,
    )


# -- documents --------------------------------------------------------------------------------


async def get_document(access: Access, side: Side, document_id: str, *, for_update: bool = False) -> Invoice:
    found = await repo.document(access.session, document_id, for_update=for_update)
    if found is None or found.kind not in side.kinds:
        raise NotFound(f"no {side.noun} {document_id!r}", field=f"{side.noun}_id")
    return found


async def party_for(access: Access, company: Company, party_id: str, side: Side, field: str) -> Party:
    """The company's active party that may be on this side (a customer for sales)."""
    party = await repo.party(access.session, party_id)
    if party is None or party.company_id != company.id:
        raise ValidationFailed(f"no party {party_id!r} in {company.name}", field=field)
    if not party.active:
        raise ValidationFailed(f"{party.name} is inactive", field=field)
    if not (party.is_customer if side.role == "customer" else party.is_vendor):
        raise ValidationFailed(f"{party.name} is not a {side.role}; mark them as one first", field=field)
    return party


async def _fill(
    access: Access, book: posting.Books, side: Side, document: Invoice, data: DocumentFields
) -> list[InvoiceLine]:
    """Set a draft from its fields; check everything that can be checked before posting."""
    company = book.company
    party = await party_for(access, company, data.party_id, side, "party_id")
    currency = data.currency or party.currency or company.base_currency
    credit = document.kind == side.kinds[1]
    code = data.payment_terms or (payment_terms.DEFAULT if credit else party.payment_terms) or payment_terms.DEFAULT
    terms = await find_terms(access, company.id, code)
    if data.original_id is not None:
        if not credit:
            raise ValidationFailed(f"only a {side.kinds[1]} references an original", field="original_id")
        original = await repo.document(access.session, data.original_id)
        if original is None or original.company_id != company.id or original.kind != side.kinds[0]:
            raise ValidationFailed(f"no {side.noun} {data.original_id!r} to credit", field="original_id")
        if original.state != "posted":
            raise ValidationFailed(f"only a posted {side.noun} can be credited", field="original_id")
        if original.party_id != party.id or original.currency != currency:
            raise ValidationFailed(
                f"a credit note is for the same party and currency as {original.number}", field="original_id"
            )
    lines = price_lines(book, side, currency, data.lines)
    document.party_id = party.id
    document.date = data.date
    document.currency = currency
    document.rate = data.rate if currency != company.base_currency else None
    document.payment_terms = terms.code
    document.reference = data.reference
    document.memo = data.memo
    document.original_id = data.original_id
    _total(document, lines, terms)
    return lines


def _total(document: Invoice, lines: Sequence[InvoiceLine], terms: payment_terms.Terms) -> None:
    taxes = tax_totals(lines, document.currency)
    document.untaxed = sum((line.amount for line in lines), ZERO)
    document.tax = sum((t.tax for t in taxes), ZERO)
    document.total = document.untaxed + document.tax
    if document.total <= 0:
        raise ValidationFailed("the document's total must be above zero", field="lines")
    dues = payment_terms.schedule(terms, document.total, document.date, document.currency)
    document.due_date = dues[-1].due_date
    offered = payment_terms.discount(terms, document.total, document.date, document.currency)
    document.discount_amount, document.discount_until = offered if offered else (None, None)


async def _save_lines(access: Access, document: Invoice, lines: list[InvoiceLine]) -> None:
    await access.session.execute(delete(InvoiceLine).where(InvoiceLine.invoice_id == document.id))
    for line in lines:
        line.invoice_id = document.id
    access.session.add_all(lines)
    await access.session.flush()


async def create_document(access: Access, side: Side, data: DocumentCreate) -> Invoice:
    """A draft (or, with ``post``, a posted document) of this side."""
    company = await ledger.get_company(access, data.company_id)
    kind = data.kind or side.kinds[0]
    if kind not in side.kinds:
        raise ValidationFailed(f"a {side.noun} is one of {', '.join(side.kinds)}", field="kind")
    book = await posting.books(access.session, company.id)
    document = Invoice(id=new_id(), company_id=company.id, kind=kind, state="draft", created_by=access.principal.id)
    lines = await _fill(access, book, side, document, data)
    access.session.add(document)
    await access.session.flush()
    await _save_lines(access, document, lines)
    await trail.record(
        access,
        f"finance.{side.noun}.drafted",
        side.noun,
        document.id,
        {"company_id": company.id, "kind": kind, "party_id": document.party_id, "total": str(document.total)},
    )
    if data.post:
        return await post_document(access, side, document.id)
    return document


async def update_document(access: Access, side: Side, document_id: str, data: DocumentFields) -> Invoice:
    document = await get_document(access, side, document_id, for_update=True)
    if document.state != "draft":
        raise Conflict(f"{document.number or 'the document'} is {document.state}; only drafts change", field="state")
    book = await posting.books(access.session, document.company_id)
    lines = await _fill(access, book, side, document, data)
    await _save_lines(access, document, lines)
    await trail.record(access, f"finance.{side.noun}.updated", side.noun, document.id, {"total": str(document.total)})
    return document


async def delete_document(access: Access, side: Side, document_id: str) -> None:
    document = await get_document(access, side, document_id, for_update=True)
    if document.state != "draft":
        raise Conflict(f"{document.number or 'the document'} is {document.state}; cancel it instead", field="state")
    await access.session.execute(delete(InvoiceLine).where(InvoiceLine.invoice_id == document.id))
    await access.session.delete(document)
    await access.session.flush()
    await trail.record(access, f"finance.{side.noun}.deleted", side.noun, document_id, {"kind": document.kind})


def _journal(book: posting.Books, side: Side) -> Journal:
    journals = sorted(book.journals.values(), key=lambda j: (j.code != side.journal_code, j.code))
    found = next((j for j in journals if j.kind == side.journal_kind), None)
    if found is None:
        raise Conflict(f"{book.company.name} has no {side.journal_kind} journal; add one", field="journal")
    return found


async def posting_rate(access: Access, company: Company, currency: str, day: dt.date, given: Decimal | None) -> Decimal:
    """The rate a document or payment is posted at: given, else the rate table's for its date."""
    if currency == company.base_currency:
        return Decimal(1)
    if given is not None:
        return given
    found = await posting.rate_on(access.session, company.id, currency, day)
    if found is None:
        raise ValidationFailed(
            f"no {currency} rate for {day.isoformat()}; add one under exchange rates or give the rate", field="rate"
        )
    return found


def ledger_line(account: str, amount: Decimal, debit: bool, **details: Any) -> posting.LineIn:
    """A ledger line of ``amount`` on the debit or the credit side."""
    return posting.LineIn(account=account, debit=amount if debit else ZERO, credit=ZERO if debit else amount, **details)


async def post_document(access: Access, side: Side, document_id: str) -> Invoice:
    """Post a draft: its entry in the sales or purchase journal, numbered like the entry. A credit
    note that references an open original settles against it at once."""
    document = await get_document(access, side, document_id, for_update=True)
    if document.state != "draft":
        raise Conflict(f"{document.number or 'the document'} is already {document.state}", field="state")
    book = await posting.books(access.session, document.company_id)
    company = book.company
    party = await party_for(access, company, document.party_id, side, "party_id")
    stored = await repo.document_lines(access.session, document.id)
    lines = price_lines(book, side, document.currency, [_line_in(line) for line in stored])  # still valid?
    terms = await find_terms(access, company.id, document.payment_terms)
    _total(document, lines, terms)
    original = await _original(access, document)
    rate = await posting_rate(access, company, document.currency, document.date, document.rate)
    counterpart = book.account_of_kind(side.counterpart)
    journal = _journal(book, side)
    foreign = None if document.currency == company.base_currency else rate
    counterpart_debit = document.kind in ("invoice", "vendor_credit")
    base_sign = 1 if document.kind == side.kinds[0] else -1
    dues = payment_terms.schedule(terms, document.total, document.date, document.currency)
    entry_lines = [
        ledger_line(
            counterpart.id,
            due.amount,
            counterpart_debit,
            currency=document.currency,
            rate=foreign,
            label=(party.name if len(dues) == 1 else f"{party.name} ({number}/{len(dues)})")[:200],
            party_id=party.id,
            due_date=due.due_date,
        )
        for number, due in enumerate(dues, start=1)
    ]
    entry_lines += [
        ledger_line(
            line.account_id,
            line.amount,
            not counterpart_debit,
            currency=document.currency,
            rate=foreign,
            label=line.description[:200],
            party_id=party.id,
        )
        for line in lines
        if line.amount
    ]
    entry_lines += [
        ledger_line(
            tax.account_id,
            tax.tax,
            not counterpart_debit,
            currency=document.currency,
            rate=foreign,
            label=f"Tax {_percent(tax.rate)}",
            party_id=party.id,
            tax_rate=tax.rate,
            tax_base=base_sign * tax.base,
        )
        for tax in tax_totals(lines, document.currency)
        if tax.tax
    ]
    entry = await posting.post(
        access,
        posting.EntryIn(
            company_id=company.id,
            journal=journal.id,
            date=document.date,
            lines=entry_lines,
            reference=document.reference,
            memo=document.memo,
            source=side.noun,
            source_id=document.id,
        ),
    )
    assert entry.number is not None
    document.state = "posted"
    document.number = entry.number
    document.entry_id = entry.id
    document.account_id = counterpart.id
    document.rate = rate
    document.posted_at = utcnow()
    document.posted_by = access.principal.id
    await access.session.flush()
    await trail.record(
        access,
        f"finance.{side.noun}.posted",
        side.noun,
        document.id,
        {"number": document.number, "kind": document.kind, "total": str(document.total), "entry_id": entry.id},
    )
    if original is not None:
        await _apply_credit(access, original, document)
    return document


async def _original(access: Access, credit: Invoice) -> Invoice | None:
    """The document a credit note credits, checked again at posting: never more credit than it had."""
    if credit.original_id is None:
        return None
    original = await repo.document(access.session, credit.original_id, for_update=True)
    if original is None or original.state != "posted":
        raise ValidationFailed("only a posted document can be credited", field="original_id")
    left = original.total - await repo.credited(access.session, original.id)
    if credit.total > left:
        raise ValidationFailed(
            f"{original.number} has {money_text(left, original.currency)} left to credit; "
            f"this credit note is {money_text(credit.total, credit.currency)}",
            field="lines",
        )
    return original


async def _apply_credit(access: Access, original: Invoice, credit: Invoice) -> Allocation | None:
    """Settle a credit note against its original, as far as both are open."""
    credit_lines = await open_line_ids(access, credit)
    return await settle(access, original, credit_lines, max(original.date, credit.date), credit_note=credit)


async def cancel_document(access: Access, side: Side, document_id: str, data: DocumentCancel) -> Invoice:
    """A draft is simply marked cancelled. A posted document is cancelled by a credit note for its
    full amount (same lines, same rate, so no exchange difference), which settles against it; the
    document keeps its number and entry, as the law of most countries wants."""
    document = await get_document(access, side, document_id, for_update=True)
    if document.state == "cancelled":
        raise Conflict(f"{document.number or 'the draft'} is already cancelled", field="state")
    if document.state == "draft":
        document.state = "cancelled"
        await access.session.flush()
        await trail.record(access, f"finance.{side.noun}.cancelled", side.noun, document.id, {"reason": data.reason})
        return document
    if document.kind != side.kinds[0]:
        raise Conflict(f"{document.number} is a posted {document.kind}; issue a new {side.noun} instead", field="state")
    if await repo.credited(access.session, document.id):
        raise Conflict(
            f"{document.number} already has a credit note; credit what is left instead of cancelling", field="state"
        )
    stored = await repo.document_lines(access.session, document.id)
    credit = Invoice(
        id=new_id(),
        company_id=document.company_id,
        kind=side.kinds[1],
        state="draft",
        party_id=document.party_id,
        date=data.date or utcnow().date(),
        currency=document.currency,
        rate=document.rate,
        payment_terms=payment_terms.DEFAULT,
        reference=f"Cancels {document.number}",
        memo=data.reason,
        original_id=document.id,
        created_by=access.principal.id,
    )
    book = await posting.books(access.session, document.company_id)
    lines = price_lines(book, side, credit.currency, [_line_in(line) for line in stored])
    _total(credit, lines, payment_terms.BUILT_IN[payment_terms.DEFAULT])
    access.session.add(credit)
    await access.session.flush()
    await _save_lines(access, credit, lines)
    await post_document(access, side, credit.id)
    document.state = "cancelled"
    document.cancelled_by_id = credit.id
    await access.session.flush()
    await trail.record(
        access,
        f"finance.{side.noun}.cancelled",
        side.noun,
        document.id,
        {"number": document.number, "credit_note": credit.number, "reason": data.reason},
    )
    return document


# -- what is open -----------------------------------------------------------------------------


@dataclass
class Figures:
    """A document's or payment's receivable/payable lines and what is open on them."""

    lines: list[repo.LedgerLine] = field(default_factory=list)
    entry_state: str | None = None

    @property
    def residual(self) -> Decimal:
        return abs(sum((line.residual_currency for line in self.lines), ZERO))

    @property
    def residual_company(self) -> Decimal:
        return abs(sum((line.residual for line in self.lines), ZERO))

    def open_ids(self) -> list[str]:
        """Open lines, the earliest due first."""
        open_lines = [line for line in self.lines if line.residual or line.residual_currency]
        return [line.id for line in sorted(open_lines, key=lambda x: (x.due_date or dt.date.max, x.line_no))]

    def first_due(self) -> dt.date:
        return min(
            (x.due_date or dt.date.max for x in self.lines if x.residual or x.residual_currency), default=dt.date.max
        )


async def figures(access: Access, records: Sequence[Invoice | Payment]) -> dict[str, Figures]:
    """Open amounts of documents or payments, in two queries whatever their number."""
    pairs: list[tuple[str, str]] = []
    for record in records:
        account = record.account_id if isinstance(record, Invoice) else record.counterpart_account_id
        if record.entry_id is not None and account is not None:
            pairs.append((record.entry_id, account))
    lines = await repo.ledger_lines(access.session, pairs)
    states = await repo.entry_states(access.session, [entry_id for entry_id, _ in pairs])
    out: dict[str, Figures] = {}
    for record in records:
        if record.entry_id is None:
            out[record.id] = Figures()
        else:
            out[record.id] = Figures(lines.get(record.entry_id, []), states.get(record.entry_id))
    return out


def status_of(document: Invoice, figures: Figures) -> str:
    """draft, open, partially_paid, paid or cancelled (``repository.status_filter`` agrees)."""
    if document.state == "draft":
        return "draft"
    if document.state == "cancelled" or figures.entry_state == "reversed":
        return "cancelled"
    residual = figures.residual
    if residual == 0:
        return "paid"
    return "partially_paid" if residual < document.total else "open"


async def open_line_ids(access: Access, record: Invoice | Payment) -> list[str]:
    """The record's open receivable or payable lines, earliest due first."""
    return (await figures(access, [record]))[record.id].open_ids()


async def settle(
    access: Access,
    document: Invoice,
    against: list[str],
    day: dt.date,
    *,
    payment: Payment | None = None,
    credit_note: Invoice | None = None,
) -> Allocation | None:
    """Reconcile a document's open installments (earliest due first) with the given open lines,
    and record how much of the document that settled."""
    before = (await figures(access, [document]))[document.id]
    document_lines = before.open_ids()
    if not document_lines or not against:
        return None
    done = await reconcile.reconcile(access, [*document_lines, *against], day=day)
    after = (await figures(access, [document]))[document.id]
    allocation = Allocation(
        company_id=document.company_id,
        invoice_id=document.id,
        payment_id=payment.id if payment else None,
        credit_note_id=credit_note.id if credit_note else None,
        amount=before.residual - after.residual,
        reconciliation_id=done.id,
        exchange_entry_id=done.exchange_entry.id if done.exchange_entry else None,
        date=day,
        created_by=access.principal.id,
    )
    access.session.add(allocation)
    await access.session.flush()
    return allocation


# -- read models ------------------------------------------------------------------------------


def _document_read(document: Invoice, figures: Figures, cls: type[DocumentRead] = DocumentRead, **extra: Any) -> Any:
    """Paid is whatever settled the document (payments, credit notes, a bank reconciliation);
    drafts and cancelled documents owe nothing."""
    owing = document.state == "posted"
    residual = figures.residual if owing else ZERO
    return cls.model_validate(
        {
            **{name: getattr(document, name) for name in DocumentRead.model_fields if hasattr(document, name)},
            "status": status_of(document, figures),
            "paid": document.total - residual if owing else ZERO,
            "residual": residual,
            "residual_company": figures.residual_company if owing else ZERO,
            **extra,
        }
    )


async def document_reads(access: Access, documents: Sequence[Invoice]) -> list[DocumentRead]:
    found = await figures(access, documents)
    return [_document_read(d, found[d.id]) for d in documents]


async def document_detail(access: Access, document: Invoice) -> DocumentDetail:
    figures_ = (await figures(access, [document]))[document.id]
    lines = await repo.document_lines(access.session, document.id)
    if figures_.lines:
        installments = [
            InstallmentDue(
                due_date=line.due_date or document.date,
                amount=abs(line.amount_currency),
                residual=abs(line.residual_currency),
            )
            for line in figures_.lines
        ]
    else:
        terms = await find_terms(access, document.company_id, document.payment_terms)
        installments = [
            InstallmentDue(due_date=due.due_date, amount=due.amount, residual=due.amount)
            for due in payment_terms.schedule(terms, document.total, document.date, document.currency)
        ]
    allocations = await repo.allocations_of(access.session, invoice_id=document.id)
    detail: DocumentDetail = _document_read(
        document,
        figures_,
        DocumentDetail,
        lines=[DocumentLineRead.model_validate(line) for line in lines],
        taxes=[
            TaxRead(rate=t.rate, base=t.base, tax=t.tax, account_id=t.account_id)
            for t in tax_totals(lines, document.currency)
        ],
        installments=installments,
        allocations=[AllocationRead.model_validate(a) for a in allocations],
    )
    return detail


# -- aged receivables and payables ------------------------------------------------------------

BUCKETS = ("current", "days_1_30", "days_31_60", "days_61_90", "over_90")
BUCKET_LABELS = ("Current", "1–30 days", "31–60 days", "61–90 days", "Over 90 days")


def bucket_of(days_overdue: int) -> str:
    """Not yet due (or due that day) is current; then by days past the due date."""
    if days_overdue <= 0:
        return "current"
    if days_overdue <= 30:
        return "days_1_30"
    if days_overdue <= 60:
        return "days_31_60"
    if days_overdue <= 90:
        return "days_61_90"
    return "over_90"


async def aged(access: Access, company_id: str, kind: str, as_of: dt.date) -> AgedReport:
    """What each party owed (receivables) or was owed (payables) at the end of ``as_of``, by how
    long past its due date, in the company's currency. Unallocated payments count as credits."""
    company = await ledger.get_company(access, company_id)
    book = await posting.books(access.session, company.id)
    account_kind = K.receivable if kind == "receivables" else K.payable
    sign = 1 if kind == "receivables" else -1
    accounts = [a.id for a in book.accounts.values() if a.kind == account_kind]
    items = await repo.open_as_of(access.session, company.id, accounts, as_of)
    names = await repo.party_names(access.session, company.id)
    sums: dict[str | None, dict[str, Decimal]] = {}
    for item in items:
        row = sums.setdefault(item.party_id, dict.fromkeys(BUCKETS, ZERO))
        row[bucket_of((as_of - (item.due_date or item.date)).days)] += sign * item.residual

    def name_of(party_id: str | None) -> str:
        return "(no party)" if party_id is None else names.get(party_id, party_id)

    base = company.base_currency
    rows = [
        AgedRow(
            party_id=party_id,
            party_name=name_of(party_id),
            **{b: rounded(v, base) for b, v in buckets.items()},
            total=rounded(sum(buckets.values(), ZERO), base),
        )
        for party_id, buckets in sorted(sums.items(), key=lambda kv: name_of(kv[0]).lower())
        if any(buckets.values())
    ]
    totals = {b: sum((getattr(r, b) for r in rows), ZERO) for b in BUCKETS}
    return AgedReport(
        company_id=company.id,
        kind="receivables" if kind == "receivables" else "payables",
        as_of=as_of,
        currency=base,
        rows=rows,
        totals=AgedRow(party_id=None, party_name="Total", **totals, total=sum(totals.values(), ZERO)),
    )


def aged_table(report: AgedReport, company_name: str) -> exports.Table:
    money = exports.ColumnKind.MONEY
    columns = [exports.Column("party", "Party")]
    columns += [exports.Column(key, label, money) for key, label in zip(BUCKETS, BUCKET_LABELS, strict=True)]
    columns.append(exports.Column("total", "Total", money))

    def cells(row: AgedRow) -> dict[str, object]:
        return {"party": row.party_name, **{b: getattr(row, b) for b in BUCKETS}, "total": row.total}

    return exports.Table(
        title=f"Aged {report.kind}",
        subtitle=f"{company_name} · as of {report.as_of.isoformat()} · by due date · amounts in {report.currency}",
        columns=columns,
        rows=[cells(row) for row in report.rows],
        totals=cells(report.totals),
    )
