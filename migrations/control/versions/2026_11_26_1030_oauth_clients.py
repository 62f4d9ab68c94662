"""OAuth 2.0 client-credentials clients for the public API.

Revision ID: control0011
Revises: control0010
Create Date: 2026-11-26 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "control0011"
down_revision: str | None = "control0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
