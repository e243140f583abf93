"""A server's page: current values, charts that hold history and grow live, range picker, zoom, processes."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Page, expect

from tests.dashboards.conftest import Service, login, screenshot


def _points(page: Page, chart: str) -> int:
    return int(page.get_attribute(f".chart[data-chart={chart}]", "data-points") or 0)


def wait_for_points(page: Page, chart: str, more_than: int, timeout_ms: float = 15_000) -> None:
    """Wait until the chart holds more than ``more_than`` points."""
    page.wait_for_function(
        "([chart, n]) => Number(document.querySelector(`.chart[data-chart=${chart}]`)?.dataset.points) > n",
        arg=[chart, more_than],
        timeout=timeout_ms,
    )


def open_local_host(page: Page, service: Service) -> None:
    login(page, service.users["admin"])
    page.click(".fleet-rows a:has-text('local-host')")
    expect(page.locator("h1")).to_have_text("local-host")


def test_charts_hold_data_points_and_grow_from_the_stream(page: Page, service: Service) -> None:
    open_local_host(page, service)
    expect(page.locator(".badge[data-status]")).to_have_attribute("data-status", re.compile("^(up|warning)$"))
    for chart in ("cpu", "memory", "disk", "network", "load"):
        expect(page.locator(f".chart[data-chart={chart}] canvas")).to_have_count(1)
    wait_for_points(page, "cpu", 0)
    before = _points(page, "cpu")
    # The exporter is scraped every second: new points arrive over the event stream, without a reload.
    wait_for_points(page, "cpu", before, timeout_ms=20_000)
    wait_for_points(page, "load", 1)
    expect(page.locator(".stat").first).to_contain_text("%")
    # Opened again, every chart starts from the stored history: load as well as the summary metrics.
    page.reload()
    wait_for_points(page, "cpu", 2)
    assert _points(page, "load") >= 2, "the load chart has no history"
    screenshot(page, "server")


def test_range_picker_zoom_and_hover_values(page: Page, service: Service) -> None:
    open_local_host(page, service)
    wait_for_points(page, "cpu", 2)
    page.click("button.range[data-range='15m']")
    expect(page.locator("button.range[data-range='15m']")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("button.range[data-range='1h']")).to_have_attribute("aria-pressed", "false")
    wait_for_points(page, "cpu", 2)
    plot = page.locator(".chart[data-chart=cpu] .u-over")
    box = plot.bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.9, y)
    # Hovering shows the value under the cursor in the legend.
    expect(
        page.locator(".chart[data-chart=cpu] .u-legend .u-series").nth(1).locator(".u-value")
    ).to_have_text(re.compile(r"\d+(\.\d)?%"))
    page.mouse.move(box["x"] + box["width"] * 0.5, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.95, y, steps=5)
    page.mouse.up()
    reset = page.get_by_role("button", name="Reset zoom")
    expect(reset).to_be_visible()
    reset.click()
    expect(reset).to_be_hidden()


def test_top_processes_are_listed(page: Page, service: Service) -> None:
    open_local_host(page, service)
    tables = page.locator(".processes table")
    expect(tables).to_have_count(2)
    expect(tables.first.locator("tbody tr").first).to_contain_text(re.compile(r"\d+"))
    expect(page.locator(".processes h2")).to_contain_text("processes")


def test_a_server_without_live_data_says_so(page: Page, service: Service) -> None:
    login(page, service.users["admin"])
    page.goto(f"/#/server/{uuid.uuid4()}")
    expect(page.locator("p.error")).to_have_text("This server has no live data, or you have no access to it.")
    expect(page.locator("#main a[href='#/']")).to_have_count(1)
    expect(page.locator("#main .charts")).to_have_count(0)
