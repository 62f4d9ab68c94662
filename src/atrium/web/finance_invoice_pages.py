"""Console pages of receivables and payables: sales invoices and vendor bills (the list with its
status filter, the new-document form, a document with its lines, tax, what was paid and what is
still open, and its register-payment form), the company's customers and vendors, and the aged
receivables and payables with their downloads.

Invoices and bills share every page; ``service.SALES`` and ``service.PURCHASES`` say which side a
route serves. Pages and forms need the permission the API's routes need (``finance.invoice.read``
to see, ``finance.invoice.manage`` to change) and work through ``receivables.service`` and
``receivables.payments`` as the API does; a refusal is shown in the service's words next to what
was typed, naming the line.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from starlette.datastructures import FormData

from atrium.api.routing import APIRouter
from atrium.apps.finance import exports, posting
from atrium.apps.finance import service as ledger
from atrium.apps.finance.auth import INVOICE_MANAGE, INVOICE_READ
from atrium.apps.finance.banking import service as banking
from atrium.apps.finance.banking.models import BankAccount
from atrium.apps.finance.models import Account, Company
from atrium.apps.finance.money import ZERO
from atrium.apps.finance.receivables import payments
from atrium.apps.finance.receivables import repository as repo
from atrium.apps.finance.receivables import service as receivables
from atrium.apps.finance.receivables.models import Invoice, Party
from atrium.apps.finance.receivables.schemas import (
    AllocationIn,
    DocumentCancel,
    DocumentCreate,
    PartyCreate,
    PaymentCreate,
)
from atrium.core.db import utcnow
from atrium.core.errors import AtriumError, Conflict, NotFound, ValidationFailed
from atrium.platform.access.auth import Access
from atrium.web.console import Csrf, error_status, flash, form_checked, form_text, problem_text, redirect
from atrium.web.finance_bank_pages import typed_amount
from atrium.web.finance_pages import (
    _act,
    _company_url,
    _date,
    _entry_url,
    _finance_open,
    _ledger,
    finance_page,
    money,
)
from atrium.web.tenant_access import TenantView, requiring

router = APIRouter(include_in_schema=False, dependencies=[Depends(_finance_open)])

InvoiceReader = Annotated[TenantView, Depends(requiring(INVOICE_READ))]
InvoiceManager = Annotated[TenantView, Depends(requiring(INVOICE_MANAGE))]

PAGE_SIZE = 50
NEW_DOCUMENT_LINES = 2
STATUSES = ("draft", "open", "partially_paid", "paid", "cancelled")
AGED = {"receivables": "Aged receivables", "payables": "Aged payables"}
EXPORTS = ("csv", "xlsx", "pdf")
SIDES = {"invoices": receivables.SALES, "bills": receivables.PURCHASES}
_LINE_FIELD = re.compile(r"^lines\[(\d+)\]")


@dataclass(frozen=True)
class Words:
    """How a side's pages speak of their documents."""

    path: str
    one: str  # invoice, bill
    many: str  # Invoices, Bills
    party: str  # customer, vendor
    paid_by: str  # received from, sent to


WORDS = {
    "sales": Words("invoices", "invoice", "Invoices", "customer", "received from"),
    "purchases": Words("bills", "bill", "Bills", "vendor", "sent to"),
}


def _words(side: receivables.Side) -> Words:
    return WORDS[side.name]


def _documents_url(view: TenantView, company_id: str, side: receivables.Side) -> str:
    return _company_url(view, company_id, f"/{_words(side).path}")


def _document_url(view: TenantView, company_id: str, side: receivables.Side, document_id: str) -> str:
    return f"{_documents_url(view, company_id, side)}/{quote(document_id, safe='')}"


def _postable(accounts: dict[str, Account]) -> list[Account]:
    """Active accounts with no sub-accounts, by code: what a line may be booked to."""
    parents = {a.parent_id for a in accounts.values() if a.parent_id}
    return sorted((a for a in accounts.values() if a.active and a.id not in parents), key=lambda a: a.code)


def _tax_rates(book: posting.Books, side: receivables.Side) -> list[Decimal]:
    """The rates the company's active output (sales) or input (purchases) tax accounts carry."""
    found = {
        Decimal(a.tax_rate).normalize()
        for a in book.accounts.values()
        if a.kind == side.tax_kind and a.active and a.tax_rate is not None
    }
    return sorted(found, reverse=True)


def _number(raw: str, name: str, where: str, errors: list[dict[str, str]]) -> Decimal | None:
    """A typed number; what cannot be read is noted, naming the line and the field."""
    try:
        return typed_amount(raw, name, where)
    except ValidationFailed as exc:
        errors.append({"field": str(exc.extra.get("field", name)), "detail": exc.detail})
        return None


def _line_numbered(exc: ValidationError) -> ValidationFailed:
    """A schema refusal in the form's words: lines counted from 1, as the service counts them."""
    errors: list[dict[str, str]] = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        if len(loc) >= 3 and loc[0] == "lines" and loc[1].isdigit():
            no = int(loc[1]) + 1
            errors.append({"field": f"lines[{no}].{loc[2]}", "detail": f"line {no}: {loc[2]}: {error['msg']}"})
        else:
            name = ".".join(loc) or "input"
            errors.append({"field": name, "detail": f"{name}: {error['msg']}"})
    return receivables.problem(errors)


# -- documents: the list ----------------------------------------------------------------------


@dataclass
class DocumentFilters:
    status: str = ""
    party_id: str = ""
    offset: int = 0

    @classmethod
    def from_query(cls, query: Any) -> DocumentFilters:
        raw = str(query.get("offset", "0"))
        return cls(
            status=str(query.get("status", "")).strip(),
            party_id=str(query.get("party_id", "")).strip(),
            offset=int(raw) if raw.isdigit() else 0,
        )

    def url(self, base: str, offset: int) -> str:
        params = {k: v for k, v in (("status", self.status), ("party_id", self.party_id)) if v}
        if offset:
            params["offset"] = str(offset)
        return base + (f"?{urlencode(params)}" if params else "")


async def _documents_page(request: Request, view: TenantView, company_id: str, side: receivables.Side) -> HTMLResponse:
    filters = DocumentFilters.from_query(request.query_params)
    status_code = 200
    if filters.status and filters.status not in STATUSES:
        flash(request, f"status: choose one of {', '.join(STATUSES)}", "error")
        status_code, filters.status = 422, ""
    async with _ledger(request, view) as access:
        company = await ledger.get_company(access, company_id)
        found = await repo.documents(
            access.session,
            company.id,
            side.kinds,
            party_id=filters.party_id or None,
            status=filters.status or None,
            limit=PAGE_SIZE + 1,
            offset=filters.offset,
        )
        documents = await receivables.document_reads(access, found[:PAGE_SIZE])
        names = await repo.party_names(access.session, company.id)
        parties = await repo.parties(access.session, company.id, role=side.role, limit=500)
    base = _documents_url(view, company_id, side)
    return await finance_page(
        request,
        view,
        "finance_invoice_list.html",
        status_code,
        company=company,
        words=_words(side),
        documents=documents,
        party_names=names,
        parties=parties,
        filters=filters,
        statuses=STATUSES,
        base=base,
        newer=filters.url(base, max(filters.offset - PAGE_SIZE, 0)) if filters.offset else None,
        older=filters.url(base, filters.offset + PAGE_SIZE) if len(found) > PAGE_SIZE else None,
        section=_words(side).path,
    )


# -- documents: the new-document form ---------------------------------------------------------


@dataclass
class DocumentLineForm:
    """One line of the new-document form as typed, and the refusal that names it."""

    description: str = ""
    quantity: str = "1"
    unit_price: str = ""
    account: str = ""
    tax_rate: str = ""
    problem: str = ""

    @property
    def blank(self) -> bool:
        return not (self.description or self.unit_price or self.account)


LINE_FIELDS = ("description", "quantity", "unit_price", "account", "tax_rate")


@dataclass
class DocumentForm:
    """The new-document form as typed, kept when it is refused. Empty lines are left out, so
    "line 2" in a refusal is the second line shown."""

    party_id: str = ""
    date: str = ""
    payment_terms: str = ""
    currency: str = ""
    reference: str = ""
    memo: str = ""
    lines: list[DocumentLineForm] = field(default_factory=list)

    @classmethod
    def blank_form(cls) -> DocumentForm:
        return cls(date=utcnow().date().isoformat(), lines=[DocumentLineForm() for _ in range(NEW_DOCUMENT_LINES)])

    @classmethod
    def from_form(cls, form: FormData) -> DocumentForm:
        columns = {name: [str(v).strip() for v in form.getlist(name)] for name in LINE_FIELDS}
        count = max(len(values) for values in columns.values())
        typed = [
            DocumentLineForm(**{name: values[i] if i < len(values) else "" for name, values in columns.items()})
            for i in range(count)
        ]
        return cls(
            party_id=form_text(form, "party_id"),
            date=form_text(form, "date"),
            payment_terms=form_text(form, "payment_terms"),
            currency=form_text(form, "currency").upper(),
            reference=form_text(form, "reference"),
            memo=form_text(form, "memo"),
            lines=[line for line in typed if not line.blank],
        )

    def data(self, company_id: str, *, post: bool) -> DocumentCreate:
        """The document for ``receivables.create_document``; what cannot even be read is refused
        naming the line."""
        errors: list[dict[str, str]] = []
        if not self.party_id:
            errors.append({"field": "party_id", "detail": "party_id: choose who the document is for"})
        if not self.lines:
            errors.append({"field": "lines", "detail": "lines: add at least one line"})
        lines: list[dict[str, Any]] = []
        for no, line in enumerate(self.lines, start=1):
            where = f"line {no}"
            quantity = _number(line.quantity, f"lines[{no}].quantity", f"{where}: quantity", errors)
            price = _number(line.unit_price, f"lines[{no}].unit_price", f"{where}: unit price", errors)
            if price is None and not line.unit_price:
                errors.append({"field": f"lines[{no}].unit_price", "detail": f"{where}: give the unit price"})
            rate = _number(line.tax_rate, f"lines[{no}].tax_rate", f"{where}: tax rate", errors)
            lines.append(
                {
                    "description": line.description,
                    "quantity": quantity if quantity is not None else Decimal(1),
                    "unit_price": price if price is not None else ZERO,
                    "account": line.account or None,
                    "tax_rate": rate or None,
                }
            )
        try:
            day = _date(self.date, "date", required=True)
        except ValidationFailed as exc:
            errors.append({"field": "date", "detail": exc.detail})
            day = None
        if errors:
            raise receivables.problem(errors)
        try:
            return DocumentCreate.model_validate(
                {
                    "company_id": company_id,
                    "party_id": self.party_id,
                    "date": day,
                    "currency": self.currency or None,
                    "payment_terms": self.payment_terms or None,
                    "reference": self.reference or None,
                    "memo": self.memo or None,
                    "lines": lines,
                    "post": post,
                }
            )
        except ValidationError as exc:
            raise _line_numbered(exc) from None

    def mark(self, exc: Exception) -> None:
        """Put each line's refusal next to it."""
        if not isinstance(exc, AtriumError):
            return
        found = exc.extra.get("errors")
        named = [e for e in found if isinstance(e, dict)] if isinstance(found, list) else []
        for problem in named or [{"field": exc.extra.get("field", ""), "detail": exc.detail}]:
            match = _LINE_FIELD.match(str(problem.get("field", "")))
            if match and 1 <= int(match.group(1)) <= len(self.lines):
                line = self.lines[int(match.group(1)) - 1]
                line.problem = "; ".join(filter(None, [line.problem, str(problem.get("detail", ""))]))


@dataclass(frozen=True)
class FormChoices:
    """What the new-document form offers: the side's parties, accounts, tax rates and terms."""

    company: Company
    parties: list[Party]
    accounts: list[Account]
    tax_rates: list[Decimal]
    terms: list[tuple[str, str]]


async def _choices(access: Access, company_id: str, side: receivables.Side) -> FormChoices:
    company = await ledger.get_company(access, company_id)
    book = await posting.books(access.session, company.id)
    parties = [p for p in await repo.parties(access.session, company.id, role=side.role, limit=500) if p.active]
    terms = [(t.code, t.name) for t in await receivables.all_terms(access, company.id)]
    accounts = [a for a in _postable(book.accounts) if side.line_account_allowed(a)]
    return FormChoices(company, parties, accounts, _tax_rates(book, side), terms)


async def _new_document_page(
    request: Request,
    view: TenantView,
    company_id: str,
    side: receivables.Side,
    typed: DocumentForm,
    status_code: int = 200,
) -> HTMLResponse:
    async with _ledger(request, view) as access:
        choices = await _choices(access, company_id, side)
    while len(typed.lines) < NEW_DOCUMENT_LINES:
        typed.lines.append(DocumentLineForm())
    return await finance_page(
        request,
        view,
        "finance_invoice_new.html",
        status_code,
        company=choices.company,
        choices=choices,
        words=_words(side),
        typed=typed,
        base=_documents_url(view, company_id, side),
        section=_words(side).path,
    )


async def _new_line(request: Request, view: TenantView, company_id: str, side: receivables.Side) -> HTMLResponse:
    """One more empty line for the new-document form (its "Add line" button)."""
    async with _ledger(request, view) as access:
        choices = await _choices(access, company_id, side)
    return await finance_page(
        request, view, "finance_invoice_line.html", choices=choices, line=DocumentLineForm(), words=_words(side)
    )


async def _create_document(request: Request, view: TenantView, company_id: str, side: receivables.Side) -> Response:
    """Save the draft, or post it at once; a refusal keeps every line as typed and names the line."""
    form = await request.form()
    typed = DocumentForm.from_form(form)
    post = form_text(form, "action") == "post"
    words = _words(side)
    try:
        async with _ledger(request, view) as access:
            company = await ledger.get_company(access, company_id)
            document = await receivables.create_document(access, side, typed.data(company.id, post=post))
            document_id, number = document.id, document.number
    except NotFound:
        raise
    except (AtriumError, ValidationError) as exc:
        typed.mark(exc)
        flash(request, problem_text(exc), "error")
        return await _new_document_page(request, view, company_id, side, typed, error_status(exc))
    flash(
        request,
        f"{words.one.capitalize()} {number} is posted." if post else f"The draft {words.one} is saved.",
        "success",
    )
    return redirect(_document_url(view, company_id, side, document_id))


# -- documents: one document ------------------------------------------------------------------


async def _document_of(access: Access, company: Company, side: receivables.Side, document_id: str) -> Invoice:
    """The company's document of this side; another company's (or tenant's) is not found."""
    document = await receivables.get_document(access, side, document_id)
    if document.company_id != company.id:
        raise NotFound(f"no {side.noun} {document_id!r} in {company.name}", field=f"{side.noun}_id")
    return document


@dataclass(frozen=True)
class Settlement:
    """One allocation as the document page lists it."""

    date: dt.date
    what: str
    amount: Decimal
    undone: bool
    entry_id: str | None


async def _settlements(access: Access, document: Invoice) -> list[Settlement]:
    """The payments and credit notes applied to the document (undone ones too, marked)."""
    shown: list[Settlement] = []
    for allocation in await repo.allocations_of(access.session, invoice_id=document.id):
        if allocation.payment_id is not None:
            payment = await repo.payment(access.session, allocation.payment_id)
            what = f"Payment {payment.number}" if payment else "Payment"
            entry_id = payment.entry_id if payment else None
        else:
            other_id = allocation.invoice_id if allocation.credit_note_id == document.id else allocation.credit_note_id
            other = await repo.document(access.session, other_id or "")
            verb = "Credits" if allocation.credit_note_id == document.id else "Credit note"
            what = f"{verb} {other.number}" if other and other.number else verb
            entry_id = other.entry_id if other else None
        shown.append(Settlement(allocation.date, what, allocation.amount, allocation.undone_at is not None, entry_id))
    return shown


async def _document_page(
    request: Request, view: TenantView, company_id: str, side: receivables.Side, document_id: str
) -> HTMLResponse:
    async with _ledger(request, view) as access:
        company = await ledger.get_company(access, company_id)
        document = await _document_of(access, company, side, document_id)
        detail = await receivables.document_detail(access, document)
        party = await repo.party(access.session, document.party_id)
        book = await posting.books(access.session, company.id)
        settlements = await _settlements(access, document)
        banks = list(
            await access.session.scalars(
                select(BankAccount)
                .where(BankAccount.company_id == company.id, BankAccount.currency == document.currency)
                .order_by(BankAccount.name)
            )
        )
        original = await repo.document(access.session, document.original_id) if document.original_id else None
    applied = sum((s.amount for s in settlements if not s.undone), ZERO)
    payable = document.state == "posted" and document.kind == side.kinds[0] and detail.residual > 0
    return await finance_page(
        request,
        view,
        "finance_invoice.html",
        company=company,
        words=_words(side),
        side=side,
        document=detail,
        party=party,
        accounts=book.accounts,
        settlements=settlements,
        settled_elsewhere=max(detail.paid - applied, ZERO),
        original=original,
        banks=banks,
        payable=payable,
        today=utcnow().date().isoformat(),
        document_url=_document_url(view, company_id, side, document_id),
        entry_url=lambda entry_id: _entry_url(view, company_id, entry_id),
        base=_documents_url(view, company_id, side),
        section=_words(side).path,
    )


async def _post_document(
    request: Request, view: TenantView, company_id: str, side: receivables.Side, document_id: str
) -> Response:
    async def change(access: Access) -> tuple[str, str]:
        company = await ledger.get_company(access, company_id)
        document = await _document_of(access, company, side, document_id)
        posted = await receivables.post_document(access, side, document.id)
        return f"{_words(side).one.capitalize()} {posted.number} is posted.", _document_url(
            view, company.id, side, posted.id
        )

    return await _act(request, view, change, back_to=_document_url(view, company_id, side, document_id))


async def _delete_document(
    request: Request, view: TenantView, company_id: str, side: receivables.Side, document_id: str
) -> Response:
    async def change(access: Access) -> tuple[str, str]:
        company = await ledger.get_company(access, company_id)
        document = await _document_of(access, company, side, document_id)
        await receivables.delete_document(access, side, document.id)
        return f"The draft {_words(side).one} is deleted.", _documents_url(view, company.id, side)

    return await _act(request, view, change, back_to=_document_url(view, company_id, side, document_id))


async def _cancel_document(
    request: Request, view: TenantView, company_id: str, side: receivables.Side, document_id: str
) -> Response:
    """A draft is marked cancelled; a posted document is cancelled by a credit note."""
    form = await request.form()
    reason = form_text(form, "reason")

    async def change(access: Access) -> tuple[str, str]:
        company = await ledger.get_company(access, company_id)
        document = await _document_of(access, company, side, document_id)
        data = DocumentCancel.model_validate({"reason": reason})
        done = await receivables.cancel_document(access, side, document.id, data)
        by = await repo.document(access.session, done.cancelled_by_id) if done.cancelled_by_id else None
        credited = f" by credit note {by.number}" if by is not None else ""
        name = done.number or f"The draft {_words(side).one}"
        return f"{name} is cancelled{credited}.", _document_url(view, company.id, side, done.id)

    return await _act(request, view, change, back_to=_document_url(view, company_id, side, document_id))


async def _register_payment(
    request: Request, view: TenantView, company_id: str, side: receivables.Side, document_id: str
) -> Response:
    """Post a payment of the document's party into the chosen bank account and apply it to the
    document; what exceeds the open amount stays as the party's credit."""
    form = await request.form()
    raw_amount, raw_date, bank_id = (
        form_text(form, "amount"),
        form_text(form, "date"),
        form_text(form, "bank_account_id"),
    )
    back = _document_url(view, company_id, side, document_id)

    async def change(access: Access) -> tuple[str, str]:
        company = await ledger.get_company(access, company_id)
        document = await _document_of(access, company, side, document_id)
        if document.state != "posted" or document.kind != side.kinds[0]:
            name = document.number or f"a draft {side.noun}"
            raise Conflict(f"{name} is {document.kind.replace('_', ' ')}, {document.state}: it takes no payment")
        amount = typed_amount(raw_amount, "amount", "amount")
        if amount is None or amount <= 0:
            raise ValidationFailed("amount: give the amount paid, above zero", field="amount")
        day = _date(raw_date, "date", required=True)
        bank: BankAccount | None = None
        if bank_id:
            bank = await banking.get_bank_account(access, bank_id)
            if bank.company_id != company.id:
                raise ValidationFailed(f"no bank account {bank_id!r} in {company.name}", field="bank_account_id")
        residual = (await receivables.figures(access, [document]))[document.id].residual
        if residual == 0:
            raise Conflict(f"{document.number} is paid; nothing is open on it", field="amount")
        applied = min(amount, residual)
        data = PaymentCreate.model_validate(
            {
                "company_id": company.id,
                "party_id": document.party_id,
                "direction": side.direction,
                "date": day,
                "amount": amount,
                "currency": document.currency,
                "journal": bank.journal_id if bank else None,
                "account": bank.account_id if bank else None,
                "reference": document.number,
                "allocations": [AllocationIn(invoice_id=document.id, amount=applied)],
            }
        )
        payment = await payments.create_payment(access, data)
        rest = amount - applied
        credit = f"; {money(rest)} {payment.currency} stays open as credit" if rest > 0 else ""
        return (
            f"Payment {payment.number} of {money(amount)} {payment.currency} is registered"
            f" and applied to {document.number}{credit}.",
            back,
        )

    return await _act(request, view, change, back_to=back)


def _document_routes(path: str, side: receivables.Side) -> None:
    """The pages and forms of one side, under ``/t/{slug}/finance/{company_id}/{path}``."""
    base = f"/t/{{slug}}/finance/{{company_id}}/{path}"
    one = f"{base}/{{document_id}}"

    async def list_page(request: Request, company_id: str, view: InvoiceReader) -> HTMLResponse:
        return await _documents_page(request, view, company_id, side)

    async def new_page(request: Request, company_id: str, view: InvoiceManager) -> HTMLResponse:
        return await _new_document_page(request, view, company_id, side, DocumentForm.blank_form())

    async def new_line(request: Request, company_id: str, view: InvoiceManager) -> HTMLResponse:
        return await _new_line(request, view, company_id, side)

    async def create(request: Request, company_id: str, view: InvoiceManager) -> Response:
        return await _create_document(request, view, company_id, side)

    async def document_page(request: Request, company_id: str, document_id: str, view: InvoiceReader) -> HTMLResponse:
        return await _document_page(request, view, company_id, side, document_id)

    async def post(request: Request, company_id: str, document_id: str, view: InvoiceManager) -> Response:
        return await _post_document(request, view, company_id, side, document_id)

    async def delete(request: Request, company_id: str, document_id: str, view: InvoiceManager) -> Response:
        return await _delete_document(request, view, company_id, side, document_id)

    async def cancel(request: Request, company_id: str, document_id: str, view: InvoiceManager) -> Response:
        return await _cancel_document(request, view, company_id, side, document_id)

    async def pay(request: Request, company_id: str, document_id: str, view: InvoiceManager) -> Response:
        return await _register_payment(request, view, company_id, side, document_id)

    router.add_api_route(base, list_page, methods=["GET"], name=f"{path}_page")
    router.add_api_route(f"{base}/new", new_page, methods=["GET"], name=f"{path}_new")
    router.add_api_route(f"{base}/line", new_line, methods=["GET"], name=f"{path}_line")
    router.add_api_route(base, create, methods=["POST"], dependencies=[Csrf], name=f"{path}_create")
    router.add_api_route(one, document_page, methods=["GET"], name=f"{path}_document")
    router.add_api_route(f"{one}/post", post, methods=["POST"], dependencies=[Csrf], name=f"{path}_post")
    router.add_api_route(f"{one}/delete", delete, methods=["POST"], dependencies=[Csrf], name=f"{path}_delete")
    router.add_api_route(f"{one}/cancel", cancel, methods=["POST"], dependencies=[Csrf], name=f"{path}_cancel")
    router.add_api_route(f"{one}/payments", pay, methods=["POST"], dependencies=[Csrf], name=f"{path}_pay")


for _path, _side in SIDES.items():
    _document_routes(_path, _side)


# -- parties ----------------------------------------------------------------------------------


@dataclass
class PartyForm:
    name: str = ""
    is_customer: bool = True
    is_vendor: bool = False
    email: str = ""
    tax_id: str = ""
    ibans: str = ""
    payment_terms: str = ""
    currency: str = ""

    @classmethod
    def from_form(cls, form: FormData) -> PartyForm:
        return cls(
            name=form_text(form, "name"),
            is_customer=form_checked(form, "is_customer"),
            is_vendor=form_checked(form, "is_vendor"),
            email=form_text(form, "email"),
            tax_id=form_text(form, "tax_id"),
            ibans=form_text(form, "ibans"),
            payment_terms=form_text(form, "payment_terms"),
            currency=form_text(form, "currency").upper(),
        )

    def data(self, company_id: str) -> PartyCreate:
        """One IBAN a line (or separated by commas); the service checks and normalises them."""
        ibans = [i.strip() for i in re.split(r"[\n,;]", self.ibans) if i.strip()]
        try:
            return PartyCreate.model_validate(
                {
                    "company_id": company_id,
                    "name": self.name,
                    "is_customer": self.is_customer,
                    "is_vendor": self.is_vendor,
                    "email": self.email or None,
                    "tax_id": self.tax_id or None,
                    "ibans": ibans,
                    "payment_terms": self.payment_terms or None,
                    "currency": self.currency or None,
                }
            )
        except ValidationError as exc:
            raise _line_numbered(exc) from None


async def _parties_page(
    request: Request, view: TenantView, company_id: str, status_code: int = 200, *, typed: PartyForm | None = None
) -> HTMLResponse:
    async with _ledger(request, view) as access:
        company = await ledger.get_company(access, company_id)
        parties = await repo.parties(access.session, company.id, limit=1000)
        terms = [(t.code, t.name) for t in await receivables.all_terms(access, company.id)]
    return await finance_page(
        request,
        view,
        "finance_invoice_parties.html",
        status_code,
        company=company,
        parties=parties,
        terms=terms,
        typed=typed or PartyForm(),
        section="parties",
    )


@router.get("/t/{slug}/finance/{company_id}/parties")
async def parties_page(request: Request, company_id: str, view: InvoiceReader) -> HTMLResponse:
    """The company's customers and vendors, and a form for a new one."""
    return await _parties_page(request, view, company_id)


@router.post("/t/{slug}/finance/{company_id}/parties", dependencies=[Csrf])
async def add_party(request: Request, company_id: str, view: InvoiceManager) -> Response:
    typed = PartyForm.from_form(await request.form())
    try:
        async with _ledger(request, view) as access:
            company = await ledger.get_company(access, company_id)
            party = await receivables.create_party(access, typed.data(company.id))
            name = party.name
    except NotFound:
        raise
    except (AtriumError, ValidationError) as exc:
        flash(request, problem_text(exc), "error")
        return await _parties_page(request, view, company_id, error_status(exc), typed=typed)
    flash(request, f"{name} is added.", "success")
    return redirect(_company_url(view, company_id, "/parties"))


# -- aged receivables and payables ------------------------------------------------------------


@router.get("/t/{slug}/finance/{company_id}/aged/{kind}")
async def aged_page(request: Request, company_id: str, kind: str, view: InvoiceReader) -> Response:
    """What was open at the end of a day per party, by days past due; or its CSV, XLSX or PDF."""
    if kind not in AGED:
        raise NotFound(f"no report {kind!r}", field="kind")
    fmt = request.query_params.get("format", "").strip().lower()
    if fmt and fmt not in EXPORTS:
        raise ValidationFailed(f"unknown format {fmt!r}; choose one of {', '.join(EXPORTS)}", field="format")
    raw = request.query_params.get("as_of", "").strip()
    status_code, report = 200, None
    async with _ledger(request, view) as access:
        company = await ledger.get_company(access, company_id)
        try:
            as_of = _date(raw, "as_of") or utcnow().date()
        except ValidationFailed as exc:
            if fmt:
                raise
            flash(request, exc.detail, "error")
            status_code, as_of = exc.status_code, None
        if as_of is not None:
            report = await receivables.aged(access, company.id, kind, as_of)
    if fmt and report is not None:
        body, media_type, filename = exports.export(receivables.aged_table(report, company.name), fmt)
        return Response(
            body, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
        )
    base = _company_url(view, company_id, f"/aged/{kind}")
    return await finance_page(
        request,
        view,
        "finance_invoice_aged.html",
        status_code,
        company=company,
        kind=kind,
        title=AGED[kind],
        report=report,
        as_of=raw if status_code != 200 else (report.as_of.isoformat() if report else raw),
        base=base,
        exports=EXPORTS,
        buckets=list(zip(receivables.BUCKETS, receivables.BUCKET_LABELS, strict=True)),
        section="aged",
    )
