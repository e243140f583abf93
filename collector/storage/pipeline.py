"""From the scrape queue into both stores, each independent of the other.

One consumer task takes batches of scrape results from the :class:`ResultQueue` (up to a size, or what
gathered within ``batch_linger_s`` of the first), computes each server's
summary once, and hands the batch to the history writer (which never blocks: it batches, and spools to disk
while PostgreSQL is away) and to the live task. The live task writes Redis; while Redis is away it backs off
(capped, exponential) and drops live batches, counted, since live state refills from the next scrapes. So
Redis being down never stops history, and PostgreSQL being down never stops live state.

Observers (the alert engine, the scrape event log) are called with every wave and its summaries, on the
consumer task: each must be synchronous and cheap, and what one raises is logged, never passed on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

import structlog
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from collector.backoff import Backoff, RetrySchedule
from collector.queue import ResultQueue
from collector.result import ScrapeResult
from collector.storage.errors import StoreUnavailable
from collector.storage.history_writer import HistoryWriter
from collector.storage.live import LiveWriter
from collector.summary import ServerSummary, Summarizer

log = structlog.get_logger(__name__)

WaveObserver = Callable[[Sequence[ScrapeResult], Mapping[str, ServerSummary]], None]
"""Called with each wave (at most one result per server) and its summaries by target identity."""


@dataclass(frozen=True)
class PipelineOptions:
    """Batching and back-off of the pipeline."""

    batch_max_results: int = 500
    batch_wait_s: float = 0.25
    batch_linger_s: float = 0.5
    """After the first result of a batch, how long to let more gather: a fleet's scrapes are spread over
    the interval, and without it every result would be a batch of one, each costing its own round trip to
    Redis (live state is at most this much later)."""
    live_max_batches: int = 64
    live_write_timeout_s: float = 5.0
    live_backoff_initial_s: float = 0.5
    live_backoff_max_s: float = 30.0


class StoragePipeline:
    """Consumes scrape results and feeds the Redis and PostgreSQL writers."""

    def __init__(
        self,
        queue: ResultQueue,
        live: LiveWriter,
        history: HistoryWriter,
        options: PipelineOptions | None = None,
        observers: Sequence[WaveObserver] = (),
    ) -> None:
        self._queue = queue
        self._observers = tuple(observers)
        self._live = live
        self.history = history
        """The PostgreSQL writer (its counters and health are read for metrics)."""
        self._options = options or PipelineOptions()
        self._summarizer = Summarizer()
        self._live_batches: deque[tuple[list[ScrapeResult], Mapping[str, ServerSummary]]] = deque()
        self._live_ready = asyncio.Event()
        self._live_retry = RetrySchedule(
            Backoff(self._options.live_backoff_initial_s, self._options.live_backoff_max_s)
        )
        self.live_batches_dropped = 0
        self.results_consumed = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    @property
    def live_error(self) -> str | None:
        """Why Redis last failed, while the live writer is backing off; None when it is healthy."""
        return self._live_retry.error

    async def start(self) -> None:
        """Start the history writer and both tasks."""
        await self.history.start()
        self._tasks = [
            asyncio.create_task(self._consume(), name="storage-consume"),
            asyncio.create_task(self._write_live(), name="storage-live"),
        ]

    async def _consume(self) -> None:
        options = self._options
        while not self._stopping:
            batch = await self._queue.get_batch(options.batch_max_results, options.batch_wait_s)
            if batch and len(batch) < options.batch_max_results and options.batch_linger_s > 0:
                await asyncio.sleep(options.batch_linger_s)
                batch += await self._queue.get_batch(options.batch_max_results - len(batch), 0)
            if batch:
                self._dispatch(batch)

    def _dispatch(self, batch: list[ScrapeResult]) -> None:
        for wave in _waves(batch):
            self._dispatch_wave(wave)
        self.results_consumed += len(batch)

    def _dispatch_wave(self, batch: list[ScrapeResult]) -> None:
        summaries = self._summarizer.summarize(batch)
        stats: dict[UUID, ServerSummary] = {}
        for result in batch:
            summary = summaries.get(result.target.identity)
            if summary is not None:
                stats[result.target.server_id] = summary
        self.history.write(batch, stats)
        for observer in self._observers:
            try:
                observer(batch, summaries)
            except Exception:  # an observer's failure must not stop storage
                log.exception("wave observer failed")
        if len(self._live_batches) >= self._options.live_max_batches:
            self._live_batches.popleft()
            self.live_batches_dropped += 1
        self._live_batches.append((batch, summaries))
        self._live_ready.set()

    async def _write_live(self) -> None:
        options = self._options
        while True:
            if not self._live_batches:
                if self._stopping:
                    return
                self._live_ready.clear()
                await self._live_ready.wait()
                continue
            wait_s = self._live_retry.wait_s()
            if wait_s > 0:
                # Redis is away: live state of this period is not worth keeping, the next scrapes refill it.
                self.live_batches_dropped += len(self._live_batches)
                self._live_batches.clear()
                await asyncio.sleep(min(wait_s, 1.0))
                continue
            batch, summaries = self._take_live()
            try:
                async with asyncio.timeout(options.live_write_timeout_s):
                    await self._live.write(batch, summaries)
            except (StoreUnavailable, TimeoutError) as exc:
                self.live_batches_dropped += 1
                self._live_retry.failed(exc)
                if self._live_retry.failures == 1:
                    log.warning("redis unavailable, live state paused", error=self._live_retry.error)
                continue
            if self._live_retry.succeeded():
                log.info("redis is back, live state resumed")

    def _take_live(self) -> tuple[list[ScrapeResult], Mapping[str, ServerSummary]]:
        """The waiting live batches as one (up to ``batch_max_results``): one round trip when Redis lags.

        A later batch's summary of a target replaces an earlier one, as the writer wants: it writes a
        target's summary with its last successful result.
        """
        batch, summaries = self._live_batches.popleft()
        if not self._live_batches:
            return batch, summaries
        results, merged = list(batch), dict(summaries)
        while (
            self._live_batches
            and len(results) + len(self._live_batches[0][0]) <= self._options.batch_max_results
        ):
            more, more_summaries = self._live_batches.popleft()
            results += more
            merged.update(more_summaries)
        return results, merged

    def health(self) -> dict[str, object]:
        """The state of both writers, for ``/api/health``."""
        history = self.history.health()
        return {
            "redis_writer": {
                "status": "degraded" if self.live_error else "ok",
                "last_error": self.live_error,
                "batches_dropped": self.live_batches_dropped,
            },
            "history_writer": {
                "status": history.status,
                "spool_records": history.spool_records,
                "spool_bytes": history.spool_bytes,
                "spool_dropped_records": history.spool_dropped_records,
                "pending_samples": history.pending_samples,
                "last_error": history.last_error,
                "retry_in_s": round(history.retry_in_s, 3),
            },
        }

    async def close(self, timeout_s: float) -> None:
        """Stop consuming; hand what the queue still holds to history; close the writers within the bound."""
        self._stopping = True
        consumer = self._tasks[0] if self._tasks else None
        if consumer is not None:
            consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await consumer
        while True:
            rest = await self._queue.get_batch(self._options.batch_max_results, 0)
            if not rest:
                break
            self._dispatch(rest)
        self._live_ready.set()
        if len(self._tasks) > 1:
            try:
                async with asyncio.timeout(min(2.0, timeout_s)):
                    await self._tasks[1]
            except TimeoutError:
                self._tasks[1].cancel()
        await self.history.close(timeout_s)

    def collector(self) -> Collector:
        """A metrics collector exposing the pipeline's and the history writer's counters."""
        return _PipelineMetrics(self)

    def register(self, registry: CollectorRegistry) -> None:
        """Add the pipeline's metrics to ``registry``."""
        registry.register(self.collector())


def _waves(batch: list[ScrapeResult]) -> Iterator[list[ScrapeResult]]:
    """Split a batch so that no server appears twice in a part, keeping order.

    Both writers keep one summary per server per call (the latest), so a batch that holds two scrapes of a
    server (a backlog) is written as consecutive parts: every scrape gets its own ``server_stats`` row.
    """
    wave: list[ScrapeResult] = []
    seen: set[object] = set()
    for result in batch:
        if result.target.server_id in seen:
            yield wave
            wave, seen = [], set()
        wave.append(result)
        seen.add(result.target.server_id)
    if wave:
        yield wave


class _PipelineMetrics(Collector):
    """Reads the writers' counters when scraped."""

    def __init__(self, pipeline: StoragePipeline) -> None:
        self._pipeline = pipeline

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        pipeline = self._pipeline
        counters = pipeline.history.counters
        health = pipeline.history.health()
        for name, help_text, value in (
            (
                "openmanager_history_batches_written",
                "Batches written to PostgreSQL.",
                counters.batches_written_total,
            ),
            (
                "openmanager_history_samples_written",
                "Samples written to PostgreSQL.",
                counters.samples_written_total,
            ),
            (
                "openmanager_history_batches_spooled",
                "Batches put in the disk spool.",
                counters.batches_spooled_total,
            ),
            (
                "openmanager_history_batches_replayed",
                "Spooled batches replayed.",
                counters.batches_replayed_total,
            ),
            (
                "openmanager_history_batches_rejected",
                "Batches PostgreSQL refused.",
                counters.batches_rejected_total,
            ),
            ("openmanager_history_write_failures", "Failed history writes.", counters.write_failures_total),
            (
                "openmanager_history_rows_dropped",
                "Pending rows dropped over the bound.",
                counters.rows_dropped_pending_total,
            ),
            (
                "openmanager_live_batches_dropped",
                "Live batches not written to Redis.",
                pipeline.live_batches_dropped,
            ),
            (
                "openmanager_storage_results_consumed",
                "Scrape results taken from the queue.",
                pipeline.results_consumed,
            ),
        ):
            yield CounterMetricFamily(name, help_text, value=value)
        yield GaugeMetricFamily(
            "openmanager_history_spool_bytes", "Bytes in the disk spool.", value=health.spool_bytes
        )
        yield GaugeMetricFamily(
            "openmanager_history_pending_samples",
            "Samples accepted for history and not yet written or spooled.",
            value=health.pending_samples,
        )
        yield GaugeMetricFamily(
            "openmanager_history_spool_dropped_records",
            "Spooled batches dropped because the spool was full.",
            value=health.spool_dropped_records,
        )
        up = GaugeMetricFamily(
            "openmanager_store_up",
            "Whether each store accepts writes (1) or its writer is backing off (0).",
            labels=["store"],
        )
        up.add_metric(["redis"], 0.0 if pipeline.live_error else 1.0)
        up.add_metric(["postgres"], 1.0 if health.status == "ok" else 0.0)
        yield up
