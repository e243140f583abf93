"""Interoperability: a real Prometheus scrapes the exporter (with basic auth) and queries its metrics."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from exporter.config import ExporterConfig
from exporter.web_config import WebConfig
from tests.exporter.conftest import Serve, bcrypt_hash
from tests.peers import prometheus_process

QUERIES = (
    "node_cpu_seconds_total",
    "node_memory_MemAvailable_bytes",
    "node_filesystem_avail_bytes",
    "node_network_receive_bytes_total",
    "node_load1",
)
STARTUP_TIMEOUT_S = 30.0
PASSWORD = "scrape-password"


@asynccontextmanager
async def running_prometheus(tmp_path: Path, target: str) -> AsyncIterator[str]:
    """Prometheus on 127.0.0.1:<free port> scraping `target` every second; yields its URL."""
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "scrape_configs:\n"
        "  - job_name: openmanager\n"
        f"    basic_auth: {{username: prometheus, password: {PASSWORD}}}\n"
        f"    static_configs: [{{targets: ['{target}']}}]\n"
    )
    async with prometheus_process(tmp_path, config) as url:
        yield url


async def query(session: aiohttp.ClientSession, prometheus: str, expression: str) -> list[dict[str, object]]:
    try:
        async with session.get(f"{prometheus}/api/v1/query", params={"query": expression}) as response:
            if response.status != 200:
                return []
            body = await response.json()
    except aiohttp.ClientError:
        return []
    result: list[dict[str, object]] = body["data"]["result"]
    return result


@pytest.mark.slow
async def test_prometheus_scrapes_the_exporter_and_queries_node_exporter_names(
    serve: Serve, tmp_path: Path
) -> None:
    config = ExporterConfig(web=WebConfig(basic_auth_users={"prometheus": bcrypt_hash(PASSWORD).encode()}))
    url = await serve(config)
    target = url.removeprefix("http://")
    async with running_prometheus(tmp_path, target) as prometheus, aiohttp.ClientSession() as session:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        up: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            up = await query(session, prometheus, 'up{job="openmanager"} == 1')
            if up:
                break
            await asyncio.sleep(0.25)
        log = (tmp_path / "prometheus.log").read_text(errors="replace")
        assert up, f"Prometheus never saw the exporter up; its log:\n{log[-3000:]}"
        for expression in QUERIES:
            result = await query(session, prometheus, expression)
            assert result, f"{expression} returned no series"
