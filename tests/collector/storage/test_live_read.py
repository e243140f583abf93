"""Reading the live layer for the API: server listing, recent points, latest values, Redis stats."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from collector.result import ScrapeResult, TargetInfo
from collector.storage import keys
from collector.storage.live import LiveWriter
from collector.storage.live_codec import encode_series_set
from collector.storage.live_read import (
    get_server,
    latest_series,
    list_servers,
    parse_status,
    redis_stats,
)
from collector.summary import ServerSummary
from tests.collector.storage.test_live import summarized
from tests.collector.test_summary import (
    exporter_gauges,
    failed_result,
    make_result,
    make_target,
    node_samples,
)

T0 = 1_700_000_000.0
WEB = make_target("web-1:9100", env="prod", name="web-1")
DB = make_target("db-1:9100", env="prod")
LAB = make_target("lab-7:9100", env="lab")


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A client on this run's own Redis database, emptied before and after each test."""
    client = aioredis.Redis.from_url(redis_url)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.flushdb()
        await client.aclose()


def _host(target: TargetInfo, time_s: float, *, cpu: float = 30.0, disk: float = 50.0) -> ScrapeResult:
    samples = exporter_gauges(target, cpu=cpu, disk=disk) + node_samples(target=target)
    return make_result(samples, time_s, target)


@pytest.fixture
async def fleet(redis: aioredis.Redis) -> None:
    """web-1 up, db-1 warning (disk), lab-7 down."""
    await summarized(LiveWriter(redis))(
        [_host(WEB, T0), _host(DB, T0, disk=91.0), failed_result(T0, LAB, "timeout")]
    )


@pytest.mark.usefixtures("fleet")
async def test_list_servers_returns_every_server_sorted_by_job_and_instance(redis: aioredis.Redis) -> None:
    servers = await list_servers(redis)
    assert [(s.instance, s.status) for s in servers] == [
        ("db-1:9100", "warning"),
        ("lab-7:9100", "down"),
        ("web-1:9100", "up"),
    ]
    web = servers[2]
    assert web.server_id == str(WEB.server_id)
    assert web.identity == WEB.identity
    assert web.last_scrape == T0 and web.last_error is None
    assert web.labels["env"] == "prod"
    assert web.summary.cpu == 30.0 and web.summary.disk == 50.0
    assert servers[1].last_error == "timeout" and servers[1].summary == ServerSummary()


@pytest.mark.usefixtures("fleet")
@pytest.mark.parametrize(
    ("status", "name", "label", "instances"),
    [
        ("down", None, None, ["lab-7:9100"]),
        ("up", None, None, ["web-1:9100"]),
        (None, "DB-1", None, ["db-1:9100"]),
        (None, str(LAB.server_id)[:8], None, ["lab-7:9100"]),
        (None, None, ("env", "prod"), ["db-1:9100", "web-1:9100"]),
        ("warning", None, ("env", "prod"), ["db-1:9100"]),
        (None, None, ("rack", "a"), []),
    ],
)
async def test_list_servers_filters_by_status_name_and_label(
    redis: aioredis.Redis,
    status: str | None,
    name: str | None,
    label: tuple[str, str] | None,
    instances: list[str],
) -> None:
    servers = await list_servers(redis, status=status, name=name, label=label)
    assert [s.instance for s in servers] == instances


async def test_list_servers_of_an_empty_redis_is_empty(redis: aioredis.Redis) -> None:
    assert await list_servers(redis) == []


@pytest.mark.usefixtures("fleet")
async def test_list_servers_skips_index_entries_whose_status_expired(redis: aioredis.Redis) -> None:
    await redis.delete(keys.server_status(DB.server_id))
    assert [s.instance for s in await list_servers(redis)] == ["lab-7:9100", "web-1:9100"]


@pytest.mark.usefixtures("fleet")
async def test_get_server_by_id_or_none(redis: aioredis.Redis) -> None:
    server = await get_server(redis, DB.server_id)
    assert server is not None and server.status == "warning" and server.summary.disk == 91.0
    assert await get_server(redis, "00000000-0000-0000-0000-000000000000") is None


def test_status_json_round_trips_through_to_dict() -> None:
    doc = {
        "status": "up",
        "last_scrape": T0,
        "last_error": None,
        "scrape_duration_s": 0.05,
        "job": "node",
        "instance": "web-1:9100",
        "labels": {"env": "prod"},
        "identity": "abc",
        "summary": {"cpu": 1.5},
        "server_id": "s1",
    }
    server = parse_status("s1", json.dumps(doc))
    assert server is not None and server.to_dict() == doc


@pytest.mark.parametrize(
    ("raw", "status"), [(b"not json", None), (b"[1]", None), (b'{"status": "??"}', "unknown")]
)
def test_unreadable_status_is_skipped_or_unknown(raw: bytes, status: str | None) -> None:
    server = parse_status("s1", raw)
    assert (server.status if server is not None else None) == status


async def test_latest_series_round_trips_every_series(redis: aioredis.Redis) -> None:
    result = _host(WEB, T0)
    await summarized(LiveWriter(redis))([result])
    latest = await latest_series(redis, WEB.identity)
    assert latest == [
        (key, value, result.timestamp_ms) for key, value in zip(result.series, result.values, strict=True)
    ]


async def test_latest_series_keeps_per_sample_timestamps(redis: aioredis.Redis) -> None:
    result = _host(WEB, T0)
    result.timestamps_ms = [result.timestamp_ms - i for i in range(len(result.values))]
    await summarized(LiveWriter(redis))([result])
    assert [stamp for _, _, stamp in await latest_series(redis, WEB.identity)] == result.timestamps_ms


async def test_latest_series_of_an_unknown_target_or_lost_set_is_empty(redis: aioredis.Redis) -> None:
    assert await latest_series(redis, "nope") == []
    result = _host(WEB, T0)
    await summarized(LiveWriter(redis))([result])
    await redis.delete(keys.series_set(result.series_set_id))
    assert await latest_series(redis, WEB.identity) == []


async def test_latest_series_with_a_mismatched_set_raises(redis: aioredis.Redis) -> None:
    result = _host(WEB, T0)
    await summarized(LiveWriter(redis))([result])
    await redis.set(keys.series_set(result.series_set_id), encode_series_set(result.series[:3]))
    with pytest.raises(ValueError, match=f"has {len(result.values)} values for 3 series"):
        await latest_series(redis, WEB.identity)


@pytest.mark.usefixtures("fleet")
async def test_redis_stats_reports_memory_keys_clients_and_hit_rate(redis: aioredis.Redis) -> None:
    await redis.get(keys.server_status(WEB.server_id))
    stats = await redis_stats(redis)
    assert stats["version"].count(".") == 2
    assert stats["uptime_s"] >= 0 and stats["connected_clients"] >= 1
    assert stats["used_memory_bytes"] > 0 and stats["used_memory_peak_bytes"] >= stats["used_memory_bytes"]
    assert stats["hit_rate"] is not None and 0.0 < stats["hit_rate"] <= 1.0
    db = f"db{redis.connection_pool.connection_kwargs.get('db', 0)}"
    assert stats["keys"][db] == await redis.dbsize()
    assert stats["expires"][db] > 0
    assert stats["ops_per_s"] >= 0
