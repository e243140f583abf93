"""The fleet overview: hosts appear and change status live, counts, search, status and label filters, sort."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.dashboards.conftest import Service, api_call, login, screenshot
from tests.openmanager.running import start_exporter

SCRAPED = re.compile(r"^(up|warning)$")
"""Up, or warning when this busy test machine's CPU crosses the threshold: either way scraped and alive."""
LIVE_TIMEOUT_MS = 30_000
"""A registered server is read by the collector within 5 s and scraped every second: ample margin."""


def register(service: Service, name: str, address: str) -> str:
    """Register a server through the API as the admin; its id."""
    body = {"name": name, "address": address, "job": "dashboard-test", "labels": {"env": "staging"}}
    created = api_call(service, "admin", "POST", "/api/servers", body)
    assert isinstance(created, dict)
    return str(created["id"])


@pytest.fixture
def second_host(service: Service) -> Iterator[tuple[object, str]]:
    """A second exporter, registered as ``second-host``; stopped by the test or at the end."""
    proc, address = start_exporter()
    register(service, "second-host", address)
    yield proc, address
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_local_host_appears_with_live_numbers(page: Page, service: Service) -> None:
    login(page, service.users["admin"])
    row = page.locator(".fleet-rows .fleet-row:not([hidden])", has_text="local-host")
    expect(row).to_have_attribute("data-status", SCRAPED)
    expect(row.locator(".cell-cpu")).to_have_text(re.compile(r"^\d+(\.\d)?%$"))
    expect(row.locator(".cell-memory")).to_have_text(re.compile(r"%$"))
    expect(page.locator(".count-card.status-up, .count-card.status-warning").first).to_be_visible()
    expect(page.locator("#stream-state")).to_have_attribute("data-state", "live")
    screenshot(page, "overview")


def test_a_registered_host_appears_live_and_goes_down_when_its_exporter_stops(
    page: Page, service: Service, second_host: tuple[object, str]
) -> None:
    login(page, service.users["admin"])
    # The live layer names a server by its ``name`` label, else its address (registered names stay in PG).
    row = page.locator(".fleet-rows .fleet-row:not([hidden])", has_text=second_host[1])
    expect(row).to_have_attribute("data-status", SCRAPED, timeout=LIVE_TIMEOUT_MS)
    marker = page.evaluate("window.__sameDocument = true")
    assert marker is True
    proc = second_host[0]
    proc.terminate()  # type: ignore[attr-defined]
    proc.wait(timeout=10)  # type: ignore[attr-defined]
    expect(row).to_have_attribute("data-status", "down", timeout=LIVE_TIMEOUT_MS)
    expect(page.locator(".count-card.status-down .count-value")).to_have_text("1")
    # The change came over the stream: the page was never reloaded.
    assert page.evaluate("window.__sameDocument") is True
    screenshot(page, "overview-down")


def test_search_status_and_label_filters_and_sorting(page: Page, service: Service) -> None:
    login(page, service.users["admin"])
    rows = page.locator(".fleet-rows .fleet-row:not([hidden])")
    expect(rows.filter(has_text="local-host")).to_have_count(1)
    # Read while shown: a filtered-out row may leave the DOM (the list only renders what it shows).
    status = rows.filter(has_text="local-host").get_attribute("data-status")
    page.fill("#fleet-search", "LOCAL")
    expect(rows).to_have_count(1)
    page.fill("#fleet-search", "no-such-host")
    expect(rows).to_have_count(0)
    expect(page.locator(".empty")).to_have_text("No server matches these filters.")
    page.fill("#fleet-search", "")
    page.fill("#fleet-label", "env=test")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("local-host")
    page.fill("#fleet-label", "env=nowhere")
    expect(rows).to_have_count(0)
    page.fill("#fleet-label", "")
    page.select_option("#fleet-status", "down")
    expect(rows.filter(has_text="local-host")).to_have_count(0)
    page.select_option("#fleet-status", "")
    page.click(f".count-card.status-{status}")
    expect(page.locator("#fleet-status")).to_have_value(str(status))
    expect(page.locator(f".count-card.status-{status}")).to_have_attribute("aria-pressed", "true")
    page.click(f".count-card.status-{status}")
    expect(page.locator("#fleet-status")).to_have_value("")
    page.click(".fleet-head [data-sort=cpu] button")
    expect(page.locator(".fleet-head [data-sort=cpu]")).to_have_attribute("aria-sort", "descending")
    page.click(".fleet-head [data-sort=cpu] button")
    expect(page.locator(".fleet-head [data-sort=cpu]")).to_have_attribute("aria-sort", "ascending")
