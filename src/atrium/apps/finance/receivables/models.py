"""Receivables and payables: parties (customers and vendors), a company's own payment terms,
invoices and bills with their lines, payments, and the allocations that settle documents.

What is still owed on a document is not stored here: it is the ledger's open items of the
document's receivable or payable lines, so a settlement made anywhere (a payment here, a bank
reconciliation elsewhere) shows at once.
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
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from atrium.apps.finance.models import MONEY, RATE
from atrium.core.db import TenantBase, TenantScoped, Timestamped, UTCDateTime, new_id, utcnow

QUANTITY = Numeric(20, 6)
PRICE = Numeric(20, 6)
TAX_RATE = Numeric(7, 4)


class Party(TenantBase, TenantScoped, Timestamped):
    """Someone a company sells to (customer), buys from (vendor), or both."""

    __tablename__ = "finance_parties"
    __table_args__ = (
        UniqueConstraint("tenant_id", "company_id", "name"),
        CheckConstraint("is_customer OR is_vendor", name="role"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    company_id: Mapped[str] = mapped_column(ForeignKey("finance_companies.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    is_customer: Mapped[bool] = mapped_column(Boolean, default=False)
    is_vendor: Mapped[bool] = mapped_column(Boolean, default=False)
    email: Mapped[str | None] = mapped_column(String(320), default=None)
    tax_id: Mapped[str | None] = mapped_column(String(50), default=None)
    ibans: Mapped[list[str]] = mapped_column(JSON, default=list)
    payment_terms: Mapped[str | None] = mapped_column(String(40), default=None)
    currency: Mapped[str | None] = mapped_column(String(3), default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class PaymentTerm(TenantBase, TenantScoped, Timestamped):
    """A company's own payment terms, beside the built-in ones of ``terms.BUILT_IN``."""

    __tablename__ = "finance_payment_terms"
    __table_args__ = (UniqueConstraint("tenant_id", "company_id", "code"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    company_id: Mapped[str] = mapped_column(ForeignKey("finance_companies.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    installments: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    discount_percent: Mapped[Decimal | None] = mapped_column(Numeric(7, 4), default=None)
    discount_days: Mapped[int | None] = mapped_column(Integer, default=None)


class Invoice(TenantBase, TenantScoped, Timestamped):
    """A sales invoice or credit note, or a vendor bill or vendor credit. A draft can change;
    posting writes its journal entry and gives it the entry's gap-free number."""

    __tablename__ = "finance_invoices"
    __table_args__ = (
        CheckConstraint("kind IN ('invoice', 'credit_note', 'bill', 'vendor_credit')", name="kind"),
        CheckConstraint("state IN ('draft', 'posted', 'cancelled')", name="state"),
        CheckConstraint("state <> 'posted' OR (number IS NOT NULL AND entry_id IS NOT NULL)", name="posted_numbered"),
        Index("ix_finance_invoices_company_date", "company_id", "date"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    company_id: Mapped[str] = mapped_column(ForeignKey("finance_companies.id", ondelete="CASCADE"))
    party_id: Mapped[str] = mapped_column(ForeignKey("finance_parties.id", ondelete="RESTRICT"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(10), default="draft")
    number: Mapped[str | None] = mapped_column(String(40), default=None)
    date: Mapped[dt.date] = mapped_column(Date)
    due_date: Mapped[dt.date | None] = mapped_column(Date, default=None)
    currency: Mapped[str] = mapped_column(String(3))
    rate: Mapped[Decimal | None] = mapped_column(RATE, default=None)
    payment_terms: Mapped[str] = mapped_column(String(40))
    reference: Mapped[str | None] = mapped_column(String(200), default=None)
    memo: Mapped[str | None] = mapped_column(String(1000), default=None)
    original_id: Mapped[str | None] = mapped_column(ForeignKey("finance_invoices.id"), default=None, index=True)
    untaxed: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    tax: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    total: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    discount_amount: Mapped[Decimal | None] = mapped_column(MONEY, default=None)
    discount_until: Mapped[dt.date | None] = mapped_column(Date, default=None)
    account_id: Mapped[str | None] = mapped_column(ForeignKey("finance_accounts.id", ondelete="RESTRICT"), default=None)
    entry_id: Mapped[str | None] = mapped_column(ForeignKey("finance_entries.id", ondelete="RESTRICT"), default=None)
    cancelled_by_id: Mapped[str | None] = mapped_column(String(36), default=None)
    created_by: Mapped[str | None] = mapped_column(String(36), default=None)
    posted_by: Mapped[str | None] = mapped_column(String(36), default=None)
    posted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


class InvoiceLine(TenantBase, TenantScoped):
    """One line of a document: what was sold or bought, booked to ``account_id`` with its tax."""

    __tablename__ = "finance_invoice_lines"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    invoice_id: Mapped[str] = mapped_column(ForeignKey("finance_invoices.id", ondelete="CASCADE"), index=True)
    line_no: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(String(500))
    quantity: Mapped[Decimal] = mapped_column(QUANTITY)
    unit_price: Mapped[Decimal] = mapped_column(PRICE)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    account_id: Mapped[str] = mapped_column(ForeignKey("finance_accounts.id", ondelete="RESTRICT"))
    tax_rate: Mapped[Decimal | None] = mapped_column(TAX_RATE, default=None)
    tax_account_id: Mapped[str | None] = mapped_column(
        ForeignKey("finance_accounts.id", ondelete="RESTRICT"), default=None
    )


class Payment(TenantBase, TenantScoped, Timestamped):
    """Money received from a customer or sent to a vendor, posted at once into a bank journal."""

    __tablename__ = "finance_payments"
    __table_args__ = (
        CheckConstraint("direction IN ('received', 'sent')", name="direction"),
        CheckConstraint("state IN ('posted', 'reversed')", name="state"),
        CheckConstraint("amount > 0", name="positive"),
        Index("ix_finance_payments_company_date", "company_id", "date"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    company_id: Mapped[str] = mapped_column(ForeignKey("finance_companies.id", ondelete="CASCADE"))
    party_id: Mapped[str] = mapped_column(ForeignKey("finance_parties.id", ondelete="RESTRICT"), index=True)
    direction: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(10), default="posted")
    number: Mapped[str] = mapped_column(String(40))
    date: Mapped[dt.date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))
    rate: Mapped[Decimal] = mapped_column(RATE)
    journal_id: Mapped[str] = mapped_column(ForeignKey("finance_journals.id", ondelete="RESTRICT"))
    account_id: Mapped[str] = mapped_column(ForeignKey("finance_accounts.id", ondelete="RESTRICT"))
    counterpart_account_id: Mapped[str] = mapped_column(ForeignKey("finance_accounts.id", ondelete="RESTRICT"))
    reference: Mapped[str | None] = mapped_column(String(200), default=None)
    memo: Mapped[str | None] = mapped_column(String(1000), default=None)
    entry_id: Mapped[str] = mapped_column(ForeignKey("finance_entries.id", ondelete="RESTRICT"), index=True)
    reversal_entry_id: Mapped[str | None] = mapped_column(String(36), default=None)
    created_by: Mapped[str | None] = mapped_column(String(36), default=None)


class Allocation(TenantBase, TenantScoped):
    """A settlement of a document by a payment or a credit note: the ledger reconciliation that
    did it, and how much of the document (in its currency) it settled. Unallocating undoes the
    reconciliation and dates the row ``undone_at``; the row stays as history."""

    __tablename__ = "finance_allocations"
    __table_args__ = (
        CheckConstraint("(payment_id IS NULL) <> (credit_note_id IS NULL)", name="one_source"),
        CheckConstraint("amount >= 0", name="not_negative"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    company_id: Mapped[str] = mapped_column(String(36))
    invoice_id: Mapped[str] = mapped_column(ForeignKey("finance_invoices.id", ondelete="RESTRICT"), index=True)
    payment_id: Mapped[str | None] = mapped_column(
        ForeignKey("finance_payments.id", ondelete="RESTRICT"), default=None, index=True
    )
    credit_note_id: Mapped[str | None] = mapped_column(
        ForeignKey("finance_invoices.id", ondelete="RESTRICT"), default=None, index=True
    )
    amount: Mapped[Decimal] = mapped_column(MONEY)
    reconciliation_id: Mapped[str] = mapped_column(String(36), index=True)
    exchange_entry_id: Mapped[str | None] = mapped_column(String(36), default=None)
    date: Mapped[dt.date] = mapped_column(Date)
    created_by: Mapped[str | None] = mapped_column(String(36), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    undone_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
