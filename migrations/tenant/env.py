"""Alembic environment of the tenant tree. The target (pooled, schema, database) comes from
atrium.core.migrate; a schema target arrives as a connection with a schema_translate_map."""

from alembic import context

import atrium.core.models_registry  # noqa: F401
from atrium.core.db import TenantBase

connection = context.config.attributes["connection"]
target = context.config.attributes["target"]
context.configure(
    connection=connection,
    target_metadata=TenantBase.metadata,
    version_table=target.version_table,
    version_table_schema=target.schema,
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
