"""ASGI entry point for uvicorn: ``atrium.api.asgi:app``."""

import atrium.consumers  # noqa: F401  (registers the event consumers)
from atrium.api.app import create_app
from atrium.core.process import settle_heap

app = create_app()
settle_heap()  # each server process, once the app is built
