"""SCIM 2.0 provisioning: per-tenant bearer tokens, SCIM user attributes, groups and their members.

Revision ID: control0009
Revises: control0008
Create Date: 2026-11-26 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "control0009"
down_revision: str | None = "control0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants"), ondelete="CASCADE"
    )


def upgrade() -> None:
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.add_column(sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False))

    op.create_table(
        "scim_tokens",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=254), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        _tenant_fk("scim_tokens"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scim_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_scim_tokens_token_hash")),
    )
    with op.batch_alter_table("scim_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scim_tokens_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "scim_users",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("user_name", sa.String(length=255), nullable=False),
        sa.Column("given_name", sa.String(length=255), nullable=True),
        sa.Column("family_name", sa.String(length=255), nullable=True),
        sa.Column("display_name", sa.String(length=255), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _tenant_fk("scim_users"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_scim_users_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scim_users")),
        sa.UniqueConstraint("tenant_id", "user_id", name=op.f("uq_scim_users_tenant_id_user_id")),
    )
    with op.batch_alter_table("scim_users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scim_users_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_scim_users_user_id"), ["user_id"], unique=False)
    op.create_index(
        "uq_scim_users_tenant_id_user_name", "scim_users", ["tenant_id", sa.text("lower(user_name)")], unique=True
    )

    op.create_table(
        "scim_user_emails",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("scim_user_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("value", sa.String(length=254), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=True),
        sa.Column("primary", sa.Boolean(), nullable=True),
        _tenant_fk("scim_user_emails"),
        sa.ForeignKeyConstraint(
            ["scim_user_id"],
            ["scim_users.id"],
            name=op.f("fk_scim_user_emails_scim_user_id_scim_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scim_user_emails")),
    )
    with op.batch_alter_table("scim_user_emails", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scim_user_emails_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_scim_user_emails_scim_user_id"), ["scim_user_id"], unique=False)

    op.create_table(
        "groups",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("display_name", sa.String(length=255), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _tenant_fk("groups"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_groups")),
    )
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_groups_tenant_id"), ["tenant_id"], unique=False)
    op.create_index(
        "uq_groups_tenant_id_display_name", "groups", ["tenant_id", sa.text("lower(display_name)")], unique=True
    )

    op.create_table(
        "group_members",
        sa.Column("group_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name=op.f("fk_group_members_group_id_groups"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_group_members_user_id_users"), ondelete="CASCADE"
        ),
        _tenant_fk("group_members"),
        sa.PrimaryKeyConstraint("group_id", "user_id", name=op.f("pk_group_members")),
    )
    with op.batch_alter_table("group_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_group_members_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_group_members_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_table("group_members")
    op.drop_index("uq_groups_tenant_id_display_name", table_name="groups")
    op.drop_table("groups")
    op.drop_table("scim_user_emails")
    op.drop_index("uq_scim_users_tenant_id_user_name", table_name="scim_users")
    op.drop_table("scim_users")
    op.drop_table("scim_tokens")
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.drop_column("active")
