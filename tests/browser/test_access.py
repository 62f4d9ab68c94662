"""Access control in a real browser: a Tenant Admin builds departments, writes notes in them, makes a
custom role whose row condition is "Sales and its sub-departments", gives it to a member as their
primary role, then tests the tenant as that member: the banner shows, the notes list holds exactly
the Sales and Field Sales EU notes, and after "Stop viewing as" the administrator sees every note again.

People are set up through the API the way an operator would: the platform administrator invites
them and they accept with a password (the codes come from the SMTP sink)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.browser.support import Server, sign_in

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

PASSWORD = "granite meadow hums at dusk"
ADMIN, MEMBER = "boss@demo.example", "sam@demo.example"
NOTES = {"Sales pipeline": "Field Sales", "Munich deal": "Field Sales EU", "Night shift rota": "Warehouse"}


def _invite_and_join(server: Server, email: str, role: str) -> None:
    """The platform administrator invites ``email`` to the demo tenant; the invitee accepts."""
    with httpx.Client(base_url=server.url, timeout=30) as api:
        signed_in = api.post("/api/v1/auth/login", json={"email": server.email, "password": server.password})
        assert signed_in.status_code == 200, signed_in.text
        invited = api.post("/api/v1/tenants/demo/invitations", json={"email": email, "role": role})
        assert invited.status_code == 201, invited.text
    mail = server.mail.take(email, "invited")
    code = re.search(r"Invitation code: (\S+)", mail.body)
    assert code, mail.body
    with httpx.Client(base_url=server.url, timeout=30) as api:
        joined = api.post(
            "/api/v1/auth/invitations/accept",
            json={"token": code.group(1), "password": PASSWORD, "accept_terms": True},
        )
        assert joined.status_code == 200, joined.text


def _note_titles(page: Page) -> set[str]:
    return set(page.locator("#notes tr.note").evaluate_all("rows => rows.map(r => r.dataset.title)"))


def test_a_tenant_admin_tests_a_department_role_as_the_member(page: Page, server: Server, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    _invite_and_join(server, ADMIN, "Tenant Admin")
    _invite_and_join(server, MEMBER, "Member")
    sign_in(page, ADMIN, PASSWORD, "/t/demo/organisation")
    expect(page).to_have_url(re.compile(r"/t/demo/organisation$"))

    # departments: Sales ⊃ Field Sales EU, and Ops
    create = page.locator("#create-department")
    for name, parent in (("Field Sales", None), ("Field Sales EU", "Field Sales"), ("Warehouse", None)):
        create.get_by_label("Department name").fill(name)
        if parent:
            create.get_by_label("Parent department").select_option(label=parent)
        create.get_by_role("button", name="Create department").click()
        expect(page.locator(".flash-success")).to_have_text(f"{name} is created.")
    rows = page.locator("#departments tr.department")
    expect(rows).to_have_count(6)  # with the demo's Sales, Sales EU and Operations
    expect(page.locator('tr.department[data-department="Field Sales EU"] td.tree-1')).to_contain_text("Field Sales EU")

    # a note in each department, written in the console
    page.get_by_role("navigation", name="Tenant").get_by_role("link", name="Notes").click()
    expect(page).to_have_url(re.compile(r"/t/demo/notes$"))
    form = page.locator("#new-note")
    for title, department in NOTES.items():
        form.get_by_label("Title").fill(title)
        form.get_by_label("Body").fill(f"About {title.lower()}.")
        form.get_by_label("Department").select_option(
            label=("— " if department == "Field Sales EU" else "") + department
        )
        form.get_by_role("button", name="Save note").click()
        expect(page.locator(".flash-success")).to_have_text(f"The note '{title}' is saved.")
    for title, department in NOTES.items():
        expect(page.locator(f'#notes tr.note[data-title="{title}"] .note-department')).to_have_text(department)
    everything = _note_titles(page)
    assert set(NOTES) <= everything

    # the custom role: notes.read, rows of Sales and its sub-departments
    page.get_by_role("navigation", name="Tenant").get_by_role("link", name="Roles").click()
    role = page.locator("#create-role")
    role.get_by_label("Role name").fill("Field sales viewer")
    role.get_by_label("Description").fill("Reads the notes of Sales")
    role.locator('input[name="permission_sets"][value="notes.read"]').check()
    role.get_by_label("Records of the department").select_option(label="Field Sales")
    expect(role.locator('input[name="cond_department_children"]')).to_be_checked()
    role.get_by_role("button", name="Create role").click()
    expect(page).to_have_url(re.compile(r"/t/demo/roles/Field%20sales%20viewer$"))
    expect(page.locator(".flash-success")).to_have_text("The role Field sales viewer is created.")
    expect(page.locator("#role-condition")).to_have_text("Field Sales and its sub-departments")

    # the member's primary role becomes the custom role (Member would grant every note)
    page.get_by_role("navigation", name="Access control").get_by_role("link", name="People and roles").click()
    member = page.locator(f'tr.member[data-email="{MEMBER}"]')
    member.get_by_label(f"Primary role of {MEMBER}").select_option("Field sales viewer")
    member.get_by_role("button", name="Change").click()
    expect(page.locator(".flash-success")).to_have_text("The primary role is now Field sales viewer.")
    expect(member.locator("td.held")).to_have_text("Field sales viewer")

    # test as the member, with a reason
    member.locator("details.test-as summary").click()
    member.get_by_label(f"Reason to test as {MEMBER}").fill("checking the Field sales viewer role")
    member.get_by_role("button", name="Test as", exact=True).click()
    expect(page).to_have_url(re.compile(r"/t/demo/notes$"))
    banner = page.locator(".impersonation-banner")
    expect(banner).to_contain_text(f"as {MEMBER}")
    expect(banner).to_contain_text(f"you are {ADMIN}")
    expect(page.locator("#notes tr.note")).to_have_count(2)
    assert _note_titles(page) == {"Sales pipeline", "Munich deal"}
    expect(page.locator("#new-note")).to_have_count(0)  # the role only reads
    expect(page.get_by_role("navigation", name="Tenant").get_by_role("link", name="Roles")).to_have_count(0)
    page.screenshot(path=str(tmp_path / "test-as.png"), full_page=True)

    # stop: the administrator again, every note back
    banner.get_by_role("button", name="Stop viewing as").click()
    expect(page).to_have_url(re.compile(r"/t/demo/access/people(#members)?$"))
    expect(page.locator(".impersonation-banner")).to_have_count(0)
    expect(page.locator(".flash-success")).to_contain_text(f"as {MEMBER}.")
    page.get_by_role("navigation", name="Tenant").get_by_role("link", name="Notes").click()
    expect(page.locator("#notes tr.note")).to_have_count(len(everything))
    assert _note_titles(page) == everything
