"""The Redis client factory: a single server or a Redis Cluster from the URL, and publishing on both."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from collector.storage.redis_cluster import is_cluster, is_cluster_url, new_client, publish_all


@pytest.mark.parametrize(
    ("url", "cluster"),
    [
        ("redis+cluster://10.0.0.1:7000,10.0.0.2:7000", True),
        ("rediss+cluster://user:pw@h:7000", True),
        ("redis://127.0.0.1:6379/0", False),
        ("rediss://h:6380", False),
        ("unix:///run/redis.sock", False),
    ],
)
def test_the_scheme_says_whether_a_url_names_a_cluster(url: str, cluster: bool) -> None:
    assert is_cluster_url(url) is cluster


async def _published(client: aioredis.Redis) -> list[bytes]:
    async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
        await pubsub.subscribe("events:test@0")
        await asyncio.sleep(0.1)  # the subscription settles on its node before anything is published
        await publish_all(client, [("events:test@0", "one"), ("events:test@0", b"two")])
        got: list[bytes] = []
        for _ in range(10):
            message = await pubsub.get_message(timeout=0.5)
            if message is not None:
                got.append(message["data"])
            if len(got) == 2:
                break
        return got


async def test_a_cluster_url_gives_a_cluster_client_that_publishes(redis_cluster_url: str) -> None:
    client = new_client(redis_cluster_url)
    try:
        assert is_cluster(client)
        await client.set("server:{abc}:status", b"x")
        assert await client.get("server:{abc}:status") == b"x"
        assert await _published(client) == [b"one", b"two"]
    finally:
        await client.aclose()


async def test_a_cluster_delivers_what_is_published_in_the_order_it_was_published(
    redis_cluster_url: str,
) -> None:
    """One message per call, as a writer publishes batch after batch: whichever node the subscriber is on,
    the messages reach it in the order they were sent."""
    client = new_client(redis_cluster_url)
    sent = [str(n).encode() for n in range(400)]
    try:
        async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
            await pubsub.subscribe("events:order@0")
            await asyncio.sleep(0.1)
            for message in sent:
                await publish_all(client, [("events:order@0", message)])
            got: list[bytes] = []
            quiet = 0  # reads in a row with nothing (the subscription's confirmation reads as nothing too)
            while len(got) < len(sent) and quiet < 3:
                message = await pubsub.get_message(timeout=0.5)
                quiet = 0 if message is not None else quiet + 1
                if message is not None:
                    got.append(message["data"])
        assert got == sent
    finally:
        await client.aclose()


async def test_a_plain_url_with_the_cluster_setting_is_a_cluster_too(redis_cluster_url: str) -> None:
    first = redis_cluster_url.removeprefix("redis+cluster://").split(",")[0]
    client = new_client(f"redis://{first}", cluster=True)
    try:
        assert is_cluster(client) and await client.ping()
    finally:
        await client.aclose()


async def test_a_single_server_publishes_the_same_way(redis_url: str) -> None:
    client = new_client(redis_url)
    try:
        assert not is_cluster(client)
        assert await _published(client) == [b"one", b"two"]
    finally:
        await client.aclose()
