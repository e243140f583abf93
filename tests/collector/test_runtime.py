"""The collector against real exporters (Debian's node_exporter and ours), and reloads of the target file."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from collector.result import ScrapeResult
from collector.runtime import ScrapeService, ScrapeServiceOptions
from collector.storage.servers import RegisteredServer
from tests.peers import NODE_EXPORTER, exporter_processes, target_file


@pytest.fixture
def exporters() -> Iterator[dict[str, str]]:
    """Our exporter and, where Debian's package is installed, node_exporter; job name to address."""
    with exporter_processes() as addresses:
        yield addresses


async def _results_by_job(collector: ScrapeService, wait_s: float) -> dict[str, list[ScrapeResult]]:
    await asyncio.sleep(wait_s)
    by_job: dict[str, list[ScrapeResult]] = {}
    for result in await collector.queue.get_batch(10_000, wait_s=0):
        by_job.setdefault(result.target.job, []).append(result)
    return by_job


@pytest.mark.slow
async def test_collector_scrapes_node_exporter_and_ours(exporters: dict[str, str], tmp_path: Path) -> None:
    if not NODE_EXPORTER:
        pytest.skip("Debian's prometheus-node-exporter is not installed (./dev test installs it)")
    path = tmp_path / "targets.yaml"
    path.write_text(target_file(exporters))
    collector = ScrapeService(path)
    await collector.start()
    try:
        by_job = await _results_by_job(collector, 2.5)
        state = collector.state()
    finally:
        await collector.stop()
    assert state["targets"] == 2 and state["targets_up"] == 2
    assert set(by_job) == {"openmanager", "node_exporter"}
    for job, results in by_job.items():
        assert all(r.up for r in results), [r.error for r in results]
        names = {name for name, _ in results[-1].series}
        assert {"node_cpu_seconds_total", "node_memory_MemAvailable_bytes", "node_load1", "up"} <= names, job
        instance = dict(results[-1].series[0][1])["instance"]
        assert instance == exporters[job]


async def test_changed_target_file_is_reloaded_and_a_broken_one_is_ignored(
    exporters: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "targets.yaml"
    only_ours = {"openmanager": exporters["openmanager"]}
    path.write_text(target_file({"other": "127.0.0.1:1"}))
    collector = ScrapeService(path, ScrapeServiceOptions(watch_interval_s=0.2))
    await collector.start()
    try:
        path.write_text(target_file(only_ours))
        by_job = await _results_by_job(collector, 2.5)
        assert "openmanager" in by_job and by_job["openmanager"][-1].up
        assert [t.job for t in collector.manager.targets()] == ["openmanager"]
        path.write_text("scrape_configs: [oops\n")
        await asyncio.sleep(0.6)
        assert collector.last_reload_ok is False
        assert [t.job for t in collector.manager.targets()] == ["openmanager"], "the running config is kept"
        assert await collector.reload() is False
    finally:
        await collector.stop()


async def test_servers_registered_through_the_api_are_scraped_and_followed(
    exporters: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "targets.yaml"
    path.write_text("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs: []\n")
    registered: list[RegisteredServer] = [
        RegisteredServer(
            id=uuid.uuid4(),
            name="web",
            job="servers",
            address=exporters["openmanager"],
            scheme="http",
            metrics_path="/metrics",
            labels={"team": "web"},
            scrape_interval_s=None,
        )
    ]

    async def source() -> list[RegisteredServer]:
        return list(registered)

    collector = ScrapeService(path, ScrapeServiceOptions(watch_interval_s=0.2), registered=source)
    await collector.start()
    try:
        by_job = await _results_by_job(collector, 2.5)
        assert by_job["servers"][-1].up
        assert dict(by_job["servers"][-1].target.labels)["team"] == "web"
        registered.clear()
        await asyncio.sleep(0.6)
        assert collector.targets() == [], "an unregistered server stops being scraped"
    finally:
        await collector.stop()


async def test_a_server_registered_into_a_file_job_never_gets_that_jobs_credentials(tmp_path: Path) -> None:
    seen: dict[str, list[str | None]] = {"file": [], "registered": []}

    def handler(kind: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def metrics(request: web.Request) -> web.Response:
            seen[kind].append(request.headers.get("Authorization"))
            return web.Response(text="up_total 1\n")

        return metrics

    servers = {}
    for kind in seen:
        app = web.Application()
        app.router.add_get("/metrics", handler(kind))
        servers[kind] = TestServer(app, host="127.0.0.1")
        await servers[kind].start_server()
    file_address = f"127.0.0.1:{servers['file'].port}"
    path = tmp_path / "targets.yaml"
    path.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n"
        "  - job_name: node\n    authorization:\n      credentials: s3cr3t\n"
        f"    static_configs:\n      - targets: ['{file_address}']\n"
    )
    registered = RegisteredServer(
        id=uuid.uuid4(),
        name="intruder",
        job="node",
        address=f"127.0.0.1:{servers['registered'].port}",
        scheme="http",
        metrics_path="/metrics",
        labels={},
        scrape_interval_s=None,
    )

    async def source() -> list[RegisteredServer]:
        return [registered]

    collector = ScrapeService(path, ScrapeServiceOptions(watch_interval_s=0.2), registered=source)
    await collector.start()
    try:
        by_job = await _results_by_job(collector, 2.5)
        state = collector.state()
    finally:
        await collector.stop()
        for server in servers.values():
            await server.close()
    assert seen["file"] and set(seen["file"]) == {"Bearer s3cr3t"}
    assert seen["registered"] and set(seen["registered"]) == {None}, "the file job's token went elsewhere"
    instances = {r.target.instance for r in by_job["node"] if r.up}
    assert instances == {file_address, registered.address}, "both scraped as job node"
    assert state["targets"] == 2 and state["targets_up"] == 2
