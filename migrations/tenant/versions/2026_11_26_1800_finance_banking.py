"""Finance, bank statements: bank accounts with their saved CSV mapping, imported statements and
their lines (unique per bank account by fingerprint), and what each line was reconciled with.

Revision ID: tenant0006
Revises: tenant0005
Create Date: 2026-11-26 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from atrium.core.migrate import protect_pooled_table

revision: str = "tenant0006"
down_revision: str | None = "tenant0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("finance_bank_accounts", "finance_bank_statements", "finance_bank_lines", "finance_bank_matches")


def upgrade() -> None:
    op.create_table(
        "finance_bank_accounts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("company_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("iban", sa.String(length=34), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("journal_id", sa.String(length=36), nullable=False),
        sa.Column("csv_mapping", sa.JSON(), nullable=True),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["finance_accounts.id"],
            name=op.f("fk_finance_bank_accounts_account_id_finance_accounts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["finance_companies.id"],
            name=op.f("fk_finance_bank_accounts_company_id_finance_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["journal_id"],
            ["finance_journals.id"],
            name=op.f("fk_finance_bank_accounts_journal_id_finance_journals"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finance_bank_accounts")),
        sa.UniqueConstraint(
            "tenant_id", "company_id", "name", name=op.f("uq_finance_bank_accounts_tenant_id_company_id_name")
        ),
        sa.UniqueConstraint("tenant_id", "journal_id", name=op.f("uq_finance_bank_accounts_tenant_id_journal_id")),
    )
    op.create_index(op.f("ix_finance_bank_accounts_company_id"), "finance_bank_accounts", ["company_id"])
    op.create_index(op.f("ix_finance_bank_accounts_iban"), "finance_bank_accounts", ["iban"])
    op.create_index(op.f("ix_finance_bank_accounts_tenant_id"), "finance_bank_accounts", ["tenant_id"])
    op.create_table(
        "finance_bank_statements",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("company_id", sa.String(length=36), nullable=False),
        sa.Column("bank_account_id", sa.String(length=36), nullable=False),
        sa.Column("format", sa.String(length=10), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=True),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("opening_balance", sa.Numeric(precision=20, scale=4), nullable=True),
        sa.Column("closing_balance", sa.Numeric(precision=20, scale=4), nullable=True),
        sa.Column("lines_imported", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("imported_by", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["bank_account_id"],
            ["finance_bank_accounts.id"],
            name=op.f("fk_finance_bank_statements_bank_account_id_finance_bank_accounts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finance_bank_statements")),
    )
    op.create_index(op.f("ix_finance_bank_statements_bank_account_id"), "finance_bank_statements", ["bank_account_id"])
    op.create_index(op.f("ix_finance_bank_statements_company_id"), "finance_bank_statements", ["company_id"])
    op.create_index(op.f("ix_finance_bank_statements_tenant_id"), "finance_bank_statements", ["tenant_id"])
    op.create_table(
        "finance_bank_lines",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("statement_id", sa.String(length=36), nullable=False),
        sa.Column("bank_account_id", sa.String(length=36), nullable=False),
        sa.Column("company_id", sa.String(length=36), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("booked_on", sa.Date(), nullable=False),
        sa.Column("value_on", sa.Date(), nullable=True),
        sa.Column("amount", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("counterparty_name", sa.String(length=200), nullable=True),
        sa.Column("counterparty_iban", sa.String(length=34), nullable=True),
        sa.Column("text", sa.String(length=1000), nullable=False),
        sa.Column("bank_reference", sa.String(length=100), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("entry_id", sa.String(length=36), nullable=True),
        sa.Column("reconciliation_id", sa.String(length=36), nullable=True),
        sa.Column("reconciled_by", sa.String(length=36), nullable=True),
        sa.Column("reconciled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["statement_id"],
            ["finance_bank_statements.id"],
            name=op.f("fk_finance_bank_lines_statement_id_finance_bank_statements"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finance_bank_lines")),
        sa.UniqueConstraint(
            "tenant_id",
            "bank_account_id",
            "fingerprint",
            name=op.f("uq_finance_bank_lines_tenant_id_bank_account_id_fingerprint"),
        ),
    )
    op.create_index("ix_finance_bank_lines_account_state", "finance_bank_lines", ["bank_account_id", "state"])
    op.create_index(op.f("ix_finance_bank_lines_reconciliation_id"), "finance_bank_lines", ["reconciliation_id"])
    op.create_index(op.f("ix_finance_bank_lines_statement_id"), "finance_bank_lines", ["statement_id"])
    op.create_index(op.f("ix_finance_bank_lines_tenant_id"), "finance_bank_lines", ["tenant_id"])
    op.create_table(
        "finance_bank_matches",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("reconciliation_id", sa.String(length=36), nullable=False),
        sa.Column("bank_line_id", sa.String(length=36), nullable=False),
        sa.Column("line_id", sa.String(length=36), nullable=True),
        sa.Column("ledger_reconciliation_id", sa.String(length=36), nullable=True),
        sa.Column("amount", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("amount_currency", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["bank_line_id"],
            ["finance_bank_lines.id"],
            name=op.f("fk_finance_bank_matches_bank_line_id_finance_bank_lines"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finance_bank_matches")),
    )
    op.create_index(op.f("ix_finance_bank_matches_bank_line_id"), "finance_bank_matches", ["bank_line_id"])
    op.create_index(op.f("ix_finance_bank_matches_reconciliation_id"), "finance_bank_matches", ["reconciliation_id"])
    op.create_index(op.f("ix_finance_bank_matches_tenant_id"), "finance_bank_matches", ["tenant_id"])
    for table in TABLES:
        protect_pooled_table(table)


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
