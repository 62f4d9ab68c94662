"""Queries of the finance reports. Every sum is grouped in SQL: whole months come from
``finance_balances`` (its slots summed), and only the days of a partial first or last month come
from ``finance_lines``, so a report reads at most two months of lines however large the ledger."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from atrium.apps.finance.models import Account, Balance, Entry, Journal, Line, OpenItem, SequenceCounter
from atrium.apps.finance.money import ZERO

CLOSING_SOURCE = "closing"
"""``Entry.source`` of a year-end closing entry (its ``source_id`` is the fiscal year)."""


@dataclass(frozen=True)
class Sums:
    """Debits and credits of an account over some dates, in the company's currency."""

    debit: Decimal = ZERO
    credit: Decimal = ZERO

    @property
    def balance(self) -> Decimal:
        """Debit minus credit: positive for a debit balance."""
        return self.debit - self.credit

    def __add__(self, other: Sums) -> Sums:
        return Sums(self.debit + other.debit, self.credit + other.credit)

    def __sub__(self, other: Sums) -> Sums:
        return Sums(self.debit - other.debit, self.credit - other.credit)


SumsByAccount = dict[str, Sums]
NONE = Sums()


def merge(*parts: SumsByAccount) -> SumsByAccount:
    out: SumsByAccount = {}
    for part in parts:
        for account_id, sums in part.items():
            out[account_id] = out.get(account_id, NONE) + sums
    return out


def subtract(whole: SumsByAccount, part: SumsByAccount) -> SumsByAccount:
    out = dict(whole)
    for account_id, sums in part.items():
        out[account_id] = out.get(account_id, NONE) - sums
    return out


def _sums(rows: Sequence[Any]) -> SumsByAccount:
    return {row[0]: Sums(Decimal(row[1] or 0), Decimal(row[2] or 0)) for row in rows}


async def balance_sums(
    session: AsyncSession, company_id: str, first: int | None, last: int, *, account_id: str | None = None
) -> SumsByAccount:
    """Per account, the posted sums of the periods ``first`` (None: since the beginning) to ``last``."""
    stmt = (
        select(Balance.account_id, func.sum(Balance.debit), func.sum(Balance.credit))
        .where(Balance.company_id == company_id, Balance.period <= last)
        .group_by(Balance.account_id)
    )
    if first is not None:
        stmt = stmt.where(Balance.period >= first)
    if account_id is not None:
        stmt = stmt.where(Balance.account_id == account_id)
    return _sums((await session.execute(stmt)).all())


async def line_sums(
    session: AsyncSession, company_id: str, start: dt.date, end: dt.date, *, account_id: str | None = None
) -> SumsByAccount:
    """Per account, the sums of the lines dated ``start`` to ``end``: for the days of a partial month."""
    stmt = (
        select(Line.account_id, func.sum(Line.debit), func.sum(Line.credit))
        .where(Line.company_id == company_id, Line.date >= start, Line.date <= end)
        .group_by(Line.account_id)
    )
    if account_id is not None:
        stmt = stmt.where(Line.account_id == account_id)
    return _sums((await session.execute(stmt)).all())


def closing_entry_ids(company_id: str) -> Select[str]:
    """The company's closing entries and the reversals of any of them: what the profit and loss
    leaves out, so a closed year still shows its result."""
    original = aliased(Entry)
    closings = select(original.id).where(original.company_id == company_id, original.source == CLOSING_SOURCE)
    return select(Entry.id).where(
        Entry.company_id == company_id, or_(Entry.source == CLOSING_SOURCE, Entry.reversal_of_id.in_(closings))
    )


async def closing_sums(
    session: AsyncSession, company_id: str, start: dt.date, end: dt.date, *, account_id: str | None = None
) -> SumsByAccount:
    """Per account, what closing entries (and their reversals) dated ``start`` to ``end`` posted."""
    entries = closing_entry_ids(company_id).where(Entry.date >= start, Entry.date <= end)
    stmt = (
        select(Line.account_id, func.sum(Line.debit), func.sum(Line.credit))
        .where(Line.entry_id.in_(entries))
        .group_by(Line.account_id)
    )
    if account_id is not None:
        stmt = stmt.where(Line.account_id == account_id)
    return _sums((await session.execute(stmt)).all())


async def accounts(session: AsyncSession, company_id: str) -> Sequence[Account]:
    return (await session.scalars(select(Account).where(Account.company_id == company_id).order_by(Account.code))).all()


async def account(session: AsyncSession, company_id: str, account_id: str) -> Account | None:
    return await session.scalar(select(Account).where(Account.company_id == company_id, Account.id == account_id))


# -- general ledger ---------------------------------------------------------------------------


def _ledger_lines(
    company_id: str, account_id: str, start: dt.date, end: dt.date, include_closing: bool
) -> Select[Line, str | None, int | None, str]:
    stmt = (
        select(Line, Entry.number, Entry.chain_index, Journal.code)
        .join(Entry, Entry.id == Line.entry_id)
        .join(Journal, Journal.id == Line.journal_id)
        .where(Line.account_id == account_id, Line.company_id == company_id, Line.date >= start, Line.date <= end)
    )
    if not include_closing:
        stmt = stmt.where(Line.entry_id.not_in(closing_entry_ids(company_id)))
    return stmt.order_by(Line.date, Entry.chain_index, Line.line_no)


async def ledger_lines(
    session: AsyncSession,
    company_id: str,
    account_id: str,
    start: dt.date,
    end: dt.date,
    *,
    include_closing: bool,
    limit: int,
    offset: int,
) -> list[tuple[Line, str | None, str]]:
    """One page of an account's lines in posting order, each with its entry number and journal code."""
    stmt = _ledger_lines(company_id, account_id, start, end, include_closing).limit(limit).offset(offset)
    return [(row[0], row[1], row[3]) for row in (await session.execute(stmt)).all()]


async def ledger_before_page(
    session: AsyncSession,
    company_id: str,
    account_id: str,
    start: dt.date,
    end: dt.date,
    *,
    include_closing: bool,
    offset: int,
) -> tuple[int, Decimal]:
    """How many lines the range has and what the first ``offset`` of them add up to (debit minus
    credit), so a later page's running balance starts where the page before it ended."""
    base = _ledger_lines(company_id, account_id, start, end, include_closing)
    total = await session.scalar(select(func.count()).select_from(base.order_by(None).subquery()))
    before = ZERO
    if offset:
        page = base.with_only_columns(Line.debit, Line.credit).limit(offset).subquery()
        before = Decimal(await session.scalar(select(func.sum(page.c.debit - page.c.credit))) or 0)
    return int(total or 0), before


# -- tax --------------------------------------------------------------------------------------


async def tax_groups(
    session: AsyncSession, company_id: str, account_ids: Sequence[str], start: dt.date, end: dt.date
) -> list[tuple[int, str, Decimal | None, Decimal, Decimal, Decimal, int, int]]:
    """Lines of the tax accounts per period, account and rate: (period, account, rate, debit,
    credit, base, lines, lines without a base)."""
    if not account_ids:
        return []
    stmt = (
        select(
            Line.period,
            Line.account_id,
            Line.tax_rate,
            func.sum(Line.debit),
            func.sum(Line.credit),
            func.sum(func.coalesce(Line.tax_base, 0)),
            func.count(),
            func.count() - func.count(Line.tax_base),
        )
        .where(
            Line.company_id == company_id,
            Line.account_id.in_(account_ids),
            Line.date >= start,
            Line.date <= end,
        )
        .group_by(Line.period, Line.account_id, Line.tax_rate)
        .order_by(Line.period, Line.account_id, Line.tax_rate)
    )
    return [
        (
            int(r[0]),
            r[1],
            None if r[2] is None else Decimal(r[2]),
            Decimal(r[3] or 0),
            Decimal(r[4] or 0),
            Decimal(r[5] or 0),
            int(r[6]),
            int(r[7]),
        )
        for r in (await session.execute(stmt)).all()
    ]


# -- journal audit ----------------------------------------------------------------------------


def _audited(company_id: str, start: dt.date, end: dt.date, journal_id: str | None) -> list[ColumnElement[bool]]:
    where = [Entry.company_id == company_id, Entry.date >= start, Entry.date <= end, Entry.state != "draft"]
    if journal_id is not None:
        where.append(Entry.journal_id == journal_id)
    return where


async def audited_entries(
    session: AsyncSession,
    company_id: str,
    start: dt.date,
    end: dt.date,
    journal_id: str | None,
    *,
    limit: int,
    offset: int,
) -> tuple[int, list[Entry]]:
    """Posted (and reversed) entries of the range in number order: journal, fiscal year, sequence."""
    where = _audited(company_id, start, end, journal_id)
    total = await session.scalar(select(func.count()).select_from(Entry).where(*where))
    stmt = (
        select(Entry)
        .join(Journal, Journal.id == Entry.journal_id)
        .where(*where)
        .order_by(Journal.code, Entry.fiscal_year, Entry.sequence)
        .limit(limit)
        .offset(offset)
    )
    return int(total or 0), list((await session.scalars(stmt)).all())


async def drafts_between(session: AsyncSession, company_id: str, start: dt.date, end: dt.date) -> int:
    stmt = (
        select(func.count())
        .select_from(Entry)
        .where(Entry.company_id == company_id, Entry.state == "draft", Entry.date >= start, Entry.date <= end)
    )
    return int(await session.scalar(stmt) or 0)


async def lines_of_entries(session: AsyncSession, entry_ids: Sequence[str]) -> list[Line]:
    if not entry_ids:
        return []
    stmt = select(Line).where(Line.entry_id.in_(entry_ids)).order_by(Line.entry_id, Line.line_no)
    return list((await session.scalars(stmt)).all())


async def entry_numbers(session: AsyncSession, entry_ids: Sequence[str]) -> dict[str, str | None]:
    if not entry_ids:
        return {}
    rows = await session.execute(select(Entry.id, Entry.number).where(Entry.id.in_(entry_ids)))
    return {row[0]: row[1] for row in rows.all()}


@dataclass(frozen=True)
class SequenceSpan:
    journal_id: str
    fiscal_year: int
    count: int
    first: int
    last: int
    handed_out: int  # the journal's counter: the last number it ever gave


async def sequence_spans(
    session: AsyncSession, company_id: str, start: dt.date, end: dt.date, journal_id: str | None
) -> list[SequenceSpan]:
    """For every journal and fiscal year with an entry in the range, the whole sequence's count,
    lowest and highest number, and the counter: enough to tell "no gaps" without reading numbers."""
    touched = (
        select(Entry.journal_id, Entry.fiscal_year).where(*_audited(company_id, start, end, journal_id)).distinct()
    ).subquery()
    stmt = (
        select(
            Entry.journal_id,
            Entry.fiscal_year,
            func.count(),
            func.min(Entry.sequence),
            func.max(Entry.sequence),
            func.max(SequenceCounter.last),
        )
        .join(touched, and_(touched.c.journal_id == Entry.journal_id, touched.c.fiscal_year == Entry.fiscal_year))
        .outerjoin(
            SequenceCounter,
            and_(SequenceCounter.journal_id == Entry.journal_id, SequenceCounter.fiscal_year == Entry.fiscal_year),
        )
        .where(Entry.company_id == company_id, Entry.state != "draft")
        .group_by(Entry.journal_id, Entry.fiscal_year)
    )
    return [
        SequenceSpan(r[0], int(r[1]), int(r[2]), int(r[3] or 0), int(r[4] or 0), int(r[5] or 0))
        for r in (await session.execute(stmt)).all()
    ]


async def sequences(session: AsyncSession, journal_id: str, fiscal_year: int) -> list[int]:
    """Every number of one journal's year, read only when its span shows a gap."""
    stmt = (
        select(Entry.sequence)
        .where(Entry.journal_id == journal_id, Entry.fiscal_year == fiscal_year, Entry.state != "draft")
        .order_by(Entry.sequence)
    )
    return [int(s) for s in (await session.scalars(stmt)).all() if s is not None]


async def journals(session: AsyncSession, company_id: str) -> dict[str, Journal]:
    rows = await session.scalars(select(Journal).where(Journal.company_id == company_id))
    return {j.id: j for j in rows.all()}


# -- period close -----------------------------------------------------------------------------


async def closing_entry(session: AsyncSession, company_id: str, fiscal_year: int) -> Entry | None:
    """The posted (not reversed) closing entry of a fiscal year, if the year is closed."""
    stmt = select(Entry).where(
        Entry.company_id == company_id,
        Entry.source == CLOSING_SOURCE,
        Entry.source_id == str(fiscal_year),
        Entry.state == "posted",
    )
    return await session.scalar(stmt.limit(1))


async def open_items_count(
    session: AsyncSession, company_id: str, end: dt.date, *, kinds: Sequence[str] = (), foreign_to: str | None = None
) -> int:
    """Open items dated up to ``end``: on accounts of ``kinds``, or (``foreign_to``) in a currency
    other than the company's."""
    stmt = select(func.count()).select_from(OpenItem).where(OpenItem.company_id == company_id, OpenItem.date <= end)
    if kinds:
        stmt = stmt.where(OpenItem.account_id.in_(select(Account.id).where(Account.kind.in_(kinds))))
    if foreign_to is not None:
        stmt = stmt.where(OpenItem.currency != foreign_to, OpenItem.residual_currency != 0)
    return int(await session.scalar(stmt) or 0)


async def revaluation_posted(session: AsyncSession, company_id: str, start: dt.date, end: dt.date) -> bool:
    """Whether an entry of an exchange-difference journal was posted (and stands) in ``start``–``end``."""
    stmt = (
        select(Entry.id)
        .join(Journal, Journal.id == Entry.journal_id)
        .where(
            Entry.company_id == company_id,
            Journal.kind == "fx",
            Entry.state == "posted",
            Entry.reversal_of_id.is_(None),
            Entry.date >= start,
            Entry.date <= end,
        )
        .limit(1)
    )
    return await session.scalar(stmt) is not None
