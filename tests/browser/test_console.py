"""The web console in a real browser: Playwright drives Debian's Chromium against a real server.

The server is the real thing: ``atrium demo`` then ``atrium serve`` in a subprocess, on embedded
SQLite in a temporary data dir. Without /usr/bin/chromium the tests skip (and fail with CI=true).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.conftest import TEST_SECRET_KEY

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

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
SCREENSHOT = Path("/tmp/console.png")
PROVISIONING_STEPS = [
    "record",
    "storage",
    "migrations",
    "default settings",
    "default roles",
    "object storage",
    "telemetry",
    "sample data",
]


@dataclass(frozen=True)
class Server:
    url: str
    email: str
    password: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _atrium(name: str) -> str:
    path = BIN / "atrium"
    return str(path) if path.exists() else name


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`atrium demo` (credentials parsed from its output), then `atrium serve` until /healthz answers."""
    workdir = tmp_path_factory.mktemp("console")
    inherited = {k: v for k, v in os.environ.items() if k not in ("ATRIUM_DATABASE_URL", "ATRIUM_BROKER_URL")}
    env = {
        **inherited,
        "ATRIUM_DATA_DIR": str(workdir / "var"),
        "ATRIUM_ENV": "test",
        "ATRIUM_SECRET_KEY": TEST_SECRET_KEY,
        "ATRIUM_LOG_JSON": "false",
        "COLUMNS": "200",  # keep rich from wrapping the credentials line
    }
    demo = subprocess.run(
        [_atrium("atrium"), "demo"], cwd=workdir, env=env, capture_output=True, text=True, timeout=120
    )
    assert demo.returncode == 0, f"atrium demo failed:\n{demo.stdout}\n{demo.stderr}"
    found = re.search(r"administrator\s+(\S+@\S+)\s+password:\s*(\S+)", demo.stdout)
    assert found, f"no credentials in the output of atrium demo:\n{demo.stdout}"
    email, password = found.groups()

    port = _free_port()
    log_path = workdir / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [_atrium("atrium"), "serve", "--port", str(port)],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"atrium serve exited with {proc.returncode}:\n{log_path.read_text()}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"atrium serve did not answer /healthz within 30 s:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield Server(url, email, password)
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
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Browser, server: Server) -> Iterator[Page]:
    """A fresh context (no cookies) per test; any JavaScript error fails the test."""
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def sign_in(page: Page, server: Server, password: str | None = None) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(server.email)
    page.get_by_label("Password").fill(password or server.password)
    page.get_by_role("button", name="Sign in").click()


def test_wrong_password_shows_an_error(page: Page, server: Server) -> None:
    from playwright.sync_api import expect

    sign_in(page, server, password="not-the-password")
    expect(page.locator(".flash-error")).to_have_text("Wrong email or password.")
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_label("Email")).to_have_value(server.email)
    expect(page.get_by_role("link", name="Tenants")).to_have_count(0)  # still signed out
    page.goto("/tenants")
    expect(page).to_have_url(re.compile(r"/login$"))


def test_create_suspend_and_audit_a_tenant(page: Page, server: Server) -> None:
    from playwright.sync_api import expect

    sign_in(page, server)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.locator(".who")).to_have_text(server.email)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Tenants").click()
    expect(page).to_have_url(re.compile(r"/tenants$"))
    expect(page.locator("#tenants")).to_contain_text("demo")

    form = page.locator("#create-tenant")
    form.get_by_label("Slug").fill("acme-browser")
    form.get_by_label("Display name").fill("Acme Browser Ltd")
    form.get_by_label("Isolation").select_option("schema")
    form.get_by_role("button", name="Create tenant").click()

    expect(page).to_have_url(re.compile(r"/tenants/acme-browser$"))
    expect(page.locator(".flash-success")).to_have_text("Tenant acme-browser is ready.")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Acme Browser Ltd")
    expect(page.locator("#tenant-status")).to_have_text("active")
    expect(page.locator("dl.facts")).to_contain_text("schema")

    rows = page.locator("#provisioning tbody tr")
    expect(rows).to_have_count(len(PROVISIONING_STEPS))
    for i, step in enumerate(PROVISIONING_STEPS):
        cells = rows.nth(i).locator("td")
        expect(cells.nth(1)).to_have_text(step)
        # sample data was not asked for, so that step is skipped; every other one ran
        expect(cells.nth(2)).to_have_text("skipped" if step == "sample data" else "succeeded")
        expect(cells.nth(6)).to_have_text("")
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    suspend = page.locator("form[action$='/suspend']")
    suspend.get_by_placeholder("Reason (audited)").fill("unpaid invoice #42")
    suspend.get_by_role("button", name="Suspend").click()
    expect(page.locator("#tenant-status")).to_have_text("suspended")
    expect(page.locator(".flash-success")).to_have_text("Tenant acme-browser is now suspended.")
    expect(page.locator("form[action$='/resume']")).to_be_visible()
    expect(page.locator("section.card", has_text="Audit trail")).to_contain_text("tenant.suspended")
    expect(page.locator("section.card", has_text="Audit trail")).to_contain_text("unpaid invoice #42")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit trail").click()
    expect(page.get_by_role("heading", name="Audit trail")).to_be_visible()
    expect(page.locator("main table").first).to_contain_text("tenant.created")
    page.get_by_role("button", name="Verify chains").click()
    results = page.locator("#verify-results")
    expect(results).to_be_visible()
    expect(results).to_contain_text("intact")
    expect(results).not_to_contain_text("BROKEN")
    expect(results.locator("tbody tr")).not_to_have_count(0)


def test_not_found_is_an_html_page(page: Page, server: Server) -> None:
    from playwright.sync_api import expect

    response = page.goto("/no-such-page")
    assert response is not None
    assert response.status == 404
    assert response.headers["content-type"].startswith("text/html")
    expect(page.get_by_role("heading", level=1)).to_have_text("404 · Not found")
    expect(page.get_by_role("link", name="Back to the overview")).to_be_visible()

    sign_in(page, server)
    response = page.goto("/tenants/no-such-tenant")
    assert response is not None
    assert response.status == 404
    assert response.headers["content-type"].startswith("text/html")
    expect(page.get_by_role("heading", level=1)).to_contain_text("404")

    # the API keeps answering problem+json to the same browser session
    api = page.request.get("/api/v1/platform/tenants/no-such-tenant")
    assert api.status == 404
    assert api.headers["content-type"].startswith("application/problem+json")
