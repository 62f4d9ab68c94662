"""Console tests use the identity fixtures: the ASGI app with a real SMTP sink on loopback."""

from tests.platform.identity.conftest import auth, smtp

__all__ = ["auth", "smtp"]
