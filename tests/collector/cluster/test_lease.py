"""The singletons' lease on the real Redis: one holder, fences that grow, release and expiry."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from collector.cluster.lease import Lease, holder_of
from collector.storage import keys


@pytest.fixture
async def redis(flushed_redis: aioredis.Redis) -> aioredis.Redis:
    return flushed_redis


async def test_only_one_of_two_claimants_holds_it(redis: aioredis.Redis) -> None:
    first, second = Lease(redis, "maintenance"), Lease(redis, "maintenance")
    assert await first.claim() and first.held and first.fence == 1
    assert not await second.claim() and not second.held and second.fence is None
    assert await first.claim() and first.fence == 1, "a renewal keeps the fence"


async def test_a_released_lease_goes_to_the_next_claimant_with_a_higher_fence(redis: aioredis.Redis) -> None:
    first, second = Lease(redis, "maintenance"), Lease(redis, "maintenance")
    await first.claim()
    await first.close()
    assert not first.held
    assert await second.claim() and second.fence == 2


async def test_an_expired_holder_loses_the_lease_and_says_so(redis: aioredis.Redis) -> None:
    first, second = Lease(redis, "maintenance", ttl_s=0.2), Lease(redis, "maintenance", ttl_s=0.2)
    await first.claim()
    await asyncio.sleep(0.3)
    assert not first.held, "counted lost once its TTL ran out, before anyone else may take it"
    assert await second.claim()
    assert not await first.claim() and first.fence is None


async def test_leases_of_different_names_are_independent(redis: aioredis.Redis) -> None:
    assert await Lease(redis, "a").claim() and await Lease(redis, "b").claim()


async def test_the_lease_value_names_its_holder(redis: aioredis.Redis) -> None:
    named, anonymous = Lease(redis, "named", holder="host-1:8080"), Lease(redis, "anonymous")
    assert await named.claim() and await anonymous.claim()
    named_token, anonymous_token = (
        await redis.get(keys.lease("named")),
        await redis.get(keys.lease("anonymous")),
    )
    assert isinstance(named_token, bytes) and isinstance(anonymous_token, bytes)
    assert holder_of(named_token.decode()) == "host-1:8080"
    assert holder_of(anonymous_token.decode()) is None


@pytest.mark.parametrize(
    ("token", "holder"),
    [("a 0f0f", "a"), ("host one:80 0f0f", "host one:80"), ("0f0f", None), (" 0f0f", None)],
)
def test_holder_of_takes_everything_before_the_random_part(token: str, holder: str | None) -> None:
    assert holder_of(token) == holder
