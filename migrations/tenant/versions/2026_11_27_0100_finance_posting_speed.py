"""Finance, faster posting: a line's foreign key to its entry is checked at commit, so a posting
writes its lines before it takes the journal's number and the company's chain (the serial part),
and the party index on lines covers only lines that name a party.

Revision ID: tenant0007
Revises: tenant0006
Create Date: 2026-11-27 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from atrium.core.migrate import tenant_schema

revision: str = "tenant0007"
down_revision: str | None = "tenant0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ENTRY_FK = "fk_finance_lines_entry_id_finance_entries"


def _party_index(where: str | None) -> None:
    schema = tenant_schema()
    op.drop_index("ix_finance_lines_party", table_name="finance_lines", schema=schema)
    condition = sa.text(where) if where else None
    op.create_index(
        "ix_finance_lines_party",
        "finance_lines",
        ["party_id"],
        schema=schema,
        postgresql_where=condition,
        sqlite_where=condition,
    )


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":  # SQLite defers per transaction (posting.py)
        schema = tenant_schema()
        prefix = f'"{schema}".' if schema else ""
        op.execute(f"ALTER TABLE {prefix}finance_lines ALTER CONSTRAINT {ENTRY_FK} DEFERRABLE INITIALLY DEFERRED")
    _party_index("party_id IS NOT NULL")


def downgrade() -> None:
    _party_index(None)
    if op.get_bind().dialect.name == "postgresql":
        schema = tenant_schema()
        prefix = f'"{schema}".' if schema else ""
        op.execute(f"ALTER TABLE {prefix}finance_lines ALTER CONSTRAINT {ENTRY_FK} NOT DEFERRABLE")
