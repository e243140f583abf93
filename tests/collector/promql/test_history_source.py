"""The engine's storage source: history and the latest live scrape, grants, limits, unavailable stores."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
import redis.asyncio as aioredis

from collector.matchers import Matcher
from collector.promql import Engine, EngineSettings, InstantVector, Matrix
from collector.promql.errors import TooManySamplesError, UnavailableError
from collector.promql.history_source import StorageSource
from collector.result import SeriesKey, TargetInfo
from collector.storage.live import LiveWriter
from tests.collector.storage.history_helpers import T0_MS, migrated_pool, result, target
from tests.collector.storage.history_helpers import write_results as store
from tests.collector.storage.test_live import summarized

STEP_MS = 15_000


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.flushdb()
        await client.aclose()


@pytest.fixture
async def pool(fresh_pg_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    async with migrated_pool(fresh_pg_dsn) as opened:
        yield opened


def keys_of(t: TargetInfo, *metrics: str) -> tuple[SeriesKey, ...]:
    return tuple((metric, t.labels) for metric in metrics)


def clock_at(ms: int) -> float:
    return ms / 1000


def values(result: object) -> dict[str, float]:
    assert isinstance(result, InstantVector), result
    return {f"{s.labels.get('__name__', '')}/{s.labels['instance']}": s.value for s in result.samples}


async def test_queries_over_history_see_every_stored_sample(pool: asyncpg.Pool) -> None:
    a, b = target(1), target(2)
    scrapes = [
        result(t, T0_MS + k * STEP_MS, [1.0, float(k * (i + 1))], keys_of(t, "up", "requests_total"))
        for i, t in enumerate((a, b))
        for k in range(41)
    ]
    await store(pool, scrapes)
    source = StorageSource(pool, None)
    engine = Engine(source)
    at = T0_MS + 40 * STEP_MS
    assert values(await engine.instant_query("requests_total", at)) == {
        f"requests_total/{a.instance}": 40.0,
        f"requests_total/{b.instance}": 80.0,
    }
    rate = await engine.instant_query("rate(requests_total[5m])", at)
    assert {k: round(v, 6) for k, v in values(rate).items()} == {
        f"/{a.instance}": round(1 / 15, 6),
        f"/{b.instance}": round(2 / 15, 6),
    }
    matrix = await engine.range_query("sum(up)", T0_MS, at, 60_000)
    assert isinstance(matrix, Matrix) and matrix.series[0].values.tolist() == [2.0] * 11
    assert source.loaded > 0


async def test_a_viewer_source_reads_only_its_servers(pool: asyncpg.Pool) -> None:
    a, b = target(1), target(2)
    await store(pool, [result(t, T0_MS, [1.0], keys_of(t, "up")) for t in (a, b)])
    engine = Engine()
    only_b = await engine.instant_query("up", T0_MS, source=StorageSource(pool, None, servers={b.server_id}))
    assert values(only_b) == {f"up/{b.instance}": 1.0}
    nothing = await engine.instant_query("count(up)", T0_MS, source=StorageSource(pool, None, servers=set()))
    assert values(nothing) == {}


async def test_the_live_layer_adds_the_scrape_history_has_not_stored_yet(
    pool: asyncpg.Pool, redis: aioredis.Redis
) -> None:
    t = target(1)
    both = keys_of(t, "up", "load", "temp")
    stored = [result(t, T0_MS + k * STEP_MS, [1.0, float(k), 20.0], both) for k in range(4)]
    await store(pool, stored)
    live_ms = T0_MS + 4 * STEP_MS
    # The latest scrape has lost "temp"; it is in Redis only.
    await summarized(LiveWriter(redis))([*stored, result(t, live_ms, [1.0, 9.0], keys_of(t, "up", "load"))])
    engine = Engine(StorageSource(pool, redis, clock=lambda: clock_at(live_ms + 1000)))
    assert values(await engine.instant_query("load", live_ms)) == {f"load/{t.instance}": 9.0}
    assert values(await engine.instant_query("temp", live_ms)) == {}, "gone stale at the live scrape"
    assert values(await engine.instant_query("temp", live_ms - 1)) == {f"temp/{t.instance}": 20.0}
    # Once history stores the same scrape, the answer is the same.
    await store(pool, [result(t, live_ms, [1.0, 9.0], keys_of(t, "up", "load"))])
    assert values(await engine.instant_query("load", live_ms)) == {f"load/{t.instance}": 9.0}
    assert values(await engine.instant_query("temp", live_ms)) == {}
    # A range that ended long before the live scrape does not look at Redis at all.
    far = Engine(StorageSource(pool, redis, clock=lambda: clock_at(live_ms + 7_200_000)))
    assert values(await far.instant_query("load", live_ms)) == {f"load/{t.instance}": 9.0}


async def test_a_failed_redis_leaves_the_history_answer_and_a_warning(
    pool: asyncpg.Pool, redis_url: str
) -> None:
    t = target(1)
    await store(pool, [result(t, T0_MS, [1.0], keys_of(t, "up"))])
    broken = aioredis.Redis.from_url(redis_url.rsplit(":", 1)[0] + ":1/0", socket_connect_timeout=0.5)
    source = StorageSource(pool, broken, clock=lambda: clock_at(T0_MS))
    try:
        assert values(await Engine(source).instant_query("up", T0_MS)) == {f"up/{t.instance}": 1.0}
    finally:
        await broken.aclose()
    assert source.warnings == ["the live layer (Redis) did not answer: the latest scrapes may be missing"]


async def test_a_closed_history_store_is_unavailable(fresh_pg_dsn: str) -> None:
    async with migrated_pool(fresh_pg_dsn) as opened:
        source = StorageSource(opened, None)
    with pytest.raises(UnavailableError, match="PostgreSQL"):
        await source.select([Matcher(name="__name__", op="=", value="up")], 0, 1000)


async def test_loading_past_the_sample_limit_is_too_many_samples(pool: asyncpg.Pool) -> None:
    t = target(1)
    await store(pool, [result(t, T0_MS + k * STEP_MS, [1.0], keys_of(t, "up")) for k in range(20)])
    engine = Engine(settings=EngineSettings(max_samples=1_000))
    end = T0_MS + 19 * STEP_MS
    ok = await engine.range_query("up", T0_MS, end, STEP_MS, source=StorageSource(pool, None, max_samples=20))
    assert len(ok.series[0].ts) == 20
    with pytest.raises(TooManySamplesError):
        await engine.range_query("up", T0_MS, end, STEP_MS, source=StorageSource(pool, None, max_samples=19))
