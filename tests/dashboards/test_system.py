"""The system page: collector and store health, Redis and PostgreSQL statistics, the filtered event log."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.dashboards.conftest import Service, api_call, login, screenshot


def test_health_store_statistics_and_the_log_with_filters(page: Page, service: Service) -> None:
    for level, message in (("info", "deploy started"), ("error", "deploy failed")):
        body = {"level": level, "source": "dashboard-test", "message": message}
        api_call(service, "operator", "POST", "/api/monitoring/logs", body)
    login(page, service.users["operator"])
    page.click("nav a:has-text('System')")
    for card in ("#health-postgres", "#health-redis", "#health-collector"):
        expect(page.locator(card).locator(".ok").first).to_have_text("OK")
    expect(page.locator("#redis-stats")).to_contain_text("Hit rate")
    expect(page.locator("#postgres-stats")).to_contain_text("Connections")
    expect(page.locator("#fleet-stats")).to_contain_text("Servers")
    rows = page.locator("#log-table tbody tr")
    page.fill("#log-source", "dashboard-test")
    page.dispatch_event("#log-source", "change")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("deploy failed")
    expect(rows.first.locator(".posted-by")).to_have_text(f"posted by {service.users['operator']}")
    page.select_option("#log-level", "error")
    expect(rows).to_have_count(1)
    expect(rows.first.locator("td.level-error")).to_have_text("error")
    page.fill("#log-source", "nosuchsource")
    page.dispatch_event("#log-source", "change")
    expect(rows).to_have_count(0)
    page.select_option("#log-level", "")
    page.fill("#log-source", "")
    page.dispatch_event("#log-source", "change")
    expect(rows.first).to_be_visible()
    screenshot(page, "system")
