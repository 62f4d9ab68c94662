"""Tenant data: settings, role placeholders and notes.

Revision ID: tenant0001
Revises:
Create Date: 2026-11-26 07:00:21.708966
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from atrium.core.migrate import protect_pooled_table

revision: str = "tenant0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=True),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notes")),
    )
    op.create_index(op.f("ix_notes_tenant_id"), "notes", ["tenant_id"])

    op.create_table(
        "roles",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("is_system", sa.Boolean(), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roles")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_roles_tenant_id_name")),
    )
    op.create_index(op.f("ix_roles_tenant_id"), "roles", ["tenant_id"])

    op.create_table(
        "tenant_settings",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "key", name=op.f("pk_tenant_settings")),
    )
    for table in ("notes", "roles", "tenant_settings"):
        protect_pooled_table(table)


def downgrade() -> None:
    op.drop_table("tenant_settings")
    op.drop_index(op.f("ix_roles_tenant_id"), table_name="roles")

    op.drop_table("roles")
    op.drop_index(op.f("ix_notes_tenant_id"), table_name="notes")

    op.drop_table("notes")
