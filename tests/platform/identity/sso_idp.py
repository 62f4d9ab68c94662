"""A real OpenID provider for SSO tests: oidc-provider-mock (Flask + Authlib) served on loopback by
werkzeug in a thread, and helpers that drive a browser's round trip through it and the ASGI app."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import oidc_provider_mock
from werkzeug.serving import make_server

from tests.platform.identity.conftest import SIGNUP, Sink

CLIENT_ID = "atrium-test-client"
CLIENT_SECRET = "atrium-test-client-secret"


@dataclass(frozen=True)
class Idp:
    url: str

    @property
    def discovery_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"

    async def authorize(self, location: str, sub: str, claims: dict[str, Any] | None = None) -> str:
        """Be the person at the IdP: set who they are, sign in as ``sub``; answers where the IdP
        sends the browser back (the callback URL with code and state)."""
        async with httpx.AsyncClient(timeout=10) as http:
            if claims is not None:
                assert (await http.put(f"{self.url}/users/{sub}", json=claims)).status_code == 204
            response = await http.post(location, data={"sub": sub})
        assert response.status_code == 302, response.text
        return response.headers["location"]

    async def deny(self, location: str) -> str:
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.post(location, data={"action": "deny"})
        assert response.status_code == 302, response.text
        return response.headers["location"]


@contextmanager
def running_idp() -> Iterator[Idp]:
    """The provider on a free loopback port, stopped when the block ends."""
    server = make_server("127.0.0.1", 0, oidc_provider_mock.app(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Idp(f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()


def local(url: str) -> str:
    """The path and query of an absolute URL on Atrium (the ASGI client serves any host)."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


async def sign_up(client: httpx.AsyncClient, sink: Sink, email: str, organization: str) -> dict[str, Any]:
    """A verified self-serve account with its own tenant (as its Tenant Admin), signed in."""
    client.cookies.clear()
    body = {**SIGNUP, "email": email, "organization_name": organization}
    assert (await client.post("/api/v1/auth/signup", json=body)).status_code == 202
    verified = await client.post("/api/v1/auth/verify-email", json={"token": sink.last_token()})
    assert verified.status_code == 200, verified.text
    await log_in(client, email)
    return dict(verified.json())


async def log_in(client: httpx.AsyncClient, email: str, password: str = SIGNUP["password"]) -> None:
    client.cookies.clear()
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text


def oidc_connection(idp: Idp, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Acme IdP",
        "protocol": "oidc",
        "domains": ["acme-robotics.com"],
        "oidc": {"discovery_url": idp.discovery_url, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
    }
    body.update(overrides)
    return body
