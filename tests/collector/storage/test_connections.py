"""Opening the stores: external ones by URL, retries that give up, clean close."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from collector.config.settings import Settings
from collector.storage.connections import connect_redis, open_stores, retry
from collector.storage.migrate import available_migrations
from tests.conftest import SettingsFactory
from tests.ports import free_port
from tests.proxy import TcpProxy, postgres_upstream, redis_upstream, via_proxy_dsn, via_proxy_redis_url


async def test_open_stores_connects_migrates_and_closes(settings: Settings) -> None:
    async with open_stores(settings) as stores:
        assert await stores.pg.fetchval("SELECT count(*) FROM schema_migrations") >= 1
        assert await stores.redis.ping()
        assert not stores.postgres_embedded and not stores.redis_embedded
    assert stores.pg.is_closing()


async def test_unreachable_redis_gives_up_after_the_attempts() -> None:
    with pytest.raises(RedisConnectionError):
        await connect_redis(f"redis://127.0.0.1:{free_port()}/0", attempts=2)


async def test_retry_returns_once_the_store_answers() -> None:
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise OSError("refused")
        return "up"

    assert await retry("test", flaky, attempts=5, first_delay_s=0.001) == "up"
    assert calls == 3


async def test_a_degraded_start_does_not_wait_for_postgres_and_migrates_once_it_answers(
    make_settings: SettingsFactory, fresh_pg_dsn: str
) -> None:
    proxy = TcpProxy(postgres_upstream(fresh_pg_dsn))
    settings = make_settings(postgres_dsn=via_proxy_dsn(fresh_pg_dsn, proxy.port))
    try:
        async with asyncio.timeout(10), open_stores(settings, degraded_start=True) as stores:
            assert not stores.postgres_ready.is_set()
            with pytest.raises(OSError):
                await stores.pg.fetchval("SELECT 1")
            proxy.open()
            await asyncio.wait_for(stores.postgres_ready.wait(), 8)
            applied = await stores.pg.fetchval("SELECT count(*) FROM schema_migrations")
            assert applied == len(available_migrations())
    finally:
        proxy.close()


async def test_a_degraded_start_goes_on_without_redis_and_the_client_connects_later(
    make_settings: SettingsFactory, redis_url: str
) -> None:
    proxy = TcpProxy(redis_upstream(redis_url))
    settings = make_settings(redis_url=via_proxy_redis_url(redis_url, proxy.port))
    try:
        async with asyncio.timeout(10), open_stores(settings, degraded_start=True) as stores:
            assert stores.postgres_ready.is_set()
            with pytest.raises(RedisConnectionError):
                await stores.redis.ping()
            proxy.open()
            assert await stores.redis.ping()
    finally:
        proxy.close()


async def test_a_hung_redis_fails_commands_after_the_command_timeout(redis_url: str) -> None:
    proxy = TcpProxy(redis_upstream(redis_url))
    proxy.open()
    client = await connect_redis(via_proxy_redis_url(redis_url, proxy.port), command_timeout_s=0.5)
    try:
        assert await client.ping()
        proxy.freeze()
        started = time.monotonic()
        with pytest.raises(RedisTimeoutError):
            await asyncio.wait_for(client.ping(), 10)
        assert time.monotonic() - started < 3
    finally:
        proxy.close()
        await client.aclose()
