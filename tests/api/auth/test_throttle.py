"""Login throttling: per account and client address, delays that double up to a cap and always expire.

The clients are told apart by ``X-Forwarded-For`` from the test client, which this module's settings trust as
a proxy: the addresses (documentation ranges) are only ever names, never connected to.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer

from api.app import create_app
from api.auth.throttle import (
    LOGIN_ACCOUNT_ATTACK,
    LOGIN_ADDRESS,
    LOGIN_PAIR,
    LOGIN_PAIR_UNDER_ATTACK,
    Limit,
    attempt,
    attempt_all,
    forgive,
)
from collector.config.settings import Settings
from tests.api.auth.conftest import PASSWORD, AuthUser, Client, FakeClock, make_user
from tests.conftest import SettingsFactory

LIMIT = Limit(threshold=3, window_s=900, base_lock_s=30, max_lock_s=120)
NOW = 1_700_000_000.0


OWNER = "198.51.100.7"
ATTACKER = "203.0.113.5"


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    return make_settings(trusted_proxies="127.0.0.0/8")


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


async def test_a_locked_key_stops_every_key_of_the_attempt_from_counting(
    redis: aioredis.Redis, key: str
) -> None:
    other = key + ":other"
    for _ in range(3):
        await attempt(redis, key, LIMIT, now=NOW)
    assert await attempt_all(redis, [(other, LIMIT), (key, LIMIT)], now=NOW) == 30
    assert await redis.hget(other, "count") is None


async def _login(client: Client, user: AuthUser | str, password: str, address: str) -> int:
    username = user if isinstance(user, str) else user.username
    response = await client.post(
        "/api/auth/login",
        json={"username": username, "password": password},
        headers={"X-Forwarded-For": address},
    )
    return response.status


async def _guess(client: Client, username: str, addresses: list[str]) -> list[int]:
    return [await _login(client, username, "guess guess guess", address) for address in addresses]


@pytest.mark.parametrize(
    ("attack", "gap_s"),
    [
        # The reported attack: a guess every 15 minutes, four an hour, used to keep the account locked for
        # everyone once the lock had grown to its cap.
        ([ATTACKER] * 10, 900),
        # One address hammering the account far past the threshold.
        ([ATTACKER] * 12, 0),
        # Many addresses, a couple of guesses each: enough to count as an attack on the account.
        ([f"203.0.113.{n}" for n in range(1, LOGIN_ACCOUNT_ATTACK.threshold + 1) for _ in range(2)], 0),
        # An IPv6 host hopping between addresses of its /64.
        ([f"2001:db8:1:2::{n:x}" for n in range(1, 12)], 0),
    ],
    ids=["4-an-hour", "12-from-one-address", "botnet", "ipv6-hopping"],
)
async def test_guessing_never_denies_the_owner_from_an_address_without_failures(
    client: Client, pool: asyncpg.Pool, clock: FakeClock, attack: list[str], gap_s: float
) -> None:
    user = await make_user(pool, "viewer")
    for address in attack:
        clock.advance(gap_s)
        assert await _guess(client, user.username, [address]) in ([401], [429])
    assert await _login(client, user, PASSWORD, OWNER) == 200


async def test_a_failing_pair_waits_longer_each_time_then_gets_in(
    client: Client, pool: asyncpg.Pool, clock: FakeClock
) -> None:
    user = await make_user(pool, "viewer")
    assert await _guess(client, user.username, [ATTACKER] * LOGIN_PAIR.threshold) == [401] * 5
    response = await client.post(
        "/api/auth/login",
        json={"username": user.username, "password": PASSWORD},
        headers={"X-Forwarded-For": ATTACKER},
    )
    assert response.status == 429
    assert int(response.headers["Retry-After"]) == LOGIN_PAIR.base_lock_s
    assert (await response.json())["error"]["code"] == "too_many_attempts"
    clock.advance(LOGIN_PAIR.base_lock_s)
    assert await _guess(client, user.username, [ATTACKER]) == [401]
    longer = await client.post(
        "/api/auth/login",
        json={"username": user.username, "password": "guess guess guess"},
        headers={"X-Forwarded-For": ATTACKER},
    )
    assert int(longer.headers["Retry-After"]) == 2 * LOGIN_PAIR.base_lock_s
    clock.advance(LOGIN_PAIR.max_lock_s)
    assert await _login(client, user, PASSWORD, ATTACKER) == 200


async def test_a_success_forgets_the_pairs_failures(client: Client, pool: asyncpg.Pool) -> None:
    user = await make_user(pool, "viewer")
    await _guess(client, user.username, [OWNER] * (LOGIN_PAIR.threshold - 1))
    assert await _login(client, user, PASSWORD, OWNER) == 200
    assert await _guess(client, user.username, [OWNER] * LOGIN_PAIR.threshold) == [401] * 5


async def test_under_attack_from_many_addresses_one_failure_makes_a_pair_wait_a_minute(
    client: Client, pool: asyncpg.Pool
) -> None:
    user = await make_user(pool, "viewer")
    botnet = [f"203.0.113.{n}" for n in range(1, LOGIN_ACCOUNT_ATTACK.threshold + 1)]
    assert await _guess(client, user.username, botnet) == [401] * len(botnet)
    assert await _guess(client, user.username, ["192.0.2.1", "192.0.2.1"]) == [401, 429]
    response = await client.post(
        "/api/auth/login",
        json={"username": user.username, "password": PASSWORD},
        headers={"X-Forwarded-For": "192.0.2.1"},
    )
    assert int(response.headers["Retry-After"]) == LOGIN_PAIR_UNDER_ATTACK.base_lock_s
    assert await _login(client, user, PASSWORD, OWNER) == 200


async def test_one_address_guessing_many_accounts_is_slowed_down_alone(
    client: Client, pool: asyncpg.Pool
) -> None:
    user = await make_user(pool, "viewer")
    for n in range(LOGIN_ADDRESS.threshold):
        assert await _guess(client, f"nobody-{n}", [ATTACKER]) == [401]
    assert await _login(client, user, PASSWORD, ATTACKER) == 429
    assert await _login(client, user, PASSWORD, OWNER) == 200


async def test_without_trusted_proxies_the_forwarded_header_is_ignored(
    make_settings: SettingsFactory, pool: asyncpg.Pool
) -> None:
    user = await make_user(pool, "viewer")
    async with TestClient(TestServer(create_app(make_settings()))) as direct:
        # Each guess claims another address: all are counted against the real peer, 127.0.0.1.
        claimed = [f"203.0.113.{n}" for n in range(1, LOGIN_PAIR.threshold + 1)]
        assert await _guess(direct, user.username, claimed) == [401] * len(claimed)
        assert await _login(direct, user, PASSWORD, OWNER) == 429
