"""The platform pages of the web console in a real browser (Playwright, Debian's Chromium): signing
in as the platform administrator that ``atrium demo`` created, tenants, the audit trail, errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.support import Server, sign_in

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

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


def test_wrong_password_shows_an_error(page: Page, server: Server) -> None:
    from playwright.sync_api import expect

    sign_in(page, server.email, "not-the-password")
    expect(page.locator(".flash-error")).to_have_text("Wrong email or password.")
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.locator("#login-form").get_by_label("Email")).to_have_value(server.email)
    expect(page.get_by_role("link", name="Tenants")).to_have_count(0)  # still signed out
    page.goto("/tenants")
    expect(page).to_have_url(re.compile(r"/login\?next=/tenants$"))

    # the right password from there lands on the page that was asked for
    form = page.locator("#login-form")
    form.get_by_label("Email").fill(server.email)
    form.get_by_label("Password").fill(server.password)
    form.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/tenants$"))
    expect(page.locator(".who")).to_have_text(server.email)


def test_create_suspend_and_audit_a_tenant(page: Page, server: Server) -> None:
    from playwright.sync_api import expect

    sign_in(page, server.email, server.password)
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

    expect(page).to_have_url(re.compile(r"/tenants/acme-browser$"), timeout=60_000)  # provisioning runs first
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

    sign_in(page, server.email, server.password)
    response = page.goto("/tenants/no-such-tenant")
    assert response is not None
    assert response.status == 404
    assert response.headers["content-type"].startswith("text/html")
    expect(page.get_by_role("heading", level=1)).to_contain_text("404")

    # the API keeps answering problem+json to the same browser session
    api = page.request.get("/api/v1/platform/tenants/no-such-tenant")
    assert api.status == 404
    assert api.headers["content-type"].startswith("application/problem+json")
