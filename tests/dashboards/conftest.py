"""Fixtures of the dashboard's browser tests: the real service, a real exporter, Debian's Chromium.

One ``openmanager run`` process serves the whole session, on a database and a Redis database number of its
own (the session's shared Redis database stays untouched: these tests fill theirs with live state), and
scrapes one exporter every second. Each test gets a fresh browser context; any JavaScript console error or
uncaught page error fails the test. :func:`screenshot` saves pages under ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import shutil
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import asyncpg
import pytest
import redis as redis_sync
from playwright.sync_api import Browser, ConsoleMessage, Error, Page, Playwright, sync_playwright

from api.passwords import hash_password
from collector.secrets.columns import TOTP_SECRET
from collector.secrets.keyring import KEY_FILE_NAME, read_key_file
from collector.storage.users import Role
from tests.conftest import REDIS_SERVER_URL, create_database, drop_database
from tests.openmanager.running import start_exporter, start_service, wait_healthy
from tests.ports import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PASSWORD = "dashboard test password 1"
_REDIS_CLAIM_S = 3600
TIMEOUT_MS = 15_000
OpenPage = Callable[..., Page]
T = TypeVar("T")


@dataclass
class Service:
    """The running service: where it listens and the stores it uses."""

    url: str
    pg_dsn: str
    redis_url: str
    exporter: str
    proc: subprocess.Popen[str]
    data_dir: Path
    """The service's data directory (the first administrator's generated password is there)."""
    users: dict[Role, str] = field(default_factory=dict)
    """A username per role, each with :data:`PASSWORD`."""


def run_async(coroutine: Coroutine[object, object, T]) -> T:
    """Run ``coroutine`` to its end on a thread of its own: sync Playwright keeps an event loop running on
    the test's thread, where ``asyncio.run`` is refused."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _claim_redis_db() -> str:
    client = redis_sync.Redis.from_url(REDIS_SERVER_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis_sync.RedisError:
        pytest.skip(f"the dashboard tests need the Redis server at {REDIS_SERVER_URL}")
    # From the top down, skipping the benchmarks' fixed databases, so test runs (from 1 up) rarely wait.
    for db in (11, 10, 9, 8, 7, 6, 5, 4, 13):
        if client.set(f"openmanager:test-claim:{db}", os.getpid(), nx=True, ex=_REDIS_CLAIM_S):
            client.close()
            url = f"{REDIS_SERVER_URL}/{db}"
            redis_sync.Redis.from_url(url).flushdb()
            return url
    client.close()
    raise RuntimeError("every Redis database the dashboard tests may use is claimed by another test run")


def _release_redis_db(url: str) -> None:
    client = redis_sync.Redis.from_url(url)
    client.flushdb()
    client.close()
    db = url.rsplit("/", 1)[1]
    redis_sync.Redis.from_url(REDIS_SERVER_URL).delete(f"openmanager:test-claim:{db}")


async def _insert_user(service: Service, role: Role, totp_secret: str | None) -> str:
    name = f"{role}-{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(service.pg_dsn)
    try:
        user_id = await conn.fetchval(
            "INSERT INTO users (username, password_hash, role) VALUES ($1, $2, $3) RETURNING id",
            name,
            _password_hash(),
            role,
        )
        if totp_secret is not None:
            # Sealed with the service's own key, as the service would have stored it.
            keys = read_key_file(service.data_dir / KEY_FILE_NAME, create=False)
            sealed = keys.seal_text(totp_secret, TOTP_SECRET.where(user_id))
            await conn.execute("UPDATE users SET totp_secret_sealed = $2 WHERE id = $1", user_id, sealed)
    finally:
        await conn.close()
    return name


@functools.cache
def _password_hash() -> str:
    return hash_password(PASSWORD)


def add_user(service: Service, role: Role, *, totp_secret: str | None = None) -> str:
    """A new account of ``role`` with :data:`PASSWORD` (and TOTP when a secret is given); its username."""
    return run_async(_insert_user(service, role, totp_secret))


def api_call(service: Service, role: Role, method: str, path: str, body: object = None) -> object:
    """Call the API as the session's user of ``role`` (logged in for this call); the decoded answer."""
    tokens = _request(
        service, "POST", "/api/auth/login", {"username": service.users[role], "password": PASSWORD}
    )
    assert isinstance(tokens, dict)
    return _request(service, method, path, body, str(tokens["access_token"]))


def _request(service: Service, method: str, path: str, body: object, token: str | None = None) -> object:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{service.url}{path.lstrip('/')}", data, headers, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def _grant_local_host(service: Service) -> None:
    """Grant the operator and the viewer the local host, once the collector has recorded it."""
    deadline = time.monotonic() + 30
    while True:
        listing = api_call(service, "admin", "GET", "/api/servers")
        assert isinstance(listing, dict)
        local = [s["id"] for s in listing["servers"] if s["address"] == service.exporter]
        if local:
            break
        assert time.monotonic() < deadline, "the local host was never recorded"
        time.sleep(0.2)
    users = api_call(service, "admin", "GET", "/api/users")
    assert isinstance(users, dict)
    for user in users["users"]:
        if user["username"] in (service.users["operator"], service.users["viewer"]):
            api_call(service, "admin", "PUT", f"/api/users/{user['id']}/grants", {"server_ids": local})


@contextmanager
def running_service(pg_admin_dsn: str, tmp: Path, targets_yaml: str, exporter: str = "") -> Iterator[Service]:
    """``openmanager run`` on a database and a Redis database of its own, ``targets_yaml`` as its target
    file, with an admin, an operator and a viewer; stopped and its stores dropped at the end."""
    dsn = run_async(create_database(pg_admin_dsn))
    redis_url = _claim_redis_db()
    targets = tmp / "targets.yaml"
    targets.write_text(targets_yaml)
    port = free_port()
    proc = start_service(
        port,
        pg_dsn=dsn,
        redis_url=redis_url,
        data_dir=tmp / "data",
        targets=targets,
        env={"OM_LOG_LEVEL": "warning"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_healthy(proc, port, timeout_s=90)
        running = Service(f"http://127.0.0.1:{port}/", dsn, redis_url, exporter, proc, tmp / "data")
        running.users = {role: add_user(running, role) for role in ("admin", "operator", "viewer")}
        yield running
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        _release_redis_db(redis_url)
        run_async(drop_database(pg_admin_dsn, dsn))


@pytest.fixture(scope="package")
def service(pg_admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """``openmanager run`` scraping one exporter every second, with an admin, an operator and a viewer."""
    if not Path(CHROMIUM).is_file():
        pytest.skip("Chromium is not installed (./dev test installs Debian's chromium)")
    if not (ROOT / "dashboards" / "node_modules" / "uplot").is_dir():
        pytest.skip("the dashboard's npm packages are missing: run 'npm ci' in dashboards/ (./dev test does)")
    exporter, address = start_exporter()
    targets = (
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        f"scrape_configs:\n  - job_name: local\n    static_configs:\n      - targets: ['{address}']\n"
        "        labels: {name: local-host, env: test}\n"
    )
    try:
        with running_service(pg_admin_dsn, tmp_path_factory.mktemp("dashboard"), targets, address) as running:
            _grant_local_host(running)
            yield running
    finally:
        exporter.terminate()
        exporter.wait(timeout=10)


@pytest.fixture
def exporter_address() -> Iterator[str]:
    """Another exporter of ours on loopback, for a test to register; yields its address."""
    proc, address = start_exporter()
    yield address
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="package")
def playwright_session(service: Service) -> Iterator[Playwright]:
    """Started after the service: its event loop would refuse the stores' set-up (``asyncio.run``)."""
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="package")
def browser(playwright_session: Playwright) -> Iterator[Browser]:
    """Debian's Chromium, headless (never a browser downloaded by Playwright)."""
    launched = playwright_session.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"]
    )
    yield launched
    launched.close()


@dataclass
class PageErrors:
    """JavaScript console errors and uncaught exceptions seen by a page."""

    messages: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)
    """Substrings of console errors a test expects (a 401 the login form answers, say)."""

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not any(part in message.text for part in self.allowed):
            self.messages.append(f"console: {message.text} ({message.location.get('url', '')})")

    def on_page_error(self, error: Error) -> None:
        self.messages.append(f"page error: {error.message}")


@pytest.fixture
def page_errors() -> PageErrors:
    return PageErrors()


def open_service_page(
    browser: Browser, service: Service, errors: PageErrors, **context_options: object
) -> Page:
    """A page of ``service`` in a fresh browser context; ``errors`` collects its JavaScript errors."""
    context = browser.new_context(base_url=service.url, **context_options)  # type: ignore[arg-type]
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.on("console", errors.on_console)
    page.on("pageerror", errors.on_page_error)
    return page


@pytest.fixture
def page(browser: Browser, service: Service, page_errors: PageErrors) -> Iterator[Page]:
    """A page in a fresh context (English, desktop size); fails the test on any JavaScript error."""
    opened = open_service_page(
        browser, service, page_errors, locale="en-US", viewport={"width": 1280, "height": 860}
    )
    yield opened
    opened.context.close()
    assert not page_errors.messages, "\n".join(page_errors.messages)


@pytest.fixture
def open_page(browser: Browser, service: Service, page_errors: PageErrors) -> Iterator[OpenPage]:
    """Open more pages with other context options (a phone, Korean); each checked like ``page``."""
    pages: list[Page] = []

    def make(**context_options: object) -> Page:
        opened = open_service_page(browser, service, page_errors, **context_options)
        pages.append(opened)
        return opened

    yield make
    for opened in pages:
        opened.context.close()
    assert not page_errors.messages, "\n".join(page_errors.messages)


def login(page: Page, username: str, password: str = PASSWORD) -> None:
    """Log in through the form and wait for the overview."""
    page.goto("/")
    page.fill("#login-username", username)
    page.fill("#login-password", password)
    page.click("button[type=submit]")
    page.wait_for_selector(".count-cards")


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as ``test-artifacts/screenshots/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
