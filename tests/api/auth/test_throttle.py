"""Login throttling: locks after N attempts, grows exponentially up to a cap, and always expires."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
import redis.asyncio as aioredis

from api.auth.throttle import LOGIN_ACCOUNT, Limit, attempt, forgive
from tests.api.auth.conftest import PASSWORD, Client, FakeClock, make_user

LIMIT = Limit(threshold=3, window_s=900, base_lock_s=30, max_lock_s=120)
NOW = 1_700_000_000.0


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def key() -> str:
    return f"auth:test:{uuid.uuid4().hex}"


async def test_attempts_below_the_threshold_pass(redis: aioredis.Redis, key: str) -> None:
    assert [await attempt(redis, key, LIMIT, now=NOW + i) for i in range(2)] == [0, 0]


async def test_threshold_attempt_locks_and_the_lock_doubles_up_to_the_cap(
    redis: aioredis.Redis, key: str
) -> None:
    now = NOW
    for _ in range(3):
        assert await attempt(redis, key, LIMIT, now=now) == 0
    locks = []
    for _ in range(4):
        wait_s = await attempt(redis, key, LIMIT, now=now)
        locks.append(wait_s)
        now += wait_s
        assert await attempt(redis, key, LIMIT, now=now) == 0
    assert locks == [30, 60, 120, 120]


async def test_counter_starts_over_after_a_quiet_window(redis: aioredis.Redis, key: str) -> None:
    for _ in range(3):
        await attempt(redis, key, LIMIT, now=NOW)
    later = NOW + 30 + LIMIT.window_s + 1
    assert [await attempt(redis, key, LIMIT, now=later) for _ in range(2)] == [0, 0]


async def test_forgiving_resets_or_takes_back_one_attempt(redis: aioredis.Redis, key: str) -> None:
    for _ in range(2):
        await attempt(redis, key, LIMIT, now=NOW)
    await forgive(redis, key, reset=False)
    assert await attempt(redis, key, LIMIT, now=NOW) == 0
    await forgive(redis, key, reset=True)
    assert [await attempt(redis, key, LIMIT, now=NOW) for _ in range(2)] == [0, 0]


async def test_brute_force_login_gets_429_with_retry_after_then_expires(
    client: Client, pool: asyncpg.Pool, clock: FakeClock
) -> None:
    user = await make_user(pool, "viewer")
    wrong = {"username": user.username, "password": "guess guess guess"}
    statuses = [
        (await client.post("/api/auth/login", json=wrong)).status for _ in range(LOGIN_ACCOUNT.threshold)
    ]
    assert statuses == [401] * LOGIN_ACCOUNT.threshold
    locked = await client.post("/api/auth/login", json={"username": user.username, "password": PASSWORD})
    assert locked.status == 429
    assert int(locked.headers["Retry-After"]) == LOGIN_ACCOUNT.base_lock_s
    assert (await locked.json())["error"]["code"] == "too_many_attempts"
    clock.advance(LOGIN_ACCOUNT.base_lock_s)
    again = await client.post("/api/auth/login", json=wrong)
    assert again.status == 401
    longer = await client.post("/api/auth/login", json=wrong)
    assert int(longer.headers["Retry-After"]) == 2 * LOGIN_ACCOUNT.base_lock_s
    clock.advance(LOGIN_ACCOUNT.max_lock_s)
    assert (
        await client.post("/api/auth/login", json={"username": user.username, "password": PASSWORD})
    ).status == 200


async def test_successful_login_resets_the_account_counter(client: Client, pool: asyncpg.Pool) -> None:
    user = await make_user(pool, "viewer")
    wrong = {"username": user.username, "password": "guess guess guess"}
    right = {"username": user.username, "password": PASSWORD}
    for _ in range(LOGIN_ACCOUNT.threshold - 1):
        await client.post("/api/auth/login", json=wrong)
    assert (await client.post("/api/auth/login", json=right)).status == 200
    statuses = [
        (await client.post("/api/auth/login", json=wrong)).status for _ in range(LOGIN_ACCOUNT.threshold)
    ]
    assert statuses == [401] * LOGIN_ACCOUNT.threshold
