"""Financial reports: trial balance, general ledger, profit and loss, balance sheet, tax report and
journal audit. Each returns a typed result that the API sends as JSON and that ``table()`` turns
into an ``exports.Table`` for CSV, XLSX and PDF.

Figures come from the per-month balances, and from lines only for the days of a partial first or
last month (see ``sums_between``), so a report costs the same on a year of ten entries as on a
year of ten million.

Fiscal years. Income and expense accounts start every fiscal year at zero: their opening balance
is only what the current fiscal year posted before the report's first day. What earlier years
left on them and no closing entry has yet moved to retained earnings shows as the line
"Undistributed result of prior years" (trial balance) or "Result of prior years not yet closed"
(balance sheet), so both still balance before a close. ``closing.close_year`` posts that move;
afterwards the line is zero and retained earnings carries the result.

Signs: balances are debit minus credit (a credit balance is negative) in the trial balance and the
general ledger. The profit and loss shows income and expenses as positive amounts; the balance
sheet shows assets, liabilities and equity each as positive amounts on their own side.

The profit and loss leaves closing entries out (and reversals of them), so a closed year still
shows its result; the trial balance, the general ledger and the balance sheet show every posted
line, so after a close the income and expense accounts stand at zero there.

Every figure row carries the account id and a ``drill`` URL: the general ledger that explains it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal
from urllib.parse import urlencode

from pydantic import BaseModel

from atrium.apps.finance import exports, service
from atrium.apps.finance import reports_repository as repo
from atrium.apps.finance.charts import KIND_TYPE, AccountKind, AccountType
from atrium.apps.finance.exports import Column, ColumnKind, Table
from atrium.apps.finance.models import Account, Company, Entry, Line
from atrium.apps.finance.money import ZERO, fiscal_year_bounds, fiscal_year_of, period_of, rounded
from atrium.apps.finance.reports_repository import SumsByAccount
from atrium.apps.finance.schemas import MoneyOut, RateOut
from atrium.core.errors import NotFound, ValidationFailed
from atrium.platform.access.auth import Access

K, T = AccountKind, AccountType
DAY = dt.timedelta(days=1)
RESULT_TYPES = frozenset({T.income.value, T.expense.value})
"""Account types that start each fiscal year at zero (the profit and loss)."""
MAX_PAGE = 10_000

KIND_LABELS: dict[str, str] = {
    K.fixed_asset: "Non-current assets",
    K.current_asset: "Other current assets",
    K.receivable: "Receivables",
    K.tax_receivable: "Input tax recoverable",
    K.bank: "Bank",
    K.cash: "Cash",
    K.long_term_liability: "Long-term liabilities",
    K.current_liability: "Other current liabilities",
    K.payable: "Payables",
    K.tax_payable: "Output tax payable",
    K.equity: "Capital and reserves",
    K.retained_earnings: "Retained earnings",
    K.income: "Revenue",
    K.other_income: "Other income",
    K.cost_of_sales: "Cost of sales",
    K.expense: "Operating expenses",
    K.depreciation: "Depreciation",
    K.fx_gain_loss: "Exchange differences",
    K.rounding: "Currency rounding",
}
TYPE_LABELS: dict[str, str] = {
    T.asset: "Assets",
    T.liability: "Liabilities",
    T.equity: "Equity",
    T.income: "Income",
    T.expense: "Expenses",
}
UNCLOSED_RESULT = "unclosed_result"
CURRENT_RESULT = "current_result"


# -- dates and sums ---------------------------------------------------------------------------


def month_end(day: dt.date) -> dt.date:
    following = dt.date(day.year + 1, 1, 1) if day.month == 12 else dt.date(day.year, day.month + 1, 1)
    return following - DAY


def split_range(
    start: dt.date | None, end: dt.date
) -> tuple[list[tuple[dt.date, dt.date]], tuple[int | None, int] | None]:
    """Cut ``start``–``end`` (``start`` None: since the beginning) into the day ranges of partial
    months, read from lines, and one run of whole months (first and last yyyymm), read from balances."""
    if start is not None and start > end:
        return [], None
    partial: list[tuple[dt.date, dt.date]] = []
    low = start
    if low is not None and low.day != 1:
        head_end = min(end, month_end(low))
        partial.append((low, head_end))
        if head_end == end:
            return partial, None
        low = head_end + DAY
    high = end
    if high != month_end(high):
        tail_start = high.replace(day=1)
        partial.append((tail_start, high))
        if low is not None and tail_start <= low:
            return partial, None
        high = tail_start - DAY
    return partial, (None if low is None else period_of(low), period_of(high))


async def sums_between(
    access: Access, company_id: str, start: dt.date | None, end: dt.date, *, account_id: str | None = None
) -> SumsByAccount:
    """Per account, what was posted from ``start`` (None: the beginning) to ``end``, both included."""
    partial, months = split_range(start, end)
    parts: list[SumsByAccount] = []
    if months is not None:
        parts.append(await repo.balance_sums(access.session, company_id, *months, account_id=account_id))
    for first, last in partial:
        parts.append(await repo.line_sums(access.session, company_id, first, last, account_id=account_id))
    return repo.merge(*parts)


def fiscal_year_start(company: Company, day: dt.date) -> dt.date:
    month = company.fiscal_year_start_month
    return fiscal_year_bounds(fiscal_year_of(day, month), month)[0]


def check_range(date_from: dt.date, date_to: dt.date, fields: tuple[str, str] = ("date_from", "date_to")) -> None:
    if date_from > date_to:
        raise ValidationFailed(
            f"{fields[0]} {date_from.isoformat()} is after {fields[1]} {date_to.isoformat()}", field=fields[0]
        )


def compare_range(compare_from: dt.date | None, compare_to: dt.date | None) -> tuple[dt.date, dt.date] | None:
    """The comparison range: both ends or neither."""
    if compare_from is None and compare_to is None:
        return None
    if compare_from is None or compare_to is None:
        missing = "compare_from" if compare_from is None else "compare_to"
        raise ValidationFailed("a comparison needs both compare_from and compare_to", field=missing)
    check_range(compare_from, compare_to, ("compare_from", "compare_to"))
    return compare_from, compare_to


def check_page(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed(f"limit must be between 1 and {MAX_PAGE}", field="limit")
    if offset < 0:
        raise ValidationFailed("offset must be zero or positive", field="offset")


@dataclass
class _Books:
    """A company and its chart, read once per report."""

    access: Access
    company: Company
    accounts: dict[str, Account]

    @property
    def currency(self) -> str:
        return self.company.base_currency

    def money(self, amount: Decimal) -> Decimal:
        return rounded(amount, self.currency)

    def ordered(self, ids: Iterable[str]) -> list[Account]:
        return sorted((self.accounts[i] for i in set(ids) if i in self.accounts), key=lambda a: a.code)

    def url(self, report: str, **params: object) -> str:
        query = urlencode({k: v.isoformat() if isinstance(v, dt.date) else v for k, v in params.items()})
        return f"/api/v1/tenants/{self.access.tenant.slug}/finance/reports/{report}?{query}"

    def drill(self, account_id: str, start: dt.date, end: dt.date, **extra: object) -> str:
        return self.url(
            "general-ledger", company_id=self.company.id, account_id=account_id, date_from=start, date_to=end, **extra
        )

    def subtitle(self, *parts: str) -> str:
        return " · ".join([self.company.name, *parts, f"amounts in {self.currency}"])


async def _books(access: Access, company_id: str) -> _Books:
    company = await service.get_company(access, company_id)
    accounts = await repo.accounts(access.session, company.id)
    return _Books(access, company, {a.id: a for a in accounts})


def _is_result(account: Account) -> bool:
    return account.type in RESULT_TYPES


def _span(start: dt.date, end: dt.date) -> str:
    return f"{start.isoformat()} to {end.isoformat()}"


# -- trial balance ----------------------------------------------------------------------------


class TrialBalanceFigures(BaseModel):
    opening: MoneyOut
    debit: MoneyOut
    credit: MoneyOut
    closing: MoneyOut


class TrialBalanceRow(BaseModel):
    account_id: str | None
    code: str
    name: str
    type: str
    kind: str
    opening: MoneyOut
    debit: MoneyOut
    credit: MoneyOut
    closing: MoneyOut
    compare: TrialBalanceFigures | None = None
    difference: MoneyOut | None = None  # closing minus the comparison's closing
    drill: str | None = None


class TrialBalance(BaseModel):
    company_id: str
    currency: str
    date_from: dt.date
    date_to: dt.date
    fiscal_year_start: dt.date
    compare_from: dt.date | None = None
    compare_to: dt.date | None = None
    rows: list[TrialBalanceRow]
    totals: TrialBalanceFigures
    compare_totals: TrialBalanceFigures | None = None
    balanced: bool
    subtitle: str = ""

    def table(self) -> Table:
        columns = [
            Column("code", "Code"),
            Column("name", "Account"),
            Column("opening", "Opening", ColumnKind.MONEY),
            Column("debit", "Debit", ColumnKind.MONEY),
            Column("credit", "Credit", ColumnKind.MONEY),
            Column("closing", "Closing", ColumnKind.MONEY),
        ]
        if self.compare_totals is not None:
            columns += [
                Column("compare_opening", "Opening (comparison)", ColumnKind.MONEY),
                Column("compare_debit", "Debit (comparison)", ColumnKind.MONEY),
                Column("compare_credit", "Credit (comparison)", ColumnKind.MONEY),
                Column("compare_closing", "Closing (comparison)", ColumnKind.MONEY),
                Column("difference", "Difference", ColumnKind.MONEY),
            ]

        def cells(
            figures: TrialBalanceFigures | TrialBalanceRow, compare: TrialBalanceFigures | None
        ) -> dict[str, object]:
            out: dict[str, object] = {
                "opening": figures.opening,
                "debit": figures.debit,
                "credit": figures.credit,
                "closing": figures.closing,
            }
            if compare is not None:
                out.update({f"compare_{k}": v for k, v in compare.model_dump().items()})
                out["difference"] = figures.closing - compare.closing
            return out

        rows = [{"code": r.code, "name": r.name, **cells(r, r.compare)} for r in self.rows]
        return Table(
            title="Trial balance",
            subtitle=self.subtitle,
            columns=columns,
            rows=rows,
            totals={"name": "Total", **cells(self.totals, self.compare_totals)},
        )


@dataclass
class _TrialFigures:
    opening: dict[str, Decimal]
    movement: SumsByAccount
    undistributed: Decimal
    fiscal_year_start: dt.date


async def _trial_figures(books: _Books, date_from: dt.date, date_to: dt.date) -> _TrialFigures:
    """Opening (result accounts from the fiscal year's start only), movements, and the prior
    years' result not yet closed."""
    cid = books.company.id
    fy_start = fiscal_year_start(books.company, date_from)
    prior = await sums_between(books.access, cid, None, fy_start - DAY)  # whole months only
    this_year = await sums_between(books.access, cid, fy_start, date_from - DAY) if date_from > fy_start else {}
    movement = await sums_between(books.access, cid, date_from, date_to)
    opening: dict[str, Decimal] = {}
    undistributed = ZERO
    for account_id in set(prior) | set(this_year):
        account = books.accounts.get(account_id)
        before = prior.get(account_id, repo.NONE).balance
        if account is not None and _is_result(account):
            undistributed += before
            before = ZERO
        opening[account_id] = before + this_year.get(account_id, repo.NONE).balance
    return _TrialFigures(opening, movement, undistributed, fy_start)


def _tb_figures(books: _Books, figures: _TrialFigures, account_id: str) -> TrialBalanceFigures:
    opening = figures.opening.get(account_id, ZERO)
    moved = figures.movement.get(account_id, repo.NONE)
    return TrialBalanceFigures(
        opening=books.money(opening),
        debit=books.money(moved.debit),
        credit=books.money(moved.credit),
        closing=books.money(opening + moved.balance),
    )


def _tb_totals(rows: Sequence[TrialBalanceFigures | TrialBalanceRow]) -> TrialBalanceFigures:
    return TrialBalanceFigures(
        opening=sum((r.opening for r in rows), ZERO),
        debit=sum((r.debit for r in rows), ZERO),
        credit=sum((r.credit for r in rows), ZERO),
        closing=sum((r.closing for r in rows), ZERO),
    )


def _tb_balanced(totals: TrialBalanceFigures) -> bool:
    return totals.opening == 0 and totals.closing == 0 and totals.debit == totals.credit


async def trial_balance(
    access: Access,
    company_id: str,
    date_from: dt.date,
    date_to: dt.date,
    compare_from: dt.date | None = None,
    compare_to: dt.date | None = None,
) -> TrialBalance:
    """Per account: opening balance before ``date_from``, debits and credits of the range, closing."""
    check_range(date_from, date_to)
    compared = compare_range(compare_from, compare_to)
    books = await _books(access, company_id)
    current = await _trial_figures(books, date_from, date_to)
    before = None if compared is None else await _trial_figures(books, *compared)

    def touched(figures: _TrialFigures) -> set[str]:
        moved = {a for a, s in figures.movement.items() if s.debit or s.credit}
        return {a for a, v in figures.opening.items() if v} | moved

    ids = touched(current) | (touched(before) if before is not None else set())
    rows: list[TrialBalanceRow] = []
    compare_figures: list[TrialBalanceFigures] = []
    for account in books.ordered(ids):
        figures = _tb_figures(books, current, account.id)
        compare = None if before is None else _tb_figures(books, before, account.id)
        rows.append(
            TrialBalanceRow(
                account_id=account.id,
                code=account.code,
                name=account.name,
                type=account.type,
                kind=account.kind,
                **figures.model_dump(),
                compare=compare,
                difference=None if compare is None else figures.closing - compare.closing,
                drill=books.drill(account.id, date_from, date_to),
            )
        )
        if compare is not None:
            compare_figures.append(compare)
    if current.undistributed or (before is not None and before.undistributed):
        unclosed = books.money(current.undistributed)
        compare = None
        if before is not None:
            earlier = books.money(before.undistributed)
            compare = TrialBalanceFigures(opening=earlier, debit=ZERO, credit=ZERO, closing=earlier)
            compare_figures.append(compare)
        rows.append(
            TrialBalanceRow(
                account_id=None,
                code="",
                name="Undistributed result of prior years",
                type=T.equity,
                kind=UNCLOSED_RESULT,
                opening=unclosed,
                debit=ZERO,
                credit=ZERO,
                closing=unclosed,
                compare=compare,
                difference=None if compare is None else unclosed - compare.closing,
            )
        )
    totals = _tb_totals(rows)
    compare_totals = None if before is None else _tb_totals(compare_figures)
    parts = [_span(date_from, date_to)]
    if compared is not None:
        parts.append(f"compared with {_span(*compared)}")
    return TrialBalance(
        company_id=books.company.id,
        currency=books.currency,
        date_from=date_from,
        date_to=date_to,
        fiscal_year_start=current.fiscal_year_start,
        compare_from=compare_from,
        compare_to=compare_to,
        rows=rows,
        totals=totals,
        compare_totals=compare_totals,
        balanced=_tb_balanced(totals) and (compare_totals is None or _tb_balanced(compare_totals)),
        subtitle=books.subtitle(*parts),
    )


# -- general ledger ---------------------------------------------------------------------------


class LedgerLine(BaseModel):
    line_id: str
    date: dt.date
    entry_id: str
    number: str | None
    journal: str
    label: str | None
    party_id: str | None
    debit: MoneyOut
    credit: MoneyOut
    currency: str
    amount_currency: MoneyOut
    balance: MoneyOut


class GeneralLedger(BaseModel):
    company_id: str
    currency: str
    account_id: str
    code: str
    name: str
    type: str
    date_from: dt.date
    date_to: dt.date
    include_closing: bool
    opening: MoneyOut
    debit: MoneyOut  # of the whole range, not only this page
    credit: MoneyOut
    closing: MoneyOut
    lines: list[LedgerLine]
    total_lines: int
    limit: int
    offset: int
    subtitle: str = ""

    def table(self) -> Table:
        columns = [
            Column("date", "Date", ColumnKind.DATE),
            Column("number", "Entry"),
            Column("journal", "Journal"),
            Column("label", "Label"),
            Column("party_id", "Party"),
            Column("debit", "Debit", ColumnKind.MONEY),
            Column("credit", "Credit", ColumnKind.MONEY),
            Column("balance", "Balance", ColumnKind.MONEY),
        ]
        rows: list[dict[str, object]] = [{"label": "Opening balance", "balance": self.opening}]
        rows += [line.model_dump(include={c.key for c in columns}) for line in self.lines]
        return Table(
            title=f"General ledger {self.code} {self.name}",
            subtitle=self.subtitle,
            columns=columns,
            rows=rows,
            row_styles=["subtotal"] + [""] * len(self.lines),
            totals={"label": "Closing balance", "debit": self.debit, "credit": self.credit, "balance": self.closing},
        )


async def general_ledger(
    access: Access,
    company_id: str,
    account_id: str,
    date_from: dt.date,
    date_to: dt.date,
    *,
    limit: int = 500,
    offset: int = 0,
    include_closing: bool = True,
) -> GeneralLedger:
    """An account's opening balance, its lines of the range with a running balance, and its closing."""
    check_range(date_from, date_to)
    check_page(limit, offset)
    books = await _books(access, company_id)
    account = books.accounts.get(account_id)
    if account is None:
        raise NotFound(f"no account {account_id!r} in {books.company.name}", field="account_id")
    cid, session = books.company.id, access.session
    opening_from = fiscal_year_start(books.company, date_from) if _is_result(account) else None
    opening = ZERO
    if opening_from is None or opening_from < date_from:
        before = await sums_between(access, cid, opening_from, date_from - DAY, account_id=account.id)
        opening = before.get(account.id, repo.NONE).balance
    moved = (await sums_between(access, cid, date_from, date_to, account_id=account.id)).get(account.id, repo.NONE)
    if not include_closing:
        closing_part = await repo.closing_sums(session, cid, date_from, date_to, account_id=account.id)
        moved = moved - closing_part.get(account.id, repo.NONE)
    total, before_page = await repo.ledger_before_page(
        session, cid, account.id, date_from, date_to, include_closing=include_closing, offset=offset
    )
    page = await repo.ledger_lines(
        session, cid, account.id, date_from, date_to, include_closing=include_closing, limit=limit, offset=offset
    )
    running = opening + before_page
    lines: list[LedgerLine] = []
    for line, number, journal in page:
        running += line.debit - line.credit
        lines.append(
            LedgerLine(
                line_id=line.id,
                date=line.date,
                entry_id=line.entry_id,
                number=number,
                journal=journal,
                label=line.label,
                party_id=line.party_id,
                debit=books.money(line.debit),
                credit=books.money(line.credit),
                currency=line.currency,
                amount_currency=line.amount_currency,
                balance=books.money(running),
            )
        )
    return GeneralLedger(
        company_id=cid,
        currency=books.currency,
        account_id=account.id,
        code=account.code,
        name=account.name,
        type=account.type,
        date_from=date_from,
        date_to=date_to,
        include_closing=include_closing,
        opening=books.money(opening),
        debit=books.money(moved.debit),
        credit=books.money(moved.credit),
        closing=books.money(opening + moved.balance),
        lines=lines,
        total_lines=total,
        limit=limit,
        offset=offset,
        subtitle=books.subtitle(_span(date_from, date_to)),
    )


# -- sections: the profit and loss and the balance sheet ----------------------------------------


class AmountRow(BaseModel):
    account_id: str | None
    code: str
    name: str
    kind: str
    amount: MoneyOut
    compare: MoneyOut | None = None
    difference: MoneyOut | None = None
    drill: str | None = None


class ReportGroup(BaseModel):
    kind: str
    label: str
    rows: list[AmountRow]
    total: MoneyOut
    compare_total: MoneyOut | None = None


class ReportSection(BaseModel):
    type: str
    label: str
    groups: list[ReportGroup]
    total: MoneyOut
    compare_total: MoneyOut | None = None


def _kinds_of(type_: AccountType) -> list[str]:
    """The kinds of a type in the order reports show them (KIND_LABELS' order)."""
    return [kind for kind in KIND_LABELS if KIND_TYPE[AccountKind(kind)] == type_]


def _total(values: Iterable[Decimal | None]) -> Decimal:
    return sum((v for v in values if v is not None), ZERO)


def _group(kind: str, label: str, rows: list[AmountRow], compared: bool) -> ReportGroup:
    return ReportGroup(
        kind=kind,
        label=label,
        rows=rows,
        total=_total(r.amount for r in rows),
        compare_total=_total(r.compare for r in rows) if compared else None,
    )


def _section(
    books: _Books,
    type_: AccountType,
    amounts: dict[str, Decimal],
    compare: dict[str, Decimal] | None,
    drill: Callable[[Account], str],
    extra: Sequence[AmountRow] = (),
) -> ReportSection:
    """Accounts of one type grouped by kind, each group with its total; rows that are zero in
    both columns are left out. ``extra`` rows (computed results) form a last group."""
    groups: list[ReportGroup] = []
    accounts = [a for a in books.ordered(set(amounts) | set(compare or {})) if a.type == type_]
    for kind in _kinds_of(type_):
        rows = []
        for account in accounts:
            if account.kind != kind:
                continue
            amount = books.money(amounts.get(account.id, ZERO))
            before = None if compare is None else books.money(compare.get(account.id, ZERO))
            if not amount and not before:
                continue
            rows.append(
                AmountRow(
                    account_id=account.id,
                    code=account.code,
                    name=account.name,
                    kind=account.kind,
                    amount=amount,
                    compare=before,
                    difference=None if before is None else amount - before,
                    drill=drill(account),
                )
            )
        if rows:
            groups.append(_group(kind, KIND_LABELS[kind], rows, compare is not None))
    if extra:
        groups.append(_group("result", "Result", list(extra), compare is not None))
    return ReportSection(
        type=type_,
        label=TYPE_LABELS[type_],
        groups=groups,
        total=_total(g.total for g in groups),
        compare_total=_total(g.compare_total for g in groups) if compare is not None else None,
    )


def _section_rows(sections: Sequence[ReportSection], compared: bool) -> tuple[list[dict[str, object]], list[str]]:
    rows: list[dict[str, object]] = []
    styles: list[str] = []

    def add(row: dict[str, object], style: str) -> None:
        rows.append(row)
        styles.append(style)

    for section in sections:
        add({"name": section.label}, "header")
        for group in section.groups:
            add({"name": group.label}, "header")
            for r in group.rows:
                add(
                    {
                        "code": r.code,
                        "name": r.name,
                        "amount": r.amount,
                        "compare": r.compare,
                        "difference": r.difference,
                    },
                    "indent",
                )
            add(_amounts(f"Total {group.label.lower()}", group.total, group.compare_total, compared), "subtotal")
        add(_amounts(f"Total {section.label.lower()}", section.total, section.compare_total, compared), "subtotal")
    return rows, styles


def _amounts(name: str, amount: Decimal, compare: Decimal | None, compared: bool) -> dict[str, object]:
    row: dict[str, object] = {"name": name, "amount": amount}
    if compared and compare is not None:
        row.update(compare=compare, difference=amount - compare)
    return row


def _amount_columns(compared: bool) -> list[Column]:
    columns = [Column("code", "Code"), Column("name", "Account"), Column("amount", "Amount", ColumnKind.MONEY)]
    if compared:
        columns += [
            Column("compare", "Comparison", ColumnKind.MONEY),
            Column("difference", "Difference", ColumnKind.MONEY),
        ]
    return columns


# -- profit and loss --------------------------------------------------------------------------


class ProfitAndLoss(BaseModel):
    company_id: str
    currency: str
    date_from: dt.date
    date_to: dt.date
    compare_from: dt.date | None = None
    compare_to: dt.date | None = None
    sections: list[ReportSection]  # income, then expenses
    net_result: MoneyOut  # income minus expenses: positive is a profit
    compare_net_result: MoneyOut | None = None
    difference: MoneyOut | None = None
    subtitle: str = ""

    def table(self) -> Table:
        compared = self.compare_net_result is not None
        rows, styles = _section_rows(self.sections, compared)
        return Table(
            title="Profit and loss",
            subtitle=self.subtitle,
            columns=_amount_columns(compared),
            rows=rows,
            row_styles=styles,
            totals=_amounts("Net result", self.net_result, self.compare_net_result, compared),
        )


async def _results(books: _Books, start: dt.date, end: dt.date) -> dict[str, Decimal]:
    """Income (credit minus debit) and expenses (debit minus credit) of the range, per account,
    closing entries left out."""
    cid = books.company.id
    moved = await sums_between(books.access, cid, start, end)
    closing = await repo.closing_sums(books.access.session, cid, start, end)
    out: dict[str, Decimal] = {}
    for account_id, sums in repo.subtract(moved, closing).items():
        account = books.accounts.get(account_id)
        if account is None or not _is_result(account):
            continue
        out[account_id] = -sums.balance if account.type == T.income else sums.balance
    return out


async def profit_and_loss(
    access: Access,
    company_id: str,
    date_from: dt.date,
    date_to: dt.date,
    compare_from: dt.date | None = None,
    compare_to: dt.date | None = None,
) -> ProfitAndLoss:
    """Income and expenses of the range by kind, with subtotals and the net result."""
    check_range(date_from, date_to)
    compared = compare_range(compare_from, compare_to)
    books = await _books(access, company_id)
    current = await _results(books, date_from, date_to)
    before = None if compared is None else await _results(books, *compared)

    def drill(account: Account) -> str:
        return books.drill(account.id, date_from, date_to, include_closing="false")

    sections = [_section(books, type_, current, before, drill) for type_ in (T.income, T.expense)]
    net = sections[0].total - sections[1].total
    compare_net = None
    if compared is not None:
        compare_net = _total([sections[0].compare_total]) - _total([sections[1].compare_total])
    parts = [_span(date_from, date_to)] + ([f"compared with {_span(*compared)}"] if compared else [])
    return ProfitAndLoss(
        company_id=books.company.id,
        currency=books.currency,
        date_from=date_from,
        date_to=date_to,
        compare_from=compare_from,
        compare_to=compare_to,
        sections=sections,
        net_result=net,
        compare_net_result=compare_net,
        difference=None if compare_net is None else net - compare_net,
        subtitle=books.subtitle(*parts),
    )


# -- balance sheet ----------------------------------------------------------------------------


class BalanceSheet(BaseModel):
    company_id: str
    currency: str
    as_of: dt.date
    compare_as_of: dt.date | None = None
    sections: list[ReportSection]  # assets, liabilities, equity (with the results not yet closed)
    total_assets: MoneyOut
    total_liabilities_and_equity: MoneyOut
    compare_total_assets: MoneyOut | None = None
    compare_total_liabilities_and_equity: MoneyOut | None = None
    balanced: bool
    subtitle: str = ""

    def table(self) -> Table:
        compared = self.compare_as_of is not None
        rows, styles = _section_rows(self.sections, compared)
        rows.append(
            _amounts(
                "Total liabilities and equity",
                self.total_liabilities_and_equity,
                self.compare_total_liabilities_and_equity,
                compared,
            )
        )
        styles.append("subtotal")
        return Table(
            title="Balance sheet",
            subtitle=self.subtitle,
            columns=_amount_columns(compared),
            rows=rows,
            row_styles=styles,
        )


@dataclass
class _Position:
    balances: dict[str, Decimal]  # balance-sheet accounts, debit minus credit
    current_result: Decimal  # this fiscal year's income minus expenses so far
    prior_result: Decimal  # earlier years' income minus expenses not yet closed
    fiscal_year_start: dt.date


async def _position(books: _Books, as_of: dt.date) -> _Position:
    cid = books.company.id
    fy_start = fiscal_year_start(books.company, as_of)
    prior = await sums_between(books.access, cid, None, fy_start - DAY)
    this_year = await sums_between(books.access, cid, fy_start, as_of)
    balances: dict[str, Decimal] = {}
    current_result = prior_result = ZERO
    for account_id in set(prior) | set(this_year):
        account = books.accounts.get(account_id)
        before, now = prior.get(account_id, repo.NONE).balance, this_year.get(account_id, repo.NONE).balance
        if account is not None and _is_result(account):
            prior_result -= before
            current_result -= now
        else:
            balances[account_id] = before + now
    return _Position(balances, current_result, prior_result, fy_start)


def _sided(books: _Books, position: _Position, type_: AccountType) -> dict[str, Decimal]:
    """Balances of one type as shown on its side: assets debit minus credit, the others reversed."""
    sign = 1 if type_ == T.asset else -1
    return {
        i: sign * b for i, b in position.balances.items() if i in books.accounts and books.accounts[i].type == type_
    }


async def balance_sheet(
    access: Access, company_id: str, as_of: dt.date, compare_as_of: dt.date | None = None
) -> BalanceSheet:
    """Assets, liabilities and equity on ``as_of``; equity includes the results not yet closed, so
    assets always equal liabilities plus equity."""
    books = await _books(access, company_id)
    now = await _position(books, as_of)
    before = None if compare_as_of is None else await _position(books, compare_as_of)

    def drill(account: Account) -> str:
        return books.drill(account.id, now.fiscal_year_start, as_of)

    def money(value: Decimal | None) -> Decimal | None:
        return None if value is None else books.money(value)

    tb = {"company_id": books.company.id}
    results = [
        AmountRow(
            account_id=None,
            code="",
            name="Current year result",
            kind=CURRENT_RESULT,
            amount=books.money(now.current_result),
            compare=money(before.current_result if before else None),
            difference=None if before is None else books.money(now.current_result - before.current_result),
            drill=books.url("trial-balance", **tb, date_from=now.fiscal_year_start, date_to=as_of),
        )
    ]
    if now.prior_result or (before is not None and before.prior_result):
        results.append(
            AmountRow(
                account_id=None,
                code="",
                name="Result of prior years not yet closed",
                kind=UNCLOSED_RESULT,
                amount=books.money(now.prior_result),
                compare=money(before.prior_result if before else None),
                difference=None if before is None else books.money(now.prior_result - before.prior_result),
                drill=books.url("trial-balance", **tb, date_from=now.fiscal_year_start, date_to=as_of),
            )
        )
    sections = [
        _section(
            books,
            type_,
            _sided(books, now, type_),
            None if before is None else _sided(books, before, type_),
            drill,
            results if type_ == T.equity else (),
        )
        for type_ in (T.asset, T.liability, T.equity)
    ]
    assets, liabilities_and_equity = sections[0].total, sections[1].total + sections[2].total
    compare_assets = compare_le = None
    if before is not None:
        compare_assets = _total([sections[0].compare_total])
        compare_le = _total([sections[1].compare_total, sections[2].compare_total])
    parts = [f"as of {as_of.isoformat()}"] + ([f"compared with {compare_as_of.isoformat()}"] if compare_as_of else [])
    return BalanceSheet(
        company_id=books.company.id,
        currency=books.currency,
        as_of=as_of,
        compare_as_of=compare_as_of,
        sections=sections,
        total_assets=assets,
        total_liabilities_and_equity=liabilities_and_equity,
        compare_total_assets=compare_assets,
        compare_total_liabilities_and_equity=compare_le,
        balanced=assets == liabilities_and_equity and compare_assets == compare_le,
        subtitle=books.subtitle(*parts),
    )


# -- tax report -------------------------------------------------------------------------------

TaxDirection = Literal["output", "input"]


class TaxRow(BaseModel):
    period: str  # yyyy-mm
    direction: TaxDirection  # output: tax charged on sales (payable); input: tax paid on purchases
    account_id: str
    code: str
    name: str
    tax_rate: RateOut | None
    base: MoneyOut
    tax: MoneyOut
    lines: int
    lines_without_base: int
    drill: str


class TaxPeriod(BaseModel):
    period: str
    output_base: MoneyOut
    output_tax: MoneyOut
    input_base: MoneyOut
    input_tax: MoneyOut
    net: MoneyOut  # output minus input tax: positive is owed to the tax office


class TaxReport(BaseModel):
    company_id: str
    currency: str
    date_from: dt.date
    date_to: dt.date
    rows: list[TaxRow]
    periods: list[TaxPeriod]
    output_tax: MoneyOut
    input_tax: MoneyOut
    net: MoneyOut
    subtitle: str = ""

    def table(self) -> Table:
        columns = [
            Column("period", "Period"),
            Column("direction", "Tax"),
            Column("code", "Account"),
            Column("tax_rate", "Rate", ColumnKind.PERCENT),
            Column("base", "Base", ColumnKind.MONEY),
            Column("tax", "Tax", ColumnKind.MONEY),
        ]
        rows: list[dict[str, object]] = []
        styles: list[str] = []
        by_period: dict[str, list[TaxRow]] = defaultdict(list)
        for row in self.rows:
            by_period[row.period].append(row)
        for period in self.periods:
            for row in by_period[period.period]:
                rows.append(
                    {
                        "period": row.period,
                        "direction": row.direction,
                        "code": f"{row.code} {row.name}",
                        "tax_rate": row.tax_rate,
                        "base": row.base,
                        "tax": row.tax,
                    }
                )
                styles.append("")
            rows.append({"period": period.period, "direction": "net", "tax": period.net})
            styles.append("subtotal")
        return Table(
            title="Tax report",
            subtitle=self.subtitle,
            columns=columns,
            rows=rows,
            row_styles=styles,
            totals={"period": "Total", "direction": "net", "tax": self.net},
        )


@dataclass(frozen=True)
class _TaxSum:
    base: Decimal = ZERO
    tax: Decimal = ZERO
    lines: int = 0
    without_base: int = 0

    def __add__(self, other: _TaxSum) -> _TaxSum:
        return _TaxSum(
            self.base + other.base,
            self.tax + other.tax,
            self.lines + other.lines,
            self.without_base + other.without_base,
        )


def _period_text(period: int) -> str:
    return f"{period // 100:04d}-{period % 100:02d}"


async def tax_report(access: Access, company_id: str, date_from: dt.date, date_to: dt.date) -> TaxReport:
    """Per month, tax account and rate: the taxed base and the tax, from the lines of the output
    (tax_payable) and input (tax_receivable) tax accounts. Credit notes and reversals carry a
    negative base and reduce both. A line without its own rate counts under its account's rate."""
    check_range(date_from, date_to)
    books = await _books(access, company_id)
    taxed = {a.id: a for a in books.accounts.values() if a.kind in (K.tax_payable, K.tax_receivable)}
    found = await repo.tax_groups(access.session, books.company.id, list(taxed), date_from, date_to)
    merged: dict[tuple[int, str, Decimal | None], _TaxSum] = {}
    for period, account_id, rate, debit, credit, base, lines, without_base in found:
        account = taxed[account_id]
        rate = rate if rate is not None else account.tax_rate
        key = (period, account_id, None if rate is None else Decimal(rate).normalize())
        tax = credit - debit if account.kind == K.tax_payable else debit - credit
        merged[key] = merged.get(key, _TaxSum()) + _TaxSum(base, tax, lines, without_base)
    rows: list[TaxRow] = []
    periods: dict[int, dict[str, Decimal]] = {}
    for (period, account_id, rate), found_sum in sorted(
        merged.items(), key=lambda item: (item[0][0], taxed[item[0][1]].kind, taxed[item[0][1]].code, item[0][2] or 0)
    ):
        account = taxed[account_id]
        direction: TaxDirection = "output" if account.kind == K.tax_payable else "input"
        first_day = max(date_from, dt.date(period // 100, period % 100, 1))
        rows.append(
            TaxRow(
                period=_period_text(period),
                direction=direction,
                account_id=account_id,
                code=account.code,
                name=account.name,
                tax_rate=rate,
                base=books.money(found_sum.base),
                tax=books.money(found_sum.tax),
                lines=found_sum.lines,
                lines_without_base=found_sum.without_base,
                drill=books.drill(account_id, first_day, min(date_to, month_end(first_day))),
            )
        )
        sums = periods.setdefault(period, defaultdict(lambda: ZERO))
        sums[f"{direction}_base"] += found_sum.base
        sums[f"{direction}_tax"] += found_sum.tax
    period_rows = [
        TaxPeriod(
            period=_period_text(period),
            output_base=books.money(s["output_base"]),
            output_tax=books.money(s["output_tax"]),
            input_base=books.money(s["input_base"]),
            input_tax=books.money(s["input_tax"]),
            net=books.money(s["output_tax"] - s["input_tax"]),
        )
        for period, s in sorted(periods.items())
    ]
    output_tax = _total(p.output_tax for p in period_rows)
    input_tax = _total(p.input_tax for p in period_rows)
    return TaxReport(
        company_id=books.company.id,
        currency=books.currency,
        date_from=date_from,
        date_to=date_to,
        rows=rows,
        periods=period_rows,
        output_tax=output_tax,
        input_tax=input_tax,
        net=output_tax - input_tax,
        subtitle=books.subtitle(_span(date_from, date_to)),
    )


# -- journal audit ----------------------------------------------------------------------------

MISSING_SHOWN = 1_000  # missing numbers listed per journal and year; the count is always exact


class AuditLine(BaseModel):
    line_no: int
    account_id: str
    code: str
    debit: MoneyOut
    credit: MoneyOut
    currency: str
    amount_currency: MoneyOut
    label: str | None
    party_id: str | None
    tax_rate: RateOut | None
    tax_base: MoneyOut | None


class AuditEntry(BaseModel):
    id: str
    journal: str
    fiscal_year: int
    sequence: int | None
    number: str | None
    date: dt.date
    state: str
    reference: str | None
    memo: str | None
    source: str
    total: MoneyOut
    chain_index: int | None
    previous_hash: str | None
    hash: str | None
    posted_by: str | None
    posted_at: dt.datetime | None
    reversal_of_id: str | None
    reversal_of: str | None  # its number
    reversed_by_id: str | None
    reversed_by: str | None
    lines: list[AuditLine]


class SequenceCheck(BaseModel):
    journal: str
    fiscal_year: int
    entries: int
    first: int
    last: int
    missing_count: int
    missing: list[int]  # the first MISSING_SHOWN of them
    gap_free: bool


class JournalAudit(BaseModel):
    company_id: str
    currency: str
    date_from: dt.date
    date_to: dt.date
    journal_id: str | None
    entries: list[AuditEntry]
    total_entries: int
    limit: int
    offset: int
    sequences: list[SequenceCheck]
    gap_free: bool
    numbering: str  # "no gaps", or the missing numbers
    subtitle: str = ""

    def table(self) -> Table:
        columns = [
            Column("number", "Entry"),
            Column("date", "Date", ColumnKind.DATE),
            Column("state", "State"),
            Column("account", "Account / memo"),
            Column("label", "Label"),
            Column("debit", "Debit", ColumnKind.MONEY),
            Column("credit", "Credit", ColumnKind.MONEY),
            Column("hash", "Hash"),
        ]
        rows: list[dict[str, object]] = []
        styles: list[str] = []
        for entry in self.entries:
            links = []
            if entry.reversal_of:
                links.append(f"reverses {entry.reversal_of}")
            if entry.reversed_by:
                links.append(f"reversed by {entry.reversed_by}")
            rows.append(
                {
                    "number": entry.number,
                    "date": entry.date,
                    "state": entry.state,
                    "account": "; ".join([entry.memo or entry.reference or "", *links]).strip("; "),
                    "label": f"posted by {entry.posted_by}" if entry.posted_by else None,
                    "debit": entry.total,
                    "credit": entry.total,
                    "hash": entry.hash,
                }
            )
            styles.append("header")
            for line in entry.lines:
                rows.append(
                    {
                        "account": line.code,
                        "label": line.label,
                        "debit": line.debit or None,
                        "credit": line.credit or None,
                    }
                )
                styles.append("indent")
        return Table(
            title="Journal audit",
            subtitle=f"{self.subtitle} · numbering: {self.numbering}",
            columns=columns,
            rows=rows,
            row_styles=styles,
        )


async def _sequence_checks(
    access: Access, books: _Books, date_from: dt.date, date_to: dt.date, journal_id: str | None
) -> list[SequenceCheck]:
    """Each touched journal's whole fiscal-year sequence must run 1, 2, … up to the last number the
    journal handed out; the numbers are read only where the counts say something is missing."""
    journals = await repo.journals(access.session, books.company.id)
    checks: list[SequenceCheck] = []
    for span in await repo.sequence_spans(access.session, books.company.id, date_from, date_to, journal_id):
        last = max(span.last, span.handed_out)
        missing: list[int] = []
        missing_count = 0
        if span.count != last or span.first != 1:
            present = set(await repo.sequences(access.session, span.journal_id, span.fiscal_year))
            gaps = (n for n in range(1, last + 1) if n not in present)
            for number in gaps:
                missing_count += 1
                if len(missing) < MISSING_SHOWN:
                    missing.append(number)
        checks.append(
            SequenceCheck(
                journal=journals[span.journal_id].code,
                fiscal_year=span.fiscal_year,
                entries=span.count,
                first=span.first,
                last=last,
                missing_count=missing_count,
                missing=missing,
                gap_free=missing_count == 0,
            )
        )
    return sorted(checks, key=lambda c: (c.journal, c.fiscal_year))


def _numbering(checks: Sequence[SequenceCheck]) -> str:
    broken = [c for c in checks if not c.gap_free]
    if not broken:
        return "no gaps"
    return "; ".join(
        f"{c.journal}/{c.fiscal_year} misses {c.missing_count}: "
        + ", ".join(str(n) for n in c.missing[:20])
        + (" …" if c.missing_count > 20 else "")
        for c in broken
    )


def _audit_entry(
    books: _Books, entry: Entry, lines: list[Line], numbers: dict[str, str | None], journal: str
) -> AuditEntry:
    return AuditEntry(
        id=entry.id,
        journal=journal,
        fiscal_year=entry.fiscal_year,
        sequence=entry.sequence,
        number=entry.number,
        date=entry.date,
        state=entry.state,
        reference=entry.reference,
        memo=entry.memo,
        source=entry.source,
        total=books.money(entry.total),
        chain_index=entry.chain_index,
        previous_hash=entry.previous_hash,
        hash=entry.hash,
        posted_by=entry.posted_by,
        posted_at=entry.posted_at,
        reversal_of_id=entry.reversal_of_id,
        reversal_of=numbers.get(entry.reversal_of_id) if entry.reversal_of_id else None,
        reversed_by_id=entry.reversed_by_id,
        reversed_by=numbers.get(entry.reversed_by_id) if entry.reversed_by_id else None,
        lines=[
            AuditLine(
                line_no=line.line_no,
                account_id=line.account_id,
                code=books.accounts[line.account_id].code if line.account_id in books.accounts else line.account_id,
                debit=books.money(line.debit),
                credit=books.money(line.credit),
                currency=line.currency,
                amount_currency=line.amount_currency,
                label=line.label,
                party_id=line.party_id,
                tax_rate=line.tax_rate,
                tax_base=line.tax_base,
            )
            for line in lines
        ],
    )


async def journal_audit(
    access: Access,
    company_id: str,
    date_from: dt.date,
    date_to: dt.date,
    journal_id: str | None = None,
    *,
    limit: int = 1_000,
    offset: int = 0,
) -> JournalAudit:
    """Posted entries of the range in number order with their lines, state, hash, who posted them
    and their reversal links, and whether each journal's numbering has gaps."""
    check_range(date_from, date_to)
    check_page(limit, offset)
    books = await _books(access, company_id)
    journals = await repo.journals(access.session, books.company.id)
    if journal_id is not None and journal_id not in journals:
        raise NotFound(f"no journal {journal_id!r} in {books.company.name}", field="journal_id")
    total, entries = await repo.audited_entries(
        access.session, books.company.id, date_from, date_to, journal_id, limit=limit, offset=offset
    )
    lines: dict[str, list[Line]] = defaultdict(list)
    for line in await repo.lines_of_entries(access.session, [e.id for e in entries]):
        lines[line.entry_id].append(line)
    linked = {i for e in entries for i in (e.reversal_of_id, e.reversed_by_id) if i}
    numbers = await repo.entry_numbers(access.session, sorted(linked))
    checks = await _sequence_checks(access, books, date_from, date_to, journal_id)
    scope = [_span(date_from, date_to)] + ([f"journal {journals[journal_id].code}"] if journal_id else [])
    return JournalAudit(
        company_id=books.company.id,
        currency=books.currency,
        date_from=date_from,
        date_to=date_to,
        journal_id=journal_id,
        entries=[_audit_entry(books, e, lines[e.id], numbers, journals[e.journal_id].code) for e in entries],
        total_entries=total,
        limit=limit,
        offset=offset,
        sequences=checks,
        gap_free=all(c.gap_free for c in checks),
        numbering=_numbering(checks),
        subtitle=books.subtitle(*scope),
    )


def export(
    report: TrialBalance | GeneralLedger | ProfitAndLoss | BalanceSheet | TaxReport | JournalAudit, fmt: str
) -> tuple[bytes, str, str]:
    """A report as a file: (body, media type, file name)."""
    return exports.export(report.table(), fmt)
