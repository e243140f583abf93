"""What a viewer sees: every page it may read, and no action it may not take."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.dashboards.conftest import Service, login, screenshot


def test_a_viewer_finds_no_admin_or_operator_actions(page: Page, service: Service) -> None:
    login(page, service.users["viewer"])
    nav = page.locator("header nav")
    for name in ("Overview", "Servers", "System"):
        expect(nav.get_by_role("link", name=name)).to_be_visible()
    expect(nav.get_by_role("link", name="Users")).to_have_count(0)
    page.goto("/#/servers")
    expect(page.locator("#servers-table")).to_be_visible()
    expect(page.locator("#register-server")).to_have_count(0)
    expect(page.locator("[data-action]")).to_have_count(0)
    expect(page.locator("#servers-table th", has_text="Actions")).to_have_count(0)
    screenshot(page, "servers-viewer")
    page.goto("/#/system")
    expect(page.locator("#log-table")).to_be_visible()
    expect(page.locator("#redis-stats")).to_have_count(0)
    expect(page.get_by_text("Store statistics are shown to operators and administrators.")).to_be_visible()
    # The users page is for administrators: going there by address lands on the overview.
    page.goto("/#/users")
    expect(page.locator(".count-cards")).to_be_visible()
    expect(page.locator("#add-user")).to_have_count(0)


def test_an_admin_sees_the_users_page_and_delete_actions(page: Page, service: Service) -> None:
    login(page, service.users["admin"])
    expect(page.locator("header nav").get_by_role("link", name="Users")).to_be_visible()
    page.goto("/#/servers")
    expect(page.locator("#register-server")).to_be_visible()
    expect(page.locator("[data-action=delete]").first).to_be_visible()
