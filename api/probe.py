"""The connection test: scrape a target now, the way the collector scrapes a registered server, and report.

The probe uses the collector's own fetch and parser: every connection is checked against the address policy
as it is made (so no name can lead it to a refused address), redirects are not followed, and an invalid page
is described without being quoted. At most :data:`MAX_CONCURRENT_TESTS` tests run at once in one API process
(a test waits :data:`TEST_SLOT_WAIT_S` for a slot, then gets a 429), and the page is parsed in one worker
thread: a page near the body limit costs seconds of CPU, which on the event loop would stall every request
and, in ``openmanager run``, every scrape.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import SimpleNamespace

import aiohttp
from aiohttp import web
from aiohttp.abc import AbstractResolver
from pydantic import BaseModel, Field

from api.errors import ApiError
from api.keys import CONNECTION_TESTS
from collector.config.api_settings import RegistrationSettings
from collector.netpolicy import BASE_POLICY, NetworkPolicy, guarded_connector
from collector.scrape.families import family_of
from collector.scrape.fetch import FetchError, FetchSpec, fetch
from collector.scrape.parser import (
    ParseError,
    ParseResult,
    SampleLimitError,
    describe_invalid_page,
    parse,
)

TEST_TIMEOUT_S = 5.0
MAX_CONCURRENT_TESTS = 2
"""Connection tests running at once in one API process."""
TEST_SLOT_WAIT_S = 10.0
"""How long a test waits for a free slot before it is answered 429."""
_PARSE_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="connection-test-parse")
"""One thread parses test pages in turn: with more, parsing threads would take the event loop's share of the
interpreter lock as well as its time."""
MAX_FAMILIES_SHOWN = 50


class TestReport(BaseModel):
    """What scraping a target now found; an unreachable or invalid target is reported, never an error."""

    url: str
    reachable: bool = Field(description="an HTTP response came back")
    ok: bool = Field(description="HTTP 200 with a page that parses")
    http_status: int | None
    error: str | None
    error_reason: str | None = Field(
        description="timeout, connection, tls, http_status, redirect, refused (the address policy), parse,"
        " body_size_limit, line_limit, sample_limit, …"
    )
    duration_s: float
    content_type: str | None
    format: str | None
    sample_count: int
    series_count: int
    family_count: int
    metric_families: list[str] = Field(description=f"the first {MAX_FAMILIES_SHOWN}, in page order")
    node_exporter: bool
    openmanager_exporter: bool


@contextlib.asynccontextmanager
async def connection_test_slot(request: web.Request) -> AsyncIterator[None]:
    """Hold one of the application's connection-test slots; a 429 when none frees in time."""
    slots = request.app[CONNECTION_TESTS]
    try:
        async with asyncio.timeout(TEST_SLOT_WAIT_S):
            await slots.acquire()
    except TimeoutError:
        retry_after_s = round(TEST_TIMEOUT_S)
        raise ApiError(
            429,
            f"{MAX_CONCURRENT_TESTS} connection tests are running; try again in {retry_after_s} s",
            code="rate_limited",
            details={"retry_after_s": retry_after_s, "concurrent_tests": MAX_CONCURRENT_TESTS},
            headers={"Retry-After": str(retry_after_s)},
        ) from None
    try:
        yield
    finally:
        slots.release()


class _Probe:
    """Notes the HTTP status of the test's request, which a failed fetch does not carry."""

    def __init__(self) -> None:
        self.status: int | None = None
        self.trace = aiohttp.TraceConfig()
        self.trace.on_request_end.append(self._on_end)

    async def _on_end(
        self, _: aiohttp.ClientSession, __: SimpleNamespace, params: aiohttp.TraceRequestEndParams
    ) -> None:
        self.status = params.response.status


def families(result: ParseResult) -> list[str]:
    """The metric families of a page in page order (histogram and summary series under their family)."""
    types = {name: meta.type for name, meta in result.metadata.items()}
    seen: dict[str, None] = {}
    for sample in result.samples:
        seen.setdefault(family_of(sample.name, types) or sample.name)
    for name in result.metadata:
        seen.setdefault(name)
    return list(seen)


@dataclass(frozen=True)
class PageSummary:
    """What a parsed page holds, as a test reports it."""

    format: str
    sample_count: int
    series_count: int
    families: list[str]


def summarize_page(body: bytes, content_type: str | None, sample_limit: int) -> PageSummary:
    """Parse ``body`` and count what it holds; CPU-bound, run off the event loop.

    Raises ``ParseError``, or ``SampleLimitError`` past ``sample_limit`` samples (0: no limit).
    """
    result = parse(body, content_type, None, sample_limit)
    return PageSummary(
        format=result.format,
        sample_count=len(result.samples),
        series_count=len({(s.name, s.labels) for s in result.samples}),
        families=families(result),
    )


def exporter_kind(names: list[str]) -> tuple[bool, bool]:
    """Whether the families look like node_exporter's, and like the OpenManager exporter's."""
    openmanager = any(n.startswith("openmanager_") for n in names)
    node = "node_exporter_build_info" in names or (
        not openmanager and any(n.startswith("node_") for n in names)
    )
    return node, openmanager


def _failed(
    url: str, probe: _Probe, started: float, error: str, reason: str, *, content_type: str | None = None
) -> TestReport:
    return TestReport(
        url=url,
        reachable=probe.status is not None,
        ok=False,
        http_status=probe.status,
        error=error,
        error_reason=reason,
        duration_s=time.monotonic() - started,
        content_type=content_type,
        format=None,
        sample_count=0,
        series_count=0,
        family_count=0,
        metric_families=[],
        node_exporter=False,
        openmanager_exporter=False,
    )


async def connection_test(
    scheme: str,
    address: str,
    metrics_path: str,
    *,
    policy: NetworkPolicy = BASE_POLICY,
    limits: RegistrationSettings | None = None,
    resolver: AbstractResolver | None = None,
) -> TestReport:
    """Scrape ``scheme://address{metrics_path}`` now and report (the address passed ``address_problem``).

    As the collector scrapes a registered server: every connection is checked against ``policy`` as it is
    made, after DNS (``resolver``, else the system's); redirects are not followed; the body, line and sample
    limits of ``limits`` apply (a long page is parsed off the event loop).
    """
    limits = limits or RegistrationSettings()
    url = f"{scheme}://{address}{metrics_path}"
    probe = _Probe()
    started = time.monotonic()
    connector = guarded_connector(policy, resolver=resolver, limit=1, force_close=True)
    async with aiohttp.ClientSession(
        connector=connector,
        auto_decompress=False,
        trust_env=False,
        cookie_jar=aiohttp.DummyCookieJar(),
        trace_configs=[probe.trace],
    ) as session:
        spec = FetchSpec(url, TEST_TIMEOUT_S, limits.body_size_limit_bytes, follow_redirects=False)
        try:
            page = await fetch(session, spec)
        except FetchError as exc:
            return _failed(url, probe, started, str(exc), exc.reason)
    lines = page.body.count(b"\n")
    if lines > limits.line_limit:
        error = f"{lines} lines exceed the page line limit {limits.line_limit}"
        return _failed(url, probe, started, error, "line_limit", content_type=page.content_type)
    try:
        summary = await asyncio.get_running_loop().run_in_executor(
            _PARSE_POOL, summarize_page, page.body, page.content_type, limits.sample_limit
        )
    except SampleLimitError as exc:
        return _failed(url, probe, started, str(exc), "sample_limit", content_type=page.content_type)
    except ParseError as exc:
        error = describe_invalid_page(page.content_type, len(page.body), exc)
        return _failed(url, probe, started, error, "parse", content_type=page.content_type)
    names = summary.families
    node, openmanager = exporter_kind(names)
    return TestReport(
        url=url,
        reachable=True,
        ok=True,
        http_status=probe.status,
        error=None,
        error_reason=None,
        duration_s=time.monotonic() - started,
        content_type=page.content_type,
        format=summary.format,
        sample_count=summary.sample_count,
        series_count=summary.series_count,
        family_count=len(names),
        metric_families=names[:MAX_FAMILIES_SHOWN],
        node_exporter=node,
        openmanager_exporter=openmanager,
    )
