"""One target's scrape against real loopback servers: every failure kind, limits, relabeling, staleness."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import gzip
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from collector.config.scrape_job import ScrapeJob
from collector.config.targets import parse_targets
from collector.discovery import Target as DiscoveredTarget
from collector.discovery import build_target
from collector.queue import ResultQueue
from collector.result import ScrapeResult
from collector.scrape.fetch import new_session
from collector.scrape.loop import (
    FIRST_PARSE_THREAD_LINES,
    OFFLOAD_BYTES,
    SYNTHETIC_NAMES,
    ScrapeLoop,
    series_set_id,
)
from collector.scrape.metrics import ScrapeMetrics
from collector.scrape.spec import fetch_spec

PAGE = """\
# HELP node_load1 1m load average.
# TYPE node_load1 gauge
node_load1 0.5
# TYPE node_cpu_seconds_total counter
node_cpu_seconds_total{cpu="0",mode="idle"} 100
node_cpu_seconds_total{cpu="0",mode="user"} 20
"""


class Target:
    """A loopback target whose page and status the test controls."""

    def __init__(self) -> None:
        self.page: bytes = PAGE.encode()
        self.status = 200
        self.gzip = False
        self.content_type = "text/plain"
        self.headers: dict[str, str] = {}

    async def handle(self, request: web.Request) -> web.Response:
        self.headers = dict(request.headers)
        body = gzip.compress(self.page) if self.gzip else self.page
        extra = {"Content-Encoding": "gzip"} if self.gzip else {}
        return web.Response(status=self.status, body=body, content_type=self.content_type, headers=extra)


@pytest.fixture
async def target() -> AsyncIterator[tuple[Target, str]]:
    state = Target()
    app = web.Application()
    app.router.add_get("/metrics", state.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield state, f"127.0.0.1:{server.port}"
    await server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with new_session() as session:
        yield session


LoopFactory = Callable[..., Awaitable[tuple[ScrapeLoop, ResultQueue]]]


@pytest.fixture
def make_loop(target: tuple[Target, str], session: aiohttp.ClientSession, tmp_path: Path) -> LoopFactory:
    _, address = target

    async def make(job_yaml: str = "", **job_fields: object) -> tuple[ScrapeLoop, ResultQueue]:
        text = (
            f"scrape_configs:\n  - job_name: node\n{job_yaml}"
            f"    static_configs:\n      - targets: ['{address}']\n"
        )
        config = parse_targets(text, "targets.yaml", tmp_path)
        job: ScrapeJob = dataclasses.replace(config.jobs[0], **job_fields)  # type: ignore[arg-type]
        built = build_target(job, address, {})
        assert isinstance(built, DiscoveredTarget), built
        metrics = ScrapeMetrics()
        queue = ResultQueue(100, metrics)
        loop = ScrapeLoop(
            built, job, session=session, spec=fetch_spec(built, job), queue=queue, metrics=metrics
        )
        return loop, queue

    return make


def _values(result: ScrapeResult) -> dict[str, float]:
    return {
        f"{name}{dict(labels)}": value
        for (name, labels), value in zip(result.series, result.values, strict=True)
    }


def _synthetic(result: ScrapeResult) -> dict[str, float]:
    return dict(zip(SYNTHETIC_NAMES, result.values[-len(SYNTHETIC_NAMES) :], strict=True))


async def test_successful_scrape_has_samples_with_target_labels_and_synthetic_series(
    make_loop: LoopFactory, target: tuple[Target, str]
) -> None:
    loop, queue = await make_loop()
    result = await loop.scrape()
    assert result is not None and result.up
    names = [name for name, _ in result.series]
    assert names[:3] == ["node_load1", "node_cpu_seconds_total", "node_cpu_seconds_total"]
    assert names[3:] == list(SYNTHETIC_NAMES)
    labels = dict(result.series[1][1])
    assert labels == {"cpu": "0", "mode": "idle", "job": "node", "instance": target[1]}
    synthetic = _synthetic(result)
    assert synthetic["up"] == 1.0 and synthetic["scrape_samples_scraped"] == 3.0
    assert (
        synthetic["scrape_samples_post_metric_relabeling"] == 3.0 and synthetic["scrape_series_added"] == 3.0
    )
    assert synthetic["scrape_duration_seconds"] > 0
    assert loop.state.health == "up" and loop.state.last_error is None
    assert len(queue) == 1
    assert target[0].headers["Accept"].startswith("application/openmetrics-text")


async def test_unchanged_series_set_is_reused_and_adds_nothing(make_loop: LoopFactory) -> None:
    loop, _ = await make_loop()
    first = await loop.scrape()
    second = await loop.scrape()
    assert first is not None and second is not None
    assert second.series is first.series and second.series_set_id == first.series_set_id
    assert _synthetic(second)["scrape_series_added"] == 0.0 and second.stale == ()


async def test_vanished_series_are_reported_stale(make_loop: LoopFactory, target: tuple[Target, str]) -> None:
    loop, _ = await make_loop()
    await loop.scrape()
    target[0].page = PAGE.replace('node_cpu_seconds_total{cpu="0",mode="user"} 20\n', "").encode()
    result = await loop.scrape()
    assert result is not None and result.up
    assert [(n, dict(ls)["mode"]) for n, ls in result.stale] == [("node_cpu_seconds_total", "user")]
    assert result.series_set_id == series_set_id(result.series)


@pytest.mark.parametrize(
    ("page", "status", "reason"),
    [
        (b"<html><body>It works!</body></html>", 200, "parse"),
        (b"node_load1 1_2\n", 200, "parse"),
        (b'node_load1{a="\xff\xfe"} 1\n', 200, "parse"),
        (PAGE.encode(), 500, "http_status"),
        (PAGE.encode(), 404, "http_status"),
    ],
    ids=["html_with_200", "bad_number", "bad_utf8", "status_500", "status_404"],
)
async def test_broken_target_is_down_and_stores_nothing_partial(
    make_loop: LoopFactory, target: tuple[Target, str], page: bytes, status: int, reason: str
) -> None:
    loop, _ = await make_loop()
    await loop.scrape()
    target[0].page, target[0].status = page, status
    result = await loop.scrape()
    assert result is not None and not result.up
    assert result.error_reason == reason and result.error
    assert [name for name, _ in result.series] == list(SYNTHETIC_NAMES)
    assert _synthetic(result)["up"] == 0.0
    assert len(result.stale) == 3, "every series of the last good scrape goes stale"
    assert loop.state.health == "down" and loop.state.last_error == result.error


async def test_flapping_target_recovers_with_its_series_added_again(
    make_loop: LoopFactory, target: tuple[Target, str]
) -> None:
    loop, _ = await make_loop()
    outcomes = []
    for status in (200, 503, 200, 503, 200):
        target[0].status = status
        result = await loop.scrape()
        assert result is not None
        outcomes.append((result.up, _synthetic(result)["scrape_series_added"]))
    assert outcomes == [(True, 3.0), (False, 0.0), (True, 3.0), (False, 0.0), (True, 3.0)]


async def test_too_many_samples_fail_the_whole_scrape(make_loop: LoopFactory) -> None:
    loop, _ = await make_loop("    sample_limit: 2\n")
    result = await loop.scrape()
    assert result is not None and result.error_reason == "sample_limit"
    assert "samples exceed sample_limit 2" in (result.error or "")


async def test_label_limits_fail_the_scrape(make_loop: LoopFactory) -> None:
    loop, _ = await make_loop("    label_limit: 3\n")
    result = await loop.scrape()
    assert result is not None and result.error_reason == "label_limit"
    loop, _ = await make_loop("    label_value_length_limit: 1\n")
    result = await loop.scrape()
    assert result is not None and result.error_reason == "label_value_length_limit"


async def test_gzip_bomb_fails_at_the_body_size_limit(
    make_loop: LoopFactory, target: tuple[Target, str]
) -> None:
    target[0].page = b"# " + b"0" * (50 * 1024 * 1024)
    target[0].gzip = True
    loop, _ = await make_loop("    body_size_limit: 1MB\n")
    result = await loop.scrape()
    assert result is not None and result.error_reason == "body_size_limit"


async def test_metric_relabeling_drops_and_rewrites_series(make_loop: LoopFactory) -> None:
    rules = (
        "    metric_relabel_configs:\n"
        "      - source_labels: [mode]\n        regex: user\n        action: drop\n"
        "      - source_labels: [__name__]\n        regex: node_load1\n        target_label: __name__\n"
        "        replacement: load_one\n"
    )
    loop, _ = await make_loop(rules)
    result = await loop.scrape()
    assert result is not None and result.up
    assert [name for name, _ in result.series[: -len(SYNTHETIC_NAMES)]] == [
        "load_one",
        "node_cpu_seconds_total",
    ]
    synthetic = _synthetic(result)
    assert synthetic["scrape_samples_scraped"] == 3.0
    assert synthetic["scrape_samples_post_metric_relabeling"] == 2.0


async def test_honor_labels_false_renames_conflicting_scraped_labels(
    make_loop: LoopFactory, target: tuple[Target, str]
) -> None:
    target[0].page = b'node_load1{job="app",instance="x"} 1\n'
    loop, _ = await make_loop()
    result = await loop.scrape()
    assert result is not None
    labels = dict(result.series[0][1])
    assert labels["job"] == "node" and labels["exported_job"] == "app" and labels["exported_instance"] == "x"
    loop, _ = await make_loop("    honor_labels: true\n")
    result = await loop.scrape()
    assert result is not None
    assert dict(result.series[0][1])["job"] == "app"


async def test_explicit_timestamps_are_honored_or_ignored(
    make_loop: LoopFactory, target: tuple[Target, str]
) -> None:
    target[0].page = b"node_load1 1 1700000000000\nnode_load5 2\n"
    loop, _ = await make_loop()
    result = await loop.scrape()
    assert result is not None and result.timestamps_ms is not None
    assert result.timestamps_ms[0] == 1_700_000_000_000
    loop, _ = await make_loop("    honor_timestamps: false\n")
    result = await loop.scrape()
    assert result is not None and result.timestamps_ms is None


async def test_duplicate_series_fail_the_scrape(make_loop: LoopFactory, target: tuple[Target, str]) -> None:
    target[0].page = b'node_load1{a="1"} 1\nnode_load1{a="2"} 2\n'
    loop, _ = await make_loop("    metric_relabel_configs:\n      - action: labeldrop\n        regex: a\n")
    result = await loop.scrape()
    assert result is not None and result.error_reason == "duplicate"


async def test_a_scrape_never_overlaps_the_previous_one_of_its_target(
    make_loop: LoopFactory, target: tuple[Target, str]
) -> None:
    loop, queue = await make_loop()
    first, second = await asyncio.gather(loop.scrape(), loop.scrape())
    assert (first is None) != (second is None)
    assert len(queue) == 1
    assert loop._metrics.skipped.labels("node")._value.get() == 1


async def test_a_stopped_loop_scrapes_no_more(make_loop: LoopFactory) -> None:
    loop, queue = await make_loop()
    assert await loop.scrape() is not None
    loop.stop()
    assert await loop.scrape() is None, "a run started before the target went away must do nothing"
    assert len(queue) == 1


async def test_steady_pages_take_the_fast_path_with_identical_results(
    make_loop: LoopFactory, target: tuple[Target, str]
) -> None:
    loop, _ = await make_loop(
        "    metric_relabel_configs:\n"
        "      - source_labels: [mode]\n        regex: user\n        action: drop\n"
    )
    first = await loop.scrape()
    target[0].page = PAGE.replace("0.5", "0.75").replace("100", "101").encode()
    second = await loop.scrape()
    assert first is not None and second is not None and loop._shape is not None
    assert second.series is first.series
    assert second.values[:2] == [0.75, 101.0], "the dropped series stays dropped on the fast path"
    assert _synthetic(second)["scrape_samples_scraped"] == 3.0


async def test_results_carry_the_pages_metadata_as_one_object_while_it_is_unchanged(
    make_loop: LoopFactory, target: tuple[Target, str]
) -> None:
    loop, _ = await make_loop()
    first = await loop.scrape()
    target[0].page = PAGE.replace("0.5", "0.75").encode()
    fast = await loop.scrape()
    target[0].page = PAGE.replace("0.5", "0.5 1700000000000").encode()
    parsed_again = await loop.scrape()
    assert first is not None and fast is not None and parsed_again is not None
    assert first.metadata == {
        "node_load1": ("node_load1", "gauge", "1m load average.", ""),
        "node_cpu_seconds_total": ("node_cpu_seconds_total", "counter", "", ""),
    }
    assert fast.metadata is first.metadata and parsed_again.metadata is first.metadata
    target[0].page = PAGE.replace("1m load average.", "Load, 1 minute.").encode()
    changed = await loop.scrape()
    target[0].status = 503
    failed = await loop.scrape()
    assert changed is not None and changed.metadata is not None and failed is not None
    assert changed.metadata["node_load1"][2] == "Load, 1 minute."
    assert failed.metadata is None


@pytest.mark.parametrize(
    "changed",
    [
        PAGE.replace("0.5", "NaN"),
        PAGE.replace("0.5", "1_0"),
        PAGE.replace("0.5", "0.5 1700000000000"),
        PAGE.replace("1m load average.", "1m load average!"),
        PAGE + 'node_cpu_seconds_total{cpu="1",mode="idle"} 5\n',
    ],
    ids=["nan", "underscore", "timestamp", "help_text", "new_series"],
)
async def test_anything_but_new_plain_numbers_takes_the_full_parser(
    make_loop: LoopFactory, target: tuple[Target, str], changed: str
) -> None:
    loop, _ = await make_loop()
    await loop.scrape()
    target[0].page = changed.encode()
    result = await loop.scrape()
    expected = await (await make_loop())[0].scrape()
    assert result is not None and expected is not None
    assert (result.up, result.error_reason) == (expected.up, expected.error_reason)
    assert result.series == expected.series
    assert [v for v in result.values[:-5] if v == v] == [v for v in expected.values[:-5] if v == v]


@pytest.mark.parametrize(
    ("content_type", "quote", "expected"),
    [
        ("text/html", True, "not a metrics page (content type text/html, {size} bytes)"),
        ("application/json", True, "not a metrics page (content type application/json, {size} bytes)"),
        (
            "text/plain",
            False,
            "not a metrics page (content type text/plain, {size} bytes): invalid at line 2",
        ),
        ("text/plain", True, "invalid metrics page: line 2: "),
    ],
)
async def test_an_invalid_page_is_quoted_only_when_a_metrics_page_of_a_job_that_allows_it(
    make_loop: LoopFactory, target: tuple[Target, str], content_type: str, quote: bool, expected: str
) -> None:
    page = b"# TYPE up gauge\n<html>s3cr3t</html>\n"
    target[0].page, target[0].content_type = page, content_type
    loop, _ = await make_loop(quote_page_errors=quote)
    result = await loop.scrape()
    assert result is not None and not result.up and result.error_reason == "parse"
    assert (result.error or "").startswith(expected.format(size=len(page)))
    assert ("s3cr3t" in (result.error or "")) is (quote and content_type == "text/plain")
    assert loop.state.last_error == result.error


async def test_without_metric_relabeling_the_sample_limit_stops_the_parse(
    make_loop: LoopFactory, target: tuple[Target, str]
) -> None:
    target[0].page = "".join(f'm{{i="{i}"}} 1\n' for i in range(1000)).encode()
    loop, _ = await make_loop("    sample_limit: 10\n")
    result = await loop.scrape()
    assert result is not None and result.error_reason == "sample_limit"
    assert result.error == "more than 10 samples exceed sample_limit 10"
    assert len(loop._parse_cache) == 0, "the series of a page over the limit are not kept"


def _large_page(series: int, value: float) -> bytes:
    lines = []
    for family in range(series // 1000):
        lines.append(f"# HELP big_{family} A family of many series.\n# TYPE big_{family} gauge\n")
        lines.extend(f'big_{family}{{instance="host-{i}",path="/srv/{i}"}} {value}\n' for i in range(1000))
    return "".join(lines).encode()


async def test_large_pages_are_read_off_the_event_loop_with_the_same_results(
    make_loop: LoopFactory, target: tuple[Target, str]
) -> None:
    target[0].page = _large_page(24_000, 1.5)
    assert len(target[0].page) >= OFFLOAD_BYTES
    lags: list[float] = []

    async def sample_lag() -> None:
        clock = asyncio.get_running_loop()
        while True:
            before = clock.time()
            await asyncio.sleep(0.01)
            lags.append(clock.time() - before - 0.01)

    loops = [(await make_loop())[0] for _ in range(3)]
    # As the service does after start-up: a collection then walks only what the scrapes allocate, not the
    # whole test session's heap (which would stall every thread, the loop's too, whatever runs where).
    gc.collect()
    gc.freeze()
    sampler = asyncio.create_task(sample_lag())
    started = time.monotonic()
    try:
        firsts = [await loop.scrape() for loop in loops]
        target[0].page = _large_page(24_000, 2.5)
        second = await loops[0].scrape()
    finally:
        sampler.cancel()
        gc.unfreeze()
    elapsed_s = time.monotonic() - started
    first = firsts[0]
    assert all(r is not None and r.error is None and r.samples_scraped == 24_000 for r in firsts)
    assert first is not None and second is not None
    assert second.series is first.series and second.values[0] == 2.5
    # On the event loop, the full parses would stall it most of the time; off it, the loop stalls (100 ms or
    # more without a turn) rarely, and only for causes of its own (a busy machine).
    stalled_s = sum(lag for lag in lags if lag >= 0.1)
    assert stalled_s < 0.25 * elapsed_s, (stalled_s, elapsed_s)


async def test_a_first_parse_of_a_page_over_a_few_hundred_lines_runs_off_the_event_loop(
    make_loop: LoopFactory, target: tuple[Target, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[str] = []
    read_page = ScrapeLoop._read_page

    def recorded(self: ScrapeLoop, *args: object) -> object:
        threads.append(threading.current_thread().name)
        return read_page(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(ScrapeLoop, "_read_page", recorded)
    lines = [
        f'node_filesystem_free_bytes{{mountpoint="/m{i}"}} {i}' for i in range(FIRST_PARSE_THREAD_LINES + 1)
    ]
    target[0].page = ("\n".join(lines) + "\n").encode()
    loop, _ = await make_loop()
    first = await loop.scrape()
    # A new series makes the page's shape new, so the second scrape parses it again: now on the loop.
    target[0].page += b'node_filesystem_free_bytes{mountpoint="/new"} 1\n'
    second = await loop.scrape()
    assert first is not None and second is not None and first.up and second.up
    assert len(second.series) == len(first.series) + 1
    main = threading.current_thread().name
    assert threads[0] != main and threads[0].startswith("scrape-large-page"), threads
    assert threads[1:] == [main]

    small, _ = await make_loop()
    target[0].page = PAGE.encode()
    assert (await small.scrape()) is not None
    assert threads[-1] == main, "a short page's first parse stays on the loop"
