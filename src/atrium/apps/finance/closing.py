"""Period close: the checklist that says whether a period can be closed, the year-end closing entry,
and the lock that keeps a closed year closed.

The checklist is a list of async checks (``CHECKS``); other modules add theirs with
``register_check`` (the bank statements module: statement lines not yet reconciled), and a
``blocking`` item stops a close. Closing a fiscal year posts one entry in the company's closing
journal on the year's last day that brings every income and expense account to zero against
retained earnings (in the company's currency), then moves the hard lock date to the year end.
Nothing else records the close: a year is closed while its closing entry (``source`` "closing",
``source_id`` the fiscal year) stands; reversing that entry, possible only while the year is not
hard-locked, reopens it. No opening entry is needed: balance-sheet accounts carry their balance
into the next year, and income and expense accounts start each fiscal year at zero (see reports).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel

from atrium.apps.finance import integrity, posting, reports, service, trail
from atrium.apps.finance import reports_repository as repo
from atrium.apps.finance.auth import PERIOD_LOCK
from atrium.apps.finance.charts import AccountKind
from atrium.apps.finance.models import Account, Company, Journal
from atrium.apps.finance.money import ZERO, fiscal_year_bounds, fiscal_year_of, periods_between, rounded
from atrium.apps.finance.schemas import LockDates, MoneyOut
from atrium.core.db import utcnow
from atrium.core.errors import Conflict, Forbidden, ValidationFailed
from atrium.core.events import outbox
from atrium.platform.access.auth import Access

CheckStatus = Literal["ok", "warning", "blocking"]
FISCAL_YEARS = range(1900, 3000)


class CloseBlocked(Conflict):
    code = "close-blocked"
    title = "Close blocked"


class CheckItem(BaseModel):
    key: str
    label: str
    status: CheckStatus
    detail: str
    count: int | None = None


@dataclass(frozen=True)
class CloseScope:
    """What a checklist looks at: a company from the start of a fiscal year to ``end`` (the
    year's last day for a year-end close, or a month end for a monthly close)."""

    company: Company
    fiscal_year: int
    start: dt.date
    end: dt.date


CloseCheck = Callable[[Access, CloseScope], Awaitable[CheckItem]]
CHECKS: list[CloseCheck] = []


def register_check(check: CloseCheck) -> CloseCheck:
    """Add a check to every checklist, once; usable as a decorator."""
    if check not in CHECKS:
        CHECKS.append(check)
    return check


# -- the built-in checks ----------------------------------------------------------------------


@register_check
async def no_drafts(access: Access, scope: CloseScope) -> CheckItem:
    """A draft left in a closed period could never be posted."""
    drafts = await repo.drafts_between(access.session, scope.company.id, scope.start, scope.end)
    return CheckItem(
        key="drafts",
        label="No draft entries in the period",
        status="blocking" if drafts else "ok",
        detail=f"{drafts} draft entries dated {scope.start.isoformat()} to {scope.end.isoformat()}: post or delete them"
        if drafts
        else "no drafts",
        count=drafts,
    )


@register_check
async def chain_intact(access: Access, scope: CloseScope) -> CheckItem:
    """Entries balance by construction; what a close must not seal is a ledger changed behind its back."""
    result = await integrity.verify(access.session, scope.company.id)
    detail = f"{result.entries} entries verified"
    if not result.intact:
        detail = f"the chain breaks at {result.broken_at or 'its end'}: {result.problem}"
    return CheckItem(
        key="chain",
        label="Inalterability chain intact",
        status="ok" if result.intact else "blocking",
        detail=detail,
        count=result.entries,
    )


@register_check
async def trial_balance_zero(access: Access, scope: CloseScope) -> CheckItem:
    tb = await reports.trial_balance(access, scope.company.id, scope.start, scope.end)
    return CheckItem(
        key="trial_balance",
        label="Trial balance sums to zero",
        status="ok" if tb.balanced else "blocking",
        detail=f"debits {tb.totals.debit}, credits {tb.totals.credit}, closing total {tb.totals.closing}",
    )


@register_check
async def earlier_years_closed(access: Access, scope: CloseScope) -> CheckItem:
    """Closing a year locks everything before it, so an earlier year's open result would stay
    outside retained earnings for good."""
    before = await reports.sums_between(access, scope.company.id, None, scope.start - reports.DAY)
    accounts = {a.id: a for a in await repo.accounts(access.session, scope.company.id)}
    unclosed = sum(
        (s.balance for i, s in before.items() if i in accounts and accounts[i].type in reports.RESULT_TYPES), ZERO
    )
    return CheckItem(
        key="earlier_years",
        label="Earlier fiscal years closed",
        status="blocking" if unclosed else "ok",
        detail=f"earlier years leave a result of {-unclosed} not yet closed; close them first"
        if unclosed
        else "nothing left from earlier years",
    )


@register_check
async def revaluation_run(access: Access, scope: CloseScope) -> CheckItem:
    """Open items in a foreign currency should be revalued at the period-end rate before closing."""
    company = scope.company
    foreign = await repo.open_items_count(access.session, company.id, scope.end, foreign_to=company.base_currency)
    done = foreign and await repo.revaluation_posted(access.session, company.id, scope.end.replace(day=1), scope.end)
    status: CheckStatus = "warning" if foreign and not done else "ok"
    detail = "no open items in a foreign currency"
    if foreign:
        detail = (
            f"{foreign} open items in a foreign currency; a revaluation was posted in the last month"
            if done
            else f"{foreign} open items in a foreign currency and no revaluation posted in "
            f"{scope.end.strftime('%Y-%m')}"
        )
    return CheckItem(
        key="revaluation", label="Exchange-rate revaluation run", status=status, detail=detail, count=foreign
    )


@register_check
async def bank_lines_reconciled(access: Access, scope: CloseScope) -> CheckItem:
    """Bank and cash lines still open have not been matched to a statement line."""
    kinds = [AccountKind.bank.value, AccountKind.cash.value]
    open_lines = await repo.open_items_count(access.session, scope.company.id, scope.end, kinds=kinds)
    return CheckItem(
        key="bank_lines",
        label="Bank lines reconciled",
        status="warning" if open_lines else "ok",
        detail=f"{open_lines} bank and cash lines up to {scope.end.isoformat()} are not reconciled"
        if open_lines
        else "every bank and cash line is reconciled",
        count=open_lines,
    )


# -- the checklist ----------------------------------------------------------------------------


class Checklist(BaseModel):
    company_id: str
    fiscal_year: int
    date_from: dt.date
    date_to: dt.date
    items: list[CheckItem]
    blocking: bool
    warnings: int


def _check_year(fiscal_year: int) -> None:
    if fiscal_year not in FISCAL_YEARS:
        raise ValidationFailed(
            f"fiscal_year must be between {FISCAL_YEARS.start} and {FISCAL_YEARS.stop - 1}", field="fiscal_year"
        )


def scope_of(company: Company, *, fiscal_year: int | None = None, period_end: dt.date | None = None) -> CloseScope:
    """A fiscal year, or the fiscal year of ``period_end`` up to that day; exactly one is given."""
    if (fiscal_year is None) == (period_end is None):
        raise ValidationFailed("give either fiscal_year or period_end", field="fiscal_year")
    month = company.fiscal_year_start_month
    if period_end is not None:
        fiscal_year = fiscal_year_of(period_end, month)
    assert fiscal_year is not None
    _check_year(fiscal_year)
    start, end = fiscal_year_bounds(fiscal_year, month)
    return CloseScope(company, fiscal_year, start, period_end or end)


async def run_checks(access: Access, scope: CloseScope) -> Checklist:
    items = [await check(access, scope) for check in CHECKS]
    return Checklist(
        company_id=scope.company.id,
        fiscal_year=scope.fiscal_year,
        date_from=scope.start,
        date_to=scope.end,
        items=items,
        blocking=any(i.status == "blocking" for i in items),
        warnings=sum(i.status == "warning" for i in items),
    )


async def checklist(
    access: Access, company_id: str, *, fiscal_year: int | None = None, period_end: dt.date | None = None
) -> Checklist:
    """Whether a fiscal year (or the year up to ``period_end``) can be closed, item by item."""
    company = await service.get_company(access, company_id)
    return await run_checks(access, scope_of(company, fiscal_year=fiscal_year, period_end=period_end))


# -- the year-end close -----------------------------------------------------------------------


class YearClosing(BaseModel):
    company_id: str
    fiscal_year: int
    date_from: dt.date
    date_to: dt.date
    entry_id: str | None  # None when the year had no income or expense to close
    number: str | None
    net_result: MoneyOut  # income minus expenses moved to retained earnings: positive is a profit
    accounts_closed: int
    locked: bool
    hard_lock_date: dt.date | None
    checklist: Checklist


async def _results_to_close(
    access: Access, scope: CloseScope, accounts: dict[str, Account]
) -> list[tuple[Account, Decimal]]:
    """The income and expense accounts with a balance for the fiscal year, in code order."""
    sums = await reports.sums_between(access, scope.company.id, scope.start, scope.end)
    currency = scope.company.base_currency
    found = [
        (accounts[i], rounded(s.balance, currency))
        for i, s in sums.items()
        if s.balance and i in accounts and accounts[i].type in reports.RESULT_TYPES
    ]
    return sorted(found, key=lambda pair: pair[0].code)


def _locked(company: Company, scope: CloseScope) -> bool:
    return company.hard_lock_date is not None and company.hard_lock_date >= scope.end


def _closing_journal(book: posting.Books) -> Journal:
    journal = book.journal("CLS") or next((j for j in book.journals.values() if j.kind == "closing"), None)
    if journal is None:
        raise Conflict(f"{book.company.name} has no closing journal; add one of kind 'closing'", field="journal")
    return journal


async def close_year(access: Access, company_id: str, fiscal_year: int, *, lock: bool = True) -> YearClosing:
    """Move the fiscal year's income and expenses into retained earnings with one entry dated the
    year's last day, then (``lock``) hard-lock the year. Refused when the year is already closed or
    its checklist has a blocking item."""
    if not access.check(PERIOD_LOCK):
        raise Forbidden("closing a year needs the permission to lock periods", field="permission")
    company = await service.get_company(access, company_id)
    scope = scope_of(company, fiscal_year=fiscal_year)
    existing = await repo.closing_entry(access.session, company.id, fiscal_year)
    if existing is not None:
        raise Conflict(
            f"fiscal year {fiscal_year} of {company.name} is already closed by {existing.number}", field="fiscal_year"
        )
    book = await posting.books(access.session, company.id)
    to_close = await _results_to_close(access, scope, book.accounts)
    if not to_close and _locked(company, scope):
        raise Conflict(
            f"fiscal year {fiscal_year} of {company.name} is already closed: locked up to "
            f"{company.hard_lock_date} with no income or expense left to close",
            field="fiscal_year",
        )
    checks = await run_checks(access, scope)
    if checks.blocking:
        blocking = [i for i in checks.items if i.status == "blocking"]
        raise CloseBlocked(
            f"fiscal year {fiscal_year} cannot be closed: " + "; ".join(f"{i.label}: {i.detail}" for i in blocking),
            field="fiscal_year",
            items=[i.model_dump() for i in blocking],
        )
    entry = None
    net = -sum((balance for _, balance in to_close), ZERO)  # income is a credit balance: profit is positive
    if to_close:
        entry = await posting.post(access, _closing_entry(book, scope, to_close, net))
    if lock and (company.hard_lock_date is None or company.hard_lock_date < scope.end):
        await service.set_lock_dates(access, company.id, LockDates(hard_lock_date=scope.end))
    data = {
        "company_id": company.id,
        "fiscal_year": fiscal_year,
        "date_from": scope.start.isoformat(),
        "date_to": scope.end.isoformat(),
        "entry_id": entry.id if entry else None,
        "number": entry.number if entry else None,
        "net_result": str(net),
        "currency": company.base_currency,
        "accounts_closed": len(to_close),
        "locked": _locked(company, scope),
        "hard_lock_date": company.hard_lock_date.isoformat() if company.hard_lock_date else None,
    }
    await outbox.publish(
        access.platform, "closing.events", "closing.year_closed", data, tenant_id=access.tenant.id, subject=company.id
    )
    await trail.record(access, "finance.year.closed", "company", company.id, data)
    return YearClosing(
        company_id=company.id,
        fiscal_year=fiscal_year,
        date_from=scope.start,
        date_to=scope.end,
        entry_id=entry.id if entry else None,
        number=entry.number if entry else None,
        net_result=net,
        accounts_closed=len(to_close),
        locked=_locked(company, scope),
        hard_lock_date=company.hard_lock_date,
        checklist=checks,
    )


def _closing_entry(
    book: posting.Books, scope: CloseScope, to_close: list[tuple[Account, Decimal]], net: Decimal
) -> posting.EntryIn:
    """One line per income or expense account taking its balance away, and the result to retained
    earnings, all in the company's currency."""
    lines = [
        posting.LineIn(
            account=account.id,
            debit=-balance if balance < 0 else ZERO,
            credit=balance if balance > 0 else ZERO,
            label=f"Closing {account.code} {account.name}"[:200],
        )
        for account, balance in to_close
    ]
    if net:
        retained = book.account_of_kind(AccountKind.retained_earnings)
        lines.append(
            posting.LineIn(
                account=retained.id,
                debit=-net if net < 0 else ZERO,
                credit=net if net > 0 else ZERO,
                label=f"Result of fiscal year {scope.fiscal_year}",
            )
        )
    return posting.EntryIn(
        company_id=book.company.id,
        journal=_closing_journal(book).id,
        date=scope.end,
        lines=lines,
        reference=f"Closing of fiscal year {scope.fiscal_year}",
        memo=f"Income and expenses of {scope.start.isoformat()} to {scope.end.isoformat()} to retained earnings",
        source=repo.CLOSING_SOURCE,
        source_id=str(scope.fiscal_year),
    )


# -- the periods of a fiscal year -------------------------------------------------------------


class PeriodState(BaseModel):
    period: str  # yyyy-mm
    date_from: dt.date
    date_to: dt.date
    lock: Literal["open", "soft", "hard"]  # the month as a whole
    locked_until: dt.date | None = None  # a lock date inside the month, when only part of it is locked


class FiscalYearState(BaseModel):
    company_id: str
    fiscal_year: int
    date_from: dt.date
    date_to: dt.date
    soft_lock_date: dt.date | None
    hard_lock_date: dt.date | None
    closed: bool
    closing_entry_id: str | None
    closing_number: str | None
    periods: list[PeriodState]
    checklist: Checklist


def _period_state(company: Company, period: int) -> PeriodState:
    first = dt.date(period // 100, period % 100, 1)
    last = reports.month_end(first)
    hard, soft = company.hard_lock_date, company.soft_lock_date
    lock: Literal["open", "soft", "hard"] = "open"
    if hard is not None and hard >= last:
        lock = "hard"
    elif soft is not None and soft >= last:
        lock = "soft"
    inside = [d for d in (hard, soft) if d is not None and first <= d < last]
    return PeriodState(
        period=f"{first:%Y-%m}",
        date_from=first,
        date_to=last,
        lock=lock,
        locked_until=max(inside) if inside and lock != "hard" else None,
    )


async def fiscal_year_state(access: Access, company_id: str, fiscal_year: int | None = None) -> FiscalYearState:
    """The months of a fiscal year (the current one by default) with their lock state, whether the
    year is closed, and its checklist."""
    company = await service.get_company(access, company_id)
    if fiscal_year is None:
        fiscal_year = fiscal_year_of(utcnow().date(), company.fiscal_year_start_month)
    scope = scope_of(company, fiscal_year=fiscal_year)
    entry = await repo.closing_entry(access.session, company.id, fiscal_year)
    closed = entry is not None
    if not closed and _locked(company, scope):
        accounts = {a.id: a for a in await repo.accounts(access.session, company.id)}
        closed = not await _results_to_close(access, scope, accounts)
    return FiscalYearState(
        company_id=company.id,
        fiscal_year=fiscal_year,
        date_from=scope.start,
        date_to=scope.end,
        soft_lock_date=company.soft_lock_date,
        hard_lock_date=company.hard_lock_date,
        closed=closed,
        closing_entry_id=entry.id if entry else None,
        closing_number=entry.number if entry else None,
        periods=[_period_state(company, p) for p in periods_between(scope.start, scope.end)],
        checklist=await run_checks(access, scope),
    )
