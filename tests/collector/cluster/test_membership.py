"""Membership on the real Redis and on a Redis Cluster: members see each other, leave, and expire."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from collector.cluster.membership import Membership, default_member_id, read_members
from collector.storage.redis_cluster import new_client
from tests.polling import eventually


@pytest.fixture(params=["redis", "cluster"])
async def redis(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[aioredis.Redis]:
    url = request.getfixturevalue("redis_cluster_url") if request.param == "cluster" else redis_url
    client = new_client(url)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.flushdb()
        await client.aclose()


def _member(redis: aioredis.Redis, name: str, views: list[frozenset[str]], ttl_s: float = 0.3) -> Membership:
    return Membership(
        redis,
        name,
        heartbeat_s=0.05,
        ttl_s=ttl_s,
        on_change=views.append,
        describe=lambda: {"targets": len(name)},
    )


async def test_members_see_each_other_and_a_clean_leave_at_once(redis: aioredis.Redis) -> None:
    views_a: list[frozenset[str]] = []
    a, b = _member(redis, "a", views_a), _member(redis, "bb", [])
    await a.start()
    assert views_a == [frozenset({"a"})], "the first heartbeat applies the view"
    await b.start()
    await eventually(lambda: a.members == {"a", "bb"})
    listed = await read_members(redis)
    assert [(m["member"], m["targets"]) for m in listed] == [("a", 1), ("bb", 2)]
    assert all(isinstance(m["pid"], int) and isinstance(m["started_at"], float) for m in listed)
    assert {(m["host"], m["ttl_s"]) for m in listed} == {(socket.gethostname(), 0.3)}
    await b.close()
    await eventually(lambda: a.members == {"a"})
    await a.close()
    assert await read_members(redis) == []


async def test_a_silent_member_is_dropped_after_its_ttl(redis: aioredis.Redis) -> None:
    a, silent = _member(redis, "a", []), _member(redis, "silent", [], ttl_s=0.2)
    await a.start()
    await silent.beat()  # one heartbeat, then nothing, as a killed process
    await eventually(lambda: a.members == {"a", "silent"})
    await eventually(lambda: a.members == {"a"}, timeout_s=2)
    assert [m["member"] for m in await read_members(redis)] == ["a"]
    await a.close()


async def test_without_redis_the_last_view_stays() -> None:
    dead = aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    views: list[frozenset[str]] = []
    member = _member(dead, "a", views)
    await member.beat()
    assert views == [] and member.members == frozenset() and member.last_error is not None
    await dead.aclose()


def test_ttl_must_outlast_the_heartbeat() -> None:
    with pytest.raises(ValueError, match="ttl_s"):
        Membership(aioredis.Redis(), "a", heartbeat_s=1, ttl_s=1, on_change=print, describe=dict)


def test_default_member_id_names_host_and_port() -> None:
    assert default_member_id(8080).endswith(":8080")


async def test_heartbeats_keep_their_cadence(redis: aioredis.Redis) -> None:
    member = _member(redis, "a", [])
    await member.start()
    first = member.last_beat_at
    await asyncio.sleep(0.3)
    assert member.last_beat_at is not None and first is not None and member.last_beat_at > first
    await member.close()
