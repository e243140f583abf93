"""The live writer's batch as a pipeline answers and stores what its script does, on the same arguments."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from collector.storage import keys
from collector.storage.live import WRITE_SCRIPT
from collector.storage.live_pipeline import write_as_pipeline


def _args(status: str, set_value: bytes, trim: str = "(5") -> list[str | int | bytes]:
    head: list[str | int | bytes] = [
        100,
        200,
        300,
        "server:{%s}:status",
        "target:{%s}:latest",
        "seriesset:%s",
        "events:scrape@0",
        keys.SERVERS_INDEX,
        keys.TARGETS_INDEX,
        "(0",
        *(f"server:{{%s}}:metrics:{m}" for m in keys.METRICS),
    ]
    result: list[str | int | bytes] = [
        "srv",
        "tgt",
        "10.0",
        f'{{"server_id":"srv","status":"{status}"}}',
        b"\x01latest",
        "set1",
        set_value,
        trim,
        "10.000:42.0",
        "",
        "10.000:7.5",
        "",
        "",
        '{"server_id":"srv"}',
    ]
    return [*head, *result]


@pytest.fixture
async def redis(flushed_redis: aioredis.Redis) -> aioredis.Redis:
    return flushed_redis


async def _stored(redis: aioredis.Redis) -> dict[object, object]:
    out: dict[object, object] = {}
    for key in sorted(await redis.keys("*")):
        kind = await redis.type(key)
        value = await redis.get(key) if kind == b"string" else await redis.zrange(key, 0, -1, withscores=True)
        out[key] = (value, await redis.ttl(key) > 0)
    return out


async def _run_both(redis: aioredis.Redis, batches: list[list[str | int | bytes]]) -> list[list[object]]:
    """Each batch through the script, then (on an emptied database) through the pipeline; both answers
    and both stored states must agree."""
    script = redis.register_script(WRITE_SCRIPT)
    by_script = [await script(args=batch) for batch in batches]
    stored_by_script = await _stored(redis)
    await redis.flushdb()
    by_pipeline = [await write_as_pipeline(redis, batch) for batch in batches]
    assert by_pipeline == by_script
    assert await _stored(redis) == stored_by_script
    return by_pipeline


async def test_first_write_then_a_change_of_status_and_a_set_refresh(redis: aioredis.Redis) -> None:
    answers = await _run_both(redis, [_args("up", b"set-bytes"), _args("warning", b"", trim="")])
    assert answers == [[None, 0], [b"up", 0]]


async def test_a_refresh_finds_a_lost_set(redis: aioredis.Redis) -> None:
    answers = await _run_both(redis, [_args("up", b"")])
    assert answers == [[None, 1]]
