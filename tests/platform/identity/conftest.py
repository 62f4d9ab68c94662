"""Fixtures of identity tests: a real SMTP server (aiosmtpd) on loopback and an app that mails to it."""

from __future__ import annotations

import email
import re
import socket
from collections.abc import AsyncIterator, Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from atrium.api.app import create_app
from atrium.cli.migrate import migrate_all
from atrium.runtime import Runtime
from tests.conftest import make_settings

TOKEN = re.compile(r"(?:Verification|Reset|Invitation) code: (\S+)")


class Sink:
    """aiosmtpd handler: keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def last_token(self) -> str:
        body = self.messages[-1].get_payload(decode=True)
        assert isinstance(body, bytes)
        match = TOKEN.search(body.decode())
        assert match, body
        return match.group(1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Sink, int]]:
    sink, port = Sink(), _free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


@pytest.fixture
async def auth(
    database_url: str, tmp_path: Path, smtp: tuple[Sink, int], request: pytest.FixtureRequest
) -> AsyncIterator[tuple[httpx.AsyncClient, Sink, Runtime]]:
    """Client, mail sink and runtime; a test may pass settings through ``@pytest.mark.auth_settings``."""
    sink, port = smtp
    marker = request.node.get_closest_marker("auth_settings")
    overrides = marker.kwargs if marker else {}
    rt = Runtime(make_settings(database_url, tmp_path / "var", smtp_url=f"smtp://127.0.0.1:{port}", **overrides))
    await migrate_all(rt, show_progress=False)
    app = create_app(runtime=rt, embedded_worker=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://atrium.test") as client:
        yield client, sink, rt
    await rt.close()


SIGNUP = {
    "email": "Founder@Example.com",
    "password": "a long passphrase that is " + "x" * 80,
    "organization_name": "Acme Robotics",
    "accept_terms": True,
    "marketing_opt_in": True,
}
