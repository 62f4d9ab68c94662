"""Queries of finance; the tenant session adds the tenant filter."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.apps.finance.models import Account, Company


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
