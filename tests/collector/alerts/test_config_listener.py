"""Hearing ``alerts:config`` on the real Redis: announcements, a lost subscription made again, stopping.

The listener reaches Redis through a relay on loopback that the test can cut and restore, as a network
outage or a Redis restart would (redis-py reconnects by itself across a single dropped connection, so only
an outage that lasts exercises the listener's own resubscription).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from collector.alerts import config_listener
from collector.alerts.config_listener import ConfigListener, announce_config_change
from collector.backoff import Backoff
from collector.storage.connections import Stores
from tests.polling import eventually
from tests.ports import free_port


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


class Relay:
    """A TCP relay on 127.0.0.1 to the test's Redis (TCP or unix socket) that can be cut and restored."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._upstream = dict(redis.connection_pool.connection_kwargs)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def cut(self) -> None:
        """Refuse new connections and drop the open ones."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.close()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if "path" in self._upstream:
            up_reader, up_writer = await asyncio.open_unix_connection(self._upstream["path"])
        else:
            up_reader, up_writer = await asyncio.open_connection(
                self._upstream["host"], self._upstream["port"]
            )
        self._writers |= {writer, up_writer}
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            self._writers -= {writer, up_writer}


class Running:
    """A listener, through a relay, running in a task; counts the announcements it passed on."""

    def __init__(self, relay: Relay, db: int) -> None:
        self.heard = 0
        self.relay = relay
        self.client = aioredis.Redis(host="127.0.0.1", port=relay.port, db=db, socket_connect_timeout=1)
        self.listener = ConfigListener(self.client, self.on_change, Backoff(0.05, 0.2))
        self.task = asyncio.create_task(self.listener.run())

    def on_change(self) -> None:
        self.heard += 1


@pytest.fixture
async def running(stores: Stores) -> AsyncIterator[Running]:
    relay = Relay(stores.redis)
    await relay.start()
    run = Running(relay, stores.redis.connection_pool.connection_kwargs.get("db", 0))
    await asyncio.wait_for(run.listener.ready.wait(), 5)
    yield run
    run.listener.stop()
    await asyncio.wait_for(run.task, config_listener.POLL_S + 2)
    await relay.cut()
    await run.client.aclose()


async def test_every_announcement_is_passed_on(stores: Stores, running: Running) -> None:
    for _ in range(3):
        await announce_config_change(stores.redis)
    await eventually(lambda: running.heard == 3)


async def test_a_lost_subscription_is_made_again_once_redis_answers(stores: Stores, running: Running) -> None:
    await running.relay.cut()
    await eventually(lambda: not running.listener.ready.is_set())
    await announce_config_change(stores.redis)  # while away: the periodic reload picks such changes up
    await asyncio.sleep(0.3)  # a few resubscription attempts fail meanwhile
    assert not running.listener.ready.is_set() and running.heard == 0
    await running.relay.start()
    await asyncio.wait_for(running.listener.ready.wait(), 5)
    await announce_config_change(stores.redis)
    await eventually(lambda: running.heard == 1)


async def test_stop_ends_the_listener_within_its_poll(running: Running) -> None:
    started = time.monotonic()
    running.listener.stop()
    await asyncio.wait_for(running.task, config_listener.POLL_S + 2)
    assert time.monotonic() - started < config_listener.POLL_S + 0.5
    assert not running.listener.ready.is_set()
