"""Finance, the ledger: journals, entries and their posted lines, balances per account and period,
numbering, the inalterability chain, exchange rates, open items and matches, attachments, and
the companies' lock dates. On PostgreSQL, triggers keep posted lines and entries unchangeable.

Revision ID: tenant0004
Revises: tenant0003
Create Date: 2026-11-26 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from atrium.core.migrate import protect_pooled_table, tenant_schema

revision: str = "tenant0004"
down_revision: str | None = "tenant0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "finance_journals",
    "finance_entries",
    "finance_lines",
    "finance_balances",
    "finance_sequences",
    "finance_chain_heads",
    "finance_exchange_rates",
    "finance_open_items",
    "finance_matches",
    "finance_attachments",
)

# A tenant's rows may still be purged when the tenant is deleted (atrium.purge set for that transaction).
_LINES_GUARD = """
CREATE OR REPLACE FUNCTION {schema}finance_lines_immutable() RETURNS trigger AS $$
BEGIN
    IF current_setting('atrium.purge', true) = 'on' THEN RETURN COALESCE(NEW, OLD); END IF;
    RAISE EXCEPTION 'posted ledger lines cannot be changed or deleted; post a reversing entry'
        USING ERRCODE = 'integrity_constraint_violation';
END $$ LANGUAGE plpgsql
"""
_ENTRIES_GUARD = """
CREATE OR REPLACE FUNCTION {schema}finance_entries_immutable() RETURNS trigger AS $$
BEGIN
    IF OLD.state = 'draft' OR current_setting('atrium.purge', true) = 'on' THEN RETURN COALESCE(NEW, OLD); END IF;
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'a posted entry cannot be deleted' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF (NEW.company_id, NEW.journal_id, NEW.date, NEW.fiscal_year, NEW.sequence, NEW.number, NEW.total,
        NEW.chain_index, NEW.previous_hash, NEW.hash, NEW.reversal_of_id)
       IS DISTINCT FROM
       (OLD.company_id, OLD.journal_id, OLD.date, OLD.fiscal_year, OLD.sequence, OLD.number, OLD.total,
        OLD.chain_index, OLD.previous_hash, OLD.hash, OLD.reversal_of_id)
       OR NOT (NEW.state = OLD.state OR (OLD.state = 'posted' AND NEW.state = 'reversed')) THEN
        RAISE EXCEPTION 'a posted entry cannot be changed; post a reversing entry'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql
"""


def _prefix() -> str:
    schema = tenant_schema()
    return f'"{schema}".' if schema else ""


def upgrade() -> None:
    op.create_table(
        "finance_balances",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("period", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("slot", sa.SmallInteger(), nullable=False),
        sa.Column("company_id", sa.String(length=36), nullable=False),
        sa.Column("debit", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("credit", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("amount_currency", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "account_id", "period", "currency", "slot", name=op.f("pk_finance_balances")
        ),
    )
    op.create_index(op.f("ix_finance_balances_company_id"), "finance_balances", ["company_id"])
    op.create_table(
        "finance_chain_heads",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("company_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "company_id", name=op.f("pk_finance_chain_heads")),
    )
    op.create_table(
        "finance_sequences",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("journal_id", sa.String(length=36), nullable=False),
        sa.Column("fiscal_year", sa.Integer(), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "journal_id", "fiscal_year", name=op.f("pk_finance_sequences")),
    )
    op.create_table(
        "finance_exchange_rates",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("company_id", sa.String(length=36), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("rate", sa.Numeric(precision=24, scale=10), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("rate > 0", name=op.f("ck_finance_exchange_rates_positive")),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["finance_companies.id"],
            name=op.f("fk_finance_exchange_rates_company_id_finance_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finance_exchange_rates")),
        sa.UniqueConstraint(
            "tenant_id",
            "company_id",
            "currency",
            "date",
            name=op.f("uq_finance_exchange_rates_tenant_id_company_id_currency_date"),
        ),
    )
    op.create_index(op.f("ix_finance_exchange_rates_tenant_id"), "finance_exchange_rates", ["tenant_id"])
    op.create_table(
        "finance_journals",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("company_id", sa.String(length=36), nullable=False),
        sa.Column("code", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("default_account_id", sa.String(length=36), nullable=True),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["finance_companies.id"],
            name=op.f("fk_finance_journals_company_id_finance_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["default_account_id"],
            ["finance_accounts.id"],
            name=op.f("fk_finance_journals_default_account_id_finance_accounts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finance_journals")),
        sa.UniqueConstraint(
            "tenant_id", "company_id", "code", name=op.f("uq_finance_journals_tenant_id_company_id_code")
        ),
    )
    op.create_index(op.f("ix_finance_journals_company_id"), "finance_journals", ["company_id"])
    op.create_index(op.f("ix_finance_journals_tenant_id"), "finance_journals", ["tenant_id"])
    op.create_table(
        "finance_entries",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("company_id", sa.String(length=36), nullable=False),
        sa.Column("journal_id", sa.String(length=36), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("fiscal_year", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=True),
        sa.Column("number", sa.String(length=40), nullable=True),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("memo", sa.String(length=1000), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("total", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("source_id", sa.String(length=80), nullable=True),
        sa.Column("reversal_of_id", sa.String(length=36), nullable=True),
        sa.Column("reversed_by_id", sa.String(length=36), nullable=True),
        sa.Column("draft_lines", sa.JSON(), nullable=True),
        sa.Column("chain_index", sa.Integer(), nullable=True),
        sa.Column("previous_hash", sa.String(length=64), nullable=True),
        sa.Column("hash", sa.String(length=64), nullable=True),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("posted_by", sa.String(length=36), nullable=True),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state = 'draft' OR (number IS NOT NULL AND hash IS NOT NULL)",
            name=op.f("ck_finance_entries_posted_sealed"),
        ),
        sa.CheckConstraint("state IN ('draft', 'posted', 'reversed')", name=op.f("ck_finance_entries_state")),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["finance_companies.id"],
            name=op.f("fk_finance_entries_company_id_finance_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["journal_id"],
            ["finance_journals.id"],
            name=op.f("fk_finance_entries_journal_id_finance_journals"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["reversal_of_id"],
            ["finance_entries.id"],
            name=op.f("fk_finance_entries_reversal_of_id_finance_entries"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finance_entries")),
        sa.UniqueConstraint(
            "tenant_id", "company_id", "chain_index", name=op.f("uq_finance_entries_tenant_id_company_id_chain_index")
        ),
        sa.UniqueConstraint(
            "tenant_id",
            "journal_id",
            "fiscal_year",
            "sequence",
            name=op.f("uq_finance_entries_tenant_id_journal_id_fiscal_year_sequence"),
        ),
    )
    op.create_index("ix_finance_entries_company_date", "finance_entries", ["company_id", "date"])
    op.create_index(op.f("ix_finance_entries_journal_id"), "finance_entries", ["journal_id"])
    op.create_index(op.f("ix_finance_entries_source_id"), "finance_entries", ["source_id"])
    op.create_index(op.f("ix_finance_entries_tenant_id"), "finance_entries", ["tenant_id"])
    op.create_table(
        "finance_attachments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("entry_id", sa.String(length=36), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["finance_entries.id"],
            name=op.f("fk_finance_attachments_entry_id_finance_entries"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finance_attachments")),
    )
    op.create_index(op.f("ix_finance_attachments_entry_id"), "finance_attachments", ["entry_id"])
    op.create_index(op.f("ix_finance_attachments_tenant_id"), "finance_attachments", ["tenant_id"])
    op.create_table(
        "finance_lines",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("entry_id", sa.String(length=36), nullable=False),
        sa.Column("company_id", sa.String(length=36), nullable=False),
        sa.Column("journal_id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("period", sa.Integer(), nullable=False),
        sa.Column("debit", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("credit", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount_currency", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("rate", sa.Numeric(precision=24, scale=10), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=True),
        sa.Column("party_id", sa.String(length=36), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("tax_rate", sa.Numeric(precision=7, scale=4), nullable=True),
        sa.Column("tax_base", sa.Numeric(precision=20, scale=4), nullable=True),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.CheckConstraint(
            "debit >= 0 AND credit >= 0 AND (debit = 0 OR credit = 0)", name=op.f("ck_finance_lines_one_side")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["finance_accounts.id"],
            name=op.f("fk_finance_lines_account_id_finance_accounts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["finance_entries.id"],
            name=op.f("fk_finance_lines_entry_id_finance_entries"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finance_lines")),
    )
    op.create_index("ix_finance_lines_account_date", "finance_lines", ["account_id", "date"])
    op.create_index("ix_finance_lines_company_date", "finance_lines", ["company_id", "date"])
    op.create_index(op.f("ix_finance_lines_entry_id"), "finance_lines", ["entry_id"])
    op.create_index("ix_finance_lines_party", "finance_lines", ["party_id"])
    op.create_index(op.f("ix_finance_lines_tenant_id"), "finance_lines", ["tenant_id"])
    op.create_table(
        "finance_matches",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("reconciliation_id", sa.String(length=36), nullable=False),
        sa.Column("company_id", sa.String(length=36), nullable=False),
        sa.Column("debit_line_id", sa.String(length=36), nullable=False),
        sa.Column("credit_line_id", sa.String(length=36), nullable=False),
        sa.Column("amount", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("amount_currency", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_finance_matches_positive")),
        sa.ForeignKeyConstraint(
            ["credit_line_id"],
            ["finance_lines.id"],
            name=op.f("fk_finance_matches_credit_line_id_finance_lines"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["debit_line_id"],
            ["finance_lines.id"],
            name=op.f("fk_finance_matches_debit_line_id_finance_lines"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finance_matches")),
    )
    op.create_index(op.f("ix_finance_matches_credit_line_id"), "finance_matches", ["credit_line_id"])
    op.create_index(op.f("ix_finance_matches_debit_line_id"), "finance_matches", ["debit_line_id"])
    op.create_index(op.f("ix_finance_matches_reconciliation_id"), "finance_matches", ["reconciliation_id"])
    op.create_index(op.f("ix_finance_matches_tenant_id"), "finance_matches", ["tenant_id"])
    op.create_table(
        "finance_open_items",
        sa.Column("line_id", sa.String(length=36), nullable=False),
        sa.Column("company_id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("party_id", sa.String(length=36), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("residual", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("residual_currency", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["line_id"],
            ["finance_lines.id"],
            name=op.f("fk_finance_open_items_line_id_finance_lines"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("line_id", name=op.f("pk_finance_open_items")),
    )
    op.create_index("ix_finance_open_items_company_account", "finance_open_items", ["company_id", "account_id"])
    op.create_index(op.f("ix_finance_open_items_party_id"), "finance_open_items", ["party_id"])
    op.create_index(op.f("ix_finance_open_items_tenant_id"), "finance_open_items", ["tenant_id"])
    op.add_column("finance_companies", sa.Column("soft_lock_date", sa.Date(), nullable=True), schema=tenant_schema())
    op.add_column("finance_companies", sa.Column("hard_lock_date", sa.Date(), nullable=True), schema=tenant_schema())
    for table in TABLES:
        protect_pooled_table(table)
    if op.get_bind().dialect.name == "postgresql":
        prefix = _prefix()
        op.execute(_LINES_GUARD.format(schema=prefix))
        op.execute(_ENTRIES_GUARD.format(schema=prefix))
        op.execute(
            f"CREATE TRIGGER finance_lines_immutable BEFORE UPDATE OR DELETE ON {prefix}finance_lines "
            f"FOR EACH ROW EXECUTE FUNCTION {prefix}finance_lines_immutable()"
        )
        op.execute(
            f"CREATE TRIGGER finance_entries_immutable BEFORE UPDATE OR DELETE ON {prefix}finance_entries "
            f"FOR EACH ROW EXECUTE FUNCTION {prefix}finance_entries_immutable()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        prefix = _prefix()
        op.execute(f"DROP TRIGGER IF EXISTS finance_entries_immutable ON {prefix}finance_entries")
        op.execute(f"DROP TRIGGER IF EXISTS finance_lines_immutable ON {prefix}finance_lines")
        op.execute(f"DROP FUNCTION IF EXISTS {prefix}finance_entries_immutable()")
        op.execute(f"DROP FUNCTION IF EXISTS {prefix}finance_lines_immutable()")
    for table in reversed(TABLES):
        op.drop_table(table)
    with op.batch_alter_table("finance_companies", schema=tenant_schema()) as batch:
        batch.drop_column("hard_lock_date")
        batch.drop_column("soft_lock_date")
