"""A person's way through the console in a real browser (Playwright, Debian's Chromium): signup and
email verification, an authenticator app or a security key as second factor, an invitation, a password
reset.

Every mail is read from the real SMTP server the server process sends to; every step is a click or a
keystroke in Chromium."""

from __future__ import annotations

import re
import time
import uuid
from typing import TYPE_CHECKING

import pyotp
import pytest

from tests.browser.support import NewPage, Server, sign_in, sign_out

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

PASSWORD = "a quiet harbour at dawn 1987"


def unique_email(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:8]}@example.com"


def sign_up_and_verify(page: Page, server: Server, email: str, organization: str) -> str:
    """Sign up through the form, follow the link of the mailed verification; returns the tenant's slug."""
    from playwright.sync_api import expect

    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login$"))
    page.get_by_role("main").get_by_role("link", name="Create an account").click()
    form = page.locator("#signup-form")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_label("For an organization").check()
    form.get_by_label("Organization name").fill(organization)
    form.get_by_label("I accept the terms").check()
    form.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text(email)

    mail = server.mail.take(email, "Confirm your email address")
    link = mail.link("/verify-email")
    assert link.startswith(f"{server.url}/verify-email?token="), link  # links point at the public URL
    page.goto(link)
    expect(page.get_by_role("heading", name="Verify your email")).to_be_visible()
    token = link.split("token=", 1)[1]
    expect(page.get_by_label("Verification code")).to_have_value(token)
    page.get_by_role("button", name="Verify and create my workspace").click()

    # verifying provisions the new tenant (its database, migrations, defaults) before it answers
    expect(page).to_have_url(re.compile(r"/login\?next=/t/[a-z0-9-]+$"), timeout=60_000)
    slug = page.url.rsplit("/t/", 1)[1]
    expect(page.locator(".flash-success")).to_have_text(
        f"Your address is verified and {slug} is ready. Sign in to continue."
    )
    return slug


def expect_tenant_home(page: Page, slug: str, role: str) -> None:
    from playwright.sync_api import expect

    expect(page).to_have_url(re.compile(rf"/t/{re.escape(slug)}$"))
    expect(page.locator("#tenant-role")).to_have_text(role)


def answer_mfa(page: Page, code: str) -> None:
    page.get_by_label("Code", exact=True).fill(code)
    page.get_by_role("button", name="Verify").click()


def test_signup_verify_and_sign_in_with_an_authenticator_app(page: Page, server: Server) -> None:
    from playwright.sync_api import expect

    email = unique_email("founder")
    slug = sign_up_and_verify(page, server, email, "Harbour Analytics")

    # the login page the verification led to goes on to the new tenant, as its administrator
    form = page.locator("#login-form")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Sign in").click()
    expect_tenant_home(page, slug, "Tenant Admin")
    expect(page.get_by_role("heading", level=1)).to_have_text("Harbour Analytics")
    expect(page.locator(".who")).to_have_text(email)
    expect(page.get_by_role("link", name="Tenants")).to_have_count(0)  # no platform pages for a tenant admin

    # enrol an authenticator app: the secret on the page, the code computed from it
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Account").click()
    page.get_by_role("link", name=re.compile("^Security")).click()
    expect(page).to_have_url(re.compile(r"/account/security$"))
    totp_card = page.locator("#totp")
    expect(totp_card).to_contain_text("Not enrolled")
    totp_card.get_by_role("button", name="Set up an authenticator app").click()
    expect(totp_card.locator(".qr svg")).to_be_visible()
    secret = page.locator("#totp-secret").inner_text().strip()
    assert re.fullmatch(r"[A-Z2-7]{16,}", secret), secret
    totp = pyotp.TOTP(secret)
    enrolment_code = totp.now()
    totp_card.get_by_label("Code from the app").fill(enrolment_code)
    totp_card.get_by_role("button", name="Confirm").click()
    expect(page.locator(".flash-success")).to_have_text(
        "The authenticator app is enrolled. Keep the recovery codes somewhere safe."
    )
    codes = page.locator("#recovery-codes li")
    expect(codes).to_have_count(10)
    recovery_codes = [c.strip() for c in codes.all_inner_texts()]
    assert all(re.fullmatch(r"[0-9a-f]{6}-[0-9a-f]{6}", c) for c in recovery_codes), recovery_codes
    expect(totp_card).to_contain_text("enrolled")
    page.screenshot(path="/tmp/console-security.png", full_page=True)

    # the password alone no longer signs in: the second-factor page asks for a code
    sign_out(page)
    sign_in(page, email, PASSWORD, next_path=f"/t/{slug}")
    expect(page).to_have_url(re.compile(r"/login/mfa$"))
    expect(page.get_by_role("heading", name="Second factor")).to_be_visible()
    expect(page.locator(".who")).to_have_count(0)
    page.goto(f"/t/{slug}")  # not signed in yet
    expect(page).to_have_url(re.compile(r"/login\?next=/t/"))
    page.go_back()
    expect(page).to_have_url(re.compile(r"/login/mfa$"))

    # the code used for the enrolment cannot be replayed
    answer_mfa(page, enrolment_code)
    expect(page.locator(".flash-error")).to_have_text("That code is not valid.")
    expect(page.get_by_role("heading", name="Second factor")).to_be_visible()

    # the next step's code is within the accepted drift and not used yet; the sign-in goes on to the tenant
    answer_mfa(page, totp.at(time.time() + totp.interval))
    expect_tenant_home(page, slug, "Tenant Admin")
    expect(page.locator(".who")).to_have_text(email)

    # a recovery code answers the second factor too, once
    sign_out(page)
    sign_in(page, email, PASSWORD)
    expect(page).to_have_url(re.compile(r"/login/mfa$"))
    answer_mfa(page, recovery_codes[0])
    expect(page.locator(".who")).to_have_text(email)
    page.goto(f"/t/{slug}/members")
    row = page.locator("#members tbody tr", has_text=email)
    expect(row.locator("td").nth(1)).to_have_text("Tenant Admin")
    expect(row.locator("td").nth(2)).to_have_text("yes")  # second factor enrolled

    sign_out(page)
    sign_in(page, email, PASSWORD)
    answer_mfa(page, recovery_codes[0])
    expect(page.locator(".flash-error")).to_have_text("That code is not valid.")
    expect(page.locator(".who")).to_have_count(0)


def test_an_invited_person_joins_the_tenant_as_a_member(new_page: NewPage, server: Server) -> None:
    from playwright.sync_api import expect

    admin = new_page()
    sign_in(admin, server.email, server.password)
    expect(admin.locator(".who")).to_have_text(server.email)
    admin.goto("/t/demo")
    expect_tenant_home(admin, "demo", "Tenant Admin")
    admin.get_by_role("navigation", name="Tenant").get_by_role("link", name="People").click()
    expect(admin).to_have_url(re.compile(r"/t/demo/members$"))

    email = unique_email("colleague")
    invite = admin.locator("#invitations form.filters")
    invite.get_by_label("Email").fill(email)
    expect(invite.get_by_label("Role")).to_have_value("Member")
    invite.get_by_role("button", name="Invite").click()
    expect(admin.locator(".flash-success")).to_have_text(f"Invitation sent to {email}.")
    pending = admin.locator("#invitations tbody tr", has_text=email)
    expect(pending.locator("td").nth(1)).to_have_text("Member")
    expect(pending.locator("td").nth(2)).to_have_text(server.email)

    mail = server.mail.take(email, "You are invited to Demo Company")
    link = mail.link("/invitations/accept")
    assert link.startswith(server.url), link

    guest = new_page()  # another browser: no session
    guest.goto(link)
    expect(guest.get_by_role("heading", name="Invitation")).to_be_visible()
    expect(guest.get_by_role("main")).to_contain_text(f"You are invited to Demo Company as Member ({email}).")
    guest.get_by_label("Choose a password").fill(PASSWORD)
    guest.get_by_label("I accept the terms").check()
    guest.get_by_role("button", name="Accept and join").click()
    expect_tenant_home(guest, "demo", "Member")
    expect(guest.locator(".flash-success")).to_have_text("Welcome to Demo Company.")
    expect(guest.locator(".who")).to_have_text(email)
    # a member has no People or Security pages: they do not exist for them
    expect(guest.get_by_role("navigation", name="Tenant").get_by_role("link", name="People")).to_have_count(0)
    response = guest.goto("/t/demo/members")
    assert response is not None
    assert response.status == 404

    # the link worked once
    again = new_page()
    again.goto(link)
    expect(again.locator("main .error")).to_be_visible()
    expect(again.get_by_role("button", name="Accept and join")).to_have_count(0)

    admin.reload()
    member = admin.locator("#members tbody tr", has_text=email)
    expect(member.locator("td").nth(1)).to_have_text("Member")
    expect(member.locator("td").nth(2)).to_have_text("no")
    expect(admin.locator("#invitations tbody tr", has_text=email)).to_have_count(0)
    expect(admin.locator("#tenant-sessions tbody tr", has_text=email)).not_to_have_count(0)


def test_a_password_reset_ends_every_session(new_page: NewPage, server: Server) -> None:
    from playwright.sync_api import expect

    email = unique_email("forgetful")
    first = new_page()
    slug = sign_up_and_verify(first, server, email, "Forgetful Ventures")
    sign_in(first, email, PASSWORD, next_path=f"/t/{slug}")
    expect_tenant_home(first, slug, "Tenant Admin")

    other = new_page()
    other.goto("/login")
    other.get_by_role("link", name="Forgot your password?").click()
    other.get_by_label("Email").fill(email)
    other.get_by_role("button", name="Send the link").click()
    expect(other).to_have_url(re.compile(r"/login$"))
    expect(other.locator(".flash-info")).to_contain_text("If the address has an account, a reset link is on its way.")

    link = server.mail.take(email, "Reset your Atrium password").link("/reset-password")
    assert link.startswith(server.url), link
    other.goto(link)
    expect(other.get_by_role("heading", name="Choose a new password")).to_be_visible()
    expect(other.get_by_label("Reset code")).to_have_value(link.split("token=", 1)[1])
    new_password = "a louder harbour at noon 2024"
    other.get_by_label("New password").fill(new_password)
    other.get_by_role("button", name="Set the password").click()
    expect(other).to_have_url(re.compile(r"/login$"))
    expect(other.locator(".flash-success")).to_have_text(
        "Your password is changed and every session signed out. Sign in with the new one."
    )

    # the first browser's session is gone: its next page asks it to sign in
    first.goto(f"/t/{slug}")
    expect(first).to_have_url(re.compile(rf"/login\?next=/t/{re.escape(slug)}$"))
    expect(first.locator(".who")).to_have_count(0)

    # the reset link worked once
    other.goto(link)
    other.get_by_label("New password").fill("yet another harbour at dusk 31")
    other.get_by_role("button", name="Set the password").click()
    expect(other.locator(".flash-error")).to_be_visible()

    sign_in(other, email, PASSWORD)
    expect(other.locator(".flash-error")).to_have_text("Wrong email or password.")
    sign_in(other, email, new_password, next_path=f"/t/{slug}")
    expect_tenant_home(other, slug, "Tenant Admin")
    expect(other.locator(".who")).to_have_text(email)


def test_a_security_key_answers_the_second_factor(page: Page, server: Server) -> None:
    """Chromium's virtual authenticator (CTAP2, platform, resident keys, user verification) stands
    in for the key: the browser's own WebAuthn code talks to it, as to a real one."""
    from playwright.sync_api import expect

    email = unique_email("keyholder")
    slug = sign_up_and_verify(page, server, email, "Keyholder Works")
    sign_in(page, email, PASSWORD, next_path=f"/t/{slug}")
    expect_tenant_home(page, slug, "Tenant Admin")

    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    authenticator = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )["authenticatorId"]

    page.goto("/account/security")
    card = page.locator("#webauthn")
    expect(card.locator("#webauthn-empty")).to_have_text("No security keys or passkeys yet.")
    register = card.locator("#webauthn-register")
    expect(register).to_be_visible()  # the browser supports WebAuthn
    register.get_by_label("Name").fill("Desk key")
    register.get_by_role("button", name="Add a security key").click()
    expect(card.locator("#webauthn-status")).to_have_text("Desk key is added.")
    key = card.locator("#webauthn-list li", has_text="Desk key")
    expect(key).to_contain_text("never used")
    expect(key.get_by_role("button", name="Remove Desk key")).to_be_visible()
    stored = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
    assert len(stored) == 1, stored
    assert stored[0]["rpId"] == "localhost"
    assert stored[0]["signCount"] == 1

    # the password alone no longer signs in; the key answers the second factor
    sign_out(page)
    sign_in(page, email, PASSWORD, next_path=f"/t/{slug}")
    expect(page).to_have_url(re.compile(r"/login/mfa$"))
    box = page.locator("#webauthn-mfa")
    expect(box).to_be_visible()
    box.get_by_role("button", name="Use a security key").click()
    expect_tenant_home(page, slug, "Tenant Admin")
    expect(page.locator(".who")).to_have_text(email)
    stored = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
    assert stored[0]["signCount"] == 2  # the authenticator signed the sign-in

    page.goto("/account/security")
    expect(page.locator("#webauthn-list li", has_text="Desk key")).to_contain_text("last used")

    # removing the key (after the browser's confirmation) makes the password enough again
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#webauthn-list").get_by_role("button", name="Remove Desk key").click()
    expect(page.locator("#webauthn-status")).to_have_text("The key is removed.")
    expect(page.locator("#webauthn-empty")).to_be_visible()
    sign_out(page)
    sign_in(page, email, PASSWORD, next_path=f"/t/{slug}")
    expect_tenant_home(page, slug, "Tenant Admin")
