"""Finance, receivables and payables: parties (customers and vendors), companies' own payment
terms, invoices and bills with their lines, payments, and the allocations that settle documents.

Revision ID: tenant0005
Revises: tenant0004
Create Date: 2026-11-26 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from atrium.core.migrate import protect_pooled_table

revision: str = "tenant0005"
down_revision: str | None = "tenant0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "finance_parties",
    "finance_payment_terms",
    "finance_invoices",
    "finance_payments",
    "finance_allocations",
    "finance_invoice_lines",
)


def upgrade() -> None:
    op.create_table(
        "finance_parties",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("company_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("is_customer", sa.Boolean(), nullable=False),
        sa.Column("is_vendor", sa.Boolean(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("tax_id", sa.String(length=50), nullable=True),
        sa.Column("ibans", sa.JSON(), nullable=False),
        sa.Column("payment_terms", sa.String(length=40), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("is_customer OR is_vendor", name=op.f("ck_finance_parties_role")),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["finance_companies.id"],
            name=op.f("fk_finance_parties_company_id_finance_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finance_parties")),
        sa.UniqueConstraint(
            "tenant_id", "company_id", "name", name=op.f("uq_finance_parties_tenant_id_company_id_name")
        ),
    )
    op.create_index(op.f("ix_finance_parties_company_id"), "finance_parties", ["company_id"])
    op.create_index(op.f("ix_finance_parties_tenant_id"), "finance_parties", ["tenant_id"])
    op.create_table(
        "finance_payment_terms",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("company_id", sa.String(length=36), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("installments", sa.JSON(), nullable=False),
        sa.Column("discount_percent", sa.Numeric(precision=7, scale=4), nullable=True),
        sa.Column("discount_days", sa.Integer(), nullable=True),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["finance_companies.id"],
            name=op.f("fk_finance_payment_terms_company_id_finance_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finance_payment_terms")),
        sa.UniqueConstraint(
            "tenant_id", "company_id", "code", name=op.f("uq_finance_payment_terms_tenant_id_company_id_code")
        ),
    )
    op.create_index(op.f("ix_finance_payment_terms_company_id"), "finance_payment_terms", ["company_id"])
    op.create_index(op.f("ix_finance_payment_terms_tenant_id"), "finance_payment_terms", ["tenant_id"])
    op.create_table(
        "finance_invoices",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("company_id", sa.String(length=36), nullable=False),
        sa.Column("party_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=True),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("rate", sa.Numeric(precision=24, scale=10), nullable=True),
        sa.Column("payment_terms", sa.String(length=40), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("memo", sa.String(length=1000), nullable=True),
        sa.Column("original_id", sa.String(length=36), nullable=True),
        sa.Column("untaxed", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("tax", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("total", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("discount_amount", sa.Numeric(precision=20, scale=4), nullable=True),
        sa.Column("discount_until", sa.Date(), nullable=True),
        sa.Column("account_id", sa.String(length=36), nullable=True),
        sa.Column("entry_id", sa.String(length=36), nullable=True),
        sa.Column("cancelled_by_id", sa.String(length=36), nullable=True),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("posted_by", sa.String(length=36), nullable=True),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('invoice', 'credit_note', 'bill', 'vendor_credit')", name=op.f("ck_finance_invoices_kind")
        ),
        sa.CheckConstraint(
            "state <> 'posted' OR (number IS NOT NULL AND entry_id IS NOT NULL)",
            name=op.f("ck_finance_invoices_posted_numbered"),
        ),
        sa.CheckConstraint("state IN ('draft', 'posted', 'cancelled')", name=op.f("ck_finance_invoices_state")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["finance_accounts.id"],
            name=op.f("fk_finance_invoices_account_id_finance_accounts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["finance_companies.id"],
            name=op.f("fk_finance_invoices_company_id_finance_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["finance_entries.id"],
            name=op.f("fk_finance_invoices_entry_id_finance_entries"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["original_id"], ["finance_invoices.id"], name=op.f("fk_finance_invoices_original_id_finance_invoices")
        ),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["finance_parties.id"],
            name=op.f("fk_finance_invoices_party_id_finance_parties"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finance_invoices")),
    )
    op.create_index("ix_finance_invoices_company_date", "finance_invoices", ["company_id", "date"])
    op.create_index(op.f("ix_finance_invoices_original_id"), "finance_invoices", ["original_id"])
    op.create_index(op.f("ix_finance_invoices_party_id"), "finance_invoices", ["party_id"])
    op.create_index(op.f("ix_finance_invoices_tenant_id"), "finance_invoices", ["tenant_id"])
    op.create_table(
        "finance_payments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("company_id", sa.String(length=36), nullable=False),
        sa.Column("party_id", sa.String(length=36), nullable=False),
        sa.Column("direction", sa.String(length=10), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("rate", sa.Numeric(precision=24, scale=10), nullable=False),
        sa.Column("journal_id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("counterpart_account_id", sa.String(length=36), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("memo", sa.String(length=1000), nullable=True),
        sa.Column("entry_id", sa.String(length=36), nullable=False),
        sa.Column("reversal_entry_id", sa.String(length=36), nullable=True),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("direction IN ('received', 'sent')", name=op.f("ck_finance_payments_direction")),
        sa.CheckConstraint("state IN ('posted', 'reversed')", name=op.f("ck_finance_payments_state")),
        sa.CheckConstraint("amount > 0", name=op.f("ck_finance_payments_positive")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["finance_accounts.id"],
            name=op.f("fk_finance_payments_account_id_finance_accounts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["finance_companies.id"],
            name=op.f("fk_finance_payments_company_id_finance_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["counterpart_account_id"],
            ["finance_accounts.id"],
            name=op.f("fk_finance_payments_counterpart_account_id_finance_accounts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["finance_entries.id"],
            name=op.f("fk_finance_payments_entry_id_finance_entries"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["journal_id"],
            ["finance_journals.id"],
            name=op.f("fk_finance_payments_journal_id_finance_journals"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["finance_parties.id"],
            name=op.f("fk_finance_payments_party_id_finance_parties"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finance_payments")),
    )
    op.create_index("ix_finance_payments_company_date", "finance_payments", ["company_id", "date"])
    op.create_index(op.f("ix_finance_payments_entry_id"), "finance_payments", ["entry_id"])
    op.create_index(op.f("ix_finance_payments_party_id"), "finance_payments", ["party_id"])
    op.create_index(op.f("ix_finance_payments_tenant_id"), "finance_payments", ["tenant_id"])
    op.create_table(
        "finance_allocations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("company_id", sa.String(length=36), nullable=False),
        sa.Column("invoice_id", sa.String(length=36), nullable=False),
        sa.Column("payment_id", sa.String(length=36), nullable=True),
        sa.Column("credit_note_id", sa.String(length=36), nullable=True),
        sa.Column("amount", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("reconciliation_id", sa.String(length=36), nullable=False),
        sa.Column("exchange_entry_id", sa.String(length=36), nullable=True),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.CheckConstraint(
            "(payment_id IS NULL) <> (credit_note_id IS NULL)", name=op.f("ck_finance_allocations_one_source")
        ),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_finance_allocations_not_negative")),
        sa.ForeignKeyConstraint(
            ["credit_note_id"],
            ["finance_invoices.id"],
            name=op.f("fk_finance_allocations_credit_note_id_finance_invoices"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["finance_invoices.id"],
            name=op.f("fk_finance_allocations_invoice_id_finance_invoices"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["finance_payments.id"],
            name=op.f("fk_finance_allocations_payment_id_finance_payments"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finance_allocations")),
    )
    op.create_index(op.f("ix_finance_allocations_credit_note_id"), "finance_allocations", ["credit_note_id"])
    op.create_index(op.f("ix_finance_allocations_invoice_id"), "finance_allocations", ["invoice_id"])
    op.create_index(op.f("ix_finance_allocations_payment_id"), "finance_allocations", ["payment_id"])
    op.create_index(op.f("ix_finance_allocations_reconciliation_id"), "finance_allocations", ["reconciliation_id"])
    op.create_index(op.f("ix_finance_allocations_tenant_id"), "finance_allocations", ["tenant_id"])
    op.create_table(
        "finance_invoice_lines",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("invoice_id", sa.String(length=36), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=20, scale=6), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=20, scale=6), nullable=False),
        sa.Column("amount", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("tax_rate", sa.Numeric(precision=7, scale=4), nullable=True),
        sa.Column("tax_account_id", sa.String(length=36), nullable=True),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["finance_accounts.id"],
            name=op.f("fk_finance_invoice_lines_account_id_finance_accounts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["finance_invoices.id"],
            name=op.f("fk_finance_invoice_lines_invoice_id_finance_invoices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tax_account_id"],
            ["finance_accounts.id"],
            name=op.f("fk_finance_invoice_lines_tax_account_id_finance_accounts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finance_invoice_lines")),
    )
    op.create_index(op.f("ix_finance_invoice_lines_invoice_id"), "finance_invoice_lines", ["invoice_id"])
    op.create_index(op.f("ix_finance_invoice_lines_tenant_id"), "finance_invoice_lines", ["tenant_id"])
    for table in TABLES:
        protect_pooled_table(table)


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
