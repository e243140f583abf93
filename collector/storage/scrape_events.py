"""Targets going down and coming back, written to the event log (``/api/monitoring/logs``).

A wave observer of the storage pipeline: it remembers whether each target's last scrape succeeded and, when
that changes, queues one event: ``error`` when a target that was up fails (with the scrape's error), ``info``
when it is up again (with how long it was down), ``warning`` when a target's first scrape fails. Steady
failures are not repeated: one event per change, not per scrape, so a fleet with a dead host does not flood
the log.

Observing is synchronous and cheap; a task of its own writes the queued events in batches. While PostgreSQL
is away the events wait in a bounded queue (the oldest dropped first, counted) and the task retries with a
capped backoff, so the log never holds up scraping or storage.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import structlog

from collector.backoff import Backoff
from collector.result import ScrapeResult
from collector.storage.events import PendingEvent, record_events
from collector.storage.queued_writer import QueuedWriter
from collector.summary import ServerSummary

log = structlog.get_logger(__name__)

SOURCE = "scrape"
"""The event log's ``source`` of these events."""


@dataclass(frozen=True)
class ScrapeEventOptions:
    """Bounds and pacing of the event writer."""

    max_pending: int = 10_000
    batch_max: int = 500
    retry_initial_s: float = 1.0
    retry_max_s: float = 60.0


@dataclass(slots=True)
class _Seen:
    up: bool
    since_ms: int


def _instant(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


class ScrapeEventLog(QueuedWriter):
    """Turns changes of targets' health into event-log rows; see the module docstring."""

    def __init__(self, pool: asyncpg.Pool, options: ScrapeEventOptions | None = None) -> None:
        self._options = options or ScrapeEventOptions()
        super().__init__(
            "scrape-events", Backoff(self._options.retry_initial_s, self._options.retry_max_s), _unavailable
        )
        self._pool = pool
        self._seen: dict[str, _Seen] = {}
        self._pending: deque[PendingEvent] = deque()
        self.dropped = 0
        """Events dropped because the queue was full while PostgreSQL was away."""

    def observe(self, results: Sequence[ScrapeResult], _summaries: Mapping[str, ServerSummary]) -> None:
        """Queue an event for every target whose health changed with this wave."""
        for result in results:
            target = result.target
            seen = self._seen.get(target.identity)
            if seen is not None and seen.up == result.up:
                continue
            self._seen[target.identity] = _Seen(result.up, result.timestamp_ms)
            event = _event_of(result, seen)
            if event is not None:
                self._queue(event)

    def forget(self, identity: str) -> None:
        """Drop what is remembered of a target that is no longer scraped."""
        self._seen.pop(identity, None)

    def _queue(self, event: PendingEvent) -> None:
        if len(self._pending) >= self._options.max_pending:
            self._pending.popleft()
            self.dropped += 1
        self._pending.append(event)
        self._wake()

    def _has_pending(self) -> bool:
        return bool(self._pending)

    async def _write_some(self) -> None:
        batch = [self._pending[i] for i in range(min(len(self._pending), self._options.batch_max))]
        await record_events(self._pool, batch)
        for _ in batch:
            self._pending.popleft()


def _unavailable(_attempt: int, exc: Exception, delay_s: float) -> None:
    log.warning("event log unavailable, events kept", error=str(exc), retry_in_s=delay_s)


def _event_of(result: ScrapeResult, before: _Seen | None) -> PendingEvent | None:
    target = result.target
    detail: dict[str, object] = {"job": target.job, "instance": target.instance}
    at = _instant(result.timestamp_ms)
    if not result.up:
        detail.update(error=result.error, reason=result.error_reason)
        if before is None:
            message = f"first scrape of {target.instance} ({target.job}) failed: {result.error}"
            return PendingEvent(at, "warning", SOURCE, message, target.server_id, detail)
        message = f"{target.instance} ({target.job}) is down: {result.error}"
        return PendingEvent(at, "error", SOURCE, message, target.server_id, detail)
    if before is None:
        return None
    down_s = max(0.0, (result.timestamp_ms - before.since_ms) / 1000)
    detail["down_s"] = round(down_s, 3)
    message = f"{target.instance} ({target.job}) is up again after {down_s:.0f} s down"
    return PendingEvent(at, "info", SOURCE, message, target.server_id, detail)
