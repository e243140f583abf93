"""Each server's recent disk usage, the history that disk-full prediction extrapolates.

The engine remembers the disk percentage of every wave, at most one point per ``step_s`` and ``window_s``
back (a rule's longer lookback sees only this). After a restart the history is refilled from the live
layer's recent windows in Redis, so a prediction does not wait hours for points again.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import Sequence
from uuid import UUID

import redis.asyncio as aioredis
import structlog

from collector.alerts.store_retry import REDIS_ERRORS
from collector.storage import keys

log = structlog.get_logger(__name__)


class DiskHistory:
    """(time s, disk %) points per server, oldest first, thinned to one per ``step_s`` over ``window_s``."""

    def __init__(self, window_s: float, step_s: float) -> None:
        self._window_s = window_s
        self._step_s = step_s
        self._points: dict[UUID, deque[tuple[float, float]]] = {}

    def remember(self, server_id: UUID, t: float, value: float) -> None:
        """Add a point, unless the server's last one is less than ``step_s`` older."""
        points = self._points.get(server_id)
        if points is None:
            size = math.ceil(self._window_s / self._step_s) + 1
            points = self._points[server_id] = deque(maxlen=size)
        if points and t - points[-1][0] < self._step_s:
            return
        points.append((t, value))

    def of(self, server_id: UUID) -> Sequence[tuple[float, float]]:
        """The server's points; the live deque, not a copy: read it synchronously."""
        return self._points.get(server_id, ())

    def forget(self, server_id: UUID) -> None:
        """Drop a server that is no longer scraped."""
        self._points.pop(server_id, None)

    async def refill(self, redis: aioredis.Redis, now: float, timeout_s: float) -> None:
        """Points from the live layer's recent windows, where Redis has them; a Redis failure is logged."""
        try:
            async with asyncio.timeout(timeout_s):
                found = await redis.zrange(keys.SERVERS_INDEX, 0, -1)
                ids = [raw for raw in found if isinstance(raw, bytes)]
                if not ids:
                    return
                pipe = redis.pipeline(transaction=False)
                for raw in ids:
                    pipe.zrangebyscore(keys.server_metric(raw.decode(), "disk"), now - self._window_s, now)
                windows: list[list[bytes]] = await pipe.execute()
        except REDIS_ERRORS as exc:
            log.warning("disk history not refilled from redis", error=str(exc) or type(exc).__name__)
            return
        for raw, members in zip(ids, windows, strict=True):
            try:
                server_id = UUID(raw.decode())
            except ValueError:
                continue
            for member in members:
                time_text, _, value_text = member.decode().partition(":")
                with contextlib.suppress(ValueError):
                    self.remember(server_id, float(time_text), float(value_text))
