"""Users may be platform administrators.

Revision ID: control0007
Revises: control0006
Create Date: 2026-11-26 09:14:13.152959
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "control0007"
down_revision: str | None = "control0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("is_platform_admin", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("is_platform_admin")
