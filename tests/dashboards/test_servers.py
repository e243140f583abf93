"""The servers page: register with a connection test, edit, test, delete (admins), by role."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.dashboards.conftest import PageErrors, Service, login, screenshot


def test_an_operator_registers_a_server_after_a_connection_test_and_edits_it(
    page: Page, service: Service, exporter_address: str
) -> None:
    login(page, service.users["operator"])
    page.click("nav a:has-text('Servers')")
    page.click("#register-server")
    page.fill("#server-name", "web-from-form")
    page.fill("#server-address", exporter_address)
    page.fill("#server-labels", "env=form\nrole=web")
    page.click("#server-form-test")
    expect(page.locator("dialog .report")).to_contain_text("Reachable.")
    expect(page.locator("dialog .report")).to_contain_text("OpenManager exporter")
    screenshot(page, "servers-register")
    page.click("dialog button[type=submit]")
    row = page.locator("#servers-table tbody tr", has_text="web-from-form")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(exporter_address)
    # An operator may edit and test but not delete.
    expect(row.locator("[data-action=edit]")).to_be_visible()
    expect(row.locator("[data-action=delete]")).to_have_count(0)
    row.locator("[data-action=edit]").click()
    expect(page.locator("#server-address")).to_be_disabled()
    page.fill("#server-name", "web-renamed")
    page.click("dialog button[type=submit]")
    expect(page.locator("#servers-table tbody tr", has_text="web-renamed")).to_have_count(1)
    page.locator("#servers-table tbody tr", has_text="web-renamed").locator("[data-action=test]").click()
    expect(page.locator("#servers-table .report", has_text="Reachable.")).to_be_visible()
    screenshot(page, "servers")


def test_a_bad_address_is_explained_in_the_form(
    page: Page, service: Service, page_errors: PageErrors
) -> None:
    page_errors.allowed.append("status of 422")  # Chromium logs the refused request; the form explains it
    login(page, service.users["operator"])
    page.goto("/#/servers")
    page.click("#register-server")
    page.fill("#server-name", "no-port")
    page.fill("#server-address", "10.0.0.5")
    page.click("dialog button[type=submit]")
    expect(page.locator("dialog [role=alert]")).to_contain_text("a port is required")
    screenshot(page, "servers-bad-address")


def test_an_admin_deletes_a_server_after_confirming(
    page: Page, service: Service, exporter_address: str
) -> None:
    login(page, service.users["admin"])
    page.goto("/#/servers")
    page.click("#register-server")
    page.fill("#server-name", "to-delete")
    page.fill("#server-address", exporter_address)
    page.click("dialog button[type=submit]")
    row = page.locator("#servers-table tbody tr", has_text="to-delete")
    row.locator("[data-action=delete]").click()
    page.click("dialog button.danger")
    expect(row).to_have_count(0)
