"""Opening the stores: external ones by URL, retries that give up, clean close."""

from __future__ import annotations

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from collector.settings import Settings
from collector.storage.connections import connect_redis, open_stores, retry
from tests.ports import free_port


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
