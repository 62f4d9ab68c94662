"""ASGI entry point for uvicorn: ``atrium.api.asgi:app``."""

import atrium.consumers  # noqa: F401  (registers the event consumers)
from atrium.api.app import create_app

app = create_app()
