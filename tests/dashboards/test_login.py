"""Login (password, then TOTP when enabled), session refresh, logout, and the login form's messages."""

from __future__ import annotations

import json
import time

from playwright.sync_api import Page, expect

from api.auth.totp import STEP_S, code_at, new_secret
from tests.dashboards.conftest import PageErrors, Service, add_user, login, screenshot

REFUSED_LOGIN = "status of 401"
"""Chromium logs every refused request as a console error; the tests that expect one allow this one."""


def test_login_shows_the_overview_and_logout_returns_to_the_form(page: Page, service: Service) -> None:
    page.goto("/")
    expect(page.locator("#login-username")).to_be_focused()
    screenshot(page, "login")
    login(page, service.users["viewer"])
    expect(page.locator("#logout")).to_be_visible()
    page.click("#logout")
    expect(page.locator("#login-username")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('om.session')") is None
    page.goto("/#/servers")
    expect(page.locator("#login-username")).to_be_visible()


def test_a_wrong_password_is_reported_in_the_form(
    page: Page, service: Service, page_errors: PageErrors
) -> None:
    page_errors.allowed.append(REFUSED_LOGIN)
    page.goto("/")
    page.fill("#login-username", service.users["viewer"])
    page.fill("#login-password", "not the password")
    page.click("button[type=submit]")
    expect(page.locator("[role=alert]")).to_have_text("Wrong username or password.")


def test_an_account_with_totp_is_asked_for_its_code(
    page: Page, service: Service, page_errors: PageErrors
) -> None:
    page_errors.allowed.append(REFUSED_LOGIN)
    secret = new_secret()
    username = add_user(service, "viewer", totp_secret=secret)
    page.goto("/")
    page.fill("#login-username", username)
    page.fill("#login-password", "dashboard test password 1")
    page.click("button[type=submit]")
    expect(page.locator("#login-totp")).to_be_focused()
    expect(page.locator("[role=alert]")).to_contain_text("two-factor")
    screenshot(page, "login-totp")
    page.fill("#login-totp", code_at(secret, int(time.time() // STEP_S)))
    page.click("button[type=submit]")
    expect(page.locator(".count-cards")).to_be_visible()


def test_the_first_admin_is_made_to_replace_the_generated_password(
    page: Page, service: Service, page_errors: PageErrors
) -> None:
    page_errors.allowed.extend(["status of 403", "status of 422"])
    password_file = service.data_dir / "initial-admin-password"
    page.goto("/")
    page.fill("#login-username", "admin")
    page.fill("#login-password", password_file.read_text().strip())
    page.click("button[type=submit]")
    expect(page.locator("#login-new-password")).to_be_focused()
    expect(page.locator("[role=alert]")).to_contain_text("must be replaced")
    expect(page.locator("button[type=submit]")).to_have_text("Change password and log in")
    screenshot(page, "login-change-password")
    page.fill("#login-new-password", "password12")
    page.fill("#login-new-password-repeat", "password12")
    page.click("button[type=submit]")
    expect(page.locator("[role=alert]")).to_contain_text("too easy to guess")
    page.fill("#login-new-password-repeat", "tulip engine parade 46")
    page.fill("#login-new-password", "tulip engine parade 47")
    page.click("button[type=submit]")
    expect(page.locator("[role=alert]")).to_have_text("Enter the same new password twice.")
    page.fill("#login-new-password-repeat", "tulip engine parade 47")
    page.click("button[type=submit]")
    expect(page.locator(".count-cards")).to_be_visible()
    assert not password_file.exists()
    expect(page.locator(".who")).to_contain_text("admin")


def test_an_expiring_access_token_is_refreshed_and_the_session_survives_a_reload(
    page: Page, service: Service
) -> None:
    login(page, service.users["viewer"])
    before = json.loads(page.evaluate("sessionStorage.getItem('om.session')"))
    # Make the stored token look about to expire: the next call must refresh it first.
    page.evaluate(
        "s => sessionStorage.setItem('om.session', JSON.stringify({...JSON.parse(s), expiresAt: 0}))",
        json.dumps(before),
    )
    page.reload()
    expect(page.locator(".count-cards")).to_be_visible()
    after = json.loads(page.evaluate("sessionStorage.getItem('om.session')"))
    assert after["refresh"] != before["refresh"]
    assert after["access"] != before["access"]
    assert after["expiresAt"] > time.time() * 1000
