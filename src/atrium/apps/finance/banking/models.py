"""Bank accounts, imported statements and their lines, and what each line was reconciled with."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from atrium.apps.finance.models import MONEY
from atrium.core.db import TenantBase, TenantScoped, Timestamped, UTCDateTime, new_id, utcnow


class BankAccount(TenantBase, TenantScoped, Timestamped):
    """A company's account at a bank: its IBAN, the ledger account and journal its lines post to,
    and the CSV column mapping saved for this bank's exports."""

    __tablename__ = "finance_bank_accounts"
    __table_args__ = (UniqueConstraint("tenant_id", "company_id", "name"), UniqueConstraint("tenant_id", "journal_id"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    company_id: Mapped[str] = mapped_column(ForeignKey("finance_companies.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    iban: Mapped[str | None] = mapped_column(String(34), default=None, index=True)
    currency: Mapped[str] = mapped_column(String(3))
    account_id: Mapped[str] = mapped_column(ForeignKey("finance_accounts.id", ondelete="RESTRICT"))
    journal_id: Mapped[str] = mapped_column(ForeignKey("finance_journals.id", ondelete="RESTRICT"))
    csv_mapping: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class Statement(TenantBase, TenantScoped):
    """One imported file. Lines already imported before (same fingerprint) are skipped and counted."""

    __tablename__ = "finance_bank_statements"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    company_id: Mapped[str] = mapped_column(String(36), index=True)
    bank_account_id: Mapped[str] = mapped_column(
        ForeignKey("finance_bank_accounts.id", ondelete="RESTRICT"), index=True
    )
    format: Mapped[str] = mapped_column(String(10))
    filename: Mapped[str | None] = mapped_column(String(255), default=None)
    file_sha256: Mapped[str] = mapped_column(String(64))
    reference: Mapped[str | None] = mapped_column(String(100), default=None)
    currency: Mapped[str] = mapped_column(String(3))
    start_date: Mapped[dt.date | None] = mapped_column(Date, default=None)
    end_date: Mapped[dt.date | None] = mapped_column(Date, default=None)
    opening_balance: Mapped[Decimal | None] = mapped_column(MONEY, default=None)
    closing_balance: Mapped[Decimal | None] = mapped_column(MONEY, default=None)
    lines_imported: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    imported_by: Mapped[str | None] = mapped_column(String(36), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class StatementLine(TenantBase, TenantScoped):
    """A transaction as the bank reported it; ``open`` until reconciled."""

    __tablename__ = "finance_bank_lines"
    __table_args__ = (
        UniqueConstraint("tenant_id", "bank_account_id", "fingerprint"),
        Index("ix_finance_bank_lines_account_state", "bank_account_id", "state"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    statement_id: Mapped[str] = mapped_column(ForeignKey("finance_bank_statements.id", ondelete="RESTRICT"), index=True)
    bank_account_id: Mapped[str] = mapped_column(String(36))
    company_id: Mapped[str] = mapped_column(String(36))
    row: Mapped[int] = mapped_column(Integer)
    booked_on: Mapped[dt.date] = mapped_column(Date)
    value_on: Mapped[dt.date | None] = mapped_column(Date, default=None)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))
    counterparty_name: Mapped[str | None] = mapped_column(String(200), default=None)
    counterparty_iban: Mapped[str | None] = mapped_column(String(34), default=None)
    text: Mapped[str] = mapped_column(String(1000), default="")
    bank_reference: Mapped[str | None] = mapped_column(String(100), default=None)
    fingerprint: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(12), default="open")
    entry_id: Mapped[str | None] = mapped_column(String(36), default=None)
    reconciliation_id: Mapped[str | None] = mapped_column(String(36), default=None, index=True)
    reconciled_by: Mapped[str | None] = mapped_column(String(36), default=None)
    reconciled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


class BankMatch(TenantBase, TenantScoped):
    """What a statement line settled: an open ledger line (``line_id``, an outstanding receipt or
    payment on the bank account, settled directly) or a ledger reconciliation it created."""

    __tablename__ = "finance_bank_matches"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    reconciliation_id: Mapped[str] = mapped_column(String(36), index=True)
    bank_line_id: Mapped[str] = mapped_column(ForeignKey("finance_bank_lines.id", ondelete="RESTRICT"), index=True)
    line_id: Mapped[str | None] = mapped_column(String(36), default=None)
    ledger_reconciliation_id: Mapped[str | None] = mapped_column(String(36), default=None)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    amount_currency: Mapped[Decimal] = mapped_column(MONEY)
