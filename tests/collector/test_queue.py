"""The bounded hand-off between scrapes and storage: never blocks, drops the oldest, counts drops."""

from __future__ import annotations

import asyncio

from collector.queue import ResultQueue
from collector.result import ScrapeResult
from collector.scrape.metrics import ScrapeMetrics
from tests.collector.storage.history_helpers import result, target


def _result(i: int) -> ScrapeResult:
    return result(target(i), 1000 * i, [1.0])


async def test_full_queue_drops_the_oldest_and_counts_it() -> None:
    metrics = ScrapeMetrics()
    queue = ResultQueue(2, metrics)
    for i in range(3):
        queue.put(_result(i))
    batch = await queue.get_batch(10, wait_s=0)
    assert [r.target.identity for r in batch] == ["t1", "t2"]
    assert metrics.results_dropped._value.get() == 1


async def test_get_batch_waits_for_the_first_result_and_respects_its_size() -> None:
    queue = ResultQueue(100, ScrapeMetrics())

    async def later() -> None:
        await asyncio.sleep(0.05)
        for i in range(5):
            queue.put(_result(i))

    task = asyncio.create_task(later())
    batch = await queue.get_batch(3, wait_s=2)
    await task
    assert len(batch) == 3 and len(queue) == 2


async def test_get_batch_gives_up_after_its_wait() -> None:
    assert await ResultQueue(10, ScrapeMetrics()).get_batch(10, wait_s=0.01) == []


def test_queue_depth_is_exported() -> None:
    metrics = ScrapeMetrics()
    queue = ResultQueue(10, metrics)
    queue.put(_result(1))
    assert metrics.registry.get_sample_value("openmanager_scrape_queue_depth") == 1.0
