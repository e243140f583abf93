"""The alert engine's Redis side: the ``alerts:active`` list and the ``events:alerts`` channel.

``alerts:active`` holds a JSON object per pending or firing alert, firing first; it is rewritten whole, in
one script call with the messages (one key, so one slot of a Redis Cluster too), whenever the set of active
alerts changed. Every alert that fired or resolved is published as a JSON message on ``events:alerts`` (for
the API's event stream). Queuing never waits for Redis; while it is away the messages wait in memory,
bounded (the oldest are dropped first), and the list is rewritten once it answers.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Sequence
from typing import Final

import redis.asyncio as aioredis

from collector.alerts.model import Alert
from collector.alerts.store_retry import StoreRetry
from collector.storage import keys

WRITE_SCRIPT: Final = """
local count = tonumber(ARGV[2])
if count >= 0 then
  redis.call('DEL', KEYS[1])
  for i = 3, 2 + count do redis.call('RPUSH', KEYS[1], ARGV[i]) end
end
for i = 3 + math.max(count, 0), #ARGV do redis.call('PUBLISH', ARGV[1], ARGV[i]) end
return 1
"""
"""KEYS: ``alerts:active``; ARGV: the channel, the number of active alerts (-1: the list stays), the active
alerts' JSON, then the messages. PUBLISH inside a script reaches every node's subscribers of a cluster."""

ActiveAlerts = Callable[[], Sequence[tuple[Alert, bool]]]
"""Every pending and firing alert, firing first, each with whether it is muted now."""


def alert_json(alert: Alert, *, muted: bool = False) -> dict[str, object]:
    """An alert as the JSON object of ``alerts:active`` and ``events:alerts``."""
    return {
        "fingerprint": alert.fingerprint,
        "rule_id": alert.rule_id,
        "name": alert.name,
        "server_id": None if alert.server_id is None else str(alert.server_id),
        "severity": alert.severity,
        "state": alert.state,
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "title": alert.title,
        "message": alert.message,
        "value": alert.value,
        "active_since": alert.active_since,
        "fired_at": alert.fired_at,
        "resolved_at": alert.resolved_at,
        "muted": muted,
    }


class AlertPublisher:
    """What Redis must hear about alerts, written in the background; see the module docstring."""

    def __init__(
        self, redis: aioredis.Redis, active: ActiveAlerts, retry: StoreRetry, max_queued: int
    ) -> None:
        """``active`` is asked for the active alerts whenever ``alerts:active`` is rewritten; ``retry`` paces
        the writes; at most ``max_queued`` messages wait."""
        self._redis = redis
        self._script = redis.register_script(WRITE_SCRIPT)
        self._active = active
        self.retry = retry
        self._max_queued = max_queued
        self._messages: deque[dict[str, object]] = deque()
        self._active_dirty = True

    def announce(self, alert: Alert, *, muted: bool) -> None:
        """Queue a message on ``events:alerts``; past the bound the oldest goes."""
        self._messages.append(alert_json(alert, muted=muted))
        while len(self._messages) > self._max_queued:
            self._messages.popleft()

    def active_changed(self) -> None:
        """The set of active alerts changed: ``alerts:active`` is rewritten at the next flush."""
        self._active_dirty = True

    async def flush(self) -> None:
        """Write what waits, if Redis is due to be tried."""
        if self._messages or self._active_dirty:
            await self.retry.attempt(self._write)

    async def _write(self) -> None:
        messages = list(self._messages)
        dirty = self._active_dirty
        self._active_dirty = False
        try:
            active = [json.dumps(alert_json(a, muted=muted)) for a, muted in self._active()] if dirty else []
            channel = keys.channel(keys.EVENTS_ALERTS, self._redis)
            await self._script(
                keys=[keys.ALERTS_ACTIVE],
                args=[channel, len(active) if dirty else -1, *active, *(json.dumps(m) for m in messages)],
                client=self._redis,
            )
        except BaseException:
            self._active_dirty = self._active_dirty or dirty
            raise
        for _ in messages:
            self._messages.popleft()
