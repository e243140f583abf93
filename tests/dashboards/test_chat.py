"""The chat page (``#/chat``): questions answered with tables and charts from a fleet of known values,
suggestions, the keyboard, Korean and English, and the conversation kept per user across reloads.

The fleet is :mod:`tests.api.ask.fleet`, written into a service of this module's own (no scrape targets), its
last scrape at the real clock's now, so the answers are the fleet's and nothing else's. Expected rows are
computed from the fleet's definition.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import asyncpg
import pytest
from playwright.sync_api import Browser, Locator, Page, expect
from redis import asyncio as aioredis

from api.ask.format import status_name
from tests.api.ask.fleet import BY_NAME, HOSTS, seed_stores, status_of
from tests.dashboards.conftest import (
    PageErrors,
    Service,
    add_user,
    api_call,
    login,
    open_service_page,
    run_async,
    running_service,
    screenshot,
)

TOP_QUESTION = "CPU 제일 높은 서버 5개"
DOWN_QUESTION = "is web-1 down?"
UP = [host for host in HOSTS if host.down_after is None]


async def _seed(service: Service) -> None:
    pool = await asyncpg.create_pool(service.pg_dsn, min_size=1, max_size=2)
    redis = aioredis.Redis.from_url(service.redis_url)
    try:
        await seed_stores(pool, redis, time.time())
    finally:
        await redis.aclose()
        await pool.close()


@pytest.fixture(scope="module")
def fleet_service(
    browser: Browser, pg_admin_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """A service whose whole fleet is the fixture fleet (PromQL looks back 5 minutes: ample for a module)."""
    with running_service(pg_admin_dsn, tmp_path_factory.mktemp("chat"), "scrape_configs: []\n") as running:
        run_async(_seed(running))
        yield running


@pytest.fixture
def admin(fleet_service: Service) -> str:
    """An administrator of this test alone (each user may hold only a few event streams at once)."""
    return add_user(fleet_service, "admin")


@pytest.fixture
def chat_page(
    browser: Browser, fleet_service: Service, admin: str, page_errors: PageErrors
) -> Iterator[Page]:
    """An English page of the fleet's service, logged in as ``admin`` and on the chat page."""
    page = open_service_page(
        browser, fleet_service, page_errors, locale="en-US", viewport={"width": 1280, "height": 860}
    )
    login(page, admin)
    page.get_by_role("link", name="Chat").click()
    expect(page.locator("#chat-input")).to_be_focused()
    yield page
    page.context.close()
    assert not page_errors.messages, "\n".join(page_errors.messages)


def ask(page: Page, question: str) -> Locator:
    """Type ``question``, send it with Enter and wait for its answer; the exchange."""
    before = page.locator(".chat-exchange").count()
    page.locator("#chat-input").fill(question)
    page.keyboard.press("Enter")
    exchange = page.locator(".chat-exchange").nth(before)
    expect(exchange.locator(".chat-question")).to_contain_text(question)
    expect(exchange.locator(".chat-answer")).to_be_visible()
    return exchange


def log_out(page: Page) -> None:
    """Log out and wait for the login form (a reload before the logout ends would keep the session)."""
    page.click("#logout")
    expect(page.locator("#login-username")).to_be_visible()


def column(exchange: Locator, index: int) -> list[str]:
    """The texts of one column of the exchange's first table."""
    rows = exchange.locator("table.chat-table tbody tr")
    return [rows.nth(i).locator("td").nth(index).inner_text() for i in range(rows.count())]


def test_the_top_five_by_cpu_in_korean(
    browser: Browser, fleet_service: Service, admin: str, page_errors: PageErrors
) -> None:
    page = open_service_page(
        browser, fleet_service, page_errors, locale="ko-KR", viewport={"width": 1280, "height": 860}
    )
    login(page, admin)
    page.get_by_role("link", name="대화").click()
    expect(page.locator("h1")).to_have_text("서버에 물어보기")
    exchange = ask(page, TOP_QUESTION)
    expected = sorted(UP, key=lambda host: -host.cpu)[:5]
    expect(exchange.locator("table.chat-table tbody tr")).to_have_count(5)
    expect(exchange.locator("table.chat-table th").nth(1)).to_have_text("서버")
    assert column(exchange, 1) == [host.name for host in expected]
    assert column(exchange, 2) == [f"{host.cpu:g}" for host in expected]
    expect(exchange.locator(".chat-text")).to_contain_text(expected[0].name)
    expect(exchange.locator(".chat-answer")).to_have_attribute("lang", "ko")
    screenshot(page, "chat-ko")
    page.select_option("#language", "en")
    expect(page.locator("h1")).to_have_text("Ask about your servers")
    expect(page.locator("#chat-send")).to_have_text("Ask")
    assert column(page.locator(".chat-exchange").first, 1) == [host.name for host in expected]
    page.context.close()
    assert not page_errors.messages, "\n".join(page_errors.messages)


def test_is_web_1_down_answers_no_with_its_status_row(chat_page: Page) -> None:
    web1 = BY_NAME["web-1"]
    exchange = ask(chat_page, DOWN_QUESTION)
    expect(exchange.locator(".chat-text")).to_contain_text(
        f"No: web-1 is {status_name(status_of(web1), 'en')}"
    )
    expect(exchange.locator("table.chat-table tbody tr")).to_have_count(1)
    assert column(exchange, 0) == ["web-1"]
    assert column(exchange, 1) == [status_name(status_of(web1), "en")]
    assert column(exchange, 2) == [f"{web1.cpu:g}"]
    # A follow-up that names no server is about the previous answer's (sent back as the context).
    follow_up = ask(chat_page, "and its processes?")
    by_cpu = sorted(web1.processes, key=lambda process: -process[2])
    assert column(follow_up, 1) == [name for _, name, _, _ in by_cpu]
    down = ask(chat_page, "is web-3 down?")
    expect(down.locator(".chat-text")).to_contain_text("Yes: web-3 is down")
    assert column(down, 1) == [status_name(status_of(BY_NAME["web-3"]), "en")]
    expect(chat_page.locator("#chat-log")).to_have_attribute("role", "log")
    screenshot(chat_page, "chat-en")


def test_a_suggestion_is_asked_when_clicked_and_a_chart_is_drawn(chat_page: Page) -> None:
    chat_page.locator("#chat-suggestions button", has_text="top 5 servers by CPU").click()
    exchange = chat_page.locator(".chat-exchange").last
    expect(exchange.locator("table.chat-table tbody tr")).to_have_count(5)
    top = max(UP, key=lambda host: host.cpu).name
    assert column(exchange, 1)[0] == top
    follow_up = chat_page.locator("#chat-suggestions button", has_text=f"of {top} over the last hour")
    follow_up.click()
    chart = chat_page.locator(".chat-exchange").last.locator(".chat-chart")
    expect(chart.locator("canvas")).to_have_count(1)
    assert int(chart.get_attribute("data-points") or "0") > 0
    screenshot(chat_page, "chat-chart")


def test_a_viewer_is_answered_about_its_granted_servers_only(
    browser: Browser, fleet_service: Service, page_errors: PageErrors
) -> None:
    viewer = add_user(fleet_service, "viewer")
    users = api_call(fleet_service, "admin", "GET", "/api/users")
    assert isinstance(users, dict)
    (user_id,) = [user["id"] for user in users["users"] if user["username"] == viewer]
    granted = [BY_NAME["db-1"], BY_NAME["web-1"]]
    body = {"server_ids": [str(host.target.server_id) for host in granted]}
    api_call(fleet_service, "admin", "PUT", f"/api/users/{user_id}/grants", body)
    page = open_service_page(
        browser, fleet_service, page_errors, locale="en-US", viewport={"width": 1280, "height": 860}
    )
    login(page, viewer)
    page.get_by_role("link", name="Chat").click()
    exchange = ask(page, "top 5 servers by CPU")
    expected = sorted(granted, key=lambda host: -host.cpu)
    expect(exchange.locator("table.chat-table tbody tr")).to_have_count(len(expected))
    assert column(exchange, 1) == [host.name for host in expected]
    page.context.close()
    assert not page_errors.messages, "\n".join(page_errors.messages)


def test_a_phone_sees_answers_without_sideways_scrolling(
    browser: Browser, fleet_service: Service, admin: str, page_errors: PageErrors
) -> None:
    page = open_service_page(
        browser,
        fleet_service,
        page_errors,
        locale="en-US",
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
    )
    login(page, admin)
    page.goto("/#/chat")
    exchange = ask(page, "fleet status")
    expect(exchange.locator("table.chat-table tbody tr")).to_have_count(len(HOSTS))
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "chat-phone")
    page.context.close()
    assert not page_errors.messages, "\n".join(page_errors.messages)


def test_the_keyboard_sends_breaks_lines_and_recalls_and_text_stays_text(chat_page: Page) -> None:
    box = chat_page.locator("#chat-input")
    box.fill("<b>fleet</b>")
    chat_page.keyboard.press("Shift+Enter")
    chat_page.keyboard.type("status")
    expect(chat_page.locator(".chat-exchange")).to_have_count(0)
    assert box.input_value() == "<b>fleet</b>\nstatus"
    chat_page.keyboard.press("Enter")
    exchange = chat_page.locator(".chat-exchange").last
    expect(exchange.locator(".chat-answer")).to_be_visible()
    expect(exchange.locator(".chat-question")).to_contain_text("<b>fleet</b>")
    expect(exchange.locator(".chat-question b")).to_have_count(0)
    expect(box).to_have_value("")
    chat_page.keyboard.press("ArrowUp")
    expect(box).to_have_value("<b>fleet</b>\nstatus")
    chat_page.keyboard.press("ArrowDown")
    expect(box).to_have_value("")


def test_history_survives_a_reload_and_belongs_to_its_user(
    chat_page: Page, fleet_service: Service, admin: str, page_errors: PageErrors
) -> None:
    # Requests still in flight when a user logs out are refused: expected here.
    page_errors.allowed.append("401 (Unauthorized)")
    ask(chat_page, DOWN_QUESTION)
    chat_page.reload()
    questions = chat_page.locator(".chat-question")
    expect(questions).to_have_count(1)
    expect(questions.first).to_contain_text(DOWN_QUESTION)
    assert column(chat_page.locator(".chat-exchange").first, 0) == ["web-1"]
    chat_page.locator("#chat-input").focus()
    chat_page.keyboard.press("ArrowUp")
    expect(chat_page.locator("#chat-input")).to_have_value(DOWN_QUESTION)

    log_out(chat_page)
    login(chat_page, fleet_service.users["viewer"])
    chat_page.get_by_role("link", name="Chat").click()
    expect(chat_page.locator("#chat-empty")).to_be_visible()
    expect(chat_page.locator(".chat-exchange")).to_have_count(0)
    ask(chat_page, "help")

    log_out(chat_page)
    login(chat_page, admin)
    chat_page.get_by_role("link", name="Chat").click()
    expect(questions).to_have_count(1)
    expect(questions.first).to_contain_text(DOWN_QUESTION)
    chat_page.click("#chat-clear")
    expect(chat_page.locator(".chat-exchange")).to_have_count(0)
    chat_page.reload()
    expect(chat_page.locator("#chat-empty")).to_be_visible()
    expect(chat_page.locator(".chat-exchange")).to_have_count(0)


CAPS_SCRIPT = """async () => {
  const history = await import("/static/js/chat_history.js");
  const entry = (i, text, data) => ({
    question: `q${i}`,
    answer: { answer: "x".repeat(text), data: [{ kind: "table", rows: [["y".repeat(data)]] }] },
  });
  const many = Array.from({ length: history.MAX_ENTRIES + 10 }, (_, i) => entry(i, 10, 10));
  const large = Array.from({ length: 10 }, (_, i) => entry(i, 1000, 1000));
  return {
    maxEntries: history.MAX_ENTRIES,
    byCount: history.capped(many).map((e) => e.question),
    bySize: history.capped(large, 50, 5000).map((e) => e.question),
    tooLarge: history.capped([entry(0, 10, 10), entry(1, 10, 6000)], 50, 5000),
  };
}"""


def test_the_history_keeps_the_newest_exchanges_within_its_caps(chat_page: Page) -> None:
    caps = chat_page.evaluate(CAPS_SCRIPT)
    total = caps["maxEntries"] + 10
    assert caps["byCount"] == [f"q{i}" for i in range(10, total)]
    # Each exchange is about 2,050 characters of JSON: two fit in 5,000.
    assert caps["bySize"] == ["q8", "q9"]
    older, newest = caps["tooLarge"]
    assert (older["question"], len(older["answer"]["data"])) == ("q0", 1)
    assert (newest["question"], newest["answer"]["data"], newest["trimmed"]) == ("q1", [], True)
