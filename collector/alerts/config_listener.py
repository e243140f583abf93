"""Announcing and hearing that rules, silences, hand resolves or channels changed: ``alerts:config``.

The API announces every such change on ``alerts:config`` (:func:`announce_config_change`); the engine
then reloads at once instead of at its next periodic reload, and the notifier reads its channels again.
A lost subscription is made again after a capped backoff; meanwhile the periodic reload still picks the
changes up.
"""

from __future__ import annotations

from collections.abc import Callable

import redis.asyncio as aioredis

from collector.backoff import Backoff
from collector.storage import keys
from collector.storage.subscription import POLL_S, Subscription

__all__ = ["POLL_S", "ConfigListener", "announce_config_change"]


async def announce_config_change(redis: aioredis.Redis) -> None:
    """Tell the engine that rules, silences or hand resolves changed, so it reloads now."""
    await redis.publish(keys.channel(keys.ALERTS_CONFIG, redis), b"changed")


class ConfigListener(Subscription):
    """Calls ``on_change`` for every message on ``alerts:config``, until stopped."""

    def __init__(self, redis: aioredis.Redis, on_change: Callable[[], None], backoff: Backoff) -> None:
        super().__init__(
            redis,
            [keys.channel(keys.ALERTS_CONFIG, redis)],
            lambda _channel, _data: on_change(),
            backoff=backoff,
            what="alert config",
        )
