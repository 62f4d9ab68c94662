"""The SSRF guard on URLs a tenant enters: private networks are refused in production (redirects
included), unless the operator opts in; outside production everything local works for development."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from atrium.core.errors import BadRequest
from atrium.core.net import check_outbound, guarded_client
from tests.conftest import make_settings


class _Redirect(BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        self.send_response(302)
        self.send_header("Location", "http://127.0.0.1:9/internal")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def redirecting_server() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Redirect)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/metadata"
    finally:
        server.shutdown()


def _settings(tmp_path: Path, **overrides: object) -> object:
    return make_settings(f"sqlite:///{tmp_path / 'p.db'}", tmp_path, **overrides)


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/x",
        "https://10.1.2.3/x",
        "https://169.254.169.254/latest",
        "https://[::1]/x",
        "https://0.0.0.0/",
    ],
)
async def test_production_refuses_private_addresses(tmp_path: Path, url: str) -> None:
    settings = _settings(tmp_path, env="production")
    with pytest.raises(BadRequest) as refused:
        await check_outbound(settings, url, field="idp_metadata_url")  # type: ignore[arg-type]
    assert refused.value.extra["field"] == "idp_metadata_url"


async def test_public_addresses_pass_and_operators_may_allow_private_ones(tmp_path: Path) -> None:
    production = _settings(tmp_path, env="production")
    await check_outbound(production, "https://93.184.216.34/metadata", field="f")  # type: ignore[arg-type]
    allowed = _settings(tmp_path, env="production", outbound_private_networks=True)
    await check_outbound(allowed, "https://10.1.2.3/x", field="f")  # type: ignore[arg-type]
    development = _settings(tmp_path)
    await check_outbound(development, "http://127.0.0.1/x", field="f")  # type: ignore[arg-type]


async def test_the_guarded_client_checks_every_request_before_connecting(
    tmp_path: Path, redirecting_server: str
) -> None:
    """The check is a request hook, so it also runs for each redirect hop."""
    development = _settings(tmp_path)
    async with guarded_client(development, field="f", follow_redirects=False) as client:  # type: ignore[arg-type]
        assert (await client.get(redirecting_server)).status_code == 302
    assert _Redirect.hits == 1
    production = _settings(tmp_path, env="production")
    async with guarded_client(production, field="idp_metadata_url", follow_redirects=True) as client:  # type: ignore[arg-type]
        with pytest.raises(BadRequest):
            await client.get(redirecting_server)
    assert _Redirect.hits == 1  # refused before any connection
