"""Finance, first part: companies and their charts of accounts.

Revision ID: tenant0003
Revises: tenant0002
Create Date: 2026-11-26 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from atrium.core.migrate import protect_pooled_table

revision: str = "tenant0003"
down_revision: str | None = "tenant0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "finance_companies",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("base_currency", sa.String(length=3), nullable=False),
        sa.Column("fiscal_year_start_month", sa.SmallInteger(), nullable=False),
        sa.Column("chart_template", sa.String(length=40), nullable=True),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finance_companies")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_finance_companies_tenant_id_name")),
    )
    op.create_index(op.f("ix_finance_companies_tenant_id"), "finance_companies", ["tenant_id"])
    op.create_table(
        "finance_accounts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("company_id", sa.String(length=36), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("parent_id", sa.String(length=36), nullable=True),
        sa.Column("reconcile", sa.Boolean(), nullable=False),
        sa.Column("tax_rate", sa.Numeric(precision=7, scale=4), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["finance_companies.id"],
            name=op.f("fk_finance_accounts_company_id_finance_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["finance_accounts.id"],
            name=op.f("fk_finance_accounts_parent_id_finance_accounts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finance_accounts")),
        sa.UniqueConstraint(
            "tenant_id", "company_id", "code", name=op.f("uq_finance_accounts_tenant_id_company_id_code")
        ),
    )
    op.create_index(op.f("ix_finance_accounts_tenant_id"), "finance_accounts", ["tenant_id"])
    op.create_index(op.f("ix_finance_accounts_company_id"), "finance_accounts", ["company_id"])
    for table in ("finance_companies", "finance_accounts"):
        protect_pooled_table(table)


def downgrade() -> None:
    op.drop_table("finance_accounts")
    op.drop_table("finance_companies")
