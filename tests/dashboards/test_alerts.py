"""The alerts pages: alerts by role (acknowledge, resolve), silences, rules, live arrival, the overview's
recent alerts and the server page's alerts, in both themes and on a phone.

Alerts are seeded through the alert store (:func:`collector.alerts.alert_store.apply_changes`), as the engine
writes them; the live test makes the running engine fire a real alert by creating a rule that always holds.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import asyncpg
import pytest
from playwright.sync_api import Page, expect

from collector.alerts.alert_store import apply_changes
from collector.alerts.evaluator import Change
from collector.alerts.model import Alert, fingerprint
from tests.dashboards.conftest import OpenPage, Service, api_call, login, run_async, screenshot

LIVE_TIMEOUT_MS = 30_000
"""The engine reloads at once when a rule is created and evaluates at the next scrape (every second)."""


@pytest.fixture
def local_server(service: Service) -> str:
    """The id of the scraped local host (granted to the operator and the viewer)."""
    listing = api_call(service, "admin", "GET", "/api/servers")
    assert isinstance(listing, dict)
    return next(str(s["id"]) for s in listing["servers"] if s["address"] == service.exporter)


async def _store(dsn: str, alert: Alert) -> None:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    try:
        await apply_changes(pool, [Change("firing", alert)])
    finally:
        await pool.close()


def seed_alert(service: Service, server_id: str) -> str:
    """Store a firing critical alert of ``server_id`` with a title of its own; the title."""
    seed = uuid.uuid4().hex[:8]
    title = f"Seeded alert {seed}"
    # The seed label gives each a fingerprint of its own: every seeded alert is a separate alert.
    labels = {"alertname": "DashboardSeeded", "severity": "critical", "server_id": server_id, "seed": seed}
    now = time.time()
    alert = Alert(
        fingerprint=fingerprint(labels),
        rule_id="dashboard-seeded",
        server_id=uuid.UUID(server_id),
        severity="critical",
        state="firing",
        labels=labels,
        annotations={"title": title, "message": "cpu is 97% on local-host"},
        value=97.0,
        active_since=now - 120,
        fired_at=now - 60,
    )
    run_async(_store(service.pg_dsn, alert))
    return title


def test_an_operator_acknowledges_and_resolves_a_firing_alert(
    page: Page, service: Service, local_server: str
) -> None:
    title = seed_alert(service, local_server)
    login(page, service.users["operator"])
    expect(page.locator("#recent-alerts li", has_text=title)).to_be_visible()
    screenshot(page, "alerts-overview-recent")
    page.click("nav a:has-text('Alerts')")
    row = page.locator("#alerts-table tbody tr", has_text=title)
    expect(row).to_contain_text("Firing")
    expect(row).to_contain_text("Critical")
    expect(row).to_contain_text("cpu is 97% on local-host")
    expect(row.locator(f"a[href='#/server/{local_server}']")).to_have_text("local-host")
    expect(row.locator("time")).to_have_count(2)  # started and fired, in the browser's zone
    screenshot(page, "alerts")
    row.locator("[data-action=acknowledge]").click()
    expect(row).to_contain_text(service.users["operator"])
    expect(row.locator("[data-action=acknowledge]")).to_have_count(0)
    row.locator("[data-action=resolve]").click()
    page.click("dialog button.danger")
    expect(page.locator("[role=status]", has_text="Alert resolved.")).to_be_visible()
    expect(row).to_have_count(0)  # the view shows active alerts
    page.select_option("#alerts-state", "resolved")
    expect(row).to_contain_text("Resolved")
    expect(row.locator("[data-action=resolve]")).to_have_count(0)
    stored = api_call(service, "admin", "GET", f"/api/alerts?q={quote(title)}")
    assert isinstance(stored, dict)
    [item] = stored["items"]
    assert (item["state"], item["resolved_by"], item["acknowledged_by"]) == (
        "resolved",
        service.users["operator"],
        service.users["operator"],
    )


def test_a_viewer_reads_alerts_silences_and_rules_without_any_action(
    page: Page, service: Service, local_server: str
) -> None:
    title = seed_alert(service, local_server)
    api_call(
        service,
        "operator",
        "POST",
        "/api/alerts/silences",
        {
            "matchers": [{"name": "server_id", "op": "=", "value": local_server}],
            "ends_at": time.time() + 3600,
            "comment": "viewer test",
        },
    )
    login(page, service.users["viewer"])
    page.goto("/#/alerts")
    expect(page.locator("#alerts-table tbody tr", has_text=title)).to_be_visible()
    expect(page.locator("#alerts-table [data-action]")).to_have_count(0)
    expect(page.locator("#alerts-table th", has_text="Actions")).to_have_count(0)
    page.click(".tabs a:has-text('Silences')")
    expect(page.locator("#silences-table tbody tr", has_text="viewer test")).to_contain_text("Active")
    expect(page.locator("#new-silence")).to_have_count(0)
    expect(page.locator("#silences-table [data-action]")).to_have_count(0)
    page.click(".tabs a:has-text('Rules')")
    expect(page.locator("#rules-table tbody tr", has_text="HighCpu")).to_contain_text("cpu > 90")
    expect(page.locator("#rules-table [data-action]")).to_have_count(0)
    page.goto(f"/#/server/{local_server}")
    expect(page.locator("#server-alerts-table tbody tr", has_text=title)).to_be_visible()
    expect(page.locator("#server-alerts-table [data-action]")).to_have_count(0)
    screenshot(page, "alerts-server-page")


def test_an_operator_silences_an_alert_from_its_row_and_expires_the_silence(
    page: Page, service: Service, local_server: str
) -> None:
    title = seed_alert(service, local_server)
    comment = f"maintenance {uuid.uuid4().hex[:6]}"
    fleet_wide = f"fleet-wide {uuid.uuid4().hex[:6]}"
    api_call(
        service,
        "admin",
        "POST",
        "/api/alerts/silences",
        {
            "matchers": [{"name": "alertname", "op": "=", "value": "DashboardNever"}],
            "ends_at": time.time() + 3600,
            "comment": fleet_wide,
        },
    )
    login(page, service.users["operator"])
    page.goto("/#/alerts")
    page.locator("#alerts-table tbody tr", has_text=title).locator("[data-action=silence]").click()
    matchers = page.locator("#silence-matchers")
    expect(matchers).to_have_value(f'alertname="DashboardSeeded"\nserver_id="{local_server}"')
    page.fill("#silence-comment", comment)
    page.click("dialog button[type=submit]")
    expect(page.locator("[role=status]", has_text="Silence created.")).to_be_visible()
    page.click(".tabs a:has-text('Silences')")
    row = page.locator("#silences-table tbody tr", has_text=comment)
    expect(row).to_contain_text("Active")
    expect(row).to_contain_text(f'server_id="{local_server}"')
    expect(row).to_contain_text(service.users["operator"])
    # A matcher that is not one is explained in the form, before any request.
    page.click("#new-silence")
    page.fill("#silence-matchers", "just words")
    page.click("dialog button[type=submit]")
    expect(page.locator("dialog [role=alert]")).to_contain_text("Not a matcher")
    page.keyboard.press("Escape")
    screenshot(page, "alerts-silences")
    # A silence that may mute any server is an admin's to expire.
    expect(page.locator("#silences-table tbody tr", has_text=fleet_wide)).to_contain_text("Active")
    expect(
        page.locator("#silences-table tbody tr", has_text=fleet_wide).locator("[data-action]")
    ).to_have_count(0)
    row.locator("[data-action=expire]").click()
    page.click("dialog button.danger")
    expect(row).to_contain_text("Expired")
    expect(row.locator("[data-action=expire]")).to_have_count(0)


@pytest.fixture
def always_firing_rule(service: Service, local_server: str) -> Iterator[dict[str, str]]:
    """A rule name and alert title for a rule that holds on the local host; the rule is deleted at the end."""
    name = f"DashboardLive_{uuid.uuid4().hex[:8]}"
    made = {"name": name, "title": f"{name} fired on the local host", "id": ""}
    yield made
    if made["id"]:
        api_call(service, "admin", "DELETE", f"/api/alerts/rules/{made['id']}")


def test_an_alert_that_fires_while_the_page_is_open_appears_without_a_reload(
    page: Page, service: Service, local_server: str, always_firing_rule: dict[str, str]
) -> None:
    login(page, service.users["operator"])
    page.goto("/#/alerts")
    expect(page.locator("#stream-state")).to_have_attribute("data-state", "live")
    page.evaluate("window.__sameDocument = true")
    rule = api_call(
        service,
        "admin",
        "POST",
        "/api/alerts/rules",
        {
            "name": always_firing_rule["name"],
            "kind": "threshold",
            "metric": "cpu",
            "op": ">=",
            "threshold": 0,
            "severity": "critical",
            "matchers": [{"name": "server_id", "op": "=", "value": local_server}],
            "annotations": {
                "title": always_firing_rule["title"],
                "message": "cpu is {{ value | round(1) }}%",
            },
        },
    )
    assert isinstance(rule, dict)
    always_firing_rule["id"] = str(rule["id"])
    row = page.locator("#alerts-table tbody tr", has_text=always_firing_rule["title"])
    expect(row).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    expect(row).to_contain_text("Firing", timeout=LIVE_TIMEOUT_MS)
    assert page.evaluate("window.__sameDocument") is True


def test_an_admin_disables_and_enables_a_rule(page: Page, service: Service) -> None:
    login(page, service.users["admin"])
    page.goto("/#/alerts/rules")
    row = page.locator("#rules-table tbody tr", has_text="HighMemory")
    expect(row).to_have_attribute("data-enabled", "true")
    row.locator("[data-action=toggle]").click()
    expect(row).to_have_attribute("data-enabled", "false")
    expect(row).to_contain_text("Disabled")
    screenshot(page, "alerts-rules")
    row.locator("[data-action=toggle]").click()
    expect(row).to_have_attribute("data-enabled", "true")


def test_alerts_in_the_dark_theme_and_in_korean_on_a_phone(
    open_page: OpenPage, service: Service, local_server: str
) -> None:
    title = seed_alert(service, local_server)
    desktop = open_page(locale="en-US", viewport={"width": 1280, "height": 860})
    login(desktop, service.users["operator"])
    desktop.goto("/#/alerts")
    expect(desktop.locator("#alerts-table tbody tr", has_text=title)).to_be_visible()
    desktop.click("#theme")
    expect(desktop.locator("html")).to_have_attribute("data-theme", "dark")
    screenshot(desktop, "alerts-dark")
    phone = open_page(locale="ko-KR", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    login(phone, service.users["operator"])
    phone.goto("/#/alerts")
    row = phone.locator("#alerts-table tbody tr", has_text=title)
    expect(row).to_contain_text("발생 중")
    expect(row.locator("[data-action=acknowledge]")).to_have_text("확인")
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(phone, "alerts-phone")
    phone.click(".tabs a:has-text('사일런스')")
    expect(phone.locator("h1")).to_have_text("사일런스")
    screenshot(phone, "alerts-silences-phone")
