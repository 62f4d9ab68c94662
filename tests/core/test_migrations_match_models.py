"""The control-plane migrations build exactly the tables the models describe (Alembic's own
comparison finds nothing to add, drop or alter), on SQLite and PostgreSQL: migrations are
written by hand, so this catches a column or index that one of the two forgot."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

import atrium.core.models_registry  # noqa: F401
from atrium.core.db import ControlBase, TenantBase
from atrium.runtime import Runtime


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        opts={"compare_type": True, "compare_server_default": False, "target_metadata": ControlBase.metadata},
    )
    # The platform database also holds the pooled tenants' tables (the tenant tree) and version tables.
    ignored = {"alembic_version", "alembic_version_pooled", *TenantBase.metadata.tables}
    diffs = compare_metadata(context, ControlBase.metadata)
    return [d for d in diffs if not (isinstance(d, tuple) and _table_of(d) in ignored)]


def _table_of(diff: tuple[Any, ...]) -> str | None:
    obj = diff[1]
    table = getattr(obj, "table", obj)
    return getattr(table, "name", None)


async def test_control_migrations_match_the_models(runtime: Runtime) -> None:
    async with runtime.db.engine.connect() as connection:
        diffs = await connection.run_sync(_differences)
    assert diffs == [], "\n".join(map(str, diffs))
