"""The remote-write receiver: decoded requests in, scrape results out into the collector's result queue.

Pushed samples take the scraped samples' road from the :class:`~collector.queue.ResultQueue` on:
the storage pipeline writes them to Redis and PostgreSQL (spooling while PostgreSQL is away) and the alert
engine and the scrape event log see them. There is no second write path.

A request is handled whole on the event loop, without awaiting, so requests never interleave: decode
(:mod:`~collector.ingest.wire`), resolve each series to its id and server, check the samples' order
(:mod:`~collector.ingest.series`), put them into their groups (:mod:`~collector.ingest.assembler`). A
background task hands on the groups that are due every ``tick_s`` and reads the servers registered through
the API every ``registered_refresh_s``.

Version 1 is all or nothing, like Prometheus: a request with an out-of-order or conflicting sample is
refused whole and changes nothing, while series with invalid labels are skipped and counted. Version 2
allows partial writes: the good samples are kept, the bad ones (invalid labels included) are reported.
Native histograms are not stored (history holds floats) and are counted as dropped.

When the result queue is nearly full (storage lags) a request is refused with :class:`IngestBusyError`
(a 503, which senders retry later) rather than pushing scrape results out of the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

import numpy as np
import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

from collector.config.api_settings import RemoteWriteSettings
from collector.ingest.assembler import Assembler, AssemblerOptions
from collector.ingest.series import INVALID, SampleRejectedError, SeriesTable
from collector.ingest.targets import RegisteredAddress
from collector.ingest.wire import decode_v1, decode_v2
from collector.queue import ResultQueue

log = structlog.get_logger(__name__)

Version = Literal[1, 2]
BUSY_FRACTION: Final = 0.9
"""Refuse pushes while the result queue is this full: scrapes must keep their room."""


class IngestBusyError(Exception):
    """Storage lags behind: the sender should retry later."""


@dataclass(frozen=True)
class WriteOutcome:
    """What a request did."""

    samples_written: int
    """Samples accepted for storage."""
    samples_resent: int
    """Samples identical to ones already accepted (a sender's retry), dropped."""
    samples_invalid: int
    """Samples of series with invalid labels, dropped."""
    samples_late: int
    """Samples whose server's row for their timestamp was already handed on, dropped."""
    histograms_dropped: int
    errors: list[str]
    """Version 2: the rejected samples (out of order, duplicates); their request is answered 400."""


@dataclass(frozen=True)
class ReceiverOptions:
    """Timing of the receiver's background task, and the assembler's options."""

    assembler: AssemblerOptions = field(default_factory=AssemblerOptions)
    tick_s: float = 0.1
    registered_refresh_s: float = 5.0
    forget_after_s: float = 3600.0
    """Series without a sample for this long are forgotten (checked every tenth of it)."""


def receiver_options(settings: RemoteWriteSettings) -> ReceiverOptions:
    """The receiver's options from the ``remote_write`` settings."""
    return ReceiverOptions(AssemblerOptions(settle_s=settings.settle_s, wait_s=settings.wait_s))


class _Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.samples = Counter(
            "openmanager_remote_write_samples",
            "Samples received by remote write, by outcome.",
            ["outcome"],
            registry=registry,
        )
        self.requests = Counter(
            "openmanager_remote_write_requests",
            "Remote-write requests handled, by protocol version and outcome.",
            ["version", "outcome"],
            registry=registry,
        )
        self.series = Gauge(
            "openmanager_remote_write_series", "Pushed series known to the receiver.", registry=registry
        )
        self.pending = Gauge(
            "openmanager_remote_write_pending_groups",
            "Server-and-timestamp groups of pushed samples not yet handed to storage.",
            registry=registry,
        )


class RemoteWriteReceiver:
    """Turns remote-write requests into scrape results on ``queue``."""

    def __init__(
        self,
        queue: ResultQueue,
        registry: CollectorRegistry,
        options: ReceiverOptions | None = None,
        *,
        registered: Callable[[], Awaitable[Mapping[str, RegisteredAddress]]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.options = options or ReceiverOptions()
        self._queue = queue
        self._table = SeriesTable()
        self.assembler = Assembler(self._table, queue.put, self.options.assembler)
        self._registered = registered
        self._clock = clock
        self._metrics = _Metrics(registry)
        self._metrics.series.set_function(lambda: len(self._table))
        self._metrics.pending.set_function(lambda: self.assembler.pending_groups)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Read the registered servers once, then start the background task."""
        await self._refresh_registered()
        self._task = asyncio.create_task(self._run(), name="remote-write")

    async def close(self) -> None:
        """Stop the background task and hand every pending group on (before the pipeline drains)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.assembler.flush()

    async def _run(self) -> None:
        options = self.options
        next_refresh = time.monotonic() + options.registered_refresh_s
        next_forget = time.monotonic() + options.forget_after_s / 10
        while True:
            await asyncio.sleep(options.tick_s)
            self.assembler.emit_due()
            if time.monotonic() >= next_refresh:
                next_refresh = time.monotonic() + options.registered_refresh_s
                await self._refresh_registered()
            if time.monotonic() >= next_forget:
                next_forget = time.monotonic() + options.forget_after_s / 10
                self.forget()

    def forget(self) -> int:
        """Forget the series without a sample for ``forget_after_s``; how many."""
        before_ms = int((self._clock() - self.options.forget_after_s) * 1000)
        return self._table.forget(before_ms, self.assembler.in_use())

    async def _refresh_registered(self) -> None:
        if self._registered is None:
            return
        try:
            self.assembler.set_registered(await self._registered())
        except Exception as exc:  # PostgreSQL away: keep what we knew, try again later
            log.warning("registered servers not read for remote write", error=f"{type(exc).__name__}: {exc}")

    def write(self, payload: bytes, version: Version) -> WriteOutcome:
        """Take one decompressed request.

        Raises :class:`~collector.ingest.wire.WireError` for a body that is not a request,
        :class:`~collector.ingest.series.SampleRejectedError` when version 1 breaks the order rules, and
        :class:`IngestBusyError` while the result queue is nearly full.
        """
        if len(self._queue) >= BUSY_FRACTION * self._queue.max_results:
            self._metrics.requests.labels(str(version), "busy").inc()
            raise IngestBusyError("storage is behind; retry later")
        try:
            outcome = self._write(payload, version)
        except SampleRejectedError:
            self._metrics.requests.labels(str(version), "rejected").inc()
            raise
        except ValueError:
            self._metrics.requests.labels(str(version), "invalid").inc()
            raise
        self._metrics.requests.labels(str(version), "rejected" if outcome.errors else "ok").inc()
        return outcome

    def _write(self, payload: bytes, version: Version) -> WriteOutcome:
        table = self._table
        decoded = decode_v1(payload, table.keys) if version == 1 else decode_v2(payload)
        entry_ids = table.resolve(decoded, self.assembler.slot)
        sids = entry_ids[decoded.entries] if len(entry_ids) else decoded.entries
        valid = sids != INVALID
        invalid = int(np.count_nonzero(~valid))
        sids, stamps, values = sids[valid], decoded.timestamps_ms[valid], decoded.values[valid]
        admitted = table.admit(sids, stamps, values, now_ms=int(self._clock() * 1000), partial=version == 2)
        new = admitted.new
        kept = int(np.count_nonzero(new))
        late = self.assembler.add(sids[new], stamps[new], values[new])
        resent = len(sids) - kept - len(admitted.errors)
        metrics = self._metrics.samples
        for outcome, count in (
            ("written", kept - late),
            ("resent", resent),
            ("invalid", invalid),
            ("late", late),
            ("rejected", len(admitted.errors)),
            ("histogram", decoded.histograms),
        ):
            if count:
                metrics.labels(outcome).inc(count)
        if invalid:
            log.warning("remote write: series with invalid labels dropped", samples=invalid)
        errors = [str(e) for e in admitted.errors]
        if invalid and version == 2:
            # Version 2 reports what it could not write (Prometheus answers 400); version 1 only counts it.
            errors.append(f"{invalid} samples of series with an invalid metric name or labels")
        return WriteOutcome(
            samples_written=kept - late,
            samples_resent=resent,
            samples_invalid=invalid,
            samples_late=late,
            histograms_dropped=decoded.histograms,
            errors=errors,
        )
