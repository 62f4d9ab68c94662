"""Finance tests reuse the access tests' world: tenants, people with roles, signed-in clients."""

from tests.platform.access.conftest import world  # noqa: F401
from tests.platform.identity.conftest import auth, smtp  # noqa: F401
