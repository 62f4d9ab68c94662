"""Access control: custom roles, role assignments, departments and people's places in them, impersonations, approvals.

Revision ID: control0014
Revises: control0013
Create Date: 2026-11-26 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "control0014"
down_revision: str | None = "control0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete
    )


def upgrade() -> None:
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reauthenticated_at", sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        "access_roles",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("permission_sets", sa.JSON(), nullable=False),
        sa.Column("condition", sa.JSON(), nullable=True),
        sa.Column("require_mfa", sa.Boolean(), nullable=False),
        sa.Column("session_minutes", sa.Integer(), nullable=True),
        sa.Column("step_up", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=254), nullable=True),
        _fk("access_roles", "tenant_id", "tenants", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_roles")),
    )
    op.create_index(op.f("ix_access_roles_tenant_id"), "access_roles", ["tenant_id"], unique=False)
    op.create_index(
        "uq_access_roles_tenant_id_name", "access_roles", ["tenant_id", sa.text("lower(name)")], unique=True
    )

    op.create_table(
        "access_departments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("parent_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _fk("access_departments", "tenant_id", "tenants", "CASCADE"),
        _fk("access_departments", "parent_id", "access_departments", "RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_departments")),
    )
    op.create_index(op.f("ix_access_departments_tenant_id"), "access_departments", ["tenant_id"], unique=False)
    op.create_index(op.f("ix_access_departments_parent_id"), "access_departments", ["parent_id"], unique=False)

    op.create_table(
        "access_role_assignments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("role", sa.String(length=100), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("group_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=254), nullable=True),
        sa.CheckConstraint(
            "(user_id IS NULL) <> (group_id IS NULL)", name=op.f("ck_access_role_assignments_one_holder")
        ),
        _fk("access_role_assignments", "tenant_id", "tenants", "CASCADE"),
        _fk("access_role_assignments", "user_id", "users", "CASCADE"),
        _fk("access_role_assignments", "group_id", "groups", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_role_assignments")),
        sa.UniqueConstraint(
            "tenant_id", "role", "user_id", name=op.f("uq_access_role_assignments_tenant_id_role_user_id")
        ),
        sa.UniqueConstraint(
            "tenant_id", "role", "group_id", name=op.f("uq_access_role_assignments_tenant_id_role_group_id")
        ),
    )
    for column in ("tenant_id", "user_id", "group_id"):
        op.create_index(op.f(f"ix_access_role_assignments_{column}"), "access_role_assignments", [column], unique=False)

    op.create_table(
        "access_people",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("department_id", sa.String(length=36), nullable=True),
        sa.Column("manager_id", sa.String(length=36), nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _fk("access_people", "tenant_id", "tenants", "CASCADE"),
        _fk("access_people", "user_id", "users", "CASCADE"),
        _fk("access_people", "department_id", "access_departments", "SET NULL"),
        _fk("access_people", "manager_id", "users", "SET NULL"),
        sa.PrimaryKeyConstraint("tenant_id", "user_id", name=op.f("pk_access_people")),
    )
    op.create_index(op.f("ix_access_people_department_id"), "access_people", ["department_id"], unique=False)

    op.create_table(
        "access_impersonations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("actor_id", sa.String(length=36), nullable=False),
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        _fk("access_impersonations", "tenant_id", "tenants", "CASCADE"),
        _fk("access_impersonations", "actor_id", "users", "CASCADE"),
        _fk("access_impersonations", "subject_id", "users", "CASCADE"),
        _fk("access_impersonations", "session_id", "user_sessions", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_impersonations")),
    )
    for column in ("tenant_id", "actor_id", "session_id"):
        op.create_index(op.f(f"ix_access_impersonations_{column}"), "access_impersonations", [column], unique=False)

    op.create_table(
        "access_approvals",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("requested_by", sa.String(length=36), nullable=True),
        sa.Column("requested_by_email", sa.String(length=254), nullable=False),
        sa.Column("decided_by", sa.String(length=36), nullable=True),
        sa.Column("decided_by_email", sa.String(length=254), nullable=True),
        sa.Column("decision_note", sa.String(length=500), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        _fk("access_approvals", "tenant_id", "tenants", "CASCADE"),
        _fk("access_approvals", "requested_by", "users", "SET NULL"),
        _fk("access_approvals", "decided_by", "users", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_approvals")),
    )
    op.create_index(op.f("ix_access_approvals_tenant_id"), "access_approvals", ["tenant_id"], unique=False)

    op.create_table(
        "access_approval_rules",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=254), nullable=True),
        _fk("access_approval_rules", "tenant_id", "tenants", "CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "action", name=op.f("pk_access_approval_rules")),
    )


def downgrade() -> None:
    op.drop_table("access_approval_rules")
    op.drop_table("access_approvals")
    op.drop_table("access_impersonations")
    op.drop_table("access_people")
    op.drop_table("access_role_assignments")
    op.drop_table("access_departments")
    op.drop_table("access_roles")
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.drop_column("reauthenticated_at")
