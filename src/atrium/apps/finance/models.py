"""The ledger's tenant tables: companies and their charts, journals, entries and their posted lines,
the per-period balances reports read, numbering, the inalterability chain, exchange rates, and the
open items that reconciliation settles.

Posted lines are written once and never changed: on PostgreSQL a trigger refuses UPDATE and DELETE
on ``finance_lines`` (see the tenant migration). Everything that changes after posting (what is
still open on a receivable line, which lines settle which) lives in its own tables.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    SmallInteger,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from atrium.core.db import TenantBase, TenantScoped, Timestamped, UTCDateTime, new_id, utcnow

MONEY = Numeric(20, 4)
RATE = Numeric(24, 10)


class Company(TenantBase, TenantScoped, Timestamped):
    """A legal entity with its own ledger inside the tenant (multi-company)."""

    __tablename__ = "finance_companies"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    base_currency: Mapped[str] = mapped_column(String(3))
    fiscal_year_start_month: Mapped[int] = mapped_column(SmallInteger, default=1)
    chart_template: Mapped[str | None] = mapped_column(String(40), default=None)
    soft_lock_date: Mapped[dt.date | None] = mapped_column(Date, default=None)
    hard_lock_date: Mapped[dt.date | None] = mapped_column(Date, default=None)


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


class Journal(TenantBase, TenantScoped, Timestamped):
    """Where entries are numbered: each journal has its own gap-free sequence per fiscal year."""

    __tablename__ = "finance_journals"
    __table_args__ = (UniqueConstraint("tenant_id", "company_id", "code"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    company_id: Mapped[str] = mapped_column(ForeignKey("finance_companies.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    default_account_id: Mapped[str | None] = mapped_column(
        ForeignKey("finance_accounts.id", ondelete="RESTRICT"), default=None
    )


class Entry(TenantBase, TenantScoped, Timestamped):
    """A journal entry. A draft keeps its proposed lines in ``draft_lines``; posting writes them to
    ``finance_lines`` for good, gives the entry its number and links it into the company's chain."""

    __tablename__ = "finance_entries"
    __table_args__ = (
        UniqueConstraint("tenant_id", "journal_id", "fiscal_year", "sequence"),
        UniqueConstraint("tenant_id", "company_id", "chain_index"),
        CheckConstraint("state IN ('draft', 'posted', 'reversed')", name="state"),
        CheckConstraint("state = 'draft' OR (number IS NOT NULL AND hash IS NOT NULL)", name="posted_sealed"),
        Index("ix_finance_entries_company_date", "company_id", "date"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    company_id: Mapped[str] = mapped_column(ForeignKey("finance_companies.id", ondelete="CASCADE"))
    journal_id: Mapped[str] = mapped_column(ForeignKey("finance_journals.id", ondelete="RESTRICT"), index=True)
    state: Mapped[str] = mapped_column(String(10), default="draft")
    date: Mapped[dt.date] = mapped_column(Date)
    fiscal_year: Mapped[int] = mapped_column(Integer)
    sequence: Mapped[int | None] = mapped_column(Integer, default=None)
    number: Mapped[str | None] = mapped_column(String(40), default=None)
    reference: Mapped[str | None] = mapped_column(String(200), default=None)
    memo: Mapped[str | None] = mapped_column(String(1000), default=None)
    currency: Mapped[str | None] = mapped_column(String(3), default=None)
    total: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    line_count: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[str] = mapped_column(String(40), default="manual")
    source_id: Mapped[str | None] = mapped_column(String(80), default=None, index=True)
    reversal_of_id: Mapped[str | None] = mapped_column(
        ForeignKey("finance_entries.id", ondelete="RESTRICT"), default=None
    )
    reversed_by_id: Mapped[str | None] = mapped_column(String(36), default=None)
    draft_lines: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, default=None)
    chain_index: Mapped[int | None] = mapped_column(Integer, default=None)
    previous_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    hash: Mapped[str | None] = mapped_column(String(64), default=None)
    created_by: Mapped[str | None] = mapped_column(String(36), default=None)
    posted_by: Mapped[str | None] = mapped_column(String(36), default=None)
    posted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


class Line(TenantBase, TenantScoped):
    """A posted ledger line: company-currency ``debit``/``credit`` and the transaction-currency amount
    with the rate used. Insert-only. ``period`` (yyyymm) and ``journal_id`` are copied from the entry
    so reports filter lines without a join."""

    __tablename__ = "finance_lines"
    __table_args__ = (
        CheckConstraint("debit >= 0 AND credit >= 0 AND (debit = 0 OR credit = 0)", name="one_side"),
        Index("ix_finance_lines_account_date", "account_id", "date"),
        Index("ix_finance_lines_company_date", "company_id", "date"),
        Index(
            "ix_finance_lines_party",
            "party_id",
            postgresql_where=text("party_id IS NOT NULL"),
            sqlite_where=text("party_id IS NOT NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    # checked at commit: a posting writes its lines before its entry (see posting._write)
    entry_id: Mapped[str] = mapped_column(
        ForeignKey("finance_entries.id", ondelete="RESTRICT", deferrable=True, initially="DEFERRED"), index=True
    )
    company_id: Mapped[str] = mapped_column(String(36))
    journal_id: Mapped[str] = mapped_column(String(36))
    account_id: Mapped[str] = mapped_column(ForeignKey("finance_accounts.id", ondelete="RESTRICT"))
    line_no: Mapped[int] = mapped_column(Integer)
    date: Mapped[dt.date] = mapped_column(Date)
    period: Mapped[int] = mapped_column(Integer)
    debit: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    credit: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    currency: Mapped[str] = mapped_column(String(3))
    amount_currency: Mapped[Decimal] = mapped_column(MONEY)
    rate: Mapped[Decimal] = mapped_column(RATE, default=Decimal(1))
    label: Mapped[str | None] = mapped_column(String(200), default=None)
    party_id: Mapped[str | None] = mapped_column(String(36), default=None)
    due_date: Mapped[dt.date | None] = mapped_column(Date, default=None)
    tax_rate: Mapped[Decimal | None] = mapped_column(Numeric(7, 4), default=None)
    tax_base: Mapped[Decimal | None] = mapped_column(MONEY, default=None)


class Balance(TenantBase, TenantScoped):
    """Per account, period (yyyymm) and currency, the sums of posted lines, kept as entries post.

    A popular account does not become one hot row: each posting adds to one of ``SLOTS`` rows
    (``slot``), chosen per transaction, so concurrent postings rarely wait on each other; readers
    sum the slots. Reports read these rows instead of scanning lines.
    """

    __tablename__ = "finance_balances"

    tenant_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    period: Mapped[int] = mapped_column(Integer, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    slot: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    company_id: Mapped[str] = mapped_column(String(36), index=True)
    debit: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    credit: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    amount_currency: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    lines: Mapped[int] = mapped_column(Integer, default=0)


class SequenceCounter(TenantBase, TenantScoped):
    """The last number handed out per journal and fiscal year; taken under a row lock at the very
    end of a posting so the lock is held for as short a time as possible."""

    __tablename__ = "finance_sequences"

    tenant_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    journal_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    fiscal_year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class ChainHead(TenantBase, TenantScoped):
    """The end of a company's inalterability chain: position and hash of the last posted entry."""

    __tablename__ = "finance_chain_heads"

    tenant_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    company_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    hash: Mapped[str] = mapped_column(String(64), default="")


class ExchangeRate(TenantBase, TenantScoped, Timestamped):
    """How many units of the company's currency one unit of ``currency`` was worth on ``date``."""

    __tablename__ = "finance_exchange_rates"
    __table_args__ = (
        UniqueConstraint("tenant_id", "company_id", "currency", "date"),
        CheckConstraint("rate > 0", name="positive"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    company_id: Mapped[str] = mapped_column(ForeignKey("finance_companies.id", ondelete="CASCADE"))
    currency: Mapped[str] = mapped_column(String(3))
    date: Mapped[dt.date] = mapped_column(Date)
    rate: Mapped[Decimal] = mapped_column(RATE)
    source: Mapped[str] = mapped_column(String(20), default="manual")


class OpenItem(TenantBase, TenantScoped):
    """What is still open on a posted line of a reconciled account (receivable, payable, bank),
    in company and transaction currency. Deleted once nothing is left."""

    __tablename__ = "finance_open_items"
    __table_args__ = (Index("ix_finance_open_items_company_account", "company_id", "account_id"),)

    line_id: Mapped[str] = mapped_column(ForeignKey("finance_lines.id", ondelete="RESTRICT"), primary_key=True)
    company_id: Mapped[str] = mapped_column(String(36))
    account_id: Mapped[str] = mapped_column(String(36))
    party_id: Mapped[str | None] = mapped_column(String(36), default=None, index=True)
    currency: Mapped[str] = mapped_column(String(3))
    residual: Mapped[Decimal] = mapped_column(MONEY)
    residual_currency: Mapped[Decimal] = mapped_column(MONEY)
    date: Mapped[dt.date] = mapped_column(Date)
    due_date: Mapped[dt.date | None] = mapped_column(Date, default=None)


class Match(TenantBase, TenantScoped):
    """One settlement between a debit and a credit line; a reconciliation groups several, and
    undoing it deletes them and reopens what they settled."""

    __tablename__ = "finance_matches"
    __table_args__ = (CheckConstraint("amount > 0", name="positive"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    reconciliation_id: Mapped[str] = mapped_column(String(36), index=True)
    company_id: Mapped[str] = mapped_column(String(36))
    debit_line_id: Mapped[str] = mapped_column(ForeignKey("finance_lines.id", ondelete="RESTRICT"), index=True)
    credit_line_id: Mapped[str] = mapped_column(ForeignKey("finance_lines.id", ondelete="RESTRICT"), index=True)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    amount_currency: Mapped[Decimal] = mapped_column(MONEY)
    created_by: Mapped[str | None] = mapped_column(String(36), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Attachment(TenantBase, TenantScoped):
    """A file kept with an entry (a receipt, a contract). Attachments can be added after posting;
    the entry's lines cannot change."""

    __tablename__ = "finance_attachments"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    entry_id: Mapped[str] = mapped_column(ForeignKey("finance_entries.id", ondelete="RESTRICT"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_by: Mapped[str | None] = mapped_column(String(36), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
