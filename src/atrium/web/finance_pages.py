"""Console pages of finance inside a tenant: companies and their charts of accounts (from a template
or an upload), a company's chart, journals, lock dates and chain check; journal entries (the list
with its filters, an entry with its attachments and its post, reverse and delete buttons, and the
new-entry form with its running difference); exchange rates and revaluation; the financial reports
with their downloads and drill-downs; and the period close.

Every page and form needs the finance permission its API route needs (others get "not found") and
the tenant's ``module.finance`` entitlement, checked first as the API's router does. Pages work
through the same service functions as the API, in one tenant unit of work acting as the viewer; a
refusal is shown in the service's own words next to what was typed, naming the line or row.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, fields
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile

from atrium.api.deps import TenantContext
from atrium.api.routing import APIRouter
from atrium.apps.finance import charts, closing, fx, integrity, intercompany, posting, reports, service, tabular
from atrium.apps.finance import repository as repo
from atrium.apps.finance.auth import (
    ACCOUNTS_MANAGE,
    ACCOUNTS_READ,
    BANK_READ,
    BANK_RECONCILE,
    INVOICE_MANAGE,
    INVOICE_READ,
    JOURNAL_POST,
    JOURNAL_READ,
    PERIOD_LOCK,
    REPORT_READ,
)
from atrium.apps.finance.exports import Column, ColumnKind, display
from atrium.apps.finance.models import Account, Company, Entry
from atrium.apps.finance.money import ZERO, fiscal_year_of
from atrium.apps.finance.schemas import CompanyCreate, EntryReverse, LockDates, RateCreate
from atrium.core.db import utcnow
from atrium.core.errors import AtriumError, NotFound, ValidationFailed
from atrium.platform.access import catalog
from atrium.platform.access.auth import Access
from atrium.platform.entitlements import service as entitlements
from atrium.platform.tenancy.exceptions import TenantInactive
from atrium.runtime import Runtime
from atrium.web.console import Csrf, error_status, flash, form_checked, form_text, problem_text, redirect, render
from atrium.web.tenant_access import MemberView, TenantView, requiring

MODULE = "module.finance"
PAGE_SIZE = 50
LEDGER_PAGE = 500
AUDIT_PAGE = 200
NEW_ENTRY_LINES = 2
LOCK_RULES = (
    "Soft lock: only people who may lock periods post on or before it; clear it to lift it. "
    "Hard lock: nobody posts on or before it, and it only moves forward — it cannot be moved back or removed."
)


async def _finance_open(request: Request, view: MemberView) -> None:
    """As the API's router: an active tenant whose plan includes finance (403 naming it)."""
    if view.tenant.status != "active":
        raise TenantInactive(view.tenant.slug, view.tenant.status)
    await entitlements.ensure(_runtime(request).db, view.tenant, MODULE)


router = APIRouter(include_in_schema=False, dependencies=[Depends(_finance_open)])


def _holding(permission: str) -> Any:
    return Depends(requiring(permission))


AccountReader = Annotated[TenantView, _holding(ACCOUNTS_READ)]
AccountManager = Annotated[TenantView, _holding(ACCOUNTS_MANAGE)]
JournalReader = Annotated[TenantView, _holding(JOURNAL_READ)]
Poster = Annotated[TenantView, _holding(JOURNAL_POST)]
PeriodLocker = Annotated[TenantView, _holding(PERIOD_LOCK)]
ReportReader = Annotated[TenantView, _holding(REPORT_READ)]


# -- shared ---------------------------------------------------------------------------------------


def _runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


@asynccontextmanager
async def _ledger(request: Request, view: TenantView) -> AsyncIterator[Access]:
    """The tenant's books for one page or form, acting as the viewer; committed when the block
    ends without error (as the API's request is), rolled back otherwise."""
    async with _runtime(request).db.tenant_unit_of_work(view.tenant) as (session, platform):
        yield Access(TenantContext(view.tenant, session, platform), view.principal, view.subject)
        await _runtime(request).db.commit_unit_of_work(session, platform)


def _can(view: TenantView, permission: str) -> bool:
    """Whether to offer a form: held, and not privileged while viewing as someone else."""
    return view.may(permission) and not (view.impersonating and catalog.is_privileged(permission))


def _abilities(view: TenantView) -> dict[str, bool]:
    return {
        "read_accounts": view.may(ACCOUNTS_READ),
        "manage_accounts": _can(view, ACCOUNTS_MANAGE),
        "read_journal": view.may(JOURNAL_READ),
        "post": _can(view, JOURNAL_POST),
        "lock": _can(view, PERIOD_LOCK),
        "reports": view.may(REPORT_READ),
        "read_bank": view.may(BANK_READ),
        "reconcile": _can(view, BANK_RECONCILE),
        "read_invoices": view.may(INVOICE_READ),
        "manage_invoices": _can(view, INVOICE_MANAGE),
    }


_MONEY, _PERCENT, _NUMBER = (
    Column("v", "v", kind) for kind in (ColumnKind.MONEY, ColumnKind.PERCENT, ColumnKind.NUMBER)
)


def money(value: object) -> str:
    """An amount with thousands separators and, as the API writes it, two places or as many as it
    really has (KWD has three): the ledger's columns keep four, read back as 460.0000."""
    if isinstance(value, Decimal) and value.is_finite():
        cents = value.quantize(Decimal("0.01"))
        value = cents if cents == value else value.normalize()
    return display(value, _MONEY)


def percent(value: object) -> str:
    return display(value, _PERCENT)


def number(value: object) -> str:
    return display(value, _NUMBER)


async def finance_page(
    request: Request, view: TenantView, template: str, status_code: int = 200, **ctx: Any
) -> HTMLResponse:
    return await render(
        request,
        f"console/{template}",
        status_code,
        tenant=view.tenant,
        view=view,
        can=_abilities(view),
        money=money,
        percent=percent,
        number=number,
        **ctx,
    )


def _base(view: TenantView) -> str:
    return f"/t/{view.tenant.slug}/finance"


def _company_url(view: TenantView, company_id: str, rest: str = "") -> str:
    return f"{_base(view)}/{quote(company_id, safe='')}{rest}"


def _entry_url(view: TenantView, company_id: str, entry_id: str) -> str:
    return _company_url(view, company_id, f"/entries/{quote(entry_id, safe='')}")


async def _act(
    request: Request,
    view: TenantView,
    change: Callable[[Access], Awaitable[tuple[str, str]]],
    *,
    back_to: str,
) -> Response:
    """A button's change in one unit of work: on success flash its message and go where it says;
    a refusal is flashed and the person goes back. Something that does not exist stays a 404."""
    try:
        async with _ledger(request, view) as access:
            done, where = await change(access)
    except NotFound:
        raise
    except (AtriumError, ValidationError) as exc:
        flash(request, problem_text(exc), "error")
        return redirect(back_to)
    flash(request, done, "success")
    return redirect(where)


def _date(raw: str, name: str, *, required: bool = False) -> dt.date | None:
    """A date field (YYYY-MM-DD, as the browser's date input sends it)."""
    if not raw:
        if required:
            raise ValidationFailed(f"{name}: give a date", field=name)
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(f"{name}: {raw!r} is not a date (YYYY-MM-DD)", field=name) from None


def _row_problems(exc: Exception) -> list[dict[str, object]]:
    """The bad rows of a refused upload (row, field, detail), for the table under the form."""
    found = exc.extra.get("errors") if isinstance(exc, AtriumError) else None
    return [e for e in found if isinstance(e, dict)] if isinstance(found, list) else []


async def _upload(form: FormData, name: str = "file") -> tuple[bytes, str | None, str | None]:
    upload = form.get(name)
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise ValidationFailed("choose a file to upload", field=name)
    return await upload.read(), upload.filename, upload.content_type


def _chart_tree(accounts: Sequence[Account]) -> list[tuple[Account, int]]:
    """Accounts in code order under their parents, each with its depth, for an indented chart."""
    ids = {a.id for a in accounts}
    children: dict[str | None, list[Account]] = defaultdict(list)
    for account in accounts:
        children[account.parent_id if account.parent_id in ids else None].append(account)
    out: list[tuple[Account, int]] = []
    stack = [(a, 0) for a in sorted(children[None], key=lambda a: a.code, reverse=True)]
    while stack:
        account, depth = stack.pop()
        out.append((account, depth))
        stack += [(c, depth + 1) for c in sorted(children[account.id], key=lambda a: a.code, reverse=True)]
    return out


# -- companies ------------------------------------------------------------------------------------


@dataclass
class CompanyForm:
    name: str = ""
    base_currency: str = "EUR"
    fiscal_year_start_month: str = "1"
    chart_template: str = "ifrs"

    @classmethod
    def from_form(cls, form: FormData) -> CompanyForm:
        return cls(**{f.name: form_text(form, f.name) for f in fields(cls)})

    def data(self) -> CompanyCreate:
        return CompanyCreate.model_validate(
            {
                "name": self.name,
                "base_currency": self.base_currency.upper(),
                "fiscal_year_start_month": self.fiscal_year_start_month or 1,
                "chart_template": self.chart_template or None,
            }
        )


async def _companies_page(
    request: Request,
    view: TenantView,
    status_code: int = 200,
    *,
    typed: CompanyForm | None = None,
    upload_for: str | None = None,
    problems: list[dict[str, object]] | None = None,
) -> HTMLResponse:
    async with _ledger(request, view) as access:
        companies = list(await repo.companies(access.session))
        empty = {c.id for c in companies if not await repo.accounts(access.session, c.id)}
    return await finance_page(
        request,
        view,
        "finance_companies.html",
        status_code,
        companies=companies,
        empty=empty,
        templates=charts.TEMPLATES,
        months=list(enumerate(calendar.month_name))[1:],
        month_name=calendar.month_name,
        typed=typed or CompanyForm(),
        upload_for=upload_for,
        problems=problems or [],
    )


@router.get("/t/{slug}/finance")
async def companies_page(request: Request, view: AccountReader) -> HTMLResponse:
    """The tenant's companies, a form for a new one, and a chart upload for those without one."""
    return await _companies_page(request, view)


@router.post("/t/{slug}/finance/companies", dependencies=[Csrf])
async def create_company(request: Request, view: AccountManager) -> Response:
    typed = CompanyForm.from_form(await request.form())
    try:
        async with _ledger(request, view) as access:
            company = await service.create_company(access, typed.data())
            company_id, name = company.id, company.name
    except (AtriumError, ValidationError) as exc:
        flash(request, problem_text(exc), "error")
        return await _companies_page(request, view, error_status(exc), typed=typed)
    template = charts.TEMPLATES.get(typed.chart_template)
    chart = f" with the {template.name} chart" if template else "; upload its chart of accounts below"
    flash(request, f"{name} is created{chart}.", "success")
    return redirect(_company_url(view, company_id) if template else _base(view))


@router.post("/t/{slug}/finance/{company_id}/chart", dependencies=[Csrf])
async def import_chart(request: Request, company_id: str, view: AccountManager) -> Response:
    """A CSV or XLSX chart for a company without accounts; every bad row is listed under the form."""
    form = await request.form()
    try:
        data, filename, content_type = await _upload(form)
        async with _ledger(request, view) as access:
            rows = tabular.chart_rows(data, filename, content_type)
            loaded = await service.import_chart(access, company_id, rows)
    except NotFound:
        raise
    except AtriumError as exc:
        flash(request, problem_text(exc), "error")
        return await _companies_page(request, view, exc.status_code, upload_for=company_id, problems=_row_problems(exc))
    flash(request, f"The chart is loaded: {len(loaded)} accounts.", "success")
    return redirect(_company_url(view, company_id))


# -- one company: chart, journals, lock dates, chain --------------------------------------------


async def _company_page(
    request: Request, view: TenantView, company_id: str, *, verification: integrity.Verification | None = None
) -> HTMLResponse:
    async with _ledger(request, view) as access:
        company = await service.get_company(access, company_id)
        accounts = list(await repo.accounts(access.session, company.id))
        journals = list(await repo.journals(access.session, company.id)) if view.may(JOURNAL_READ) else []
    return await finance_page(
        request,
        view,
        "finance_company.html",
        company=company,
        chart=_chart_tree(accounts),
        accounts={a.id: a for a in accounts},
        journals=journals,
        chart_template=charts.TEMPLATES.get(company.chart_template or ""),
        month_name=calendar.month_name,
        lock_rules=LOCK_RULES,
        verification=verification,
        section="chart",
    )


@router.get("/t/{slug}/finance/{company_id}")
async def company_page(request: Request, company_id: str, view: AccountReader) -> HTMLResponse:
    return await _company_page(request, view, company_id)


@router.post("/t/{slug}/finance/{company_id}/verify", dependencies=[Csrf])
async def verify_chain(request: Request, company_id: str, view: JournalReader) -> HTMLResponse:
    """Recompute the company's chain: a fragment for the button's HTMX request, else the page."""
    async with _ledger(request, view) as access:
        company = await service.get_company(access, company_id)
        result = await integrity.verify(access.session, company.id)
    if request.headers.get("hx-request") == "true":
        return await finance_page(request, view, "finance_verify.html", verification=result)
    if not view.may(ACCOUNTS_READ):
        raise NotFound(f"no company {company_id!r}", field="company_id")
    return await _company_page(request, view, company_id, verification=result)


@router.post("/t/{slug}/finance/{company_id}/lock-dates", dependencies=[Csrf])
async def set_lock_dates(request: Request, company_id: str, view: PeriodLocker) -> Response:
    """An empty soft lock lifts it; an empty hard lock leaves it where it is (it is never removed)."""
    form = await request.form()
    soft, hard = form_text(form, "soft_lock_date"), form_text(form, "hard_lock_date")
    changes: dict[str, object] = {"soft_lock_date": soft or None}
    if hard:
        changes["hard_lock_date"] = hard

    async def change(access: Access) -> tuple[str, str]:
        company = await service.set_lock_dates(access, company_id, LockDates.model_validate(changes))
        dates = [
            f"{name} lock {day.isoformat()}"
            for name, day in (("soft", company.soft_lock_date), ("hard", company.hard_lock_date))
            if day
        ]
        return f"Lock dates saved: {', '.join(dates) or 'none'}.", _company_url(view, company.id, "#lock-dates")

    return await _act(request, view, change, back_to=_company_url(view, company_id, "#lock-dates"))


# -- journal entries ------------------------------------------------------------------------------

STATES = ("draft", "posted", "reversed")


@dataclass
class EntryFilters:
    """The entries list's filters as typed, and the page."""

    journal_id: str = ""
    state: str = ""
    date_from: str = ""
    date_to: str = ""
    account_id: str = ""
    offset: int = 0

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> EntryFilters:
        raw = query.get("offset", "0")
        return cls(
            **{f.name: query.get(f.name, "").strip() for f in fields(cls) if f.name != "offset"},
            offset=int(raw) if raw.isdigit() else 0,
        )

    def url(self, base: str, offset: int) -> str:
        params = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "offset" and getattr(self, f.name)}
        if offset:
            params["offset"] = str(offset)
        return base + (f"?{urlencode(params)}" if params else "")

    def checked(self) -> dict[str, Any]:
        if self.state and self.state not in STATES:
            raise ValidationFailed(f"state: choose one of {', '.join(STATES)}", field="state")
        return {
            "journal_id": self.journal_id or None,
            "state": self.state or None,
            "date_from": _date(self.date_from, "date_from"),
            "date_to": _date(self.date_to, "date_to"),
            "account_id": self.account_id or None,
        }


@router.get("/t/{slug}/finance/{company_id}/entries")
async def entries_page(request: Request, company_id: str, view: JournalReader) -> HTMLResponse:
    """Entries newest first, filtered by journal, state, dates and account, a page at a time."""
    filters = EntryFilters.from_query(request.query_params)
    status_code, problem = 200, None
    async with _ledger(request, view) as access:
        company = await service.get_company(access, company_id)
        journals = list(await repo.journals(access.session, company.id))
        accounts = list(await repo.accounts(access.session, company.id))
        try:
            chosen = filters.checked()
        except ValidationFailed as exc:
            status_code, problem, found = exc.status_code, exc.detail, []
        else:
            found = list(
                await repo.entries(access.session, company.id, **chosen, limit=PAGE_SIZE + 1, offset=filters.offset)
            )
    if problem:
        flash(request, problem, "error")
    base = _company_url(view, company_id, "/entries")
    return await finance_page(
        request,
        view,
        "finance_entries.html",
        status_code,
        company=company,
        journals=journals,
        journal_codes={j.id: j.code for j in journals},
        accounts=accounts,
        entries=found[:PAGE_SIZE],
        filters=filters,
        states=STATES,
        newer=filters.url(base, max(filters.offset - PAGE_SIZE, 0)) if filters.offset else None,
        older=filters.url(base, filters.offset + PAGE_SIZE) if len(found) > PAGE_SIZE else None,
        section="entries",
    )


LINE_FIELDS = ("account", "debit", "credit", "currency", "label")
_LINE_FIELD = re.compile(r"^lines\[(\d+)\]")


@dataclass
class LineForm:
    """One line of the new-entry form as typed, and the refusal that names it."""

    account: str = ""
    debit: str = ""
    credit: str = ""
    currency: str = ""
    label: str = ""
    problem: str = ""

    @property
    def blank(self) -> bool:
        return not (self.account or self.debit or self.credit or self.label)


def _amount(raw: str, name: str, line_no: int, errors: list[dict[str, str]]) -> Decimal:
    """A typed amount (spaces and thousands commas allowed); posting checks sign and decimals."""
    if not raw:
        return ZERO
    try:
        value = Decimal(raw.replace(" ", "").replace(",", ""))
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        errors.append(
            {"field": f"lines[{line_no}].{name}", "detail": f"line {line_no}: {name} {raw!r} is not a number"}
        )
        return ZERO
    return value


@dataclass
class EntryForm:
    """The new-entry form: header and lines as typed, kept when the entry is refused. Empty lines
    are left out, so "line 3" in a refusal is the third line shown."""

    journal: str = "GEN"
    date: str = ""
    reference: str = ""
    memo: str = ""
    lines: list[LineForm] = field(default_factory=list)

    @classmethod
    def blank_form(cls) -> EntryForm:
        return cls(date=utcnow().date().isoformat(), lines=[LineForm() for _ in range(NEW_ENTRY_LINES)])

    @classmethod
    def from_form(cls, form: FormData) -> EntryForm:
        columns = {name: [str(v).strip() for v in form.getlist(name)] for name in LINE_FIELDS}
        count = max(len(values) for values in columns.values())
        typed = [
            LineForm(**{name: values[i] if i < len(values) else "" for name, values in columns.items()})
            for i in range(count)
        ]
        for line in typed:
            line.currency = line.currency.upper()
        return cls(
            journal=form_text(form, "journal") or "GEN",
            date=form_text(form, "date"),
            reference=form_text(form, "reference"),
            memo=form_text(form, "memo"),
            lines=[line for line in typed if not line.blank],
        )

    def proposal(self, company_id: str) -> posting.EntryIn:
        """The entry for ``posting``; what cannot even be read is refused naming the line."""
        day = _date(self.date, "date", required=True)
        assert day is not None
        errors: list[dict[str, str]] = []
        lines: list[posting.LineIn] = []
        for no, line in enumerate(self.lines, start=1):
            if not line.account:
                errors.append({"field": f"lines[{no}].account", "detail": f"line {no}: choose an account"})
            if line.currency and not re.fullmatch(r"[A-Z]{3}", line.currency):
                errors.append(
                    {
                        "field": f"lines[{no}].currency",
                        "detail": f"line {no}: currency {line.currency!r} is not a three-letter code such as EUR",
                    }
                )
            lines.append(
                posting.LineIn(
                    account=line.account,
                    debit=_amount(line.debit, "debit", no, errors),
                    credit=_amount(line.credit, "credit", no, errors),
                    currency=line.currency or None,
                    label=line.label or None,
                )
            )
        if errors:
            raise ValidationFailed("; ".join(e["detail"] for e in errors[:10]), field=errors[0]["field"], errors=errors)
        return posting.EntryIn(
            company_id=company_id,
            journal=self.journal,
            date=day,
            lines=lines,
            reference=self.reference or None,
            memo=self.memo or None,
        )

    def mark(self, exc: Exception) -> None:
        """Put each line's refusal next to it."""
        if not isinstance(exc, AtriumError):
            return
        named = [*_row_problems(exc)] or [{"field": exc.extra.get("field", ""), "detail": exc.detail}]
        for problem in named:
            found = _LINE_FIELD.match(str(problem.get("field", "")))
            if found and 1 <= int(found.group(1)) <= len(self.lines):
                line = self.lines[int(found.group(1)) - 1]
                line.problem = "; ".join(filter(None, [line.problem, str(problem.get("detail", ""))]))


@dataclass(frozen=True)
class CurrencySums:
    currency: str
    debit: Decimal
    credit: Decimal

    @property
    def difference(self) -> Decimal:
        return self.debit - self.credit


def difference(lines: Sequence[LineForm], base: str) -> list[CurrencySums]:
    """Debits and credits per currency as typed (what cannot be read counts as zero): an entry
    in one currency must come to zero in it; mixed currencies balance once converted at posting."""
    sums: dict[str, list[Decimal]] = {}
    for no, line in enumerate(lines, start=1):
        ignored: list[dict[str, str]] = []
        acc = sums.setdefault(line.currency or base, [ZERO, ZERO])
        acc[0] += _amount(line.debit, "debit", no, ignored)
        acc[1] += _amount(line.credit, "credit", no, ignored)
    return [CurrencySums(c, d, k) for c, (d, k) in sorted(sums.items())] or [CurrencySums(base, ZERO, ZERO)]


async def _new_entry_page(
    request: Request, view: TenantView, company_id: str, typed: EntryForm, status_code: int = 200
) -> HTMLResponse:
    async with _ledger(request, view) as access:
        company = await service.get_company(access, company_id)
        journals = list(await repo.journals(access.session, company.id))
        accounts = [a for a in await repo.accounts(access.session, company.id) if a.active]
    while len(typed.lines) < NEW_ENTRY_LINES:
        typed.lines.append(LineForm())
    return await finance_page(
        request,
        view,
        "finance_entry_new.html",
        status_code,
        company=company,
        journals=journals,
        accounts=accounts,
        typed=typed,
        sums=difference(typed.lines, company.base_currency),
        section="entries",
    )


@router.get("/t/{slug}/finance/{company_id}/entries/new")
async def new_entry_page(request: Request, company_id: str, view: Poster) -> HTMLResponse:
    return await _new_entry_page(request, view, company_id, EntryForm.blank_form())


@router.get("/t/{slug}/finance/{company_id}/entries/line")
async def entry_line(request: Request, company_id: str, view: Poster) -> HTMLResponse:
    """One more empty line for the new-entry form (its "Add line" button)."""
    async with _ledger(request, view) as access:
        company = await service.get_company(access, company_id)
        accounts = [a for a in await repo.accounts(access.session, company.id) if a.active]
    return await finance_page(
        request, view, "finance_entry_line.html", company=company, accounts=accounts, line=LineForm()
    )


@router.post("/t/{slug}/finance/{company_id}/entries/difference", dependencies=[Csrf])
async def entry_difference(request: Request, company_id: str, view: Poster) -> HTMLResponse:
    """The running difference of the lines typed so far, re-drawn as the person types."""
    typed = EntryForm.from_form(await request.form())
    async with _ledger(request, view) as access:
        company = await service.get_company(access, company_id)
    return await finance_page(
        request, view, "finance_entry_difference.html", sums=difference(typed.lines, company.base_currency)
    )


@router.post("/t/{slug}/finance/{company_id}/entries", dependencies=[Csrf])
async def create_entry(request: Request, company_id: str, view: Poster) -> Response:
    """Post the entry (or keep it as a draft); a refusal keeps every line as typed and names the line."""
    form = await request.form()
    typed = EntryForm.from_form(form)
    as_draft = form_text(form, "action") == "draft"
    try:
        async with _ledger(request, view) as access:
            company = await service.get_company(access, company_id)
            proposal = typed.proposal(company.id)
            entry = await (posting.save_draft(access, proposal) if as_draft else posting.post(access, proposal))
            entry_id, entry_number = entry.id, entry.number
    except NotFound:
        raise
    except (AtriumError, ValidationError) as exc:
        typed.mark(exc)
        flash(request, problem_text(exc), "error")
        return await _new_entry_page(request, view, company_id, typed, error_status(exc))
    flash(request, "The draft is saved." if as_draft else f"{entry_number} is posted.", "success")
    return redirect(_entry_url(view, company_id, entry_id))


async def _entry_of(access: Access, company: Company, entry_id: str) -> Entry:
    """The company's entry; another company's (or tenant's) is not found."""
    entry = await repo.entry(access.session, entry_id)
    if entry is None or entry.company_id != company.id:
        raise NotFound(f"no journal entry {entry_id!r} in {company.name}", field="entry_id")
    return entry


@dataclass(frozen=True)
class ShownLine:
    """A line of the entry page: posted lines in company currency with their transaction amount;
    a draft's as proposed."""

    no: int
    account: Account | None
    account_key: str
    debit: Decimal
    credit: Decimal
    currency: str
    amount_currency: Decimal | None
    rate: Decimal | None
    label: str | None


async def _shown_lines(access: Access, entry: Entry, book: posting.Books) -> list[ShownLine]:
    base = book.company.base_currency
    if entry.state == "draft":
        proposed = [posting.LineIn.from_json(line) for line in entry.draft_lines or []]
        return [
            ShownLine(
                n, book.account(p.account), p.account, p.debit, p.credit, p.currency or base, None, p.rate, p.label
            )
            for n, p in enumerate(proposed, start=1)
        ]
    return [
        ShownLine(
            line.line_no,
            book.accounts.get(line.account_id),
            line.account_id,
            line.debit,
            line.credit,
            line.currency,
            line.amount_currency,
            line.rate,
            line.label,
        )
        for line in await posting.lines_of(access.session, entry.id)
    ]


@router.get("/t/{slug}/finance/{company_id}/entries/{entry_id}")
async def entry_page(request: Request, company_id: str, entry_id: str, view: JournalReader) -> HTMLResponse:
    async with _ledger(request, view) as access:
        company = await service.get_company(access, company_id)
        entry = await _entry_of(access, company, entry_id)
        book = await posting.books(access.session, company.id)
        lines = await _shown_lines(access, entry, book)
        attachments = list(await repo.attachments(access.session, entry.id))
        linked = {
            key: await repo.entry(access.session, other)
            for key, other in (("reversal_of", entry.reversal_of_id), ("reversed_by", entry.reversed_by_id))
            if other
        }
    return await finance_page(
        request,
        view,
        "finance_entry.html",
        company=company,
        entry=entry,
        journal=book.journals.get(entry.journal_id),
        lines=lines,
        foreign=any(line.currency != company.base_currency for line in lines),
        attachments=attachments,
        linked=linked,
        today=utcnow().date().isoformat(),
        section="entries",
    )


@router.post("/t/{slug}/finance/{company_id}/entries/{entry_id}/post", dependencies=[Csrf])
async def post_draft(request: Request, company_id: str, entry_id: str, view: Poster) -> Response:
    async def change(access: Access) -> tuple[str, str]:
        company = await service.get_company(access, company_id)
        entry = await _entry_of(access, company, entry_id)
        await posting.post_draft(access, entry.id)
        return f"{entry.number} is posted.", _entry_url(view, company.id, entry.id)

    return await _act(request, view, change, back_to=_entry_url(view, company_id, entry_id))


@router.post("/t/{slug}/finance/{company_id}/entries/{entry_id}/delete", dependencies=[Csrf])
async def delete_draft(request: Request, company_id: str, entry_id: str, view: Poster) -> Response:
    async def change(access: Access) -> tuple[str, str]:
        company = await service.get_company(access, company_id)
        entry = await _entry_of(access, company, entry_id)
        await posting.delete_draft(access, entry.id)
        return "The draft is deleted.", _company_url(view, company.id, "/entries")

    return await _act(request, view, change, back_to=_entry_url(view, company_id, entry_id))


@router.post("/t/{slug}/finance/{company_id}/entries/{entry_id}/reverse", dependencies=[Csrf])
async def reverse_entry(request: Request, company_id: str, entry_id: str, view: Poster) -> Response:
    """Posted entries are never edited: the reversal mirrors this one (both sides of an
    inter-company pair together), on its date or the one given."""
    form = await request.form()
    reason, day = form_text(form, "reason"), form_text(form, "date")

    async def change(access: Access) -> tuple[str, str]:
        data = EntryReverse.model_validate({"reason": reason, "date": day or None})
        company = await service.get_company(access, company_id)
        entry = await _entry_of(access, company, entry_id)
        if entry.source == intercompany.SOURCE:
            reversal = (await intercompany.reverse_pair(access, entry.id, day=data.date, reason=data.reason))[0]
        else:
            reversal = await posting.reverse(access, entry.id, day=data.date, reason=data.reason)
        return f"{entry.number} is reversed by {reversal.number}.", _entry_url(view, company.id, reversal.id)

    return await _act(request, view, change, back_to=_entry_url(view, company_id, entry_id))


@router.post("/t/{slug}/finance/{company_id}/entries/{entry_id}/attachments", dependencies=[Csrf])
async def attach(request: Request, company_id: str, entry_id: str, view: Poster) -> Response:
    form = await request.form()

    async def change(access: Access) -> tuple[str, str]:
        content, filename, media_type = await _upload(form)
        company = await service.get_company(access, company_id)
        entry = await _entry_of(access, company, entry_id)
        kept = await service.attach(access, entry.id, filename or "attachment", media_type, content)
        return f"{kept.filename} is attached.", _entry_url(view, company.id, entry.id) + "#attachments"

    return await _act(request, view, change, back_to=_entry_url(view, company_id, entry_id) + "#attachments")


@router.get("/t/{slug}/finance/{company_id}/entries/{entry_id}/attachments/{attachment_id}")
async def download_attachment(
    request: Request, company_id: str, entry_id: str, attachment_id: str, view: JournalReader
) -> Response:
    async with _ledger(request, view) as access:
        company = await service.get_company(access, company_id)
        entry = await _entry_of(access, company, entry_id)
        found = await repo.attachment(access.session, attachment_id)
        if found is None or found.entry_id != entry.id:
            raise NotFound(f"no attachment {attachment_id!r}", field="attachment_id")
        content, media_type, filename = found.content, found.media_type, found.filename
    disposition = f"attachment; filename*=UTF-8''{quote(filename)}"
    return Response(content, media_type=media_type, headers={"Content-Disposition": disposition})


# -- exchange rates -------------------------------------------------------------------------------


async def _rates_page(
    request: Request,
    view: TenantView,
    company_id: str,
    status_code: int = 200,
    *,
    typed: dict[str, str] | None = None,
    problems: list[dict[str, object]] | None = None,
) -> HTMLResponse:
    async with _ledger(request, view) as access:
        company = await service.get_company(access, company_id)
        rates = list(await repo.rates(access.session, company.id))
    today = utcnow().date().isoformat()
    return await finance_page(
        request,
        view,
        "finance_rates.html",
        status_code,
        company=company,
        rates=rates,
        typed=typed or {"currency": "", "date": today, "rate": ""},
        problems=problems or [],
        today=today,
        section="rates",
    )


@router.get("/t/{slug}/finance/{company_id}/rates")
async def rates_page(request: Request, company_id: str, view: AccountReader) -> HTMLResponse:
    return await _rates_page(request, view, company_id)


@router.post("/t/{slug}/finance/{company_id}/rates", dependencies=[Csrf])
async def add_rate(request: Request, company_id: str, view: AccountManager) -> Response:
    """Add or replace one rate: units of the company's currency per unit of the currency."""
    form = await request.form()
    typed = {name: form_text(form, name) for name in ("currency", "date", "rate")}
    typed["currency"] = typed["currency"].upper()
    try:
        data = RateCreate.model_validate(typed)
        async with _ledger(request, view) as access:
            await service.add_rates(access, company_id, [(data.currency, data.date, data.rate)], "manual")
    except NotFound:
        raise
    except (AtriumError, ValidationError) as exc:
        flash(request, problem_text(exc), "error")
        return await _rates_page(request, view, company_id, error_status(exc), typed=typed)
    flash(request, f"The {data.currency} rate of {data.date.isoformat()} is saved.", "success")
    return redirect(_company_url(view, company_id, "/rates"))


@router.post("/t/{slug}/finance/{company_id}/rates/import", dependencies=[Csrf])
async def import_rates(request: Request, company_id: str, view: AccountManager) -> Response:
    """A CSV or XLSX of currency, date and rate; every bad row is listed and nothing is saved."""
    form = await request.form()
    try:
        data, filename, content_type = await _upload(form)
        async with _ledger(request, view) as access:
            rows = tabular.rate_rows(data, filename, content_type)
            saved = await service.add_rates(access, company_id, [(r.currency, r.date, r.rate) for r in rows], "import")
    except NotFound:
        raise
    except AtriumError as exc:
        flash(request, problem_text(exc), "error")
        return await _rates_page(request, view, company_id, exc.status_code, problems=_row_problems(exc))
    flash(request, f"{saved} rate(s) are saved.", "success")
    return redirect(_company_url(view, company_id, "/rates"))


@router.post("/t/{slug}/finance/{company_id}/revaluation", dependencies=[Csrf])
async def revalue(request: Request, company_id: str, view: Poster) -> Response:
    """Value open foreign balances at the rate of the day given; reversed the next day."""
    as_of = form_text(await request.form(), "as_of")

    async def change(access: Access) -> tuple[str, str]:
        day = _date(as_of, "as_of", required=True)
        assert day is not None
        company = await service.get_company(access, company_id)
        entry = await fx.revalue(access, company.id, day)
        if entry is None:
            rates = _company_url(view, company.id, "/rates")
            return f"Nothing to revalue at {day.isoformat()}: no foreign balance moved.", rates
        posted = _entry_url(view, company.id, entry.id)
        return f"Revaluation {entry.number} is posted and reversed the next day.", posted

    return await _act(request, view, change, back_to=_company_url(view, company_id, "/rates"))


# -- reports --------------------------------------------------------------------------------------

Report = (
    reports.TrialBalance
    | reports.GeneralLedger
    | reports.ProfitAndLoss
    | reports.BalanceSheet
    | reports.TaxReport
    | reports.JournalAudit
)
REPORTS = {
    "trial-balance": "Trial balance",
    "profit-and-loss": "Profit and loss",
    "balance-sheet": "Balance sheet",
    "general-ledger": "General ledger",
    "tax": "Tax report",
    "journal-audit": "Journal audit",
}
EXPORTS = ("csv", "xlsx", "pdf")
_API_REPORTS = re.compile(r"^/api/v1/tenants/[^/]+/finance/reports/")


@dataclass
class ReportQuery:
    """A report's inputs as typed in its form (empty: the report's defaults)."""

    date_from: str = ""
    date_to: str = ""
    compare_from: str = ""
    compare_to: str = ""
    as_of: str = ""
    compare_as_of: str = ""
    account_id: str = ""
    journal_id: str = ""
    include_closing: str = ""
    offset: str = ""

    @classmethod
    def from_query(cls, query: Mapping[str, str], company: Company) -> ReportQuery:
        """What was asked; the range defaults to the current fiscal year up to today."""
        typed = cls(**{f.name: query.get(f.name, "").strip() for f in fields(cls)})
        today = utcnow().date()
        start = reports.fiscal_year_start(company, today).isoformat()
        typed.date_from = typed.date_from or start
        typed.date_to = typed.date_to or today.isoformat()
        typed.as_of = typed.as_of or today.isoformat()
        return typed

    def day(self, name: str) -> dt.date | None:
        return _date(getattr(self, name), name)

    def required(self, name: str) -> dt.date:
        day = _date(getattr(self, name), name, required=True)
        assert day is not None
        return day

    @property
    def page(self) -> int:
        return int(self.offset) if self.offset.isdigit() else 0

    def url(self, base: str, **changes: object) -> str:
        values = {f.name: getattr(self, f.name) for f in fields(self)} | {k: str(v) for k, v in changes.items()}
        return f"{base}?{urlencode({k: v for k, v in values.items() if v})}"


async def _report(access: Access, kind: str, company: Company, asked: ReportQuery) -> Report:
    """The report the API's route would answer, from the same service function."""
    if kind == "trial-balance":
        start, end = asked.required("date_from"), asked.required("date_to")
        return await reports.trial_balance(
            access, company.id, start, end, asked.day("compare_from"), asked.day("compare_to")
        )
    if kind == "profit-and-loss":
        start, end = asked.required("date_from"), asked.required("date_to")
        return await reports.profit_and_loss(
            access, company.id, start, end, asked.day("compare_from"), asked.day("compare_to")
        )
    if kind == "balance-sheet":
        return await reports.balance_sheet(access, company.id, asked.required("as_of"), asked.day("compare_as_of"))
    if kind == "general-ledger":
        if not asked.account_id:
            raise ValidationFailed("account_id: choose an account", field="account_id")
        return await reports.general_ledger(
            access,
            company.id,
            asked.account_id,
            asked.required("date_from"),
            asked.required("date_to"),
            limit=LEDGER_PAGE,
            offset=asked.page,
            include_closing=asked.include_closing != "false",
        )
    if kind == "tax":
        return await reports.tax_report(access, company.id, asked.required("date_from"), asked.required("date_to"))
    if kind == "journal-audit":
        return await reports.journal_audit(
            access,
            company.id,
            asked.required("date_from"),
            asked.required("date_to"),
            asked.journal_id or None,
            limit=AUDIT_PAGE,
            offset=asked.page,
        )
    raise NotFound(f"no report {kind!r}", field="report")


@router.get("/t/{slug}/finance/{company_id}/reports")
async def reports_page(request: Request, company_id: str, view: ReportReader) -> HTMLResponse:
    async with _ledger(request, view) as access:
        company = await service.get_company(access, company_id)
    return await finance_page(
        request, view, "finance_reports.html", company=company, reports=REPORTS, section="reports"
    )


@router.get("/t/{slug}/finance/{company_id}/reports/{kind}")
async def report_page(request: Request, company_id: str, kind: str, view: ReportReader) -> Response:
    """A report with its inputs, or its CSV, XLSX or PDF download when ``format`` asks for one.
    Figures link to the general ledger that explains them, ledger lines to their entry."""
    if kind not in REPORTS:
        raise NotFound(f"no report {kind!r}", field="report")
    fmt = request.query_params.get("format", "").strip().lower()
    if fmt and fmt not in EXPORTS:
        raise ValidationFailed(f"unknown format {fmt!r}; choose one of {', '.join(EXPORTS)}", field="format")
    status_code, report, problem = 200, None, None
    async with _ledger(request, view) as access:
        company = await service.get_company(access, company_id)
        asked = ReportQuery.from_query(request.query_params, company)
        accounts = list(await repo.accounts(access.session, company.id))
        journals = list(await repo.journals(access.session, company.id))
        choosing = kind == "general-ledger" and not asked.account_id and not fmt  # the form comes first
        try:
            report = None if choosing else await _report(access, kind, company, asked)
        except ValidationFailed as exc:
            if fmt:
                raise
            status_code, problem = exc.status_code, exc.detail
    if fmt and report is not None:
        body, media_type, filename = reports.export(report, fmt)
        return Response(
            body, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
        )
    if problem:
        flash(request, problem, "error")
    base = _company_url(view, company_id, f"/reports/{kind}")

    def drill(api_url: str | None) -> str | None:
        """The console page of a report's drill-down (the API's URL with the console's prefix)."""
        return _API_REPORTS.sub(_company_url(view, company_id, "/reports/"), api_url) if api_url else None

    return await finance_page(
        request,
        view,
        "finance_report.html",
        status_code,
        company=company,
        kind=kind,
        title=REPORTS[kind],
        report=report,
        asked=asked,
        base=base,
        exports=EXPORTS,
        accounts=accounts,
        account_by_id={a.id: a for a in accounts},
        journals=journals,
        drill=drill,
        entry_url=lambda entry_id: _entry_url(view, company_id, entry_id),
        ledger_page=LEDGER_PAGE,
        audit_page=AUDIT_PAGE,
        section="reports",
    )


# -- period close ---------------------------------------------------------------------------------


@router.get("/t/{slug}/finance/{company_id}/periods")
async def periods_page(request: Request, company_id: str, view: ReportReader) -> HTMLResponse:
    """The months of a fiscal year with their lock state, its checklist, and the year-end close."""
    raw = request.query_params.get("fiscal_year", "").strip()
    async with _ledger(request, view) as access:
        company = await service.get_company(access, company_id)
        year = int(raw) if raw.isdigit() else fiscal_year_of(utcnow().date(), company.fiscal_year_start_month)
        state = await closing.fiscal_year_state(access, company.id, year)
    return await finance_page(
        request,
        view,
        "finance_periods.html",
        company=company,
        state=state,
        lock_rules=LOCK_RULES,
        section="periods",
    )


@router.post("/t/{slug}/finance/{company_id}/periods/close-year", dependencies=[Csrf])
async def close_year(request: Request, company_id: str, view: PeriodLocker) -> Response:
    """Post the closing entry of a fiscal year and (unless unticked) hard-lock it."""
    form = await request.form()
    raw, lock = form_text(form, "fiscal_year"), form_checked(form, "lock")
    back = _company_url(view, company_id, f"/periods?fiscal_year={quote(raw)}")

    async def change(access: Access) -> tuple[str, str]:
        if not raw.isdigit():
            raise ValidationFailed("fiscal_year: give the year a fiscal year starts in", field="fiscal_year")
        done = await closing.close_year(access, company_id, int(raw), lock=lock)
        result = f"net result {money(done.net_result)}" + (f" moved by {done.number}" if done.number else "")
        locked = f"; locked up to {done.hard_lock_date.isoformat()}" if done.locked and done.hard_lock_date else ""
        return f"Fiscal year {done.fiscal_year} is closed: {result}{locked}.", back

    return await _act(request, view, change, back_to=back)
