"""The overview with 1,000 servers: time to interactive, smoothness under live updates, bytes loaded.

The fleet's live state is written into the service's Redis by the collector's own writer
(:class:`~collector.storage.live.LiveWriter`), as 1,000 scraped exporters would leave it, and rounds of 1,000
scrapes are then written while the page is open: their events reach the browser over the real stream.

The figures are printed (run with ``-s`` to see them). Time is not asserted: this machine is shared and its
load varies; the byte budget, which does not vary, is.
"""

from __future__ import annotations

import gzip
import re
import sys
import time
from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis
from playwright.sync_api import Page, Response, expect

from collector.result import ScrapeResult, TargetInfo, server_id_for
from collector.storage import keys
from collector.storage.live import LiveWriter
from collector.summary import Summarizer
from tests.dashboards.conftest import Service, api_call, login, run_async

SERVERS = 1000
BUDGET_GZIP_BYTES = 150 * 1024
UPDATE_ROUNDS = 5
JOB = "perf"


def _result(index: int, now_s: float, round_: int) -> ScrapeResult:
    instance = f"perf-{index:04d}:9110"
    labels = (("instance", instance), ("job", JOB))
    target = TargetInfo(f"perf-{index}", server_id_for(JOB, instance), JOB, instance, labels, "", 15, 10)
    disk = (("instance", instance), ("job", JOB), ("mountpoint", "/"))
    return ScrapeResult(
        target=target,
        timestamp_ms=int(now_s * 1000),
        duration_s=0.01,
        error=None,
        error_reason=None,
        series=(
            ("openmanager_cpu_usage_percent", labels),
            ("openmanager_memory_usage_percent", labels),
            ("openmanager_disk_usage_percent", disk),
            ("up", labels),
        ),
        series_set_id=f"perf-set-{index}",
        values=[float((index + 7 * round_) % 70), 50.0, 40.0, 1.0],
    )


class Fleet:
    """Writes rounds of 1,000 scrapes with one writer, as the collector would."""

    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self.rounds = 0

    async def _write(self) -> None:
        redis = aioredis.Redis.from_url(self.redis_url)
        try:
            results = [_result(i, time.time(), self.rounds) for i in range(SERVERS)]
            await LiveWriter(redis).write(results, Summarizer().summarize(results))
        finally:
            await redis.aclose()

    def write_round(self) -> None:
        run_async(self._write())
        self.rounds += 1

    async def _remove(self) -> None:
        redis = aioredis.Redis.from_url(self.redis_url)
        try:
            for i in range(SERVERS):
                server_id = str(server_id_for(JOB, f"perf-{i:04d}:9110"))
                await redis.delete(
                    keys.server_status(server_id),
                    *(keys.server_metric(server_id, metric) for metric in keys.METRICS),
                    keys.target_latest(f"perf-{i}"),
                    keys.series_set(f"perf-set-{i}"),
                )
                await redis.zrem(keys.SERVERS_INDEX, server_id)
                await redis.zrem(keys.TARGETS_INDEX, f"perf-{i}")
        finally:
            await redis.aclose()

    def remove(self) -> None:
        run_async(self._remove())


@pytest.fixture
def fleet(service: Service) -> Iterator[Fleet]:
    """1,000 live servers in the service's Redis, removed afterwards (the other tests see one host)."""
    seeded = Fleet(service.redis_url)
    seeded.write_round()
    # The API serves its fleet snapshot for up to a few seconds (refreshing it behind): one taken for the
    # previous test may still be served. Wait until the API lists the new servers before the page loads.
    deadline = time.monotonic() + 30
    while True:
        answer = api_call(service, "admin", "GET", "/api/monitoring/servers")
        assert isinstance(answer, dict)
        if answer["total"] > SERVERS:
            break
        assert time.monotonic() < deadline, f"the API lists {answer['total']} servers"
        time.sleep(0.5)
    yield seeded
    seeded.remove()


_WATCH_FRAMES = """() => {
  window.__frames = [];
  window.__longTasks = [];
  let last = performance.now();
  const tick = (now) => {
    window.__frames.push(now - last);
    last = now;
    window.__raf = requestAnimationFrame(tick);
  };
  window.__raf = requestAnimationFrame(tick);
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) window.__longTasks.push(entry.duration);
  }).observe({ type: "longtask" });
}"""

_FRAME_STATS = """() => {
  cancelAnimationFrame(window.__raf);
  const frames = window.__frames.slice(1).sort((a, b) => a - b);
  const pick = (q) => frames[Math.min(frames.length - 1, Math.floor(q * frames.length))] || 0;
  return { frames: frames.length, p50: pick(0.5), p95: pick(0.95), max: frames[frames.length - 1] || 0,
           longTasks: window.__longTasks.length, longestTask: Math.max(0, ...window.__longTasks) };
}"""


def test_overview_with_1000_servers(
    page: Page, service: Service, fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    login(page, service.users["admin"])
    # A cold load: nothing from the browser's cache (the session stays in sessionStorage).
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.clearBrowserCache")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    loaded: list[Response] = []

    def keep(response: Response) -> None:
        loaded.append(response)

    page.on("response", keep)
    page.reload()
    page.wait_for_function("() => performance.getEntriesByName('om:overview-interactive').length > 0")
    interactive_ms = page.evaluate(
        "() => performance.getEntriesByName('om:overview-interactive')[0].startTime"
    )
    # The other tests' servers are there too: the local host, and those they registered.
    expect(page.locator(".toolbar .muted")).to_have_text(re.compile(r"^(\d+) of \1 servers$"))
    listed = int(page.locator(".toolbar .muted").inner_text().split()[0])
    assert listed > SERVERS
    rows_in_dom = page.locator(".fleet-rows .fleet-row").count()

    assets = [r for r in loaded if r.request.resource_type in ("script", "stylesheet")]
    gzip_bytes = sum(len(gzip.compress(r.body(), 9)) for r in assets)
    raw_bytes = sum(len(r.body()) for r in assets)

    # Live updates: rounds of 1,000 scrapes while frames and long tasks are recorded.
    page.evaluate(_WATCH_FRAMES)
    first = page.locator(".fleet-rows .fleet-row:not([hidden])", has_text="perf-0000")
    for _ in range(UPDATE_ROUNDS):
        fleet.write_round()
        time.sleep(1)
    # The last round's CPU of perf-0000 is (0 + 7 * rounds) % 70: the page shows it, without a reload.
    expect(first.locator(".cell-cpu")).to_have_text(f"{(7 * (fleet.rounds - 1)) % 70}%")
    frames = page.evaluate(_FRAME_STATS)

    report = (
        f"overview with {listed} servers: interactive at {interactive_ms:.0f} ms after navigation start "
        f"(budget 1000 ms); {rows_in_dom} rows in the DOM",
        f"JS + CSS loaded: {len(assets)} files, {raw_bytes / 1024:.1f} KB raw, "
        f"{gzip_bytes / 1024:.1f} KB gzipped (budget {BUDGET_GZIP_BYTES // 1024} KB)",
        f"live updates, {UPDATE_ROUNDS} rounds of {SERVERS} scrape events: {frames['frames']} frames, "
        f"frame interval p50 {frames['p50']:.1f} ms, p95 {frames['p95']:.1f} ms, max {frames['max']:.1f} ms; "
        f"{frames['longTasks']} long tasks (longest {frames['longestTask']:.0f} ms)",
    )
    with capsys.disabled():
        sys.stdout.write("".join(f"\n[dashboard] {line}" for line in report) + "\n")
    assert gzip_bytes <= BUDGET_GZIP_BYTES
    # Virtual list: only about a screenful of rows exists, whatever the fleet's size.
    assert rows_in_dom < 60
