"""Helpers of the browser tests: the server's coordinates, the SMTP sink's handler, and the
sign-in and sign-out steps every flow shares (fixtures are in conftest.py)."""

from __future__ import annotations

import email
import email.policy
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
REPO = Path(__file__).resolve().parents[2]
BIN = REPO / ".venv" / "bin"
MAIL_TIMEOUT = 15.0
NewPage = Callable[[], "Page"]


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str

    def link(self, path: str) -> str:
        """The absolute link to ``path`` (e.g. ``/verify-email``) in the body."""
        found = re.search(rf"https?://\S+{re.escape(path)}\?token=\S+", self.body)
        assert found, f"no {path} link in the mail:\n{self.body}"
        return found.group(0)


@dataclass
class MailSink:
    """aiosmtpd handler: keeps every message the server sends, for the tests to take one by one."""

    messages: list[Mail] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = message.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        with self.lock:
            self.messages.append(Mail(str(message["To"]), str(message["Subject"]), text))
        return "250 OK"

    def take(self, to: str, subject: str, timeout: float = MAIL_TIMEOUT) -> Mail:
        """Wait for the first mail to ``to`` whose subject contains ``subject``; remove and return it."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                for mail in self.messages:
                    if mail.to.lower() == to.lower() and subject in mail.subject:
                        self.messages.remove(mail)
                        return mail
                seen = [(m.to, m.subject) for m in self.messages]
            if time.monotonic() > deadline:
                pytest.fail(f"no mail {subject!r} to {to} within {timeout} s; the sink holds {seen}")
            time.sleep(0.05)


@dataclass(frozen=True)
class Server:
    url: str
    email: str
    password: str
    mail: MailSink


def sign_in(page: Page, email: str, password: str, next_path: str | None = None) -> None:
    """Fill the password form of /login (the single sign-on form below it has an email field too)."""
    page.goto(f"/login?next={next_path}" if next_path else "/login")
    form = page.locator("#login-form")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password").fill(password)
    form.get_by_role("button", name="Sign in").click()


def sign_out(page: Page) -> None:
    from playwright.sync_api import expect

    page.locator("form.logout").get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.locator(".who")).to_have_count(0)
