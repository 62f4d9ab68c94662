"""Outbound requests to addresses a tenant chose (IdP metadata and discovery URLs): refuse the
platform's own private networks in production, so a Tenant Admin cannot make the server fetch
internal services (SSRF). Operators whose IdPs live on an internal network opt in with
``ATRIUM_OUTBOUND_PRIVATE_NETWORKS=true``."""

from __future__ import annotations

import asyncio
import ipaddress
from urllib.parse import urlsplit

import httpx

from atrium.core.errors import BadRequest
from atrium.core.settings import Settings


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    return not (
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_multicast or ip.is_unspecified
    )


async def check_outbound(settings: Settings, url: str, *, field: str) -> None:
    """400 naming ``field`` when the URL's host resolves to a non-public address (production only)."""
    if settings.env != "production" or settings.outbound_private_networks:
        return
    host = urlsplit(url).hostname
    if not host:
        raise BadRequest("the URL has no host", field=field)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None)
    except OSError:
        raise BadRequest(f"the host {host} does not resolve", field=field) from None
    if not infos or not all(_public(str(info[4][0])) for info in infos):
        raise BadRequest(f"{host} is on a private network, which this platform does not reach", field=field)


def guarded_client(settings: Settings, *, field: str, **kwargs: object) -> httpx.AsyncClient:
    """An httpx client that checks every request it makes, redirects included."""

    async def _check(request: httpx.Request) -> None:
        await check_outbound(settings, str(request.url), field=field)

    return httpx.AsyncClient(event_hooks={"request": [_check]}, **kwargs)  # type: ignore[arg-type]
