"""Queries of finance; the tenant session adds the tenant filter."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.apps.finance.models import Account, Attachment, Company, Entry, ExchangeRate, Journal, Line


async def companies(session: AsyncSession) -> Sequence[Company]:
    return (await session.scalars(select(Company).order_by(Company.name))).all()


async def company(session: AsyncSession, company_id: str) -> Company | None:
    return await session.scalar(select(Company).where(Company.id == company_id))


async def company_named(session: AsyncSession, name: str) -> Company | None:
    return await session.scalar(select(Company).where(func.lower(Company.name) == name.lower()))


async def accounts(session: AsyncSession, company_id: str) -> Sequence[Account]:
    return (await session.scalars(select(Account).where(Account.company_id == company_id).order_by(Account.code))).all()


async def account_by_code(session: AsyncSession, company_id: str, code: str) -> Account | None:
    return await session.scalar(select(Account).where(Account.company_id == company_id, Account.code == code))


async def first_account_of_kind(session: AsyncSession, company_id: str, kind: str) -> Account | None:
    return await session.scalar(
        select(Account).where(Account.company_id == company_id, Account.kind == kind).order_by(Account.code).limit(1)
    )


async def journals(session: AsyncSession, company_id: str) -> Sequence[Journal]:
    return (await session.scalars(select(Journal).where(Journal.company_id == company_id).order_by(Journal.code))).all()


async def journal(session: AsyncSession, journal_id: str) -> Journal | None:
    return await session.scalar(select(Journal).where(Journal.id == journal_id))


async def journal_by_code(session: AsyncSession, company_id: str, code: str) -> Journal | None:
    return await session.scalar(select(Journal).where(Journal.company_id == company_id, Journal.code == code))


async def rates_on(
    session: AsyncSession, company_id: str, keys: Sequence[tuple[str, dt.date]]
) -> dict[tuple[str, dt.date], ExchangeRate]:
    if not keys:
        return {}
    currencies = {c for c, _ in keys}
    days = {d for _, d in keys}
    rows = await session.scalars(
        select(ExchangeRate).where(
            ExchangeRate.company_id == company_id, ExchangeRate.currency.in_(currencies), ExchangeRate.date.in_(days)
        )
    )
    return {(r.currency, r.date): r for r in rows}


async def rates(
    session: AsyncSession, company_id: str, currency: str | None = None, limit: int = 500
) -> Sequence[ExchangeRate]:
    stmt = select(ExchangeRate).where(ExchangeRate.company_id == company_id)
    if currency:
        stmt = stmt.where(ExchangeRate.currency == currency)
    return (await session.scalars(stmt.order_by(ExchangeRate.date.desc(), ExchangeRate.currency).limit(limit))).all()


async def entries(
    session: AsyncSession,
    company_id: str,
    *,
    journal_id: str | None = None,
    state: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    account_id: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Sequence[Entry]:
    stmt = select(Entry).where(Entry.company_id == company_id)
    if journal_id:
        stmt = stmt.where(Entry.journal_id == journal_id)
    if state:
        stmt = stmt.where(Entry.state == state)
    if date_from:
        stmt = stmt.where(Entry.date >= date_from)
    if date_to:
        stmt = stmt.where(Entry.date <= date_to)
    if account_id:
        stmt = stmt.where(Entry.id.in_(select(Line.entry_id).where(Line.account_id == account_id)))
    stmt = stmt.order_by(Entry.date.desc(), Entry.number.desc()).limit(limit).offset(offset)
    return (await session.scalars(stmt)).all()


async def entry(session: AsyncSession, entry_id: str) -> Entry | None:
    return await session.scalar(select(Entry).where(Entry.id == entry_id))


async def attachments(session: AsyncSession, entry_id: str) -> Sequence[Attachment]:
    return (
        await session.scalars(select(Attachment).where(Attachment.entry_id == entry_id).order_by(Attachment.created_at))
    ).all()


async def attachment(session: AsyncSession, attachment_id: str) -> Attachment | None:
    return await session.scalar(select(Attachment).where(Attachment.id == attachment_id))
