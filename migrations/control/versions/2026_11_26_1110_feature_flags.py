"""Feature flags: platform-wide definitions with tenant and user targeting.

Revision ID: control0015
Revises: control0014
Create Date: 2026-11-26 11:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "control0015"
down_revision: str | None = "control0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feature_flags",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("value_type", sa.String(length=10), nullable=False),
        sa.Column("default_value", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("rollout", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=254), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feature_flags")),
        sa.UniqueConstraint("key", name=op.f("uq_feature_flags_key")),
    )
    op.create_table(
        "tenant_flag_overrides",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("flag_id", sa.String(length=36), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("value", sa.JSON(), nullable=True),
        sa.Column("targets", sa.JSON(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("rollout", sa.JSON(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=254), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_tenant_flag_overrides_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["flag_id"],
            ["feature_flags.id"],
            name=op.f("fk_tenant_flag_overrides_flag_id_feature_flags"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "flag_id", name=op.f("pk_tenant_flag_overrides")),
    )
    with op.batch_alter_table("tenant_flag_overrides", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tenant_flag_overrides_flag_id"), ["flag_id"], unique=False)
    op.create_table(
        "feature_flag_versions",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feature_flag_versions")),
    )


def downgrade() -> None:
    op.drop_table("feature_flag_versions")
    with op.batch_alter_table("tenant_flag_overrides", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tenant_flag_overrides_flag_id"))
    op.drop_table("tenant_flag_overrides")
    op.drop_table("feature_flags")
