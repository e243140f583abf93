"""The alert engine's PostgreSQL side: alert changes and event-log entries, queued, written in the background.

Every change of an alert (pending, firing, resolved, ended) becomes its ``alerts`` row
(:func:`collector.alerts.alert_store.apply_changes`); a firing or resolved alert also gets an ``events`` log
entry. Queuing never waits for PostgreSQL. While it is away the queue waits in memory, bounded (the oldest
are dropped first and counted), and is written again once it answers. A change PostgreSQL refuses (it will
never take it) is dropped and logged without holding up the others.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Final

import asyncpg
import structlog

from collector.alerts.alert_store import apply_changes
from collector.alerts.evaluator import Change
from collector.alerts.model import Alert
from collector.alerts.store_retry import StoreRetry
from collector.storage.events import Level, record_event

log = structlog.get_logger(__name__)

_REFUSED = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError)
"""PostgreSQL errors that retrying the same write cannot cure."""
_LEVELS: Mapping[str, Level] = {"info": "info", "warning": "warning", "critical": "critical"}
EVENT_SOURCE: Final = "alerts"
"""The event log's source of the engine's entries, one of ``collector.storage.events.SYSTEM_SOURCES``."""


class PersistenceQueue:
    """Alert changes and event-log entries waiting for PostgreSQL; see the module docstring."""

    def __init__(self, pool: asyncpg.Pool, retry: StoreRetry, max_queued: int) -> None:
        """``retry`` paces the writes; each queue keeps at most ``max_queued`` items."""
        self._pool = pool
        self.retry = retry
        self._max_queued = max_queued
        self._changes: deque[Change] = deque()
        self._log_entries: deque[Alert] = deque()
        self.changes_dropped = 0
        """Changes not persisted because the queue was full while PostgreSQL was away."""

    def __len__(self) -> int:
        """The changes waiting."""
        return len(self._changes)

    def add_change(self, change: Change) -> None:
        """Queue an ``alerts`` row; past the bound the oldest change is dropped."""
        if len(self._changes) >= self._max_queued:
            self._changes.popleft()
            self.changes_dropped += 1
        self._changes.append(change)

    def add_log_entry(self, alert: Alert) -> None:
        """Queue an ``events`` entry for an alert that fired or resolved; past the bound the oldest goes."""
        self._log_entries.append(alert)
        while len(self._log_entries) > self._max_queued:
            self._log_entries.popleft()

    async def flush(self) -> None:
        """Write what waits, if PostgreSQL is due to be tried."""
        if self._changes or self._log_entries:
            await self.retry.attempt(self._write)

    async def _write(self) -> None:
        changes = list(self._changes)
        try:
            await apply_changes(self._pool, changes)
        except _REFUSED as exc:
            # One change PostgreSQL will never take must not block the others: write them one by one.
            log.error("alert changes refused, writing one by one", error=str(exc))
            for change in changes:
                try:
                    await apply_changes(self._pool, [change])
                except _REFUSED as one:
                    log.error("alert change dropped", fingerprint=change.alert.fingerprint, error=str(one))
        for _ in changes:
            self._changes.popleft()
        while self._log_entries:
            await self._log_event(self._log_entries[0])
            self._log_entries.popleft()

    async def _log_event(self, alert: Alert) -> None:
        firing = alert.state == "firing"
        detail: dict[str, object] = {
            "fingerprint": alert.fingerprint,
            "rule_id": alert.rule_id,
            "severity": alert.severity,
            "value": alert.value,
            "labels": dict(alert.labels),
        }
        level: Level = _LEVELS[alert.severity] if firing else "info"
        message = f"{'FIRING' if firing else 'RESOLVED'}: {alert.title}"
        try:
            await record_event(
                self._pool, level, EVENT_SOURCE, message, server_id=alert.server_id, detail=detail
            )
        except asyncpg.ForeignKeyViolationError:
            # The server's row is gone (deleted through the API): the event stands without it.
            await record_event(self._pool, level, EVENT_SOURCE, message, detail=detail)
