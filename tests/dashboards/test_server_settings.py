"""The monitoring settings form on a server's page: thresholds of a target-file server, scrape settings of a
registered one (with a refused timeout explained), read-only for viewers, in Korean too."""

from __future__ import annotations

import time
from typing import Any

from playwright.sync_api import Page, expect

from collector.storage.users import Role
from tests.dashboards.conftest import OpenPage, PageErrors, Service, api_call, login, screenshot


def _server(service: Service, role: Role, address: str) -> dict[str, Any]:
    listing = api_call(service, role, "GET", "/api/servers")
    assert isinstance(listing, dict)
    (server,) = [s for s in listing["servers"] if s["address"] == address]
    detail = api_call(service, role, "GET", f"/api/servers/{server['id']}")
    assert isinstance(detail, dict)
    return detail


def _local_host(service: Service, role: Role) -> dict[str, Any]:
    return _server(service, role, service.exporter)


def test_an_operator_overrides_a_threshold_of_a_target_file_server(page: Page, service: Service) -> None:
    login(page, service.users["operator"])
    page.click(".fleet-rows a:has-text('local-host')")
    section = page.locator("#server-settings")
    expect(section.locator("h2")).to_have_text("Monitoring settings")
    # Its scrape settings belong to the target file; its thresholds may still be set here.
    expect(section).to_contain_text("comes from the target file")
    expect(page.locator("#settings-interval")).to_be_disabled()
    cpu = section.locator("input.threshold[data-rule=HighCpu]")
    expect(cpu).to_have_attribute("placeholder", "90")
    cpu.fill("55")
    page.click("#settings-save")
    expect(section.locator("[role=status]")).to_contain_text("Saved.")
    expect(section.locator("tr[data-rule=HighCpu]")).to_contain_text("overridden")
    (high,) = [t for t in _local_host(service, "operator")["thresholds"] if t["rule"] == "HighCpu"]
    assert (high["threshold"], high["clear_threshold"], high["overridden"]) == (55.0, 45.0, True)
    screenshot(page, "server-settings")
    section.locator("input.threshold[data-rule=HighCpu]").fill("")
    page.click("#settings-save")
    expect(section.locator("tr[data-rule=HighCpu]")).to_contain_text("rule default")
    (back,) = [t for t in _local_host(service, "operator")["thresholds"] if t["rule"] == "HighCpu"]
    assert (back["threshold"], back["overridden"]) == (90.0, False)


def test_scrape_settings_of_a_registered_server_are_checked_and_saved(
    page: Page, service: Service, exporter_address: str, page_errors: PageErrors
) -> None:
    page_errors.allowed.append("status of 422")  # Chromium logs the refused request; the form explains it
    # A new server has no processes until its first scrapes are stored, nor any once the test deletes it: the
    # page answers the 404 with "no processes", Chromium still logs it.
    page_errors.allowed.append("status of 404")
    created = api_call(
        service, "operator", "POST", "/api/servers", {"name": "settings-web", "address": exporter_address}
    )
    assert isinstance(created, dict)
    # The page needs live data: the collector picks the new server up within its 5 s re-read.
    deadline = time.monotonic() + 30
    while _server(service, "operator", exporter_address)["live"] is None:
        assert time.monotonic() < deadline, "the registered server was never scraped"
        time.sleep(0.5)
    login(page, service.users["operator"])
    page.goto(f"/#/server/{created['id']}")
    expect(page.locator("h1")).to_have_text("settings-web")
    page.fill("#settings-interval", "10s")
    page.fill("#settings-timeout", "20s")
    page.click("#settings-save")
    expect(page.locator("#server-settings [role=alert]")).to_contain_text("scrape_timeout")
    page.fill("#settings-timeout", "5s")
    page.fill("#settings-collectors", "cpu, memory")
    page.fill("#settings-tags", "db, eu-west")
    page.fill("#settings-labels", "env=prod\ngroup=web")
    page.click("#settings-save")
    expect(page.locator("#server-settings [role=status]")).to_contain_text("Saved.")
    stored = _server(service, "operator", exporter_address)
    assert (stored["scrape_interval"], stored["scrape_timeout"]) == ("10s", "5s")
    assert (stored["collectors"], stored["tags"]) == (["cpu", "memory"], ["db", "eu-west"])
    assert stored["labels"] == {"env": "prod", "group": "web"}
    expect(page.locator("#settings-collectors")).to_have_value("cpu, memory")
    api_call(service, "admin", "DELETE", f"/api/servers/{created['id']}")


def test_a_viewer_sees_the_settings_read_only_in_korean(open_page: OpenPage, service: Service) -> None:
    page = open_page(locale="ko-KR", viewport={"width": 1280, "height": 860})
    login(page, service.users["viewer"])
    page.click(".fleet-rows a:has-text('local-host')")
    section = page.locator("#server-settings")
    expect(section.locator("h2")).to_have_text("모니터링 설정")
    expect(page.locator("#settings-tags")).to_be_disabled()
    expect(section.locator("input.threshold[data-rule=HighCpu]")).to_be_disabled()
    expect(page.locator("#settings-save")).to_have_count(0)
