"""The shell: Korean and English, light and dark themes, a phone's screen, keyboard use, security headers."""

from __future__ import annotations

import urllib.request

from playwright.sync_api import Page, expect

from tests.dashboards.conftest import OpenPage, Service, login, screenshot


def test_a_korean_browser_gets_korean_and_can_switch_to_english(
    open_page: OpenPage, service: Service
) -> None:
    page = open_page(locale="ko-KR", viewport={"width": 1280, "height": 860})
    page.goto("/")
    expect(page.locator("button[type=submit]")).to_have_text("로그인")
    login(page, service.users["viewer"])
    expect(page.locator("h1")).to_have_text("전체 서버 현황")
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    screenshot(page, "overview-ko")
    page.select_option("#language", "en")
    expect(page.locator("h1")).to_have_text("Fleet overview")
    page.reload()
    expect(page.locator("h1")).to_have_text("Fleet overview")


def test_the_dark_theme_is_remembered(page: Page, service: Service) -> None:
    login(page, service.users["admin"])
    theme = page.locator("html").get_attribute("data-theme")
    page.click("#theme")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark" if theme == "light" else "light")
    if theme == "dark":
        page.click("#theme")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    expect(page.locator(".fleet-rows .fleet-row").first).to_be_visible()
    screenshot(page, "overview-dark")
    page.click(".fleet-rows a:has-text('local-host')")
    page.wait_for_function(
        "() => Number(document.querySelector('.chart[data-chart=cpu]')?.dataset.points) > 0"
    )
    screenshot(page, "server-dark")


def test_a_phone_sees_the_overview_without_sideways_scrolling(open_page: OpenPage, service: Service) -> None:
    page = open_page(locale="en-US", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    login(page, service.users["viewer"])
    expect(page.locator(".fleet-rows .fleet-row").first).to_be_visible()
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "overview-phone")
    page.click(".fleet-rows a:has-text('local-host')")
    expect(page.locator(".chart[data-chart=cpu] canvas")).to_have_count(1)
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "server-phone")


def test_keyboard_alone_reaches_the_search_and_a_server(page: Page, service: Service) -> None:
    page.goto("/")
    expect(page.locator("#login-username")).to_be_focused()
    page.keyboard.type(service.users["viewer"])
    page.keyboard.press("Tab")
    page.keyboard.type("dashboard test password 1")
    page.keyboard.press("Enter")
    expect(page.locator(".count-cards")).to_be_visible()
    page.locator("#fleet-search").focus()
    page.keyboard.type("local")
    expect(page.locator(".fleet-rows .fleet-row:not([hidden])")).to_have_count(1)
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.classList.contains('server-link')"):
            break
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("local-host")


def test_the_dashboard_is_served_with_its_content_security_policy(service: Service) -> None:
    with urllib.request.urlopen(service.url, timeout=10) as response:
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert response.headers["Cache-Control"] == "no-cache"
    with urllib.request.urlopen(f"{service.url}static/vendor/uplot/uPlot.esm.js", timeout=10) as response:
        assert response.status == 200
    for hidden in ("static/vendor/uplot/../../../package.json", "static/node_modules/uplot/package.json"):
        try:
            urllib.request.urlopen(f"{service.url}{hidden}", timeout=10)
        except urllib.error.HTTPError as exc:
            assert exc.code in (403, 404)
        else:
            raise AssertionError(f"{hidden} is served")
