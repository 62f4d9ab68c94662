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


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
