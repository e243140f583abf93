"""The fleet snapshot behind ``/api/monitoring/servers``: read once per ``max_age_s``, shared, encoded."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from api.fleet import FleetCache, encode_listing
from collector.storage.live import LiveWriter
from collector.storage.live_read import ServerStatus
from tests.api.test_monitoring import DB, LAB, T0, WEB, host
from tests.collector.storage.test_live import summarized
from tests.collector.test_summary import failed_result


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


def encode(server: ServerStatus) -> bytes:
    return json.dumps({"id": server.server_id, "instance": server.instance, "status": server.status}).encode()


def order(server: ServerStatus) -> tuple[str, str]:
    return server.instance, server.server_id


async def test_snapshot_is_sorted_encoded_and_reused_until_it_is_too_old(redis: aioredis.Redis) -> None:
    await summarized(LiveWriter(redis))([host(WEB, T0), host(DB, T0)])
    clock = Clock()
    cache = FleetCache(encode, order, max_age_s=1.0, clock=clock)

    first = await cache.snapshot(redis)
    assert [e.status.instance for e in first.entries] == ["db-1:9100", "web-1:9100"]
    assert json.loads(first.entries[0].encoded)["instance"] == "db-1:9100"

    await summarized(LiveWriter(redis))([failed_result(T0 + 15, LAB, "timeout")])
    clock.now += 0.9
    assert await cache.snapshot(redis) is first  # still fresh: Redis is not read
    assert cache.refreshes == 1
    clock.now += 0.2
    # Too old: this request is answered at once from the held snapshot while a refresh runs.
    assert await cache.snapshot(redis) is first
    await asyncio.sleep(0.1)
    second = await cache.snapshot(redis)
    assert [e.status.instance for e in second.entries] == ["db-1:9100", "lab-7:9100", "web-1:9100"]
    assert cache.refreshes == 2


async def test_a_refresh_encodes_only_the_servers_whose_status_changed(redis: aioredis.Redis) -> None:
    writer = summarized(LiveWriter(redis))
    await writer([host(WEB, T0), host(DB, T0)])
    encoded: list[str] = []

    def counting(server: ServerStatus) -> bytes:
        encoded.append(server.instance)
        return encode(server)

    clock = Clock()
    cache = FleetCache(counting, order, clock=clock)
    first = await cache.snapshot(redis)
    await writer([host(WEB, T0 + 15)])
    encoded.clear()
    cache.invalidate()
    second = await cache.snapshot(redis)
    assert encoded == ["web-1:9100"]
    assert second.entries[0] is first.entries[0]  # db-1, unchanged: the same entry


async def test_after_a_quiet_spell_a_request_waits_for_the_refresh(redis: aioredis.Redis) -> None:
    await summarized(LiveWriter(redis))([host(WEB, T0)])
    clock = Clock()
    cache = FleetCache(encode, order, max_age_s=1.0, clock=clock)
    await cache.snapshot(redis)
    await summarized(LiveWriter(redis))([host(DB, T0)])
    clock.now += 10
    fresh = await cache.snapshot(redis)
    assert [e.status.instance for e in fresh.entries] == ["db-1:9100", "web-1:9100"]


async def test_concurrent_requests_share_one_refresh(redis: aioredis.Redis) -> None:
    await summarized(LiveWriter(redis))([host(WEB, T0)])
    cache = FleetCache(encode, order, clock=Clock())
    snapshots = await asyncio.gather(*(cache.snapshot(redis) for _ in range(20)))
    assert cache.refreshes == 1
    assert all(s is snapshots[0] for s in snapshots)


async def test_invalidate_makes_the_next_request_read_redis(redis: aioredis.Redis) -> None:
    await summarized(LiveWriter(redis))([host(WEB, T0)])
    cache = FleetCache(encode, order, clock=Clock())
    await cache.snapshot(redis)
    cache.invalidate()
    await cache.snapshot(redis)
    assert cache.refreshes == 2


async def test_encode_listing_is_the_documented_document(redis: aioredis.Redis) -> None:
    await summarized(LiveWriter(redis))([host(WEB, T0), host(DB, T0)])
    snapshot = await FleetCache(encode, order, clock=Clock()).snapshot(redis)
    doc = json.loads(encode_listing(snapshot.entries[1:]))
    assert doc == {
        "servers": [{"id": str(WEB.server_id), "instance": "web-1:9100", "status": "up"}],
        "total": 1,
    }
    assert json.loads(encode_listing([])) == {"servers": [], "total": 0}


async def test_a_snapshot_holds_its_whole_listing_plain_and_gzipped(redis: aioredis.Redis) -> None:
    await summarized(LiveWriter(redis))([host(WEB, T0), host(DB, T0)])
    snapshot = await FleetCache(encode, order, clock=Clock()).snapshot(redis)
    assert snapshot.listing == encode_listing(snapshot.entries)
    assert gzip.decompress(snapshot.listing_gzipped()) == snapshot.listing
    assert snapshot.listing_gzipped() is snapshot.listing_gzipped(), "compressed once"
