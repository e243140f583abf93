"""The connection test: what scraping a target now reports (families, exporter kind, failures and their
reasons, the registration limits, the timeout, the address policy when connecting), and the test slots.
Names are resolved by a fake resolver, and no connection leaves loopback."""

from __future__ import annotations

import asyncio
import gc
import json
import time

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

import api.probe
from api.keys import CONNECTION_TESTS, STORES
from api.probe import MAX_CONCURRENT_TESTS, exporter_kind
from collector.config.api_settings import RegistrationSettings
from collector.config.settings import Settings
from tests.api import servers_support
from tests.api.auth.conftest import Client, session
from tests.api.servers_support import address_of, free_port, open_client
from tests.loopback import FakeResolver

# The fixtures of servers_support, bound here so that pytest finds them by name.
_loopback_only = servers_support.loopback
resolver = servers_support.resolver
client = servers_support.client
pool = servers_support.pool
target = servers_support.target


@pytest.mark.parametrize(
    ("names", "kind"),
    [
        (["node_cpu_seconds_total", "node_exporter_build_info"], (True, False)),
        (["node_load1", "openmanager_cpu_usage_percent"], (False, True)),
        (["http_requests_total"], (False, False)),
    ],
)
def test_exporter_kind(names: list[str], kind: tuple[bool, bool]) -> None:
    assert exporter_kind(names) == kind


async def test_testing_a_valid_page_reports_its_families(
    client: Client, pool: asyncpg.Pool, target: TestServer
) -> None:
    _, operator = await session(client, pool, "operator")
    response = await client.post("/api/servers/test", json={"address": address_of(target)}, headers=operator)
    assert response.status == 200, await response.text()
    report = await response.json()
    assert report["reachable"] and report["ok"] and report["http_status"] == 200
    assert (report["sample_count"], report["series_count"]) == (7, 7)
    assert report["metric_families"] == [
        "node_cpu_seconds_total",
        "node_exporter_build_info",
        "http_request_duration_seconds",
    ]
    assert report["node_exporter"] and not report["openmanager_exporter"]


@pytest.mark.parametrize(
    ("path", "reachable", "status", "reason"),
    [
        ("/html", True, 200, "parse"),
        ("/broken", True, 500, "http_status"),
        ("/elsewhere", True, 302, "redirect"),
    ],
)
async def test_testing_a_bad_page_reports_why(
    client: Client,
    pool: asyncpg.Pool,
    target: TestServer,
    path: str,
    reachable: bool,
    status: int,
    reason: str,
) -> None:
    _, operator = await session(client, pool, "operator")
    body = {"address": address_of(target), "metrics_path": path}
    response = await client.post("/api/servers/test", json=body, headers=operator)
    assert response.status == 200, await response.text()
    report = await response.json()
    assert (report["reachable"], report["ok"], report["http_status"], report["error_reason"]) == (
        reachable,
        False,
        status,
        reason,
    )
    assert report["error"]


async def test_testing_a_refused_port_reports_unreachable(client: Client, pool: asyncpg.Pool) -> None:
    _, operator = await session(client, pool, "operator")
    body = {"address": f"127.0.0.1:{free_port()}"}
    response = await client.post("/api/servers/test", json=body, headers=operator)
    report = await response.json()
    assert response.status == 200 and not report["reachable"] and report["error_reason"] == "connection"


async def test_a_test_ends_within_its_timeout(client: Client, pool: asyncpg.Pool) -> None:
    _, operator = await session(client, pool, "operator")

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(10)
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        response = await client.post(
            "/api/servers/test", json={"address": f"127.0.0.1:{port}"}, headers=operator
        )
        report = await response.json()
    finally:
        server.close()
    assert report["error_reason"] == "timeout" and report["duration_s"] < 6


async def test_testing_an_html_page_describes_it_without_quoting_it(
    client: Client, pool: asyncpg.Pool, target: TestServer
) -> None:
    _, operator = await session(client, pool, "operator")
    body = {"address": address_of(target), "metrics_path": "/html"}
    report = await (await client.post("/api/servers/test", json=body, headers=operator)).json()
    assert report["error"] == "not a metrics page (content type text/html, 31 bytes)"
    assert "hello" not in json.dumps(report)


async def test_testing_a_name_that_resolves_to_a_metadata_address_is_refused_when_connecting(
    client: Client, pool: asyncpg.Pool, resolver: FakeResolver, target: TestServer
) -> None:
    _, operator = await session(client, pool, "operator")
    resolver.answers["exporter.test"] = ["169.254.169.254"]
    body = {"address": f"exporter.test:{target.port}"}
    report = await (await client.post("/api/servers/test", json=body, headers=operator)).json()
    assert (report["reachable"], report["error_reason"]) == (False, "refused")


@pytest.mark.parametrize(
    ("registration", "reason", "error"),
    [
        ({"line_limit": 8}, "line_limit", "11 lines exceed the page line limit 8"),
        ({"sample_limit": 3}, "sample_limit", "more than 3 samples exceed sample_limit 3"),
        ({"body_size_limit_bytes": 100}, "body_size_limit", "body exceeds the limit of 100 bytes"),
    ],
)
async def test_testing_applies_the_registration_limits(
    settings: Settings,
    resolver: FakeResolver,
    target: TestServer,
    registration: dict[str, int],
    reason: str,
    error: str,
) -> None:
    limited = settings.model_copy(update={"registration": RegistrationSettings.model_validate(registration)})
    async for client in open_client(limited, resolver):
        _, operator = await session(client, client.app[STORES].pg, "operator")
        response = await client.post(
            "/api/servers/test", json={"address": address_of(target)}, headers=operator
        )
        report = await response.json()
    assert (report["error_reason"], report["error"]) == (reason, error)


def _large_page(series: int) -> bytes:
    lines = []
    for family in range(series // 1000):
        lines.append(f"# HELP big_{family} A family of many series.\n# TYPE big_{family} gauge\n")
        lines.extend(f'big_{family}{{instance="host-{i}",path="/srv/data/{i}"}} {i}.5\n' for i in range(1000))
    return "".join(lines).encode()


async def test_ten_concurrent_tests_of_a_large_page_run_two_at_a_time_off_the_event_loop(
    client: Client, pool: asyncpg.Pool
) -> None:
    page = _large_page(25_000)
    fetching = most_fetching = 0

    async def metrics(_: web.Request) -> web.Response:
        nonlocal fetching, most_fetching
        fetching += 1
        most_fetching = max(most_fetching, fetching)
        try:
            await asyncio.sleep(0.2)
            return web.Response(body=page, content_type="text/plain")
        finally:
            fetching -= 1

    target_app = web.Application()
    target_app.router.add_get("/metrics", metrics)
    lags: list[float] = []

    async def sample_lag() -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(0.01)
            lags.append(loop.time() - before - 0.01)

    _, operator = await session(client, pool, "operator")
    async with TestServer(target_app, host="127.0.0.1") as target:
        # As the service does after start-up: a collection then walks only what the tests allocate, not the
        # whole test session's heap (which would stall every thread, the loop's too, whatever runs where).
        gc.collect()
        gc.freeze()
        sampler = asyncio.create_task(sample_lag())
        started = time.monotonic()
        body = {"address": address_of(target)}
        try:
            responses = await asyncio.gather(
                *(client.post("/api/servers/test", json=body, headers=operator) for _ in range(10))
            )
        finally:
            sampler.cancel()
            gc.unfreeze()
        elapsed_s = time.monotonic() - started
    reports = [await r.json() for r in responses if r.status == 200]
    assert {r.status for r in responses} <= {200, 429}
    assert len(reports) >= 2 and all(r["ok"] and r["sample_count"] == 25_000 for r in reports)
    assert all(int(r.headers["Retry-After"]) >= 1 for r in responses if r.status == 429)
    assert most_fetching <= MAX_CONCURRENT_TESTS
    # On the event loop, the parses would stall it most of the time; off it, the loop stalls (100 ms or more
    # without a turn) rarely, and only for causes of its own (a busy machine).
    stalled_s = sum(lag for lag in lags if lag >= 0.1)
    assert stalled_s < 0.25 * elapsed_s, (stalled_s, elapsed_s, len(reports))


async def test_a_test_that_waits_too_long_for_a_slot_is_a_429(
    client: Client, pool: asyncpg.Pool, target: TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, operator = await session(client, pool, "operator")
    monkeypatch.setattr(api.probe, "TEST_SLOT_WAIT_S", 0.05)
    slots = client.app[CONNECTION_TESTS]
    body = {"address": address_of(target)}
    for _ in range(MAX_CONCURRENT_TESTS):
        await slots.acquire()
    try:
        response = await client.post(
            "/api/servers/test", json={"address": address_of(target)}, headers=operator
        )
    finally:
        for _ in range(MAX_CONCURRENT_TESTS):
            slots.release()
    assert response.status == 429
    assert response.headers["Retry-After"] == "5"
    again = await client.post("/api/servers/test", json=body, headers=operator)
    assert again.status == 200
