"""Listening on Redis pub/sub channels until told to stop, subscribing again after a lost connection.

The API's event broker, the alert engine's config listener and the cluster's wave relay each hold one
:class:`Subscription`. It stops cooperatively: :meth:`Subscription.stop` makes :meth:`Subscription.run` return
within :data:`POLL_S`, because cancelling redis-py's PubSub in the middle of a read can leave its teardown
(shielded from the cancellation) waiting for good, and the task awaiting it with it.
:meth:`Subscription.close` waits that long and then gives the task up rather than hang a shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from collector.backoff import Backoff, RetrySchedule

log = structlog.get_logger(__name__)

POLL_S = 0.1
"""How long one read of the subscription waits: :meth:`Subscription.run` ends within this after ``stop``."""

RESUBSCRIBE_BACKOFF = Backoff(0.2, 5.0)
"""The waits between attempts to subscribe again, unless a subscription names its own."""

OnMessage = Callable[[bytes | str, bytes | str], None]
"""Called with each message's channel and data (bytes unless the client decodes responses)."""


class Subscription:
    """Hands every message published on ``channels`` to ``on_message``, until stopped.

    A lost subscription is logged and made again after ``backoff``; a message ``on_message`` fails on is
    logged and skipped. ``what`` names the subscription in the log.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        channels: Sequence[str],
        on_message: OnMessage,
        *,
        what: str,
        backoff: Backoff = RESUBSCRIBE_BACKOFF,
    ) -> None:
        self._redis = redis
        self._channels = tuple(channels)
        self._on_message = on_message
        self._backoff = backoff
        self._what = what
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()
        """Set while subscribed."""

    def start(self) -> None:
        """Run :meth:`run` in a task of its own (:meth:`close` ends it)."""
        self._task = asyncio.create_task(self.run(), name=f"subscription-{self._what}")

    def stop(self) -> None:
        """Make :meth:`run` return within :data:`POLL_S`."""
        self._stopping.set()

    async def close(self) -> None:
        """Stop, and wait for the task of :meth:`start` at most :data:`POLL_S` and a second more."""
        self.stop()
        task, self._task = self._task, None
        if task is None:
            return
        done, _ = await asyncio.wait({task}, timeout=POLL_S + 1.0)
        if not done:
            log.warning("subscription did not stop in time; left behind", subscription=self._what)
            task.cancel()

    async def run(self) -> None:
        """Subscribe and listen until :meth:`stop`."""
        schedule = RetrySchedule(self._backoff)
        while not self._stopping.is_set():
            try:
                async with self._redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(*self._channels)
                    self.ready.set()
                    schedule.succeeded()
                    while not self._stopping.is_set():
                        raw = await pubsub.get_message(ignore_subscribe_messages=True, timeout=POLL_S)
                        if raw is not None and raw.get("type") == "message":
                            self._hand_on(raw["channel"], raw["data"])
            except (RedisError, OSError) as exc:
                delay_s = schedule.failed(exc)
                log.warning(
                    "subscription lost; subscribing again",
                    subscription=self._what,
                    error=str(exc) or type(exc).__name__,
                    retry_in_s=round(delay_s, 2),
                )
            finally:
                self.ready.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), schedule.wait_s())

    def _hand_on(self, channel: bytes | str, data: bytes | str) -> None:
        try:
            self._on_message(channel, data)
        except Exception as exc:
            log.warning("message skipped", subscription=self._what, error=str(exc) or type(exc).__name__)
