"""The history write path, decoupled from scraping: batching, the on-disk spool, replay and backoff.

``write`` never waits for PostgreSQL: it turns results into rows and appends them to a pending batch. A
background task flushes the pending batch when it is big enough or old enough. When PostgreSQL is healthy
and the spool is empty, a flush writes straight to PostgreSQL; otherwise (an error, a write slower than
``write_timeout_s``, a backoff in progress, or older batches still spooled) the batch is appended to the
spool, so batches always reach PostgreSQL in the order they were made. The same task replays the spool
when PostgreSQL answers again; writes are idempotent (see ``history``), so a batch that was in fact
committed before its acknowledgement was lost is harmless to replay.

Spooled batches carry the definitions of the series sets that PostgreSQL did not know yet, so a collector
that starts while PostgreSQL is down still writes every series once it is back. A set is defined once per
spool, in the first record that needs it, not in every record: a thousand new targets' definitions are
hundreds of thousands of series, and encoding them again per batch is what would keep a busy collector from
ever catching up. Replay fills a record's missing definitions from memory; should the spool drop the
record that held one (when full), the next record that needs it defines it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from uuid import UUID

import asyncpg
import structlog

from collector.backoff import Backoff, RetrySchedule
from collector.result import ScrapeResult
from collector.storage.batch_codec import BatchDecodeError, decode_batch, encode_batch
from collector.storage.errors import StoreUnavailable
from collector.storage.history import (
    TRANSIENT_ERRORS,
    HistoryBatch,
    HistoryStore,
    ServerStatsSource,
    SetDigests,
    batch_from_results,
)
from collector.storage.series_sets import SeriesSetDef
from collector.storage.spool import Spool, SpoolConfig

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class WriterConfig:
    """How the history writer batches, spools and retries."""

    spool_dir: Path
    spool_max_bytes: int = 1 << 30
    spool_segment_bytes: int = 64 << 20
    spool_fsync: bool = True
    max_batch_samples: int = 250_000
    """Flush as soon as this many samples are pending (about 250 targets of 1,000 series)."""
    flush_interval_s: float = 1.0
    """Flush pending rows at least this often."""
    max_pending_samples: int = 5_000_000
    """Beyond this (a write hangs up to ``write_timeout_s``), the oldest pending rows are dropped, counted."""
    write_timeout_s: float = 10.0
    """The bound on each step of a write (getting a connection, each slice of new series, the rows)."""
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    replay_slice_s: float = 0.5
    """Replay at most this long before looking at fresh rows again."""


@dataclass
class WriterCounters:
    """Counts since start, for the collector's own metrics."""

    batches_written_total: int = 0
    samples_written_total: int = 0
    batches_spooled_total: int = 0
    batches_replayed_total: int = 0
    batches_rejected_total: int = 0
    """Batches PostgreSQL refused for a reason other than being unavailable (logged, not retried)."""
    rows_dropped_pending_total: int = 0
    rows_without_set_total: int = 0
    write_failures_total: int = 0


@dataclass(frozen=True)
class WriterHealth:
    """The write path's state for ``/api/health``."""

    status: Literal["ok", "degraded"]
    spool_records: int
    spool_bytes: int
    spool_dropped_records: int
    pending_samples: int
    last_error: str | None
    retry_in_s: float


@dataclass
class _Pending:
    batch: HistoryBatch = field(default_factory=HistoryBatch)
    since: float | None = None
    samples: int = 0
    """The batch's sample count, kept as rows come and go: summing it per write would be quadratic."""


class HistoryWriter:
    """Writes scrape results to PostgreSQL history through the spool; see the module docstring."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        config: WriterConfig,
        *,
        store: HistoryStore | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool = pool
        self.config = config
        self._store = store or HistoryStore()
        self._clock = clock
        self._digests = SetDigests()
        self._pending = _Pending()
        self._wake = asyncio.Event()
        self._spool_lock = asyncio.Lock()
        self._spool: Spool | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._write_lock = asyncio.Lock()
        self._inflight: list[HistoryBatch] = []
        """The slices of the batch being written that are not stored yet (spooled if close cancels)."""
        self._retry = RetrySchedule(
            Backoff(config.backoff_initial_s, config.backoff_max_s, jitter=0.1), clock=clock
        )
        self._spool_defined: set[bytes] = set()
        """Sets whose definition a spooled record holds (so later records leave it out)."""
        self._spool_defs: dict[bytes, SeriesSetDef] = {}
        """The definitions of the sets of spooled records, to complete records at replay."""
        self.counters = WriterCounters()

    async def start(self) -> None:
        """Open the spool (recovering what a previous run left) and start the flush task."""
        spool_config = SpoolConfig(
            self.config.spool_dir,
            self.config.spool_max_bytes,
            self.config.spool_segment_bytes,
            self.config.spool_fsync,
        )
        self._spool = await asyncio.to_thread(Spool.open, spool_config)
        if self._spool.pending_records:
            log.info("history spool has batches to replay", records=self._spool.pending_records)
        self._task = asyncio.create_task(self._run(), name="history-writer")

    def write(self, results: Sequence[ScrapeResult], stats: Mapping[UUID, ServerStatsSource]) -> None:
        """Queue ``results`` for history; ``stats`` holds each server's ``server_stats`` values by id."""
        if self._closing:
            raise RuntimeError("history writer is closed")
        batch = batch_from_results(results, stats, self._digests)
        if self._pending.since is None:
            self._pending.since = self._clock()
        self._pending.batch.extend(batch)
        self._pending.samples += batch.sample_count
        self._trim_pending()
        if self._pending.samples >= self.config.max_batch_samples:
            self._wake.set()

    def _trim_pending(self) -> None:
        pending = self._pending
        rows = pending.batch.rows
        drop = 0
        while pending.samples > self.config.max_pending_samples and drop < len(rows):
            pending.samples -= len(rows[drop].values)
            drop += 1
        if drop:
            del rows[:drop]
            self.counters.rows_dropped_pending_total += drop
            log.warning("history rows dropped: pending batch over its bound", rows=drop)

    async def flush(self) -> None:
        """Write (or spool) whatever is pending now."""
        batch = self._take_pending()
        if batch.rows:
            await self._write_or_spool(batch)

    async def close(self, timeout_s: float = 10.0) -> None:
        """Stop intake, let the flush task finish its step, write or spool what is pending; bounded.

        Past ``timeout_s`` the task is cancelled and whatever it was writing goes to the spool (a batch
        that was in fact committed is harmless to replay); nothing accepted by :meth:`write` is lost.
        """
        self._closing = True
        self._wake.set()
        deadline = self._clock() + timeout_s
        if self._task is not None:
            try:
                async with asyncio.timeout(timeout_s):
                    await self._task
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        leftovers = [*self._inflight, self._take_pending()]
        self._inflight = []
        for batch in (b for b in leftovers if b.rows):
            try:
                async with asyncio.timeout(max(0.0, deadline - self._clock())):
                    await self._write_or_spool(batch)
            except TimeoutError:
                await self._spool_batch(batch)

    def health(self) -> WriterHealth:
        """ok when PostgreSQL takes writes and nothing waits in the spool; degraded otherwise."""
        spool = self._spool
        records = spool.pending_records if spool is not None else 0
        return WriterHealth(
            status="ok" if self._retry.failures == 0 and records == 0 else "degraded",
            spool_records=records,
            spool_bytes=spool.bytes if spool is not None else 0,
            spool_dropped_records=spool.dropped_records if spool is not None else 0,
            pending_samples=self._pending.samples,
            last_error=self._retry.error,
            retry_in_s=self._retry.wait_s(),
        )

    @property
    def spool(self) -> Spool:
        """The open spool (after :meth:`start`)."""
        assert self._spool is not None, "start() first"
        return self._spool

    # -- the flush task -----------------------------------------------------------------------------------

    def _take_pending(self) -> HistoryBatch:
        batch = self._pending.batch
        self._pending = _Pending()
        return batch

    async def _run(self) -> None:
        while not self._closing:
            await self._sleep_until_due()
            pending = self._pending
            if pending.batch.rows and (
                pending.samples >= self.config.max_batch_samples
                or self._clock() - (pending.since or 0.0) >= self.config.flush_interval_s
            ):
                await self._write_or_spool(self._take_pending())
            if self.spool.pending_records and self._retry.due() and not self._closing:
                await self._replay()

    async def _sleep_until_due(self) -> None:
        now = self._clock()
        due = now + self.config.flush_interval_s
        if self._pending.since is not None:
            due = min(due, self._pending.since + self.config.flush_interval_s)
        if self.spool.pending_records:
            due = min(due, max(self._retry.retry_at, now))
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=max(0.0, due - now))

    async def _write_or_spool(self, batch: HistoryBatch) -> None:
        async with self._write_lock:
            self._inflight = self._slices(batch)
            while self._inflight:
                part = self._inflight[0]
                if self.spool.pending_records or not self._retry.due() or not await self._write(part):
                    await self._spool_batch(part)
                self._inflight.pop(0)

    def _slices(self, batch: HistoryBatch) -> list[HistoryBatch]:
        """``batch`` cut into batches of at most ``max_batch_samples`` (at least one row each)."""
        out: list[HistoryBatch] = []
        current = HistoryBatch()
        size = 0
        for row in batch.rows:
            if current.rows and size + len(row.values) > self.config.max_batch_samples:
                out.append(current)
                current, size = HistoryBatch(), 0
            current.rows.append(row)
            size += len(row.values)
            if row.server_id in batch.targets:
                current.targets[row.server_id] = batch.targets[row.server_id]
            if row.set_digest in batch.sets:
                current.sets[row.set_digest] = batch.sets[row.set_digest]
        if current.rows:
            out.append(current)
        return out

    async def _write(self, batch: HistoryBatch) -> bool:
        """Write to PostgreSQL; False when it is unavailable (the batch must be kept)."""
        try:
            async with self._pool.acquire(timeout=self.config.write_timeout_s) as conn:
                outcome = await self._store.write(conn, batch, step_timeout_s=self.config.write_timeout_s)
        except StoreUnavailable as exc:
            self._failed(exc)
            return False
        except TRANSIENT_ERRORS as exc:
            self._failed(exc)
            return False
        except asyncpg.PostgresError as exc:
            # Retrying cannot help a batch PostgreSQL refuses; keeping it would wedge the spool behind it.
            self.counters.batches_rejected_total += 1
            log.error("history batch rejected by postgres", error=str(exc), rows=len(batch.rows))
            return True
        failures = self._retry.succeeded()
        if failures:
            log.info("postgres history writes resumed", after_failures=failures)
        self.counters.batches_written_total += 1
        self.counters.samples_written_total += outcome.samples_written
        self.counters.rows_without_set_total += outcome.rows_without_set
        return True

    def _failed(self, exc: BaseException) -> None:
        self.counters.write_failures_total += 1
        error = f"{type(exc).__name__}: {exc}"
        delay_s = self._retry.failed(error)
        log.warning("postgres unavailable for history, spooling", error=error, retry_in_s=round(delay_s, 2))

    async def _spool_batch(self, batch: HistoryBatch) -> None:
        define = [d for d in batch.sets if d not in self._spool_defined and not self._store.known_set(d)]
        # Off the event loop: a first wave's definitions are hundreds of thousands of series.
        payload = await asyncio.to_thread(encode_batch, batch, define)
        async with self._spool_lock:
            before = self.spool.dropped_records
            await asyncio.to_thread(self.spool.append, payload)
            if self.spool.dropped_records > before:
                # The dropped records may have held definitions: the next records define them again.
                self._spool_defined.clear()
                log.warning(
                    "history spool full: oldest batches dropped",
                    dropped=self.spool.dropped_records - before,
                )
        self._spool_defined.update(define)
        for digest, definition in batch.sets.items():
            if not self._store.known_set(digest):
                self._spool_defs[digest] = definition
        self.counters.batches_spooled_total += 1

    def _complete(self, batch: HistoryBatch) -> None:
        """Add the definitions a replayed record left out because an earlier record held them."""
        for row in batch.rows:
            digest = row.set_digest
            if digest not in batch.sets:
                definition = self._spool_defs.get(digest)
                if definition is not None:
                    batch.sets[digest] = definition

    async def _replay(self) -> None:
        deadline = self._clock() + self.config.replay_slice_s
        while self._clock() < deadline:
            async with self._spool_lock:
                head = await asyncio.to_thread(self.spool.peek)
            if head is None:
                return
            record, payload = head
            try:
                batch = await asyncio.to_thread(decode_batch, payload)
            except BatchDecodeError as exc:
                log.error("unreadable batch in history spool skipped", error=str(exc))
            else:
                self._complete(batch)
                if not await self._write(batch):
                    return
                self.counters.batches_replayed_total += 1
            async with self._spool_lock:
                await asyncio.to_thread(self.spool.ack, record)
                if not self.spool.pending_records:
                    self._spool_defined.clear()
                    self._spool_defs.clear()
