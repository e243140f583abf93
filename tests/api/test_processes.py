"""``GET /api/monitoring/processes``: both rankings from the latest scrape, grants, servers without data."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from api.app import create_app
from api.keys import STORES
from api.processes import COUNT_METRIC, CPU_METRIC, MEMORY_METRIC, top_processes
from collector.config.settings import Settings
from collector.result import SeriesKey, TargetInfo
from collector.storage.live import LiveWriter
from tests.api.auth.conftest import Client, session
from tests.collector.storage.test_live import summarized
from tests.collector.test_summary import make_result, make_target, node_samples, series_key

T0 = 1_767_225_600.0
WEB = make_target("web-1:9100")
DB = make_target("db-1:9100")


def _process(metric: str, target: TargetInfo, pid: str, name: str) -> SeriesKey:
    return (metric, tuple(sorted({**dict(target.labels), "pid": pid, "name": name}.items())))


def process_samples(target: TargetInfo = WEB) -> list[tuple[SeriesKey, float]]:
    """postgres busiest on CPU, java largest in memory, sshd only in the memory list."""
    return [
        (_process(CPU_METRIC, target, "101", "postgres"), 80.0),
        (_process(CPU_METRIC, target, "202", "java"), 12.5),
        (_process(MEMORY_METRIC, target, "202", "java"), 4e9),
        (_process(MEMORY_METRIC, target, "101", "postgres"), 1e9),
        (_process(MEMORY_METRIC, target, "303", "sshd"), 5e6),
        (series_key(COUNT_METRIC, target), 212.0),
    ]


@pytest.fixture
def app(settings: Settings) -> web.Application:
    return create_app(settings)


@pytest.fixture
async def client(app: web.Application) -> AsyncIterator[Client]:
    async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
        await app[STORES].redis.flushdb()
        yield test_client


@pytest.fixture
def pool(client: Client, app: web.Application) -> asyncpg.Pool:
    return app[STORES].pg


@pytest.fixture
async def fleet(client: Client, app: web.Application) -> None:
    """web-1 reports processes; db-1 is a node_exporter without them. Both have a ``servers`` row."""
    write = summarized(LiveWriter(app[STORES].redis))
    await write([make_result(process_samples() + node_samples(target=WEB), T0, WEB)])
    await write([make_result(node_samples(target=DB), T0, DB)])
    for target in (WEB, DB):
        await app[STORES].pg.execute(
            "INSERT INTO servers (id, name, hostname) VALUES ($1, $2, $2) ON CONFLICT DO NOTHING",
            target.server_id,
            target.instance,
        )


def test_rankings_are_sorted_and_each_entry_carries_the_other_measure() -> None:
    series = [(key, value, 0) for key, value in process_samples()]
    by_cpu, by_memory = top_processes(series)
    assert [(p.name, p.cpu_percent, p.resident_memory_bytes) for p in by_cpu] == [
        ("postgres", 80.0, 1e9),
        ("java", 12.5, 4e9),
    ]
    assert [(p.pid, p.cpu_percent) for p in by_memory] == [(202, 12.5), (101, 80.0), (303, None)]


def test_a_process_name_renamed_by_a_target_name_label_is_read_from_exported_name() -> None:
    key = (CPU_METRIC, (("exported_name", "nginx"), ("name", "web-1"), ("pid", "7")))
    by_cpu, _ = top_processes([(key, 3.0, 0)])
    assert [(p.pid, p.name) for p in by_cpu] == [(7, "nginx")]


def test_series_with_a_pid_that_is_not_a_number_are_skipped() -> None:
    bad = (CPU_METRIC, (("name", "x"), ("pid", "abc")))
    assert top_processes([(bad, 1.0, 0)]) == ([], [])


async def test_admin_reads_the_top_processes_of_the_latest_scrape(
    client: Client, pool: asyncpg.Pool, fleet: None
) -> None:
    _, auth = await session(client, pool, "admin")
    response = await client.get(f"/api/monitoring/processes?serverId={WEB.server_id}", headers=auth)
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["serverId"] == str(WEB.server_id)
    assert body["processes"] == 212
    assert body["timestamp"] == T0
    assert [p["name"] for p in body["by_cpu"]] == ["postgres", "java"]
    assert [p["name"] for p in body["by_memory"]] == ["java", "postgres", "sshd"]


async def test_a_target_without_process_series_answers_empty_lists(
    client: Client, pool: asyncpg.Pool, fleet: None
) -> None:
    _, auth = await session(client, pool, "admin")
    response = await client.get(f"/api/monitoring/processes?serverId={DB.server_id}", headers=auth)
    assert response.status == 200
    body = await response.json()
    assert (body["by_cpu"], body["by_memory"], body["processes"]) == ([], [], None)


async def test_a_viewer_needs_a_grant_for_the_server(client: Client, pool: asyncpg.Pool, fleet: None) -> None:
    viewer, auth = await session(client, pool, "viewer")
    url = f"/api/monitoring/processes?serverId={WEB.server_id}"
    assert (await client.get(url, headers=auth)).status == 403
    await pool.execute(
        "INSERT INTO server_grants (user_id, server_id) VALUES ($1, $2)", viewer.id, WEB.server_id
    )
    assert (await client.get(url, headers=auth)).status == 200


async def test_a_server_never_scraped_is_a_404_and_anonymous_callers_a_401(
    client: Client, pool: asyncpg.Pool
) -> None:
    url = f"/api/monitoring/processes?serverId={WEB.server_id}"
    assert (await client.get(url)).status == 401
    _, auth = await session(client, pool, "admin")
    response = await client.get(url, headers=auth)
    assert response.status == 404
    assert "not been scraped" in (await response.json())["error"]["message"]
