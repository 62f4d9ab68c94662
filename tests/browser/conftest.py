"""Fixtures of the browser tests: Playwright drives Debian's Chromium against a real server.

The server is the real thing: ``atrium demo`` then ``atrium serve`` in a subprocess, on embedded
SQLite in a temporary data dir, mailing through SMTP to a real SMTP server (aiosmtpd) in the test
process. One server per test module; a fresh browser context (no cookies) per test. Without
/usr/bin/chromium the tests skip (and fail with CI=true).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest
from aiosmtpd.controller import Controller

from tests.browser.support import BIN, CHROMIUM, CHROMIUM_ARGS, IN_CI, MailSink, NewPage, Server
from tests.conftest import TEST_SECRET_KEY

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

STARTUP_SECONDS = 60
EXPECT_MS = 10_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _atrium() -> str:
    path = BIN / "atrium"
    return str(path) if path.exists() else "atrium"


@pytest.fixture(scope="module")
def smtp_sink() -> Iterator[tuple[MailSink, int]]:
    """A real SMTP server on a free loopback port, in this process."""
    sink, port = MailSink(), _free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, smtp_sink: tuple[MailSink, int]) -> Iterator[Server]:
    """`atrium demo` (credentials parsed from its output), then `atrium serve` until /healthz answers.

    Links in mail point at the server (``ATRIUM_PUBLIC_URL``), and mail goes to the SMTP sink."""
    sink, smtp_port = smtp_sink
    workdir = tmp_path_factory.mktemp("console")
    port = _free_port()
    # localhost, not 127.0.0.1: WebAuthn takes the relying party from the host name, and an IP is none
    url = f"http://localhost:{port}"
    inherited = {k: v for k, v in os.environ.items() if k not in ("ATRIUM_DATABASE_URL", "ATRIUM_BROKER_URL")}
    env = {
        **inherited,
        "ATRIUM_DATA_DIR": str(workdir / "var"),
        "ATRIUM_ENV": "test",
        "ATRIUM_SECRET_KEY": TEST_SECRET_KEY,
        "ATRIUM_LOG_JSON": "false",
        "ATRIUM_PASSWORD_HASH_TIME_COST": "1",  # cheap Argon2id for the suite (bench/ measures the real one)
        "ATRIUM_PASSWORD_HASH_MEMORY_KIB": "1024",
        "ATRIUM_PUBLIC_URL": url,
        "ATRIUM_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
        "COLUMNS": "200",  # keep rich from wrapping the credentials line
    }
    demo = subprocess.run([_atrium(), "demo"], cwd=workdir, env=env, capture_output=True, text=True, timeout=120)
    assert demo.returncode == 0, f"atrium demo failed:\n{demo.stdout}\n{demo.stderr}"
    found = re.search(r"Platform administrator\s+(\S+@\S+)\s+password:\s*(\S+)", demo.stdout)
    assert found, f"no credentials in the output of atrium demo:\n{demo.stdout}"
    admin_email, password = found.groups()

    log_path = workdir / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [_atrium(), "serve", "--port", str(port)], cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if proc.poll() is not None:
                pytest.fail(f"atrium serve exited with {proc.returncode}:\n{log_path.read_text()}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"atrium serve did not answer /healthz within {STARTUP_SECONDS} s:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield Server(url, admin_email, password, sink)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing (install Debian's chromium: make system-deps)"
        if IN_CI:
            pytest.fail(f"{message}; CI=true requires it")
        pytest.skip(message)
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=EXPECT_MS)  # a loaded CI machine is slower than 5 s now and then
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def new_page(browser: Browser, server: Server) -> Iterator[NewPage]:
    """Opens pages, each in a fresh context (its own cookies: another browser, in effect); any
    JavaScript error on any of them fails the test."""
    contexts: list[BrowserContext] = []
    errors: list[str] = []

    def open_page() -> Page:
        context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        return page

    try:
        yield open_page
    finally:
        for context in contexts:
            context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def page(new_page: NewPage) -> Page:
    """A fresh context (no cookies) for the test."""
    return new_page()
