"""The server page's Actions panel (``dashboards/js/actions.js``) against a service of its own: ``openmanager
run`` with remote actions set up, and a real exporter whose actions listener runs a fake ``systemctl`` that
writes a marker. An operator with TOTP restarts a unit through the confirm dialog and its TOTP prompt and
sees the result and the history; a wrong code is refused in the panel and runs nothing; a viewer sees the
actions and the history but no Run button; the panel speaks Korean.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from api.auth.totp import STEP_S, code_at, new_secret
from collector.actions.signing import create_key_file, public_key_text
from tests.conftest import create_database, drop_database
from tests.dashboards.conftest import (
    PASSWORD,
    PageErrors,
    Service,
    _claim_redis_db,
    _release_redis_db,
    add_user,
    api_call,
    login,
    open_service_page,
    run_async,
    screenshot,
)
from tests.openmanager.running import start_service, wait_healthy
from tests.ports import free_port, wait_port

pytestmark = pytest.mark.slow

FAKE_SYSTEMCTL = """#!/bin/sh
printf '%s\\n' "$*" >> "{marker}"
echo "fake systemctl: $*"
"""
REFUSED = "403 (Forbidden)"
"""The browser's console line for the refused wrong code."""


@dataclass
class ActionsWorld:
    """The service, the server with actions, the operator's TOTP secret and the marker."""

    service: Service
    server_id: str
    operator_secret: str
    marker: Path


def wait_live(service: Service, server_id: str) -> None:
    """Wait until the collector has scraped the registered server (the server page needs its live state)."""
    deadline = time.monotonic() + 30
    while True:
        listing = api_call(service, "admin", "GET", f"/api/monitoring/servers?name={server_id}")
        assert isinstance(listing, dict)
        if any(s["server_id"] == server_id for s in listing["servers"]):
            return
        assert time.monotonic() < deadline, "the registered server was never scraped"
        time.sleep(0.3)


@pytest.fixture(scope="module")
def world(
    browser: Browser, pg_admin_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ActionsWorld]:
    """``openmanager run`` with actions over plain HTTP on loopback, a registered server and its exporter."""
    root = tmp_path_factory.mktemp("actions-dashboard")
    key_file = root / "signing.pem"
    key = create_key_file(key_file)
    actions_port, metrics_port, port = free_port(), free_port(), free_port()
    settings_file = root / "openmanager.yml"
    settings_file.write_text(
        json.dumps({"actions": {"port": actions_port, "scheme": "http", "signing_key_file": str(key_file)}})
    )
    targets = root / "targets.yaml"
    targets.write_text("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs: []\n")
    dsn = run_async(create_database(pg_admin_dsn))
    redis_url = _claim_redis_db()
    proc = start_service(
        port,
        pg_dsn=dsn,
        redis_url=redis_url,
        data_dir=root / "data",
        targets=targets,
        env={"OM_CONFIG": str(settings_file), "OM_LOG_LEVEL": "warning"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    exporter: subprocess.Popen[bytes] | None = None
    try:
        wait_healthy(proc, port, timeout_s=90)
        address = f"127.0.0.1:{metrics_port}"
        service = Service(f"http://127.0.0.1:{port}/", dsn, redis_url, address, proc, root / "data")
        secret = new_secret()
        service.users = {"admin": add_user(service, "admin"), "viewer": add_user(service, "viewer")}
        service.users["operator"] = add_user(service, "operator", totp_secret=secret)
        created = api_call(
            service,
            "admin",
            "POST",
            "/api/servers",
            {"name": "actions-host", "address": address, "job": "actions"},
        )
        assert isinstance(created, dict)
        server_id = str(created["id"])
        users = api_call(service, "admin", "GET", "/api/users")
        assert isinstance(users, dict)
        for user in users["users"]:
            if user["role"] != "admin":
                api_call(
                    service, "admin", "PUT", f"/api/users/{user['id']}/grants", {"server_ids": [server_id]}
                )
        bin_dir = root / "bin"
        bin_dir.mkdir()
        marker = root / "marker"
        (bin_dir / "systemctl").write_text(FAKE_SYSTEMCTL.replace("{marker}", str(marker)))
        (bin_dir / "systemctl").chmod(0o755)
        actions_file = root / "actions.yaml"
        actions_file.write_text(
            json.dumps(
                {
                    "server_id": server_id,
                    "public_keys": [public_key_text(key.public_key())],
                    "listener": {"address": f"127.0.0.1:{actions_port}", "plain_http": True},
                    "log_file": str(root / "attempts.jsonl"),
                    "actions": {
                        "restart": {
                            "kind": "systemd",
                            "verb": "restart",
                            "units": ["app.service", "worker.service"],
                            "description": "Restart a service",
                        },
                        "status": {"kind": "systemd", "verb": "status", "units": ["app.service"]},
                    },
                }
            )
        )
        actions_file.chmod(0o644)
        exporter = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "openmanager-exporter"),
                "--listen",
                address,
                "--actions-file",
                str(actions_file),
            ],
            env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(actions_port)
        wait_live(service, server_id)
        yield ActionsWorld(service, server_id, secret, marker)
    finally:
        if exporter is not None:
            exporter.terminate()
            exporter.wait(timeout=10)
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        _release_redis_db(redis_url)
        run_async(drop_database(pg_admin_dsn, dsn))


@pytest.fixture
def pages(browser: Browser, world: ActionsWorld, page_errors: PageErrors) -> Iterator[list[Page]]:
    """Pages on this module's service; any JavaScript error fails the test."""
    opened: list[Page] = []
    yield opened
    for page in opened:
        page.context.close()
    assert not page_errors.messages, "\n".join(page_errors.messages)


def new_page(
    browser: Browser, world: ActionsWorld, pages: list[Page], errors: PageErrors, locale: str
) -> Page:
    page = open_service_page(
        browser, world.service, errors, locale=locale, viewport={"width": 1280, "height": 900}
    )
    pages.append(page)
    return page


def log_in(page: Page, username: str, secret: str | None = None) -> int | None:
    """Log in through the form (with a TOTP code when ``secret``); the time step the code spent."""
    page.goto("/")
    page.fill("#login-username", username)
    page.fill("#login-password", PASSWORD)
    page.click("button[type=submit]")
    step = None
    if secret is not None:
        expect(page.locator("#login-totp")).to_be_visible()
        step = int(time.time() // STEP_S)
        page.fill("#login-totp", code_at(secret, step))
        page.click("button[type=submit]")
    page.wait_for_selector(".count-cards")
    return step


def open_server(page: Page, world: ActionsWorld) -> None:
    page.goto(f"/#/server/{world.server_id}")
    expect(page.locator("#server-actions-title")).to_be_visible()
    expect(page.locator("#server-actions-table tr[data-action=restart]")).to_be_visible()


def test_an_operator_restarts_a_unit_with_a_totp_code_and_sees_the_result(
    browser: Browser, world: ActionsWorld, pages: list[Page], page_errors: PageErrors
) -> None:
    page_errors.allowed.extend(["401 (Unauthorized)", REFUSED])
    page = new_page(browser, world, pages, page_errors, "en-US")
    login_step = log_in(page, world.service.users["operator"], world.operator_secret)
    assert login_step is not None
    open_server(page, world)
    expect(page.locator("#server-actions-table tr[data-action=restart]")).to_contain_text("destructive")

    page.click("button[data-run=restart]")
    expect(page.locator("dialog #action-totp")).to_be_visible()
    expect(page.locator("dialog select#action-param-unit option")).to_have_count(2)
    page.select_option("dialog select#action-param-unit", "worker.service")
    page.fill("dialog #action-totp", "000000")
    page.click("dialog #action-confirm")
    expect(page.locator(".action-result [role=alert]")).to_have_attribute("data-code", "invalid_totp")
    expect(page.locator(".action-result [role=alert]")).to_contain_text("wrong or was already used")
    assert not world.marker.exists(), "a refused request ran something"

    page.click("button[data-run=restart]")
    page.select_option("dialog select#action-param-unit", "worker.service")
    # The login spent its step's code; the next step's is accepted (one step either side) and still fresh.
    page.fill("dialog #action-totp", code_at(world.operator_secret, login_step + 1))
    page.click("dialog #action-confirm")
    expect(page.locator(".action-result [data-outcome]")).to_have_attribute("data-outcome", "succeeded")
    expect(page.locator(".action-result pre[data-stream=stdout]")).to_have_text(
        "fake systemctl: restart worker.service\n"
    )
    expect(page.locator(".action-facts")).to_contain_text("0")
    assert world.marker.read_text().splitlines() == ["restart worker.service"]

    rows = page.locator("#server-action-history tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("succeeded")
    expect(rows.nth(0)).to_contain_text("unit=worker.service")
    expect(rows.nth(1)).to_contain_text("invalid_totp")
    screenshot(page, "server-actions")


def test_a_viewer_sees_the_actions_and_history_but_cannot_run(
    browser: Browser, world: ActionsWorld, pages: list[Page], page_errors: PageErrors
) -> None:
    page = new_page(browser, world, pages, page_errors, "en-US")
    log_in(page, world.service.users["viewer"])
    open_server(page, world)
    expect(page.locator("#server-actions-table button[data-run]")).to_have_count(0)
    expect(page.locator("#server-actions-title")).to_have_text("Actions")


def test_the_panel_speaks_korean(
    browser: Browser, world: ActionsWorld, pages: list[Page], page_errors: PageErrors
) -> None:
    page = new_page(browser, world, pages, page_errors, "ko-KR")
    log_in(page, world.service.users["admin"])
    open_server(page, world)
    expect(page.locator("#server-actions-title")).to_have_text("작업")
    page.click("button[data-run=status]")
    expect(page.locator("dialog h2")).to_have_text("status을(를) 실행할까요?")
    expect(page.locator("dialog #action-totp")).to_have_count(0)
    page.click("dialog #action-confirm")
    expect(page.locator(".action-result [data-outcome]")).to_have_text("성공")


def test_a_host_without_actions_shows_why_and_no_error(page: Page, service: Service) -> None:
    """On the shared service (no signing key) the panel says actions are not set up; the page logs nothing."""
    login(page, service.users["admin"])
    page.click(".fleet-rows a:has-text('local-host')")
    status = page.locator(".server-actions [data-reason]")
    expect(status).to_have_attribute("data-reason", "actions_not_configured")
    expect(status).to_contain_text("not set up")
    expect(page.locator("#server-actions-table")).to_have_count(0)
