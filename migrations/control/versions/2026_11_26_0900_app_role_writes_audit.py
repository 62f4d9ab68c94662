"""The application role may append audit events and outbox rows.

Pooled tenants on PostgreSQL run as the application role; with these grants their audit events and
outbox rows are written in the same transaction as the change they record. The role may insert
audit events (and read back only their ids), lock and move chain heads, and insert outbox rows;
it can neither read nor change the trail.

Revision ID: control0002
Revises: control0001
Create Date: 2026-11-26 09:00:00
"""

from collections.abc import Sequence

from alembic import context, op

from atrium.core.migrate import ensure_app_role

revision: str = "control0002"
down_revision: str | None = "control0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _role() -> str:
    return str(context.config.attributes.get("app_role", "atrium_app"))


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    role = _role()
    ensure_app_role(role)
    op.execute(f"GRANT INSERT ON audit_events TO {role}")
    op.execute(f"GRANT SELECT (id) ON audit_events TO {role}")
    op.execute(f"GRANT USAGE ON SEQUENCE audit_events_id_seq TO {role}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON audit_chain_heads TO {role}")
    op.execute(f"GRANT INSERT ON outbox TO {role}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    role = _role()
    op.execute(f"REVOKE ALL ON audit_events, audit_chain_heads, outbox FROM {role}")
    op.execute(f"REVOKE ALL ON SEQUENCE audit_events_id_seq FROM {role}")
