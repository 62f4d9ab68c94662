"""Console pages of a company's bank: its bank accounts with their CSV column mappings, statement
uploads (a refused file is shown with the line and field to fix, and nothing is imported), the
imported statements, and a statement's lines, each open one with its ranked suggestions and the
reasons for their scores. A person accepts a suggestion, splits a line across accounts, or undoes
a reconciliation; with HTMX the line is redrawn in place, without it the page is reloaded.

Pages and forms need the permission the API's bank routes need (``finance.bank.read`` to see,
``finance.bank.reconcile`` to change) and work through ``banking.service`` as the API does, in
one tenant unit of work acting as the viewer. Another tenant's or company's statement is not found.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy import func, select
from starlette.datastructures import FormData

from atrium.api.routing import APIRouter
from atrium.apps.finance import charts
from atrium.apps.finance import repository as repo
from atrium.apps.finance import service as ledger
from atrium.apps.finance.auth import BANK_READ, BANK_RECONCILE
from atrium.apps.finance.banking import matching, parsers
from atrium.apps.finance.banking import service as banking
from atrium.apps.finance.banking.models import BankAccount, Statement, StatementLine
from atrium.apps.finance.banking.schemas import BankAccountCreate
from atrium.apps.finance.models import Account, Company, Entry
from atrium.apps.finance.money import rounded
from atrium.core.errors import AtriumError, NotFound, ValidationFailed
from atrium.platform.access.auth import Access
from atrium.web.console import Csrf, error_status, flash, form_text, problem_text, redirect
from atrium.web.finance_pages import (
    _company_url,
    _entry_url,
    _finance_open,
    _ledger,
    _upload,
    finance_page,
    money,
)
from atrium.web.tenant_access import TenantView, requiring

router = APIRouter(include_in_schema=False, dependencies=[Depends(_finance_open)])

BankReader = Annotated[TenantView, Depends(requiring(BANK_READ))]
Reconciler = Annotated[TenantView, Depends(requiring(BANK_RECONCILE))]

SPLIT_ROWS = 3
SUGGESTIONS = 5
DELIMITERS = {"": "Detect", ";": "Semicolon ;", ",": "Comma ,", "\t": "Tab", "|": "Bar |"}
THOUSANDS = {"": "None", ".": "Point .", ",": "Comma ,", " ": "Space", "'": "Apostrophe '"}
MAPPING_TEXT = (
    "date_column",
    "date_format",
    "value_date_column",
    "amount_column",
    "debit_column",
    "credit_column",
    "counterparty_column",
    "iban_column",
    "reference_column",
    "currency_column",
    "currency",
    "encoding",
)


# -- shared by the finance console's bank and invoice pages ----------------------------------


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def typed_amount(raw: str, field: str, where: str) -> Decimal | None:
    """An amount as typed (spaces and thousands commas allowed); empty is None."""
    if not raw:
        return None
    try:
        value = Decimal(raw.replace(" ", "").replace(",", ""))
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        raise ValidationFailed(f"{where}: {raw!r} is not an amount", field=field)
    return value


def score_text(score: float) -> str:
    """A score as people read it: whole points, or one decimal when it has one."""
    return f"{score:.0f}" if float(score).is_integer() else f"{score:.1f}"


# -- the bank page: accounts, mappings, upload, statements ----------------------------------


def _bank_url(view: TenantView, company_id: str, rest: str = "") -> str:
    return _company_url(view, company_id, f"/bank{rest}")


def _statement_url(view: TenantView, company_id: str, statement_id: str) -> str:
    return _bank_url(view, company_id, f"/statements/{quote(statement_id, safe='')}")


@dataclass
class BankAccountForm:
    name: str = ""
    iban: str = ""
    currency: str = ""
    account: str = ""

    @classmethod
    def from_form(cls, form: FormData) -> BankAccountForm:
        return cls(
            name=form_text(form, "name"),
            iban=form_text(form, "iban"),
            currency=form_text(form, "currency").upper(),
            account=form_text(form, "account"),
        )


@dataclass
class Refusal:
    """Why a form was refused, for the section it belongs to."""

    detail: str
    line: int | None = None
    field: str | None = None

    @classmethod
    def of(cls, exc: Exception) -> Refusal:
        extra = exc.extra if isinstance(exc, AtriumError) else {}
        line = extra.get("line")
        return cls(problem_text(exc), line if isinstance(line, int) else None, extra.get("field"))


def mapping_from_form(form: FormData) -> dict[str, Any]:
    """The CSV mapping as ``parsers.CsvMapping.from_dict`` reads it; empty fields keep their
    defaults. Separators are chosen from lists (a typed space would be lost to trimming)."""
    mapping: dict[str, Any] = {name: value for name in MAPPING_TEXT if (value := form_text(form, name))}
    if "currency" in mapping:
        mapping["currency"] = mapping["currency"].upper()
    columns = [c.strip() for c in form_text(form, "text_columns").split(",") if c.strip()]
    if columns:
        mapping["text_columns"] = columns
    for name in ("delimiter", "thousands_separator", "decimal_separator"):
        raw = form.get(name)
        if isinstance(raw, str) and raw:
            mapping[name] = raw
    skip = form_text(form, "skip_rows")
    if skip:
        if not skip.isdigit():
            raise ValidationFailed(f"skip_rows: {skip!r} is not a whole number", field="skip_rows")
        mapping["skip_rows"] = int(skip)
    return mapping


async def _bank_accounts(access: Access, company: Company) -> list[BankAccount]:
    rows = await access.session.scalars(
        select(BankAccount).where(BankAccount.company_id == company.id).order_by(BankAccount.name)
    )
    return list(rows.all())


async def _bank_page(
    request: Request,
    view: TenantView,
    company_id: str,
    status_code: int = 200,
    *,
    typed: BankAccountForm | None = None,
    mapping_for: str | None = None,
    typed_mapping: dict[str, Any] | None = None,
    refused: Refusal | None = None,
    section: str = "",
) -> HTMLResponse:
    async with _ledger(request, view) as access:
        company = await ledger.get_company(access, company_id)
        banks = await _bank_accounts(access, company)
        accounts = {a.id: a for a in await repo.accounts(access.session, company.id)}
        journals = {j.id: j for j in await repo.journals(access.session, company.id)}
        statements = (
            await access.session.scalars(
                select(Statement).where(Statement.company_id == company.id).order_by(Statement.created_at.desc())
            )
        ).all()
        still_open = dict(
            (
                await access.session.execute(
                    select(StatementLine.statement_id, func.count())
                    .where(StatementLine.company_id == company.id, StatementLine.state == "open")
                    .group_by(StatementLine.statement_id)
                )
            ).all()
        )
    mappings = {b.id: dict(b.csv_mapping or {}) for b in banks}
    if mapping_for is not None and typed_mapping is not None:
        mappings[mapping_for] = typed_mapping
    return await finance_page(
        request,
        view,
        "finance_bank.html",
        status_code,
        company=company,
        banks=banks,
        bank_names={b.id: b.name for b in banks},
        accounts=accounts,
        journals=journals,
        cash_accounts=sorted(
            (a for a in accounts.values() if a.active and a.kind in (charts.AccountKind.bank, charts.AccountKind.cash)),
            key=lambda a: a.code,
        ),
        statements=statements,
        still_open=still_open,
        typed=typed or BankAccountForm(),
        mappings=mappings,
        mapping_for=mapping_for,
        refused=refused,
        refused_section=section,
        formats=parsers.FORMATS,
        delimiters=DELIMITERS,
        thousands=THOUSANDS,
        section="bank",
    )


@router.get("/t/{slug}/finance/{company_id}/bank")
async def bank_page(request: Request, company_id: str, view: BankReader) -> HTMLResponse:
    """The company's bank accounts, their CSV mappings, the statement upload and the statements."""
    return await _bank_page(request, view, company_id)


@router.post("/t/{slug}/finance/{company_id}/bank/accounts", dependencies=[Csrf])
async def add_bank_account(request: Request, company_id: str, view: Reconciler) -> Response:
    typed = BankAccountForm.from_form(await request.form())
    try:
        async with _ledger(request, view) as access:
            company = await ledger.get_company(access, company_id)
            data = BankAccountCreate.model_validate(
                {
                    "company_id": company.id,
                    "name": typed.name,
                    "iban": typed.iban or None,
                    "currency": typed.currency or None,
                    "account": typed.account or None,
                }
            )
            bank = await banking.create_bank_account(
                access,
                company.id,
                name=data.name,
                iban=data.iban,
                currency=data.currency,
                account=data.account,
                journal=None,
            )
            journal = await repo.journal(access.session, bank.journal_id)
            name, journal_code = bank.name, journal.code if journal else ""
    except NotFound:
        raise
    except (AtriumError, ValidationError) as exc:
        flash(request, problem_text(exc), "error")
        return await _bank_page(
            request, view, company_id, error_status(exc), typed=typed, refused=Refusal.of(exc), section="account"
        )
    flash(request, f"{name} is added; its lines post through the {journal_code} journal.", "success")
    return redirect(_bank_url(view, company_id))


async def _bank_of(access: Access, company: Company, bank_account_id: str) -> BankAccount:
    """The company's bank account; another company's is not found."""
    bank = await banking.get_bank_account(access, bank_account_id)
    if bank.company_id != company.id:
        raise NotFound(f"no bank account {bank_account_id!r} in {company.name}", field="bank_account_id")
    return bank


@router.post("/t/{slug}/finance/{company_id}/bank/accounts/{bank_account_id}/mapping", dependencies=[Csrf])
async def save_mapping(request: Request, company_id: str, bank_account_id: str, view: Reconciler) -> Response:
    """The columns of this bank's CSV export; a mapping that could not read a file is refused
    naming the field, and what was typed stays in the form."""
    form = await request.form()
    typed: dict[str, Any] = {name: form_text(form, name) for name in (*MAPPING_TEXT, "text_columns", "skip_rows")}
    typed |= {name: str(form.get(name) or "") for name in ("delimiter", "thousands_separator", "decimal_separator")}
    try:
        async with _ledger(request, view) as access:
            company = await ledger.get_company(access, company_id)
            bank = await _bank_of(access, company, bank_account_id)
            await banking.save_csv_mapping(access, bank.id, mapping_from_form(form))
            name = bank.name
    except NotFound:
        raise
    except AtriumError as exc:
        flash(request, problem_text(exc), "error")
        typed["text_columns"] = [c.strip() for c in str(typed["text_columns"]).split(",") if c.strip()]
        return await _bank_page(
            request,
            view,
            company_id,
            exc.status_code,
            mapping_for=bank_account_id,
            typed_mapping=typed,
            refused=Refusal.of(exc),
            section="mapping",
        )
    flash(request, f"The CSV column mapping of {name} is saved.", "success")
    return redirect(_bank_url(view, company_id, f"#mapping-{bank_account_id}"))


@router.post("/t/{slug}/finance/{company_id}/bank/statements", dependencies=[Csrf])
async def upload_statement(request: Request, company_id: str, view: Reconciler) -> Response:
    """Import a CAMT.053, MT940, OFX or mapped CSV file. Lines imported before are skipped; a file
    that cannot be read is refused naming its line, and nothing of it is imported."""
    form = await request.form()
    bank_account_id, fmt = form_text(form, "bank_account_id") or None, form_text(form, "format") or None
    try:
        data, filename, _ = await _upload(form)
        async with _ledger(request, view) as access:
            company = await ledger.get_company(access, company_id)
            if bank_account_id is not None:
                await _bank_of(access, company, bank_account_id)
            imported = await banking.import_statement(
                access, company.id, data, filename=filename, fmt=fmt, bank_account_id=bank_account_id
            )
            statement_id, added, skipped = imported.statement.id, len(imported.lines), imported.duplicates
    except NotFound:
        raise
    except AtriumError as exc:
        flash(request, problem_text(exc), "error")
        return await _bank_page(request, view, company_id, exc.status_code, refused=Refusal.of(exc), section="upload")
    skipped_text = f"; {skipped} already imported before were skipped" if skipped else ""
    flash(request, f"{filename}: {added} lines imported{skipped_text}.", "success")
    return redirect(_statement_url(view, company_id, statement_id))


# -- a statement and its lines --------------------------------------------------------------


@dataclass(frozen=True)
class LineView:
    """A statement line as its part of the page shows it."""

    line: StatementLine
    suggestions: Sequence[matching.Suggestion]
    entry: Entry | None


@dataclass(frozen=True)
class StatementView:
    company: Company
    statement: Statement
    bank: BankAccount
    lines: list[LineView]
    items: dict[str, matching.OpenItem]
    accounts: list[Account]


async def _statement_view(
    access: Access, company_id: str, statement_id: str, *, only_line: str | None = None
) -> StatementView:
    """A statement of the company with its lines (or one of them), the suggestions of the open
    ones and the open items those name; another company's statement is not found."""
    company = await ledger.get_company(access, company_id)
    statement, lines = await banking.statement_lines(access, statement_id)
    if statement.company_id != company.id:
        raise NotFound(f"no bank statement {statement_id!r} in {company.name}", field="statement_id")
    if only_line is not None:
        lines = [line for line in lines if line.id == only_line]
    bank = await banking.get_bank_account(access, statement.bank_account_id)
    ranked = await banking.suggestions(access, lines, limit=SUGGESTIONS)
    items = {item.id: item for item in await banking.open_items_for(access, bank)} if ranked else {}
    entry_ids = [line.entry_id for line in lines if line.entry_id]
    entries = (
        {e.id: e for e in await access.session.scalars(select(Entry).where(Entry.id.in_(entry_ids)))}
        if entry_ids
        else {}
    )
    chart = await repo.accounts(access.session, company.id)
    parents = {a.parent_id for a in chart if a.parent_id}
    accounts = [a for a in chart if a.active and a.id not in parents]
    return StatementView(
        company,
        statement,
        bank,
        [LineView(line, ranked.get(line.id, []), entries.get(line.entry_id or "")) for line in lines],
        items,
        accounts,
    )


def _line_context(view: TenantView, shown: StatementView) -> dict[str, Any]:
    return {
        "company": shown.company,
        "statement": shown.statement,
        "bank": shown.bank,
        "items": shown.items,
        "accounts": shown.accounts,
        "split_rows": SPLIT_ROWS,
        "score_text": score_text,
        "plain": lambda amount, currency: str(rounded(amount, currency)),
        "statement_url": _statement_url(view, shown.company.id, shown.statement.id),
        "entry_url": lambda entry_id: _entry_url(view, shown.company.id, entry_id),
        "lines_url": _bank_url(view, shown.company.id, "/lines"),
    }


@router.get("/t/{slug}/finance/{company_id}/bank/statements/{statement_id}")
async def statement_page(request: Request, company_id: str, statement_id: str, view: BankReader) -> HTMLResponse:
    """Every line of the statement; open ones with their ranked suggestions, reconciled ones with
    the entry that booked them."""
    async with _ledger(request, view) as access:
        shown = await _statement_view(access, company_id, statement_id)
    return await finance_page(
        request,
        view,
        "finance_bank_statement.html",
        lines=shown.lines,
        open_count=sum(1 for shown_line in shown.lines if shown_line.line.state == "open"),
        section="bank",
        **_line_context(view, shown),
    )


async def _line_of(access: Access, company: Company, line_id: str) -> StatementLine:
    line = await access.session.scalar(select(StatementLine).where(StatementLine.id == line_id))
    if line is None or line.company_id != company.id:
        raise NotFound(f"no statement line {line_id!r} in {company.name}", field="bank_line_id")
    return line


async def _on_line(
    request: Request,
    view: TenantView,
    company_id: str,
    line_id: str,
    change: Callable[[Access, StatementLine], Awaitable[str]],
) -> Response:
    """A button's change to one statement line, in one unit of work. HTMX requests get the line
    redrawn with the outcome next to it (a refusal too: htmx swaps only successful answers);
    others are sent back to the statement with the outcome flashed."""
    statement_id = ""
    try:
        async with _ledger(request, view) as access:
            company = await ledger.get_company(access, company_id)
            line = await _line_of(access, company, line_id)
            statement_id = line.statement_id
            outcome, kind = await change(access, line), "success"
    except NotFound:
        raise
    except (AtriumError, ValidationError) as exc:
        outcome, kind = problem_text(exc), "error"
    if not statement_id:
        flash(request, outcome, kind)
        return redirect(_bank_url(view, company_id))
    if not is_htmx(request):
        flash(request, outcome, kind)
        return redirect(_statement_url(view, company_id, statement_id) + f"#line-{line_id}")
    async with _ledger(request, view) as access:
        shown = await _statement_view(access, company_id, statement_id, only_line=line_id)
    return await finance_page(
        request,
        view,
        "finance_bank_line.html",
        shown=shown.lines[0],
        notice={"kind": kind, "message": outcome},
        **_line_context(view, shown),
    )


@router.post("/t/{slug}/finance/{company_id}/bank/lines/{line_id}/accept", dependencies=[Csrf])
async def accept_suggestion(request: Request, company_id: str, line_id: str, view: Reconciler) -> Response:
    """Reconcile the line with the open items of the suggestion, each settled as far as it goes."""
    item_ids = [v for v in (await request.form()).getlist("item_id") if isinstance(v, str) and v.strip()]

    async def change(access: Access, line: StatementLine) -> str:
        if not item_ids:
            raise ValidationFailed("choose the suggestion to accept", field="item_id")
        done = await banking.reconcile_line(access, line.id, [banking.Counterpart(line_id=i) for i in item_ids])
        return f"Line {done.row} ({money(done.amount)} {done.currency}) is reconciled."

    return await _on_line(request, view, company_id, line_id, change)


def split_counterparts(form: FormData, line_amount: Decimal) -> list[banking.Counterpart]:
    """The rows of the split form with an account: amounts signed as on the statement; an empty
    amount takes what the rows above left of the line."""
    accounts, amounts, labels = (
        [str(v).strip() for v in form.getlist(name)] for name in ("account", "amount", "label")
    )
    parts: list[banking.Counterpart] = []
    for number_, account in enumerate(accounts, start=1):
        amount_raw = amounts[number_ - 1] if number_ <= len(amounts) else ""
        label = labels[number_ - 1] if number_ <= len(labels) else ""
        if not account:
            if amount_raw:
                raise ValidationFailed(f"row {number_}: choose the account for {amount_raw}", field="account")
            continue
        amount = typed_amount(amount_raw, "amount", f"row {number_}")
        if amount is not None and amount != 0 and (amount > 0) != (line_amount > 0):
            raise ValidationFailed(
                f"row {number_}: {amount_raw} has the opposite sign of the line ({line_amount}); "
                "amounts are signed as on the statement",
                field="amount",
            )
        parts.append(banking.Counterpart(amount=amount, account=account, label=label[:200] or None))
    if not parts:
        raise ValidationFailed("choose at least one account", field="account")
    return parts


@router.post("/t/{slug}/finance/{company_id}/bank/lines/{line_id}/split", dependencies=[Csrf])
async def split_line(request: Request, company_id: str, line_id: str, view: Reconciler) -> Response:
    """Post the line to one or several accounts (a fee, a line with no document yet); the rows
    must add up to the line."""
    form = await request.form()

    async def change(access: Access, line: StatementLine) -> str:
        done = await banking.reconcile_line(access, line.id, split_counterparts(form, line.amount))
        entry = await repo.entry(access.session, done.entry_id or "")
        posted = f" by {entry.number}" if entry is not None and entry.number else ""
        return f"Line {done.row} ({money(done.amount)} {done.currency}) is posted{posted}."

    return await _on_line(request, view, company_id, line_id, change)


@router.post("/t/{slug}/finance/{company_id}/bank/lines/{line_id}/undo", dependencies=[Csrf])
async def undo_line(request: Request, company_id: str, line_id: str, view: Reconciler) -> Response:
    """Reopen the line: its entry is reversed and what it settled is open again."""

    async def change(access: Access, line: StatementLine) -> str:
        done = await banking.undo_line(access, line.id)
        return f"Line {done.row} is open again; its entry is reversed."

    return await _on_line(request, view, company_id, line_id, change)
