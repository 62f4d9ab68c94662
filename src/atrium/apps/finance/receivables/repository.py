"""Queries of receivables and payables; the tenant session adds the tenant filter."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from atrium.apps.finance.models import Account, Entry, Line, Match, OpenItem
from atrium.apps.finance.receivables.models import Allocation, Invoice, InvoiceLine, Party, Payment, PaymentTerm

# -- parties and terms ------------------------------------------------------------------------


async def party(session: AsyncSession, party_id: str) -> Party | None:
    return await session.scalar(select(Party).where(Party.id == party_id))


async def party_named(session: AsyncSession, company_id: str, name: str) -> Party | None:
    return await session.scalar(
        select(Party).where(Party.company_id == company_id, func.lower(Party.name) == name.strip().lower())
    )


async def parties(
    session: AsyncSession,
    company_id: str,
    *,
    role: str | None = None,
    search: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Sequence[Party]:
    stmt = select(Party).where(Party.company_id == company_id)
    if role == "customer":
        stmt = stmt.where(Party.is_customer.is_(True))
    elif role == "vendor":
        stmt = stmt.where(Party.is_vendor.is_(True))
    if search:
        stmt = stmt.where(func.lower(Party.name).contains(search.lower(), autoescape=True))
    return (await session.scalars(stmt.order_by(Party.name).limit(limit).offset(offset))).all()


async def party_names(session: AsyncSession, company_id: str) -> dict[str, str]:
    rows = await session.execute(select(Party.id, Party.name).where(Party.company_id == company_id))
    return {party_id: name for party_id, name in rows.all()}


async def company_terms(session: AsyncSession, company_id: str) -> Sequence[PaymentTerm]:
    return (
        await session.scalars(
            select(PaymentTerm).where(PaymentTerm.company_id == company_id).order_by(PaymentTerm.code)
        )
    ).all()


async def terms_row(session: AsyncSession, company_id: str, code: str) -> PaymentTerm | None:
    return await session.scalar(
        select(PaymentTerm).where(PaymentTerm.company_id == company_id, PaymentTerm.code == code)
    )


# -- documents --------------------------------------------------------------------------------


async def document(session: AsyncSession, document_id: str, *, for_update: bool = False) -> Invoice | None:
    stmt = select(Invoice).where(Invoice.id == document_id)
    return await session.scalar(stmt.with_for_update() if for_update else stmt)


async def documents_by_id(session: AsyncSession, ids: Sequence[str], *, for_update: bool = False) -> dict[str, Invoice]:
    if not ids:
        return {}
    stmt = select(Invoice).where(Invoice.id.in_(set(ids))).order_by(Invoice.id)
    rows = await session.scalars(stmt.with_for_update() if for_update else stmt)
    return {row.id: row for row in rows}


def _open_lines_exist() -> ColumnElement[bool]:
    """The document's receivable or payable lines still have something open."""
    return exists(
        select(OpenItem.line_id)
        .join(Line, Line.id == OpenItem.line_id)
        .where(Line.entry_id == Invoice.entry_id, OpenItem.account_id == Invoice.account_id)
    )


def _settled_somewhat() -> ColumnElement[bool]:
    """Some match touches the document's receivable or payable lines."""
    return exists(
        select(Match.id)
        .join(Line, or_(Line.id == Match.debit_line_id, Line.id == Match.credit_line_id))
        .where(Line.entry_id == Invoice.entry_id, Line.account_id == Invoice.account_id)
    )


def _entry_reversed() -> ColumnElement[bool]:
    return exists(select(Entry.id).where(Entry.id == Invoice.entry_id, Entry.state == "reversed"))


def status_filter(status: str) -> ColumnElement[bool]:
    """The documents of one status, decided in SQL the way ``service.status_of`` decides it in Python."""
    posted = and_(Invoice.state == "posted", ~_entry_reversed())
    if status == "draft":
        return Invoice.state == "draft"
    if status == "cancelled":
        return or_(Invoice.state == "cancelled", and_(Invoice.state == "posted", _entry_reversed()))
    if status == "paid":
        return and_(posted, ~_open_lines_exist())
    if status == "partially_paid":
        return and_(posted, _open_lines_exist(), _settled_somewhat())
    return and_(posted, _open_lines_exist(), ~_settled_somewhat())  # open


async def documents(
    session: AsyncSession,
    company_id: str,
    kinds: Sequence[str],
    *,
    party_id: str | None = None,
    status: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Sequence[Invoice]:
    stmt = select(Invoice).where(Invoice.company_id == company_id, Invoice.kind.in_(kinds))
    if party_id:
        stmt = stmt.where(Invoice.party_id == party_id)
    if status:
        stmt = stmt.where(status_filter(status))
    if date_from:
        stmt = stmt.where(Invoice.date >= date_from)
    if date_to:
        stmt = stmt.where(Invoice.date <= date_to)
    stmt = stmt.order_by(Invoice.date.desc(), Invoice.number.desc(), Invoice.created_at.desc())
    return (await session.scalars(stmt.limit(limit).offset(offset))).all()


async def document_lines(session: AsyncSession, document_id: str) -> list[InvoiceLine]:
    rows = await session.scalars(
        select(InvoiceLine).where(InvoiceLine.invoice_id == document_id).order_by(InvoiceLine.line_no)
    )
    return list(rows.all())


async def credited(session: AsyncSession, original_id: str) -> Decimal:
    """The totals of the posted credit notes of a document."""
    total = await session.scalar(
        select(func.sum(Invoice.total)).where(Invoice.original_id == original_id, Invoice.state == "posted")
    )
    return Decimal(total or 0)


async def credit_notes(session: AsyncSession, original_id: str) -> Sequence[Invoice]:
    return (
        await session.scalars(
            select(Invoice).where(Invoice.original_id == original_id, Invoice.state == "posted").order_by(Invoice.date)
        )
    ).all()


async def open_documents(
    session: AsyncSession, company_id: str, party_id: str, kind: str, currency: str
) -> Sequence[Invoice]:
    """A party's posted documents of one kind and currency that still have something open."""
    return (
        await session.scalars(
            select(Invoice)
            .where(
                Invoice.company_id == company_id,
                Invoice.party_id == party_id,
                Invoice.kind == kind,
                Invoice.currency == currency,
                Invoice.state == "posted",
                _open_lines_exist(),
            )
            .order_by(Invoice.date, Invoice.number)
        )
    ).all()


# -- the ledger side of documents and payments ------------------------------------------------


@dataclass(frozen=True)
class LedgerLine:
    """A receivable or payable line of an entry, with what is still open on it."""

    id: str
    entry_id: str
    account_id: str
    line_no: int
    due_date: dt.date | None
    amount_currency: Decimal
    residual: Decimal  # company currency, signed; zero when settled
    residual_currency: Decimal  # the line's currency, signed


async def ledger_lines(session: AsyncSession, pairs: Sequence[tuple[str, str]]) -> dict[str, list[LedgerLine]]:
    """For (entry id, account id) pairs, the entry's lines on that account, by entry id."""
    if not pairs:
        return {}
    wanted = set(pairs)
    rows = await session.execute(
        select(
            Line.id,
            Line.entry_id,
            Line.account_id,
            Line.line_no,
            Line.due_date,
            Line.amount_currency,
            OpenItem.residual,
            OpenItem.residual_currency,
        )
        .outerjoin(OpenItem, OpenItem.line_id == Line.id)
        .where(Line.entry_id.in_({entry_id for entry_id, _ in wanted}))
        .order_by(Line.entry_id, Line.line_no)
    )
    out: dict[str, list[LedgerLine]] = {}
    for line_id, entry_id, account_id, line_no, due, amount_currency, residual, residual_currency in rows.all():
        if (entry_id, account_id) not in wanted:
            continue
        out.setdefault(entry_id, []).append(
            LedgerLine(
                line_id,
                entry_id,
                account_id,
                line_no,
                due,
                Decimal(amount_currency),
                Decimal(residual or 0),
                Decimal(residual_currency or 0),
            )
        )
    return out


async def entry_states(session: AsyncSession, entry_ids: Sequence[str]) -> dict[str, str]:
    if not entry_ids:
        return {}
    rows = await session.execute(select(Entry.id, Entry.state).where(Entry.id.in_(set(entry_ids))))
    return {entry_id: state for entry_id, state in rows.all()}


async def allocations_of(
    session: AsyncSession,
    *,
    invoice_id: str | None = None,
    payment_id: str | None = None,
    active: bool = False,
) -> list[Allocation]:
    stmt = select(Allocation)
    if invoice_id is not None:
        stmt = stmt.where(or_(Allocation.invoice_id == invoice_id, Allocation.credit_note_id == invoice_id))
    if payment_id is not None:
        stmt = stmt.where(Allocation.payment_id == payment_id)
    if active:
        stmt = stmt.where(Allocation.undone_at.is_(None))
    return list((await session.scalars(stmt.order_by(Allocation.created_at, Allocation.id))).all())


async def allocated(session: AsyncSession, payment_ids: Sequence[str]) -> dict[str, Decimal]:
    """What each payment settled of documents, summed in Python (exact on every database)."""
    if not payment_ids:
        return {}
    rows = await session.execute(
        select(Allocation.payment_id, Allocation.amount).where(
            Allocation.payment_id.in_(set(payment_ids)), Allocation.undone_at.is_(None)
        )
    )
    out: dict[str, Decimal] = {}
    for payment_id, amount in rows.all():
        if payment_id is not None:
            out[payment_id] = out.get(payment_id, Decimal(0)) + Decimal(amount)
    return out


# -- payments ---------------------------------------------------------------------------------


async def payment(session: AsyncSession, payment_id: str, *, for_update: bool = False) -> Payment | None:
    stmt = select(Payment).where(Payment.id == payment_id)
    return await session.scalar(stmt.with_for_update() if for_update else stmt)


async def payments(
    session: AsyncSession,
    company_id: str,
    *,
    party_id: str | None = None,
    direction: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Sequence[Payment]:
    stmt = select(Payment).where(Payment.company_id == company_id)
    if party_id:
        stmt = stmt.where(Payment.party_id == party_id)
    if direction:
        stmt = stmt.where(Payment.direction == direction)
    stmt = stmt.order_by(Payment.date.desc(), Payment.number.desc())
    return (await session.scalars(stmt.limit(limit).offset(offset))).all()


# -- balances and ageing ----------------------------------------------------------------------


async def party_open_items(session: AsyncSession, party_id: str) -> list[tuple[OpenItem, str]]:
    """A party's open items on receivable and payable accounts, with their account's kind."""
    rows = await session.execute(
        select(OpenItem, Account.kind)
        .join(Account, Account.id == OpenItem.account_id)
        .where(OpenItem.party_id == party_id, Account.kind.in_(("receivable", "payable")))
    )
    return [(item, kind) for item, kind in rows.all()]


@dataclass
class AgedItem:
    line_id: str
    party_id: str | None
    date: dt.date
    due_date: dt.date | None
    residual: Decimal  # company currency, signed, as it stood at the end of the as-of date


async def open_as_of(
    session: AsyncSession, company_id: str, account_ids: Sequence[str], as_of: dt.date
) -> list[AgedItem]:
    """What was open on these accounts at the end of ``as_of``.

    Today's open items dated up to ``as_of``, plus every settlement made by a line dated after
    ``as_of`` added back to the line it settled: on ``as_of`` that settlement had not happened.
    """
    if not account_ids:
        return []
    items: dict[str, AgedItem] = {}
    current = await session.execute(
        select(OpenItem.line_id, OpenItem.party_id, OpenItem.date, OpenItem.due_date, OpenItem.residual).where(
            OpenItem.company_id == company_id, OpenItem.account_id.in_(account_ids), OpenItem.date <= as_of
        )
    )
    for line_id, party_id, day, due, residual in current.all():
        items[line_id] = AgedItem(line_id, party_id, day, due, Decimal(residual))
    debit, credit = aliased(Line), aliased(Line)
    later = await session.execute(
        select(Match.amount, debit.id, debit.date, credit.id)
        .join(debit, debit.id == Match.debit_line_id)
        .join(credit, credit.id == Match.credit_line_id)
        .where(
            Match.company_id == company_id,
            debit.account_id.in_(account_ids),
            or_(and_(debit.date <= as_of, credit.date > as_of), and_(debit.date > as_of, credit.date <= as_of)),
        )
    )
    reopened: dict[str, Decimal] = {}
    for amount, debit_id, debit_day, credit_id in later.all():
        if debit_day <= as_of:
            reopened[debit_id] = reopened.get(debit_id, Decimal(0)) + Decimal(amount)
        else:
            reopened[credit_id] = reopened.get(credit_id, Decimal(0)) - Decimal(amount)
    missing = [line_id for line_id in reopened if line_id not in items]
    if missing:
        rows = await session.execute(
            select(Line.id, Line.party_id, Line.date, Line.due_date).where(Line.id.in_(missing))
        )
        for line_id, party_id, day, due in rows.all():
            items[line_id] = AgedItem(line_id, party_id, day, due, Decimal(0))
    for line_id, amount in reopened.items():
        items[line_id].residual += amount
    return [item for item in items.values() if item.residual != 0]
