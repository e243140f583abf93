"""The bounded hand-off between scrape loops and storage writers.

A scrape never waits for storage: ``put`` never blocks. When the queue is full, the oldest result is dropped
and counted, so memory stays bounded and the freshest data wins; storage's own spool is what makes slow
databases lossless, this queue only decouples.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Protocol

from prometheus_client import Counter, Gauge

from collector.result import ScrapeResult


class QueueMetrics(Protocol):
    """The two metrics the queue keeps (the collector's ``ScrapeMetrics`` has them)."""

    @property
    def queue_depth(self) -> Gauge:
        """Results waiting for storage."""
        ...

    @property
    def results_dropped(self) -> Counter:
        """Results dropped because the queue was full."""
        ...


class ResultQueue:
    """A bounded FIFO of scrape results with a non-blocking ``put`` and batch reads."""

    def __init__(self, max_results: int, metrics: QueueMetrics) -> None:
        self._items: deque[ScrapeResult] = deque()
        self._max = max_results
        self._ready = asyncio.Event()
        self._metrics = metrics
        metrics.queue_depth.set_function(lambda: len(self._items))

    def __len__(self) -> int:
        return len(self._items)

    @property
    def max_results(self) -> int:
        """How many results the queue holds before it drops the oldest."""
        return self._max

    def put(self, result: ScrapeResult) -> None:
        """Enqueue ``result``; when full, drop the oldest one first."""
        if len(self._items) >= self._max:
            self._items.popleft()
            self._metrics.results_dropped.inc()
        self._items.append(result)
        self._ready.set()

    async def get_batch(self, max_results: int, wait_s: float | None = None) -> list[ScrapeResult]:
        """Up to ``max_results`` results, waiting (at most ``wait_s``) until at least one is there."""
        if not self._items:
            self._ready.clear()
            try:
                async with asyncio.timeout(wait_s):
                    await self._ready.wait()
            except TimeoutError:
                return []
        batch: list[ScrapeResult] = []
        while self._items and len(batch) < max_results:
            batch.append(self._items.popleft())
        return batch
