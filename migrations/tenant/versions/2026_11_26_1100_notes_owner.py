"""Notes get an owner and a department, the attributes row conditions compare; the role
placeholders go (system roles live in the access catalogue, custom roles in the platform).

Revision ID: tenant0002
Revises: tenant0001
Create Date: 2026-11-26 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from atrium.core.migrate import protect_pooled_table, tenant_schema

revision: str = "tenant0002"
down_revision: str | None = "tenant0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    schema = tenant_schema()
    with op.batch_alter_table("notes", schema=schema) as batch_op:
        batch_op.add_column(sa.Column("owner_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("department_id", sa.String(length=36), nullable=True))
        batch_op.create_index(batch_op.f("ix_notes_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_notes_department_id"), ["department_id"], unique=False)
    op.drop_index(op.f("ix_roles_tenant_id"), table_name="roles", schema=schema)
    op.drop_table("roles", schema=schema)


def downgrade() -> None:
    schema = tenant_schema()
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
    protect_pooled_table("roles")
    with op.batch_alter_table("notes", schema=schema) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notes_department_id"))
        batch_op.drop_index(batch_op.f("ix_notes_owner_id"))
        batch_op.drop_column("department_id")
        batch_op.drop_column("owner_id")
