"""Outgoing mail: SMTP (aiosmtplib) when ``ATRIUM_SMTP_URL`` is set, else a local mailbox of .eml
files under the data dir (the embedded default; the console will show it)."""

from __future__ import annotations

import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlparse

import aiosmtplib

from atrium.core.settings import Settings


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


def compose(settings: Settings, *, to: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = f"<{uuid.uuid4().hex}@atrium>"
    message.set_content(body)
    return message


class SmtpMailer:
    def __init__(self, url: str) -> None:
        parsed = urlparse(url)
        if parsed.scheme not in ("smtp", "smtps"):
            raise ValueError(f"unsupported ATRIUM_SMTP_URL scheme {parsed.scheme!r}: use smtp:// or smtps://")
        self.hostname = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or (465 if parsed.scheme == "smtps" else 25)
        self.use_tls = parsed.scheme == "smtps"
        self.username = unquote(parsed.username) if parsed.username else None
        self.password = unquote(parsed.password) if parsed.password else None

    async def send(self, message: EmailMessage) -> None:
        await aiosmtplib.send(
            message,
            hostname=self.hostname,
            port=self.port,
            use_tls=self.use_tls,
            username=self.username,
            password=self.password,
            timeout=10,
        )


class LocalMailbox:
    """Writes each message to ``<data dir>/mailbox/<time>-<id>.eml``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def send(self, message: EmailMessage) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{uuid.uuid4().hex}.eml"
        (self.directory / name).write_bytes(bytes(message))


def make_mailer(settings: Settings) -> Mailer:
    if settings.smtp_url:
        return SmtpMailer(settings.smtp_url)
    return LocalMailbox(settings.data_dir / "mailbox")
