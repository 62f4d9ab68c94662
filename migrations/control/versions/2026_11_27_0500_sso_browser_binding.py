"""Single sign-on round trips bound to the browser that started them (login CSRF).

Revision ID: control0017
Revises: control0016
Create Date: 2026-11-27 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "control0017"
down_revision: str | None = "control0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sso_login_states") as batch:
        batch.add_column(sa.Column("browser_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("verified", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sso_login_states") as batch:
        batch.drop_column("verified")
        batch.drop_column("browser_hash")
