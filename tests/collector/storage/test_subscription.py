"""A :class:`Subscription` on the real Redis (and a Redis Cluster): messages with their channel, a message its
handler fails on, stopping and closing within the poll, stopping while Redis is away."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from collector.backoff import Backoff
from collector.storage.redis_cluster import new_client
from collector.storage.subscription import POLL_S, Subscription
from tests.polling import eventually
from tests.ports import free_port

CHANNELS = ("test:one", "test:two")


@pytest.fixture(params=["redis", "cluster"])
async def redis(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[aioredis.Redis]:
    if request.param == "cluster":
        client = new_client(request.getfixturevalue("redis_cluster_url"))
    else:
        client = aioredis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


class Heard:
    """What a subscription handed on; fails on the data ``b"bad"``."""

    def __init__(self) -> None:
        self.messages: list[tuple[bytes | str, bytes | str]] = []

    def __call__(self, channel: bytes | str, data: bytes | str) -> None:
        if data == b"bad":
            raise ValueError("cannot read this one")
        self.messages.append((channel, data))


@contextlib.asynccontextmanager
async def subscribed(redis: aioredis.Redis, heard: Heard) -> AsyncIterator[Subscription]:
    """A started subscription to :data:`CHANNELS`, once subscribed; closed on exit."""
    subscription = Subscription(redis, CHANNELS, heard, backoff=Backoff(0.05, 0.2), what="test")
    subscription.start()
    try:
        await asyncio.wait_for(subscription.ready.wait(), 5)
        yield subscription
    finally:
        await subscription.close()


async def test_every_message_is_handed_on_with_its_channel(redis: aioredis.Redis) -> None:
    heard = Heard()
    async with subscribed(redis, heard):
        await redis.publish("test:one", b"1")
        await redis.publish("test:other", b"not subscribed")
        await redis.publish("test:two", b"2")
        await eventually(lambda: len(heard.messages) == 2)
    assert heard.messages == [(b"test:one", b"1"), (b"test:two", b"2")]


async def test_a_message_its_handler_fails_on_is_skipped_and_the_next_handed_on(
    redis: aioredis.Redis,
) -> None:
    heard = Heard()
    async with subscribed(redis, heard) as subscription:
        await redis.publish("test:one", b"bad")
        await redis.publish("test:one", b"good")
        await eventually(lambda: len(heard.messages) == 1)
        assert heard.messages == [(b"test:one", b"good")] and subscription.ready.is_set()


async def test_close_ends_the_task_within_the_poll_and_clears_ready(redis: aioredis.Redis) -> None:
    subscription = Subscription(redis, CHANNELS, Heard(), backoff=Backoff(0.05, 0.2), what="test")
    subscription.start()
    await asyncio.wait_for(subscription.ready.wait(), 5)
    started = time.monotonic()
    await subscription.close()
    assert time.monotonic() - started <= POLL_S + 0.5
    assert not subscription.ready.is_set()
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "subscription-test"]


async def test_stop_while_redis_is_away_returns_without_waiting_out_the_backoff() -> None:
    client = aioredis.Redis(
        host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )
    subscription = Subscription(client, CHANNELS, Heard(), backoff=Backoff(30.0, 30.0), what="test")
    run = asyncio.create_task(subscription.run())
    try:
        await asyncio.sleep(0.3)  # the first try was refused: run now waits 30 s before the next
        assert not run.done() and not subscription.ready.is_set()
        subscription.stop()
        await asyncio.wait_for(run, 2)
    finally:
        run.cancel()
        await client.aclose()
