"""The optional SMS second factor: one phone per user (codes use the single-use ``email_tokens``).

Revision ID: control0013
Revises: control0012
Create Date: 2026-11-26 10:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "control0013"
down_revision: str | None = "control0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sms_factors",
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("phone_e164", sa.String(length=16), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id"),
    )


def downgrade() -> None:
    op.drop_table("sms_factors")
