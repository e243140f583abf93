"""Announcing and hearing that rules, silences, hand resolves or channels changed: ``alerts:config``.

The API announces every such change on ``alerts:config`` (:func:`announce_config_change`); the engine
then reloads at once instead of at its next periodic reload, and the notifier reads its channels again.
A lost subscription is made again after a capped backoff; meanwhile the periodic reload still picks the
changes up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import redis.asyncio as aioredis
import structlog

from collector.alerts.store_retry import REDIS_ERRORS
from collector.backoff import Backoff, RetrySchedule
from collector.storage import keys

log = structlog.get_logger(__name__)

POLL_S = 0.5
"""How long a read of the subscription waits: :meth:`ConfigListener.run` ends within this after ``stop``."""


async def announce_config_change(redis: aioredis.Redis) -> None:
    """Tell the engine that rules, silences or hand resolves changed, so it reloads now."""
    await redis.publish(keys.channel(keys.ALERTS_CONFIG, redis), b"changed")


class ConfigListener:
    """Calls ``on_change`` for every message on ``alerts:config``, until stopped."""

    def __init__(self, redis: aioredis.Redis, on_change: Callable[[], None], backoff: Backoff) -> None:
        self._redis = redis
        self._on_change = on_change
        self._backoff = backoff
        self._stopping = False
        self.ready = asyncio.Event()
        """Set while subscribed."""

    def stop(self) -> None:
        """Make :meth:`run` return within :data:`POLL_S` (cancelling redis-py's pubsub mid-read can hang)."""
        self._stopping = True

    async def run(self) -> None:
        """Subscribe and listen until :meth:`stop`; a lost subscription is logged and made again."""
        schedule = RetrySchedule(self._backoff)
        while not self._stopping:
            try:
                async with self._redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(keys.channel(keys.ALERTS_CONFIG, self._redis))
                    self.ready.set()
                    schedule.succeeded()
                    while not self._stopping:
                        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=POLL_S)
                        if message is not None and message.get("type") == "message":
                            self._on_change()
            except REDIS_ERRORS as exc:
                delay_s = schedule.failed(exc)
                log.warning(
                    "alert config subscription lost; resubscribing", error=str(exc), retry_in_s=delay_s
                )
            finally:
                self.ready.clear()
            if self._stopping:
                return
            await asyncio.sleep(schedule.wait_s())
