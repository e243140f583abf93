"""The users page (administrators): create an account, change its role, grant servers; API tokens."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Page, expect

from tests.dashboards.conftest import Service, api_call, login, screenshot


def test_an_admin_creates_a_user_changes_its_role_and_grants_a_server(page: Page, service: Service) -> None:
    name = f"new-{uuid.uuid4().hex[:6]}"
    login(page, service.users["admin"])
    page.click("nav a:has-text('Users')")
    page.click("#add-user")
    page.fill("#new-user-name", name)
    page.fill("#new-user-password", "a long enough password 7")
    page.select_option("#new-user-role", "viewer")
    page.click("dialog button[type=submit]")
    row = page.locator(f"#users-table tr[data-user='{name}']")
    expect(row).to_be_visible()
    row.locator("select").select_option("operator")
    expect(page.get_by_text("Saved.")).to_be_visible()
    users = api_call(service, "admin", "GET", "/api/users")
    assert isinstance(users, dict)
    account = next(u for u in users["users"] if u["username"] == name)
    assert account["role"] == "operator"

    page.locator(f"#users-table tr[data-user='{name}']").get_by_role("button", name="Servers").click()
    page.locator("dialog .grant-list input").first.check()
    page.click("dialog button[type=submit]")
    expect(page.locator("dialog")).to_have_count(0)
    detail = api_call(service, "admin", "GET", f"/api/users/{account['id']}")
    assert isinstance(detail, dict)
    assert len(detail["grants"]) == 1
    screenshot(page, "users")


def test_an_api_token_is_shown_once_and_can_be_revoked(page: Page, service: Service) -> None:
    login(page, service.users["admin"])
    page.goto("/#/users")
    page.click("#add-token")
    page.fill("#new-token-name", "grafana")
    page.select_option("#new-token-role", "viewer")
    page.click("dialog button[type=submit]")
    expect(page.locator("#new-token-value")).to_have_text(re.compile(r"^om_\S+$"))
    screenshot(page, "users-token")
    page.keyboard.press("Escape")
    row = page.locator("#tokens-table tbody tr", has_text="grafana")
    expect(row).to_have_count(1)
    row.get_by_role("button", name="Revoke").click()
    page.click("dialog button.danger")
    expect(row).to_have_count(0)
