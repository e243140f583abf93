"""The principal cache: a token's caller reused briefly, never past its expiry, forgotten on any change."""

from __future__ import annotations

import uuid

import asyncpg
from aiohttp import web

from api.auth.principal import Principal
from api.auth.principal_cache import PrincipalCache, RefusedTokens
from api.keys import PRINCIPAL_CACHE
from tests.api.auth.conftest import Client, FakeClock, session


def caller(name: str = "alice") -> Principal:
    return Principal(uuid.uuid4(), name, "viewer", "user", name)


def test_a_caller_is_kept_for_the_ttl_and_not_past_the_tokens_expiry() -> None:
    cache = PrincipalCache(ttl_s=1.0)
    long_lived, short_lived = cache.key("token-a"), cache.key("token-b")
    alice, bob = caller("alice"), caller("bob")
    cache.put(long_lived, alice, now=100.0, expires_at=1000.0)
    cache.put(short_lived, bob, now=100.0, expires_at=100.5)
    assert cache.get(long_lived, 100.9) is alice and cache.get(short_lived, 100.4) is bob
    assert cache.get(short_lived, 100.5) is None, "not past the token's expiry"
    assert cache.get(long_lived, 101.0) is None, "not past the cache's lifetime"
    assert len(cache) == 0


def test_tokens_are_held_as_digests_and_the_cache_is_bounded() -> None:
    cache = PrincipalCache(ttl_s=5.0, max_entries=2)
    keys = [cache.key(f"token-{n}") for n in range(3)]
    assert all(b"token" not in key for key in keys) and len(set(keys)) == 3
    for key in keys:
        cache.put(key, caller(), now=0.0)
    assert len(cache) == 2 and cache.get(keys[0], 1.0) is None, "the oldest went first"


def test_a_zero_lifetime_remembers_nothing() -> None:
    cache = PrincipalCache(ttl_s=0.0)
    key = cache.key("token")
    cache.put(key, caller(), now=0.0)
    assert cache.get(key, 0.0) is None and len(cache) == 0


def test_a_refused_token_is_remembered_for_its_ttl_with_its_reason_and_the_memory_is_bounded() -> None:
    refused = RefusedTokens(ttl_s=10.0, max_entries=2)
    keys = [PrincipalCache.key(f"token-{n}") for n in range(3)]
    refused.put(keys[0], "unknown", now=100.0)
    assert refused.get(keys[0], 109.9) == "unknown"
    assert refused.get(keys[0], 110.0) is None and len(refused) == 0
    for key in keys:
        refused.put(key, "unknown", now=200.0)
    assert len(refused) == 2 and refused.get(keys[0], 200.0) is None, "the oldest went first"
    refused.clear()
    assert refused.get(keys[2], 200.0) is None


async def test_a_change_made_elsewhere_is_seen_once_the_caller_expires(
    client: Client, app: web.Application, pool: asyncpg.Pool, clock: FakeClock
) -> None:
    user, headers = await session(client, pool, "admin")
    assert (await client.get("/api/users", headers=headers)).status == 200
    # Another API process (or an operator at psql) demotes the user: this one still remembers the admin.
    await pool.execute("UPDATE users SET role = 'viewer' WHERE id = $1", user.id)
    assert (await client.get("/api/users", headers=headers)).status == 200
    clock.advance(app[PRINCIPAL_CACHE].ttl_s)
    assert (await client.get("/api/users", headers=headers)).status == 403


async def test_any_state_changing_request_of_this_process_clears_the_cache(
    client: Client, app: web.Application, pool: asyncpg.Pool
) -> None:
    user, headers = await session(client, pool, "admin")
    assert (await client.get("/api/users", headers=headers)).status == 200
    assert len(app[PRINCIPAL_CACHE]) >= 1
    await pool.execute("UPDATE users SET role = 'viewer' WHERE id = $1", user.id)
    # Any authenticated POST, PUT, PATCH or DELETE ends with the cache cleared, whatever it changed.
    assert (await client.post("/api/tokens", json={"name": "script"}, headers=headers)).status == 201
    assert len(app[PRINCIPAL_CACHE]) == 0
    assert (await client.get("/api/users", headers=headers)).status == 403
