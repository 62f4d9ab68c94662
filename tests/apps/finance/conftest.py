"""Finance tests reuse the access tests' world: tenants, people with roles, signed-in clients."""

import re

import httpx

from tests.platform.access.conftest import world  # noqa: F401
from tests.platform.identity.conftest import auth, smtp  # noqa: F401


async def csrf(client: httpx.AsyncClient) -> dict[str, str]:
    """The console's CSRF header, which uploads from a browser session carry (JSON needs none)."""
    page = await client.get("/account")
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text)
    assert match, page.text[:500]
    return {"X-CSRF-Token": match.group(1)}
