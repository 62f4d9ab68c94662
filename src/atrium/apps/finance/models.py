"""The ledger's tenant tables. This first part holds companies and their charts of accounts."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Boolean, ForeignKey, Numeric, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from atrium.core.db import TenantBase, TenantScoped, Timestamped, new_id


class Company(TenantBase, TenantScoped, Timestamped):
    """A legal entity with its own ledger inside the tenant (multi-company)."""

    __tablename__ = "finance_companies"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    base_currency: Mapped[str] = mapped_column(String(3))
    fiscal_year_start_month: Mapped[int] = mapped_column(SmallInteger, default=1)
    chart_template: Mapped[str | None] = mapped_column(String(40), default=None)


class Account(TenantBase, TenantScoped, Timestamped):
    """An account of a company's chart; ``kind`` says what the ledger uses it for (receivable,
    bank, output tax …) and fixes its ``type`` (asset, liability, equity, income, expense)."""

    __tablename__ = "finance_accounts"
    __table_args__ = (UniqueConstraint("tenant_id", "company_id", "code"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    company_id: Mapped[str] = mapped_column(ForeignKey("finance_companies.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    type: Mapped[str] = mapped_column(String(20))
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("finance_accounts.id", ondelete="RESTRICT"), default=None)
    reconcile: Mapped[bool] = mapped_column(Boolean, default=False)
    tax_rate: Mapped[Decimal | None] = mapped_column(Numeric(7, 4), default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
