"""Alembic environment of the control tree (platform database). Run through atrium.core.migrate."""

from alembic import context

import atrium.core.models_registry  # noqa: F401
from atrium.core.db import ControlBase

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=ControlBase.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
